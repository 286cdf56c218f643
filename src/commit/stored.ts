/**
 * Reading what the exporter keeps at the destination (the schemas are in schema.ts): every
 * read goes through {@link parseStored}, so a corrupt or hand-edited object is refused with
 * its URL and the field at fault instead of steering a run with a wrong value.
 */
import type { z } from 'zod';
import { CorruptStateError } from '../errors.js';

/** What a stored object is, for messages: `[checkpoint] <url> ...`, and what to do about a broken one. */
export interface StoredKind {
  /** `checkpoint`, `manifest`, `lease`. */
  name: string;
  fix: string;
}

/**
 * Parses a stored object's bytes with `schema`. Throws CorruptStateError (exit 6) naming the
 * URL, the first field at fault as a path (`active.files[2].bytes`) and the fix; the object
 * itself is never touched here, and callers must not write over it.
 */
export function parseStored<T extends z.ZodType>(schema: T, body: Buffer, url: string, kind: StoredKind): z.infer<T> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new CorruptStateError(`[${kind.name}] ${url} is not valid JSON (${(error as Error).message}); ${kind.fix}`, { cause: error, context: { url } });
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0] as z.core.$ZodIssue;
  const field = fieldPath(issue.path);
  throw new CorruptStateError(`[${kind.name}] ${url} is not a valid ${kind.name}: ${field}: ${issueText(issue)}; ${kind.fix}`, {
    context: { url, field, issues: parsed.error.issues.length },
  });
}

/** `["active", "files", 2, "bytes"]` → `active.files[2].bytes`; the root is `(root)`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

function issueText(issue: z.core.$ZodIssue): string {
  // zod leaves the input out of its issues; its message says when the field was absent.
  if (issue.code === 'invalid_type' && issue.message.endsWith('received undefined')) return `missing (expected ${issue.expected})`;
  return issue.message;
}
