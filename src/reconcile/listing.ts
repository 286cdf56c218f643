/**
 * The listing A of a reconciliation: every id the collection holds now, as a stream sorted
 * strictly ascending by `document_id`, and the re-check of candidate ids before they are
 * tombstoned. Both page through `listDocumentPages` (source/pages.ts) with a query of their
 * own: `select: ["document_id"]` keeps a page small, and no `updated_at` filter, so a
 * document that changes during the listing is never skipped.
 *
 * API: POST /v1/collections/{id}/documents/list (reference/mixpeek-api.md §1 and §7).
 */
import { SourceError } from '../errors.js';
import type { MixpeekHttp } from '../source/http.js';
import { type ListQuery, listDocumentPages } from '../source/pages.js';
import type { Logger } from '../util/log.js';
import { ascending, externalSort } from './sorted.js';

/** The immutable key the listing is sorted by, and the fallback when the API refuses it. */
export const ID_SORT: ListQuery = { sort: { field: 'document_id', direction: 'asc' }, select: ['document_id'] };
export const CREATED_SORT: ListQuery = { sort: { field: '_internal.created_at', direction: 'asc' }, select: ['document_id'] };

/** Re-check batch size: one `in` filter and one page per batch. */
export const RECHECK_BATCH = 1000;

export interface ListingOptions {
  collectionId: string;
  signal?: AbortSignal;
  logger: Logger;
  /** Records the external sort holds in memory (fallback path only). */
  chunkRows: number;
  /** Called once per page listed (metrics, progress). */
  onPage?: (ids: number) => void;
}

/** The ids listed so far (read after the stream ends: the reconciliation's `idsListed`). */
export interface ListingCount {
  ids: number;
  requests: number;
  /** Listed documents without a `document_id` (skipped; warned about). */
  idless?: number;
}

/**
 * Every current id, strictly ascending. Sorted by `document_id` by the API; when the API
 * refuses that sort (HTTP 400/422 naming it), listed by `_internal.created_at` and sorted
 * here through the external sort. A listing that is not strictly ascending (an API that
 * ignored the sort) is refused with a SourceError (exit 3): a wrong listing would tombstone
 * live documents.
 */
export async function* listIds(http: MixpeekHttp, options: ListingOptions, count: ListingCount): AsyncGenerator<string> {
  const refuse = (previous: string, next: string) =>
    new SourceError(
      `[mixpeek] collection ${options.collectionId}: the listing sorted by document_id returned ${JSON.stringify(next)} after ${JSON.stringify(previous)}; the API ignored the sort, so no deletion can be told apart from a skipped id. Nothing was tombstoned; report it to Mixpeek`,
      { code: 'ERR_SOURCE_UNSORTED' },
    );
  let yielded = false;
  try {
    for await (const id of ascending(pagedIds(http, options, ID_SORT, count), (s) => s, refuse)) {
      yielded = true;
      yield id;
    }
    return;
  } catch (error) {
    if (yielded || !refusedSort(error)) throw error;
    options.logger.warn('ListingSortRefused', { collection_id: options.collectionId, sort: 'document_id', fallback: '_internal.created_at', detail: (error as Error).message });
  }
  count.ids = 0;
  let previous: string | null = null;
  for await (const id of externalSort(pagedIds(http, options, CREATED_SORT, count), (s) => s, { chunkRows: options.chunkRows })) {
    if (id === previous) continue; // listed twice (paging under writes): one id
    previous = id;
    yield id;
  }
}

/** A 400/422 whose message names the sort or its field: the API does not sort by document_id. */
function refusedSort(error: unknown): boolean {
  return error instanceof SourceError && (error.status === 400 || error.status === 422) && /sort|document_id/i.test(error.message);
}

async function* pagedIds(http: MixpeekHttp, options: ListingOptions, query: ListQuery, count: ListingCount): AsyncGenerator<string> {
  const pages = listDocumentPages(http, { collectionId: options.collectionId, pageSize: 1000, vectors: false, signal: options.signal, query });
  for await (const page of pages) {
    count.requests++;
    options.onPage?.(page.documents.length);
    for (const doc of page.documents) {
      const id = idOf(doc);
      if (id === null) {
        idless(options, count, doc);
        continue;
      }
      count.ids++;
      yield id;
    }
  }
}

/** A listed document's id; null when it has none (such a document is never staged, so never in K). */
function idOf(doc: unknown): string | null {
  const id = (doc as { document_id?: unknown } | null)?.document_id;
  return typeof id === 'string' && id.length > 0 ? id : null;
}

/** Counts (and logs the first few of) listed documents without an id: export rejects them, so none can be a deletion. */
function idless(options: ListingOptions, count: ListingCount, doc: unknown): void {
  count.idless = (count.idless ?? 0) + 1;
  if (count.idless <= 20) options.logger.warn('ListedDocumentWithoutId', { collection_id: options.collectionId, document: JSON.stringify(doc)?.slice(0, 80) });
}

/**
 * Which of `ids` (at most {@link RECHECK_BATCH}) exist now: one listing filtered by
 * `document_id in [...]`. A candidate that exists was created, updated or re-created during
 * the listing and is never tombstoned.
 */
export async function existingIds(http: MixpeekHttp, options: ListingOptions, ids: readonly string[], count: ListingCount): Promise<Set<string>> {
  const found = new Set<string>();
  if (ids.length === 0) return found;
  const query: ListQuery = { select: ['document_id'], filters: { AND: [{ field: 'document_id', operator: 'in', value: [...ids] }] } };
  const pages = listDocumentPages(http, { collectionId: options.collectionId, pageSize: 1000, vectors: false, signal: options.signal, query });
  for await (const page of pages) {
    count.requests++;
    for (const doc of page.documents) {
      const id = idOf(doc);
      if (id !== null) found.add(id);
    }
  }
  return found;
}
