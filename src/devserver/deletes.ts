/**
 * The delete routes (reference §7; SDK-HEAD `docs/CollectionDocumentsApi.md`):
 *
 * - `DELETE /v1/collections/{id}/documents/{document_id}` → 200 `GenericDeleteResponse`
 *   `{"message":"Successfully deleted","success":true}`; 404 `NotFoundError` for an id that
 *   is not a live document of the collection.
 * - `DELETE /v1/collections/{id}/documents/batch` with `BatchDeleteDocumentsRequest`: either
 *   `{"document_ids": [...]}` (at most 1000; per-document `results`, a missing id is a failed
 *   result, not an error) or `{"filters": {...}}` (deletes every match; count only, empty
 *   `results`), never both or neither (422, as the request model's validator refuses it).
 *
 * Injected documents (inject.ts) are not in the store and cannot be deleted.
 */
import { compileFilter } from './filters.js';
import { notFound, validationError } from './http.js';
import { deleteNow, type Collection, type ServerState } from './state.js';

/** The API's cap on `document_ids` per batch. */
export const MAX_BATCH_DELETE = 1000;

/** Delete one document by id; the GenericDeleteResponse body. */
export function deleteOne(state: ServerState, c: Collection, documentId: string): Record<string, unknown> {
  const index = c.store.indexOf(documentId);
  if (index === null || c.store.isDeleted(index)) throw notFound('Document not found', { resource: 'document', id: documentId });
  deleteNow(state, c, [index]);
  return { message: 'Successfully deleted', success: true };
}

/** Validate and run a batch delete; the BatchDeleteDocumentsResponse body. */
export function deleteBatch(state: ServerState, c: Collection, body: Record<string, unknown>): Record<string, unknown> {
  const ids = body['document_ids'];
  const filters = body['filters'];
  const hasIds = ids !== undefined && ids !== null;
  const hasFilters = filters !== undefined && filters !== null;
  if (hasIds === hasFilters) {
    throw validationError(['body'], hasIds ? "Provide either 'document_ids' or 'filters', not both" : "Provide either 'document_ids' or 'filters'");
  }
  if (hasFilters) return deleteMatching(state, c, filters);
  if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string')) {
    throw validationError(['body', 'document_ids'], 'Input should be a valid list of strings', 'list_type');
  }
  if (ids.length > MAX_BATCH_DELETE) {
    throw validationError(['body', 'document_ids'], `List should have at most ${MAX_BATCH_DELETE} items after validation, not ${ids.length}`, 'too_long');
  }
  const results = (ids as string[]).map((id) => {
    const index = c.store.indexOf(id);
    if (index === null || c.store.isDeleted(index)) return { document_id: id, success: false, error: 'Document not found' };
    deleteNow(state, c, [index]);
    return { document_id: id, success: true };
  });
  const deleted = results.filter((r) => r.success).length;
  return { deleted_count: deleted, failed_count: results.length - deleted, results, message: 'Batch delete completed' };
}

/** Filter mode: every live store document the filter matches. Memory is O(matches). */
function deleteMatching(state: ServerState, c: Collection, filters: unknown): Record<string, unknown> {
  const filter = compileFilter(filters);
  const indices: number[] = [];
  for (const version of c.store.scan({ direction: 1, loMicros: filter.loMicros, hiMicros: filter.hiMicros })) {
    let doc: Record<string, unknown> | undefined;
    const view = { version, collectionId: c.spec.collectionId, doc: () => (doc ??= c.factory.build(version)) };
    if (filter.test(view)) indices.push(version.index);
  }
  const deleted = deleteNow(state, c, indices).length;
  return { deleted_count: deleted, failed_count: 0, results: [], message: 'Batch delete completed' };
}
