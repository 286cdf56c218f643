/**
 * Produce one page of `POST /v1/collections/{id}/documents/list` as JSON text chunks.
 *
 * Fast path (sort on updated_at, the default): the store merges the binary-searched base
 * timeline with the few mutated documents, so a page costs O(limit) whatever the collection
 * size. Sort on document_id or created_at walks that order without sorting (order-scan.ts):
 * O(limit) memory, one pass over the index space per page. Any other sort (or those two with
 * injected documents) scans and sorts every matching document: correct, but slow at 1M.
 */
import { decodeCursor, encodeCursor, queryHash, type CursorPosition } from './cursor.js';
import type { DocumentFactory } from './documents.js';
import { ByteArena } from './docs/vectors.js';
import { valuesAt, type DocView } from './filters.js';
import { badRequest } from './http.js';
import { isInjected, isUnplaced, type Listing } from './inject.js';
import type { ListRequest, SortSpec } from './list-request.js';
import { scanOrdered } from './order-scan.js';
import type { DocVersion } from './store.js';

/** The page as JSON pieces (text or UTF-8 bytes, written in order) and their total byte length. */
export interface ListPage {
  chunks: Array<string | Buffer>;
  byteLength: number;
}

interface Hit {
  view: DocView;
  key: unknown;
}

function viewOf(factory: DocumentFactory, version: DocVersion): DocView {
  if (isInjected(version)) return { version, collectionId: factory.spec.collectionId, doc: () => version.injected.doc as Record<string, unknown> };
  let doc: Record<string, unknown> | undefined;
  return { version, collectionId: factory.spec.collectionId, doc: () => (doc ??= factory.build(version)) };
}

/** An unplaced injected document matches every filter (see inject.ts). */
function matches(req: ListRequest, view: DocView): boolean {
  return isUnplaced(view.version) || req.filter.test(view);
}

/** Fast path: walk the keyset order from the cursor, filter lazily, stop at limit + 1. */
function timelineHits(store: Listing, factory: DocumentFactory, req: ListRequest, after: CursorPosition | null): Hit[] {
  if (after && typeof after.key !== 'number') throw badRequest('Invalid cursor: not a cursor issued by this endpoint');
  const hits: Hit[] = [];
  let skip = after ? 0 : req.offset;
  const scan = store.scan({
    direction: req.sort.direction,
    after: after ? { updatedMicros: after.key as number, id: after.id } : undefined,
    loMicros: req.filter.loMicros,
    hiMicros: req.filter.hiMicros,
  });
  for (const version of scan) {
    const view = viewOf(factory, version);
    if (!matches(req, view)) continue;
    if (skip > 0) {
      skip--;
      continue;
    }
    hits.push({ view, key: version.updatedMicros });
    if (hits.length > req.limit) break;
  }
  return hits;
}

/** document_id and created_at paths: the store's order from the cursor, filtered lazily, stop at limit + 1. */
function orderedHits(store: Listing, factory: DocumentFactory, req: ListRequest, after: CursorPosition | null): Hit[] {
  const kind = req.sort.kind === 'id' ? 'id' : 'created';
  const valid = kind === 'id' ? typeof after?.key === 'string' : typeof after?.key === 'number' && /^doc_[0-9a-f]{8}/.test(after.id);
  if (after && !valid) throw badRequest('Invalid cursor: not a cursor issued by this endpoint');
  const hits: Hit[] = [];
  let skip = after ? 0 : req.offset;
  const scan = scanOrdered(store.store, {
    kind, direction: req.sort.direction, after: after ?? undefined, lo: req.filter.idLo, hi: req.filter.idHi, batch: req.limit + 1,
  });
  for (const version of scan) {
    const view = viewOf(factory, version);
    if (!req.filter.test(view)) continue;
    if (skip > 0) {
      skip--;
      continue;
    }
    hits.push({ view, key: kind === 'id' ? version.id : version.createdMicros });
    if (hits.length > req.limit) break;
  }
  return hits;
}

function sortKey(sort: SortSpec, view: DocView): unknown {
  if (sort.kind === 'updated') return view.version.updatedMicros;
  if (sort.kind === 'created') return view.version.createdMicros;
  if (sort.kind === 'id') return view.version.id;
  return valuesAt(view.doc(), sort.field)[0] ?? null;
}

/** Type rank then value: null < boolean < number < string < anything else. */
function compareKeys(a: unknown, b: unknown): number {
  const rank = (x: unknown) => (x === null || x === undefined ? 0 : typeof x === 'boolean' ? 1 : typeof x === 'number' ? 2 : typeof x === 'string' ? 3 : 4);
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 4) [a, b] = [JSON.stringify(a), JSON.stringify(b)];
  return a === b ? 0 : (a as number | string | boolean) < (b as number | string | boolean) ? -1 : 1;
}

function compareHits(sort: SortSpec, a: { key: unknown; id: string }, b: { key: unknown; id: string }): number {
  return sort.direction * compareKeys(a.key, b.key) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Slow path: every matching document's key, sorted; only (version, key) pairs are kept. */
function sortedHits(store: Listing, factory: DocumentFactory, req: ListRequest, after: CursorPosition | null): { hits: Hit[]; total: number } {
  const all: Array<{ version: DocVersion; key: unknown; id: string }> = [];
  for (const version of store.scan({ direction: 1, loMicros: req.filter.loMicros, hiMicros: req.filter.hiMicros })) {
    const view = viewOf(factory, version);
    if (matches(req, view)) all.push({ version, key: sortKey(req.sort, view), id: version.id });
  }
  all.sort((a, b) => compareHits(req.sort, a, b));
  let start = after ? all.findIndex((h) => compareHits(req.sort, h, after) > 0) : req.offset;
  if (start < 0) start = all.length;
  const page = all.slice(start, start + req.limit + 1);
  return { hits: page.map((h) => ({ view: viewOf(factory, h.version), key: h.key })), total: all.length };
}

function countMatching(store: Listing, factory: DocumentFactory, req: ListRequest): number {
  if (req.filter.windowOnly) return store.countInWindow(req.filter.loMicros, req.filter.hiMicros);
  let n = 0;
  for (const version of store.scan({ direction: 1, loMicros: req.filter.loMicros, hiMicros: req.filter.hiMicros })) {
    if (matches(req, viewOf(factory, version))) n++;
  }
  return n;
}

/**
 * Run a validated request against a collection. Throws ApiError for a bad cursor.
 * `repeatCursor` (a fault) gives the request's own cursor back as `next_cursor`.
 */
export function listPage(store: Listing, factory: DocumentFactory, req: ListRequest, repeatCursor = false): ListPage {
  const hash = queryHash(store.collectionId, req.filtersRaw, req.sortRaw);
  const after = req.cursor ? decodeCursor(req.cursor, hash) : null;
  let hits: Hit[];
  let total: number | null = null;
  if (req.sort.kind === 'updated') {
    hits = timelineHits(store, factory, req, after);
    if (req.includeTotal) total = countMatching(store, factory, req);
  } else if ((req.sort.kind === 'id' || req.sort.kind === 'created') && !store.hasInjected) {
    hits = orderedHits(store, factory, req, after);
    if (req.includeTotal) total = countMatching(store, factory, req);
  } else {
    ({ hits, total } = sortedHits(store, factory, req, after));
  }
  const more = hits.length > req.limit;
  if (more) hits.length = req.limit;
  const last = hits[hits.length - 1];
  let nextCursor = more && last ? encodeCursor(hash, { key: last.key, id: last.view.version.id }) : undefined;
  if (repeatCursor && req.cursor) nextCursor = req.cursor;
  return assemble(factory, req, hits, nextCursor, req.includeTotal ? total : null, !after);
}

/** The Mar 2026 response shape; null fields are omitted, as in real captures. */
function assemble(factory: DocumentFactory, req: ListRequest, hits: Hit[], nextCursor: string | undefined, total: number | null, offsetMode: boolean): ListPage {
  const pagination: Record<string, unknown> = { page_size: req.limit };
  if (nextCursor) pagination['next_cursor'] = nextCursor;
  if (offsetMode) pagination['page'] = Math.floor(req.offset / req.limit) + 1;
  const tail: Record<string, unknown> = { pagination };
  if (total !== null) {
    pagination['total'] = total;
    pagination['total_pages'] = Math.ceil(total / req.limit);
    tail['total_documents'] = total;
  }
  tail['stats'] = { total_documents: total ?? 0, avg_blobs_per_document: 1 };
  const chunks: Array<string | Buffer> = ['{"results":['];
  const arena = new ByteArena();
  hits.forEach((hit, i) => {
    if (i > 0) chunks.push(',');
    const v = hit.view.version;
    chunks.push(...(isInjected(v) ? [v.injected.text] : factory.render(v, hit.view.doc(), req.render, arena)));
  });
  chunks.push(`],${JSON.stringify(tail).slice(1)}`);
  let byteLength = 0;
  for (const c of chunks) byteLength += Buffer.byteLength(c);
  return { chunks, byteLength };
}
