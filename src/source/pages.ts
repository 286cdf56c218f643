import { InternalError, SourceError } from '../errors.js';
import type { MixpeekHttp } from './http.js';

/** The `[lo, hi)` window of `updated_at`, as canonical UTC timestamps. */
export interface Window {
  /** Inclusive lower bound; `null` = the beginning of time. */
  lo: string | null;
  /** Exclusive upper bound. */
  hi: string;
}

export interface ListOptions {
  collectionId: string;
  /** The `updated_at` window, listed in `updated_at` order. Required unless `query` is given. */
  window?: Window;
  /** 1..1000. Default 1000. */
  pageSize: number;
  /** Aim each response at about this many bytes: the `limit` adapts (see PageLimit). Default: always `pageSize`. */
  pageBytes?: number;
  /** Ask for embedding vectors (`return_vectors`). */
  vectors: boolean;
  /** Ask for the number of matching documents on the first page (`include_total=true`); it comes back as the first page's `total`. */
  includeTotal?: boolean;

  signal?: AbortSignal;
  /**
   * Another listing than an `updated_at` window (reconciliation): its own filters (none:
   * every document), sort and `select` projection replace the window's.
   * @example { sort: { field: 'document_id', direction: 'asc' }, select: ['document_id'] }
   */
  query?: ListQuery;
}

/** The body fields of a listing that is not an `updated_at` window. */
export interface ListQuery {
  filters?: Record<string, unknown>;
  /** Absent: the API's default order. */
  sort?: { field: string; direction: 'asc' | 'desc' };
  select?: string[];
}

export interface Page {
  documents: unknown[];
  /** 0-based number of the page within this listing. */
  index: number;
  /** No page follows this one. */
  last: boolean;
  /** First page with `includeTotal`: the documents the listing matches, when the API said. */
  total?: number;
}

/**
 * Pages a collection's documents in `updated_at` order within a window (STYLE.md item 4).
 * The next page is requested while the caller works on the current one (one page ahead:
 * memory is two pages). Throws if a cursor does not advance; never ends silently early.
 *
 * API: POST /v1/collections/{id}/documents/list (reference/mixpeek-api.md §1a).
 */
export async function* listDocumentPages(http: MixpeekHttp, options: ListOptions): AsyncGenerator<Page> {
  const seen = new Set<string>(); // the last CURSORS_REMEMBERED cursors: memory stays bounded
  const limits = new PageLimit(options.pageSize, options.pageBytes);
  let request: PageRequest = { cursor: null, offset: 0, limit: limits.next };
  let pending: Promise<PageReply> | null = fetchPage(http, options, request, options.includeTotal);
  pending.catch(() => {}); // handled when awaited; keeps an abandoned prefetch from crashing the process
  for (let index = 0; pending; index++) {
    const reply = await pending;
    limits.observe(reply);
    const next = nextRequest(reply, request, limits.next);
    if (next?.cursor) {
      if (seen.has(next.cursor) || next.cursor === request.cursor) {
        throw new SourceError(
          `[mixpeek] collection ${options.collectionId}: the API returned the same cursor twice (page ${index + 1}); refusing to loop. Retry later; if it persists, report it to Mixpeek`,
          { code: 'ERR_SOURCE_CURSOR_STUCK' },
        );
      }
      seen.add(next.cursor);
      if (seen.size > CURSORS_REMEMBERED) seen.delete(seen.values().next().value as string);
    }
    const total = index === 0 && options.includeTotal && reply.total !== null ? { total: reply.total } : {};
    const page = { documents: reply.documents, index, last: next === null, ...total };
    pending = next ? fetchPage(http, options, next) : null;
    pending?.catch(() => {});
    request = next ?? request;
    if (reply.documents.length > 0) yield page;
  }
}

/** Cursors kept to detect a loop: one that does not advance, or comes back within this many pages. */
const CURSORS_REMEMBERED = 10_000;

interface PageRequest {
  cursor: string | null;
  offset: number;
  /** Documents asked for (`limit`). */
  limit: number;
}

interface PageReply {
  documents: unknown[];
  nextCursor: string | null;
  /** Offset paging fallback (older shapes): total matching, if the API said. */
  total: number | null;
  hasMore: boolean | null;
  /** Length of the response body, in characters. */
  chars?: number;
}

/**
 * The `limit` of the next request: `pageSize`, or with `pageBytes` as many documents as fit
 * in that many bytes of response at the size per document of the last page (at least 1).
 * Documents with vectors are 10-20 KB of JSON each, so a page of 1000 would be 10-20 MB of
 * text plus its parse in memory.
 */
class PageLimit {
  next: number;

  constructor(private readonly pageSize: number, private readonly pageBytes?: number) {
    this.next = pageSize;
  }

  observe(reply: PageReply): void {
    if (!this.pageBytes || !reply.chars || reply.documents.length === 0) return;
    const perDocument = reply.chars / reply.documents.length;
    this.next = Math.max(Math.min(MIN_ADAPTED_LIMIT, this.pageSize), Math.min(this.pageSize, Math.floor(this.pageBytes / perDocument)));
  }
}

const MIN_ADAPTED_LIMIT = 1;

async function fetchPage(http: MixpeekHttp, options: ListOptions, request: PageRequest, includeTotal = false): Promise<PageReply> {
  const body: Record<string, unknown> = { ...queryBody(options), limit: request.limit, return_vectors: options.vectors };
  if (request.cursor) body.cursor = request.cursor;
  else if (request.offset > 0) body.offset = request.offset;
  const query = [`limit=${request.limit}`, ...(includeTotal ? ['include_total=true'] : []), ...(request.offset > 0 && !request.cursor ? [`offset=${request.offset}`] : [])];
  const url = `/v1/collections/${encodeURIComponent(options.collectionId)}/documents/list?${query.join('&')}`;
  let chars = 0;
  const raw = await http.postJson(url, body, options.signal, listShapeProblem, (n) => (chars = n));
  return { ...parseReply(raw, options.collectionId), chars };
}

/** Filters, sort and projection of a request: the window's, or the caller's `query`. */
function queryBody(options: ListOptions): Record<string, unknown> {
  const { query } = options;
  if (query) return { ...(query.filters ? { filters: query.filters } : {}), ...(query.sort ? { sort: query.sort } : {}), ...(query.select ? { select: query.select } : {}) };
  if (!options.window) throw new InternalError(`[mixpeek] collection ${options.collectionId}: a listing needs a window or a query`);
  const { lo, hi } = options.window;
  const conditions = [
    ...(lo ? [{ field: '_internal.updated_at', operator: 'gte', value: lo }] : []),
    { field: '_internal.updated_at', operator: 'lt', value: hi },
  ];
  return { filters: { AND: conditions }, sort: { field: '_internal.updated_at', direction: 'asc' } };
}

/**
 * Reads every list shape the API has had: `results` (current), `groups` (flattened),
 * `items` (2025 GET era); `pagination.next_cursor` absent or null on the last page;
 * `{has_more, total_count}` or `{total}` for offset paging.
 */
export function parseReply(raw: unknown, collectionId: string): PageReply {
  const problem = listShapeProblem(raw);
  if (problem) throw new SourceError(`[mixpeek] collection ${collectionId}: ${problem}`, { code: 'ERR_SOURCE_SHAPE' });
  const body = raw as Record<string, any>;
  const documents: unknown[] = documentsOf(body) ?? [];
  const p = (body.pagination ?? {}) as Record<string, any>;
  const nextCursor = typeof p.next_cursor === 'string' && p.next_cursor ? p.next_cursor : null;
  const total = numberOrNull(p.total) ?? numberOrNull(p.total_count) ?? numberOrNull(body.total);
  const hasMore = typeof p.has_more === 'boolean' ? p.has_more : null;
  return { documents, nextCursor, total, hasMore };
}

/** What is wrong with a list response's shape (null when it is one the API has used). */
export function listShapeProblem(raw: unknown): string | null {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return `the list response is not a JSON object (got ${Array.isArray(raw) ? 'an array' : JSON.stringify(raw)?.slice(0, 40)})`;
  const body = raw as Record<string, any>;
  if (documentsOf(body) || ((body.results === null || body.results === undefined) && body.pagination)) return null;
  return `the list response has no results array (keys: ${Object.keys(body).slice(0, 10).join(', ') || 'none'})`;
}

function documentsOf(body: Record<string, any>): unknown[] | null {
  if (Array.isArray(body.results)) return body.results;
  if (Array.isArray(body.groups)) return body.groups.flatMap((g: any) => (Array.isArray(g?.documents) ? g.documents : []));
  if (Array.isArray(body.items)) return body.items;
  return null;
}

function nextRequest(reply: PageReply, current: PageRequest, limit: number): PageRequest | null {
  if (reply.documents.length === 0) return null;
  if (reply.nextCursor) return { cursor: reply.nextCursor, offset: 0, limit };
  // No cursor: the last page, unless an older server pages by offset and says there is more.
  const offset = current.offset + reply.documents.length;
  if (reply.hasMore === true) return { cursor: null, offset, limit };
  if (reply.total !== null && offset < reply.total && reply.documents.length >= current.limit && !current.cursor) {
    return { cursor: null, offset, limit };
  }
  return null;
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
