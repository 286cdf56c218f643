/**
 * Tombstone rows: how a deletion reaches the lakehouse (issue 10, docs/row-format.md).
 *
 * A tombstone says "document `document_id` of `collection_id` no longer exists, as observed at
 * `updated_at`". A consumer that keeps, per `document_id`, the row with the greatest
 * `(updated_at, _exported_at)` and drops it when `_deleted` is true holds exactly the live
 * documents. Tombstones are ordinary rows of ordinary data files: the same encoders, the same
 * column list, the same create-only commit.
 */
import { isCanonicalTimestamp } from './time.js';
import type { Row, TombstoneRow } from './types.js';

/** What a tombstone carries besides `_deleted = true`. */
export interface TombstoneInput {
  /** The deleted document's id. */
  documentId: string;
  /** The collection it was deleted from. */
  collectionId: string;
  /** Its namespace: the `namespace_id` its staged rows carry (else the namespace of the run). */
  namespaceId: string;
  /** The reconcile run writing the tombstone. */
  runId: string;
  /** Canonical timestamp of when that run wrote it (`_exported_at`). */
  exportedAt: string;
  /**
   * Canonical timestamp of when the deletion was observed: the start of the listing that no
   * longer held the id. Becomes `updated_at`, so the tombstone is newer than every version
   * staged before the listing began and older than any re-creation after it.
   */
  observedAt: string;
}

/**
 * The tombstone row of one deletion: `_deleted = true`, the identity and run columns,
 * `updated_at` = `observedAt`, and every other column null (`created_at`, lineage ids,
 * `fields`, `internal`, every `vec_<key>`).
 *
 * @throws TypeError naming the input when an id is empty or a time is not canonical
 *   (`canonicalTimestamp` / `canonicalFromDate` in time.ts make one).
 * @example tombstoneRow({ documentId: 'doc_1', collectionId: 'col_abc', namespaceId: 'ns_1',
 *   runId: '20261121T153000Z-7f3a', exportedAt: '2026-11-21T15:31:00.000000Z',
 *   observedAt: '2026-11-21T15:30:00.000000Z' })
 */
export function tombstoneRow(input: TombstoneInput): TombstoneRow {
  for (const key of ['documentId', 'collectionId', 'namespaceId', 'runId'] as const) {
    if (typeof input[key] !== 'string' || input[key].length === 0) throw new TypeError(`[tombstone] ${key} must be a non-empty string, got ${JSON.stringify(input[key])}`);
  }
  for (const key of ['exportedAt', 'observedAt'] as const) {
    if (!isCanonicalTimestamp(input[key])) throw new TypeError(`[tombstone] ${key} ${JSON.stringify(input[key])} is not a canonical UTC timestamp (YYYY-MM-DDTHH:MM:SS.ffffffZ; see rows/time.ts)`);
  }
  return {
    document_id: input.documentId,
    collection_id: input.collectionId,
    namespace_id: input.namespaceId,
    created_at: null,
    updated_at: input.observedAt,
    root_object_id: null,
    source_object_id: null,
    fields: null,
    internal: null,
    vectors: {}, // every vec_<key> column of the file is null
    _run_id: input.runId,
    _exported_at: input.exportedAt,
    _deleted: true,
  };
}

/** Is this row a tombstone? (`_deleted` is never absent on a row the exporter made.) */
export function isTombstone(row: Pick<Row, '_deleted'>): boolean {
  return row._deleted === true;
}
