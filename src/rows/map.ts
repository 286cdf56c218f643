import type { Row } from './types.js';
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
}

export type MapResult =
  | { ok: true; row: Row; /** values that could not be typed and stayed in the JSON columns */ untyped: number }
  | { ok: false; reason: string };

/** Shortest float array taken for an embedding when it sits at the document root. */
const MIN_ROOT_VECTOR_DIMS = 32;

/**
 * Maps one API document to a row (DESIGN.md section 5). Never drops a document that has a
 * `document_id`: what cannot be typed stays in `fields`/`internal` and is counted.
 * Tolerates every document shape of the reference (§2a current, §2b older): timestamps and
 * lineage under `_internal` or at the root, vectors at the root, under `vectors`, or `vector`.
 */
export function toRow(doc: unknown, ctx: RowContext): MapResult {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return { ok: false, reason: 'document is not a JSON object' };
  const root = doc as Record<string, unknown>;
  const internal = isObject(root._internal) ? root._internal : null;
  const documentId = stringOr(root.document_id) ?? stringOr(internal?.document_id);
  if (!documentId) return { ok: false, reason: 'document has no document_id' };

  const used = new Set<string>(['document_id', '_internal', '_vectors']);
  let untyped = 0;
  const lineage = isObject(internal?.lineage) ? internal.lineage : null;
  const pick = (key: string, inner: unknown): string | null => {
    const fromInternal = stringOr(inner);
    if (fromInternal) return fromInternal;
    const fromRoot = stringOr(root[key]);
    if (fromRoot) used.add(key);
    return fromRoot;
  };
  const time = (key: 'created_at' | 'updated_at'): string | null => {
    const raw = internal?.[key] ?? root[key];
    if (raw === undefined || raw === null) return null;
    const parsed = canonicalTimestamp(raw);
    if (parsed === null) untyped++;
    else if (internal?.[key] === undefined) used.add(key);
    return parsed;
  };

  const collectionId = stringOr(root.collection_id) ?? stringOr(internal?.collection_id) ?? '';
  used.add('collection_id');
  const vectors = ctx.vectors ? extractVectors(root, used) : {};
  const row: Row = {
    document_id: documentId,
    collection_id: collectionId,
    namespace_id: pick('namespace_id', internal?.namespace_id) ?? ctx.namespace,
    created_at: time('created_at'),
    updated_at: time('updated_at'),
    root_object_id: pick('root_object_id', lineage?.root_object_id),
    source_object_id: pick('source_object_id', lineage?.source_object_id),
    fields: {},
    internal: internal ?? null,
    vectors,
    _run_id: ctx.runId,
    _exported_at: ctx.exportedAt,
  };
  for (const [key, value] of Object.entries(root)) if (!used.has(key)) row.fields[key] = value;
  return { ok: true, row, untyped };
}

/**
 * Named vectors: root keys holding float arrays (current API), `vectors: {name: float[]}`
 * (2025), or a single `vector` (late 2025). Sparse and multi-vectors are not float lists:
 * they stay in `fields` as JSON.
 */
function extractVectors(root: Record<string, unknown>, used: Set<string>): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [key, value] of Object.entries(root)) {
    if (isFloatArray(value, MIN_ROOT_VECTOR_DIMS)) {
      out[columnKey(key)] = value;
      used.add(key);
    }
  }
  if (isObject(root.vectors)) {
    const named = Object.entries(root.vectors).filter(([, v]) => isFloatArray(v, 1));
    if (named.length === Object.keys(root.vectors).length) {
      for (const [key, value] of named) out[columnKey(key)] = value as number[];
      used.add('vectors');
    }
  }
  if (isFloatArray(root.vector, 1)) {
    out[columnKey('vector')] = root.vector;
    used.add('vector');
  }
  return out;
}

/** Column-safe vector key: lower-case letters, digits and `_`. */
export function columnKey(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_]+/g, '_');
}

function isFloatArray(value: unknown, minLength: number): value is number[] {
  if (!Array.isArray(value) || value.length < minLength) return false;
  for (const v of value) if (typeof v !== 'number' || !Number.isFinite(v)) return false;
  return true;
}

function isObject(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringOr(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}
