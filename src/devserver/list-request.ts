/**
 * Parse and validate `POST /v1/collections/{id}/documents/list` (reference §1a): query
 * `limit, offset, cursor, include_total`, and the Mar 2026 body, where the body's copy of a
 * parameter wins over the query's. Errors use the documented 422 envelope.
 */
import type { CollectionSpec } from './catalog.js';
import type { RenderOptions } from './documents.js';
import type { VectorSpec } from './docs/vectors.js';
import { compileFilter, type CompiledFilter } from './filters.js';
import { validationError } from './http.js';

/** Limits from DOCS-SPEC (Jan/Feb 2026). */
export const MAX_LIMIT = 1000;
export const MAX_OFFSET = 10_000;
export const DEFAULT_LIMIT = 10;

/** How results are ordered; ties are always broken by document_id ascending. */
export interface SortSpec {
  /** `updated` uses the binary-searchable timeline; anything else sorts a full scan. */
  kind: 'updated' | 'created' | 'id' | 'generic';
  field: string;
  direction: 1 | -1;
}

/** A validated list request. */
export interface ListRequest {
  limit: number;
  offset: number;
  /** Opaque cursor; when present, offset is ignored (as the API documents). */
  cursor: string | null;
  includeTotal: boolean;
  filtersRaw: unknown;
  filter: CompiledFilter;
  sort: SortSpec;
  /** Normalised sort, part of the cursor's query hash. */
  sortRaw: { field: string; direction: 'asc' | 'desc' };
  render: RenderOptions;
}

function intParam(name: string, query: URLSearchParams, body: Record<string, unknown>, fallback: number, min: number, max: number): number {
  const fromBody = body[name];
  const fromQuery = query.get(name);
  let value: unknown = fallback;
  let location: string[] = ['query', name];
  if (fromBody !== undefined && fromBody !== null) [value, location] = [fromBody, ['body', name]];
  else if (fromQuery !== null && fromQuery !== '') value = /^-?\d+$/.test(fromQuery) ? Number(fromQuery) : fromQuery;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw validationError(location, 'Input should be a valid integer', 'int_parsing');
  }
  if (value < min) throw validationError(location, `Input should be greater than or equal to ${min}`, 'greater_than_equal');
  if (value > max) throw validationError(location, `Input should be less than or equal to ${max}`, 'less_than_equal');
  return value;
}

function boolParam(value: unknown, location: string[]): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw validationError(location, 'Input should be a valid boolean', 'bool_parsing');
}

function parseSort(raw: unknown): { spec: SortSpec; raw: ListRequest['sortRaw'] } {
  if (raw === undefined || raw === null) return { spec: { kind: 'updated', field: 'updated_at', direction: 1 }, raw: { field: 'updated_at', direction: 'asc' } };
  const sort = raw as Record<string, unknown>;
  if (typeof raw !== 'object' || Array.isArray(raw) || typeof sort['field'] !== 'string' || sort['field'] === '') {
    throw validationError(['body', 'sort'], 'sort must be {field, direction}', 'model_type');
  }
  const dir = sort['direction'] ?? 'asc';
  if (dir !== 'asc' && dir !== 'desc') throw validationError(['body', 'sort', 'direction'], "Input should be 'asc' or 'desc'", 'enum');
  const field = sort['field'];
  const kind: SortSpec['kind'] = field === 'updated_at' || field === '_internal.updated_at' ? 'updated'
    : field === 'created_at' || field === '_internal.created_at' ? 'created'
      : field === 'document_id' ? 'id' : 'generic';
  const canonical = kind === 'updated' ? 'updated_at' : kind === 'created' ? 'created_at' : field;
  return { spec: { kind, field, direction: dir === 'asc' ? 1 : -1 }, raw: { field: canonical, direction: dir } };
}

function parseVectors(spec: CollectionSpec, body: Record<string, unknown>): { vectors: VectorSpec[]; names: boolean } {
  const names = body['return_vector_names'];
  if (Array.isArray(names)) {
    const unknown = names.filter((n) => !spec.vectors.some((v) => v.name === n));
    if (unknown.length > 0) throw validationError(['body', 'return_vector_names'], `Unknown vector index ${JSON.stringify(unknown[0])}; this collection has ${spec.vectors.map((v) => v.name).join(', ')}`);
    return { vectors: spec.vectors.filter((v) => names.includes(v.name)), names: false };
  }
  const all = boolParam(body['return_vectors'], ['body', 'return_vectors']);
  return { vectors: all ? spec.vectors : [], names: boolParam(names, ['body', 'return_vector_names']) };
}

function parseSelect(raw: unknown): string[] | null {
  if (raw === undefined || raw === null) return null;
  if (!Array.isArray(raw) || raw.some((p) => typeof p !== 'string')) throw validationError(['body', 'select'], 'Input should be a valid list of strings', 'list_type');
  return raw as string[];
}

/** Validate everything before any work, so a bad request never costs a scan. */
export function parseListRequest(spec: CollectionSpec, query: URLSearchParams, body: Record<string, unknown>): ListRequest {
  const limit = intParam('limit', query, body, DEFAULT_LIMIT, 1, MAX_LIMIT);
  const offset = intParam('offset', query, body, 0, 0, MAX_OFFSET);
  const cursor = body['cursor'] ?? query.get('cursor') ?? null;
  if (cursor !== null && typeof cursor !== 'string') throw validationError(['body', 'cursor'], 'Input should be a valid string', 'string_type');
  const includeTotal = boolParam(query.get('include_total') ?? body['include_total'], ['query', 'include_total']);
  const { spec: sort, raw: sortRaw } = parseSort(body['sort']);
  const filter = compileFilter(body['filters']);
  const { vectors, names } = parseVectors(spec, body);
  // `return_url` is the Sep 2025 – Feb 2026 name of `return_presigned_urls`.
  const presigned = boolParam(body['return_presigned_urls'] ?? body['return_url'], ['body', 'return_presigned_urls']);
  return {
    limit, offset, cursor: cursor === '' ? null : cursor, includeTotal,
    filtersRaw: body['filters'] ?? null, filter, sort, sortRaw,
    render: { vectors, vectorNames: names, presignedUrls: presigned, select: parseSelect(body['select']) },
  };
}
