import { createHash } from 'node:crypto';
import { type TypedColumn, VECTOR_PREFIX } from './columns.js';
import { fitValue } from './typed.js';
import type { VersionRow } from './types.js';
import { canonicalTimestamp } from './time.js';

/** What the mapper needs to know about the run. */
export interface RowContext {
  runId: string;
  /** Canonical timestamp of when the run read the documents. */
  exportedAt: string;
  /** The namespace the run used; fills `namespace_id` when the document has none. */
  namespace: string;
  /** Extract named vectors into `vec_<key>` columns (only when vectors were requested). */
  vectors: boolean;
  /** The collection being exported; fills `collection_id` when the document has none. */
  collectionId?: string;
  /**
   * Length of each vector column seen so far in the run (column key → dims), filled as rows
   * are mapped: the first length seen fixes a column's dims, and a vector of another length
   * stays in `fields` (counted as untyped, with a note). Omit to accept any length.
   */
  vectorDims?: Map<string, number>;
  /**
   * The run's typed columns by source field (`typedByField`): each such root key's value goes
   * to its column when it fits (rows/typed.ts fitValue), else stays in `fields` (rescued).
   * Absent: every field stays in `fields` (`columns: json`).
   */
  typed?: ReadonlyMap<string, TypedColumn>;
}

/** The typed columns of a run keyed by their source field, as `RowContext.typed` takes them. */
export function typedByField(columns: readonly TypedColumn[]): ReadonlyMap<string, TypedColumn> {
  return new Map(columns.map((c) => [c.field, c]));
}

export type MapResult =
  | {
      ok: true;
      row: VersionRow;
      /** Values that could not be typed and stayed in the JSON columns. */
      untyped: number;
      /** Why values that looked typed (vectors) stayed in `fields`; one line each, for the log. */
      notes: string[];
      /** Fields whose values did not fit their typed column and stayed in `fields` (the column is null). */
      rescued: string[];
    }
  | { ok: false; reason: string };

/** Shortest float array taken for an embedding when it sits at the document root. */
const MIN_ROOT_VECTOR_DIMS = 32;

/**
 * Deepest nesting of a row as written (an NDJSON line is the row object with `fields` and
 * `internal` one level inside it). 1,000 is the default limit of Jackson (Spark, Databricks)
 * and well inside what `JSON.stringify` handles (about 4,000 levels on Node's default stack).
 */
export const MAX_ROW_DEPTH = 1000;

/** Largest magnitude a float32 vector element can hold; beyond it Parquet would store ±Infinity. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Maps one API document to a row (DESIGN.md section 5). Never drops a document that has a
 * `document_id` and can be written: what cannot be typed stays in `fields`/`internal` and is
 * counted. Tolerates every document shape of the reference (§2a current, §2b older):
 * timestamps and lineage under `_internal` or at the root, vectors at the root, under
 * `vectors`, or `vector`. Rejects (with a reason) only a non-object, a document without
 * `document_id`, and one nested so deep that its row would pass {@link MAX_ROW_DEPTH} levels.
 */
export function toRow(doc: unknown, ctx: RowContext): MapResult {
  if (!isObject(doc)) return { ok: false, reason: 'document is not a JSON object' };
  const shape = inspect(doc, MAX_ROW_DEPTH - 1);
  if (shape.tooDeep) return { ok: false, reason: `document nests deeper than ${MAX_ROW_DEPTH - 1} levels` };
  // UTF-8 cannot hold an unpaired surrogate (`"\ud800"` in the API's JSON): strict readers
  // (DuckDB, simdjson) refuse a whole file holding one, so it becomes U+FFFD, with a note.
  const root = shape.illFormed ? (wellFormed(doc) as Record<string, any>) : doc;
  const internal = isObject(root._internal) ? root._internal : null;
  const documentId = stringOr(root.document_id) ?? stringOr(internal?.document_id);
  if (!documentId) return { ok: false, reason: root.document_id === undefined ? 'document has no document_id' : 'document_id is not a non-empty string' };

  // Module functions over one state object, not closures per document (cheaper, and no
  // per-call function objects: tsx's keepNames would rename each one).
  const env: Envelope = { root, internal, used: new Set<string>(['_vectors']), untyped: 0 };
  claim(env, 'document_id', root.document_id === documentId);
  claim(env, '_internal', internal !== null);
  const lineage = isObject(internal?.lineage) ? internal.lineage : null;
  const { used } = env;

  const rootCollection = stringOr(root.collection_id);
  claim(env, 'collection_id', rootCollection !== null);
  const notes: string[] = shape.illFormed ? ['unpaired UTF-16 surrogates in text were replaced by U+FFFD'] : [];
  const vectors = ctx.vectors ? extractVectors(root, used, ctx.vectorDims, notes) : {};
  // A `__proto__` key of the document must stay an own field like any other: then a null
  // prototype. Otherwise a plain object, which V8 keeps in fast mode (JSON.stringify of a
  // dictionary-mode object, as Object.create(null) makes, is about 15 % slower).
  const fields = (Object.hasOwn(root, '__proto__') ? Object.create(null) : {}) as Record<string, unknown>;
  const row: VersionRow = {
    document_id: documentId,
    collection_id: rootCollection ?? stringOr(internal?.collection_id) ?? ctx.collectionId ?? '',
    namespace_id: pick(env, 'namespace_id', internal?.namespace_id) ?? ctx.namespace,
    created_at: time(env, 'created_at'),
    updated_at: time(env, 'updated_at'),
    root_object_id: pick(env, 'root_object_id', lineage?.root_object_id),
    source_object_id: pick(env, 'source_object_id', lineage?.source_object_id),
    fields,
    internal: internal ?? null,
    vectors,
    _run_id: ctx.runId,
    _exported_at: ctx.exportedAt,
    _deleted: false, // a document version; tombstones come from tombstoneRow (tombstone.ts)
  };
  const rescued: string[] = [];
  if (ctx.typed) row.typed = splitTyped(root, used, ctx.typed, fields, rescued);
  else for (const [key, value] of Object.entries(root)) if (!used.has(key)) fields[key] = value;
  return { ok: true, row, untyped: env.untyped + notes.length, notes, rescued };
}

/** What `toRow` tracks while it reads the envelope: the root keys it took, and values it could not type. */
interface Envelope {
  root: Record<string, any>;
  internal: Record<string, any> | null;
  used: Set<string>;
  untyped: number;
}

/** A root key that held a value the envelope could not take stays in `fields`, counted. */
function claim(env: Envelope, key: string, taken: boolean): void {
  if (taken || env.root[key] === undefined || env.root[key] === null) env.used.add(key);
  else env.untyped++;
}

/** A lineage or namespace id: from `_internal` if there, else from the root key (then taken). */
function pick(env: Envelope, key: string, inner: unknown): string | null {
  const fromInternal = stringOr(inner);
  if (fromInternal) return fromInternal;
  const fromRoot = stringOr(env.root[key]);
  if (fromRoot) env.used.add(key);
  return fromRoot;
}

/** A timestamp from `_internal`, else from the root key (then taken); an unreadable one is counted. */
function time(env: Envelope, key: 'created_at' | 'updated_at'): string | null {
  const raw = env.internal?.[key] ?? env.root[key];
  if (raw === undefined || raw === null) return null;
  const parsed = canonicalTimestamp(raw);
  if (parsed === null) env.untyped++;
  else if (env.internal?.[key] === undefined || env.internal[key] === null) env.used.add(key);
  return parsed;
}

/**
 * The root keys no envelope column took: a typed field's value goes to its column when it
 * fits (null and absent: the column is null), every other key and every value that does not
 * fit goes to `fields` under its own name (its field then listed in `rescued`). Each value
 * lands in exactly one place.
 */
function splitTyped(root: Record<string, unknown>, used: Set<string>, typed: ReadonlyMap<string, TypedColumn>, fields: Record<string, unknown>, rescued: string[]): Record<string, unknown> {
  const values = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(root)) {
    if (used.has(key)) continue;
    const value = root[key];
    const column = typed.get(key);
    if (column && value === null) continue;
    if (column) {
      const fit = fitValue(column, value);
      if (fit.ok) {
        values[column.name] = fit.value;
        continue;
      }
      rescued.push(key);
    }
    fields[key] = value;
  }
  return values;
}

/**
 * Named vectors: root keys holding float arrays (current API), `vectors: {name: float[]}`
 * (2025), or a single `vector` (late 2025). Sparse and multi-vectors are not float lists:
 * they stay in `fields` as JSON. So does a vector whose column another vector of the
 * document already took, or whose length differs from the first one the run saw (a note
 * says which); the `vectors` object is taken whole or not at all.
 */
function extractVectors(root: Record<string, unknown>, used: Set<string>, dims: Map<string, number> | undefined, notes: string[]): Record<string, number[]> {
  const out: Record<string, number[]> = Object.create(null);
  const problem = (name: string, value: number[], key = columnKey(name)): string | null => {
    if (key in out) return `vector ${JSON.stringify(name)} maps to column ${VECTOR_PREFIX}${key}, which another vector of the document took`;
    const fixed = dims?.get(key);
    if (fixed !== undefined && fixed !== value.length) return `vector ${JSON.stringify(name)} has ${value.length} dims, ${VECTOR_PREFIX}${key} has ${fixed} in this run`;
    return null;
  };
  const take = (name: string, value: number[]) => {
    const key = columnKey(name);
    out[key] = value;
    if (dims && !dims.has(key)) dims.set(key, value.length);
  };
  for (const [name, value] of Object.entries(root)) {
    if (!isFloatArray(value, name === 'vector' ? 1 : MIN_ROOT_VECTOR_DIMS)) continue;
    const why = problem(name, value);
    if (why) notes.push(why);
    else {
      take(name, value);
      used.add(name);
    }
  }
  if (isObject(root.vectors)) {
    const named = Object.entries(root.vectors);
    if (named.length > 0 && named.every(([, v]) => isFloatArray(v, 1))) {
      const keys = named.map(([name]) => columnKey(name));
      const whys = named
        .map(([name, v], i) => (keys.indexOf(keys[i]!) < i ? `vector ${JSON.stringify(name)} maps to the same column as another` : problem(name, v as number[], keys[i])))
        .filter((why): why is string => why !== null);
      if (whys.length > 0) notes.push(`vectors stayed in fields: ${whys.join('; ')}`);
      else {
        for (const [name, value] of named) take(name, value as number[]);
        used.add('vectors');
      }
    }
  }
  return out;
}

const SAFE_KEY = /^[a-z0-9_]{1,100}$/;

/**
 * Column-safe vector key: lower-case letters, digits and `_`. A name that already is one is
 * kept; any other gets its sanitised form plus 8 hex digits of its SHA-256, so that
 * `Text.Embedding`, `text-embedding` and `text_embedding` land in three columns instead of
 * overwriting one another (and consumers that ignore case still see three names).
 */
export function columnKey(name: string): string {
  if (SAFE_KEY.test(name)) return name;
  const safe = name.toLowerCase().replace(/[^a-z0-9_]+/g, '_').slice(0, 100);
  return `${safe}_${createHash('sha256').update(name).digest('hex').slice(0, 8)}`;
}

/** A dense float32 vector: finite numbers within float32 range ("NaN" strings, 1e300 are not). */
function isFloatArray(value: unknown, minLength: number): value is number[] {
  if (!Array.isArray(value) || value.length < minLength) return false;
  for (let i = 0; i < value.length; i++) {
    const v = value[i];
    if (typeof v !== 'number' || !(v <= FLOAT32_MAX && v >= -FLOAT32_MAX)) return false;
  }
  return true;
}

/**
 * One pass over a document: does it nest more than `limit` levels (the document is level 1),
 * and does any key or string hold an unpaired surrogate? Iterative: no stack to overflow.
 */
export function inspect(value: unknown, limit: number): { tooDeep: boolean; illFormed: boolean } {
  const nodes: unknown[] = [value];
  const depths: number[] = [1];
  let illFormed = false;
  while (nodes.length > 0) {
    const node = nodes.pop() as object;
    const depth = depths.pop() as number;
    if (depth > limit) return { tooDeep: true, illFormed };
    if (!Array.isArray(node)) for (const key of Object.keys(node)) illFormed ||= !isWellFormedText(key);
    const children: unknown[] = Array.isArray(node) ? node : Object.values(node);
    for (let i = 0; i < children.length; i++) {
      const child = children[i];
      if (typeof child === 'number') continue; // most elements (vectors): nothing to look at
      if (typeof child === 'string') illFormed ||= !isWellFormedText(child);
      else if (child !== null && typeof child === 'object') {
        nodes.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return { tooDeep: false, illFormed };
}

/** A copy with every key and string well-formed (recursive: only called within the depth limit). */
function wellFormed(value: unknown): unknown {
  if (typeof value === 'string') return toWellFormedText(value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(wellFormed);
  const out: Record<string, unknown> = Object.create(null);
  for (const [key, child] of Object.entries(value)) out[toWellFormedText(key)] = wellFormed(child);
  return out;
}

/** ES2024 `String#isWellFormed`/`toWellFormed` (native in Node 20; the project's TypeScript lib is ES2022). */
const isWellFormedText = (text: string): boolean => (text as unknown as { isWellFormed(): boolean }).isWellFormed();
const toWellFormedText = (text: string): string => (text as unknown as { toWellFormed(): string }).toWellFormed();

function isObject(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringOr(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}
