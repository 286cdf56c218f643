/**
 * `GET /v1/collections/{id}` and `POST /v1/collections/list` (reference §5): enough of a
 * CollectionResponse for a client to discover vector dimensions and document counts.
 */
import { MAX_LIMIT } from './list-request.js';
import { validationError } from './http.js';
import type { Collection } from './state.js';

/** CollectionResponse-ish object; timestamps in the API's millisecond `Z` form. */
export function collectionResponse(c: Collection, namespaceId: string): Record<string, unknown> {
  const { spec, store } = c;
  const first = store.count > 0 ? store.baseVersion(0) : null;
  const last = store.count > 0 ? store.baseVersion(store.count - 1) : null;
  // Base created_at lies at most 8 days before the timeline start, so 9 days is safely earlier.
  const created = new Date(first ? Math.floor(first.updatedMicros / 1000) - 9 * 86_400_000 : 0);
  const updated = new Date(last ? Math.floor(last.updatedMicros / 1000) : 0);
  return {
    collection_id: spec.collectionId,
    collection_name: spec.name,
    description: spec.description,
    namespace_id: namespaceId,
    feature_extractor: { feature_extractor_name: spec.extractor, version: 'v1' },
    source: { type: 'bucket', bucket_ids: [spec.bucketId] },
    vector_indexes: spec.vectors.map((v) => ({ name: v.name, dimensions: v.dims, type: 'dense', distance: 'cosine' })),
    payload_indexes: [
      { field_name: '_internal.updated_at', type: 'datetime' },
      { field_name: '_internal.created_at', type: 'datetime' },
      { field_name: 'document_id', type: 'keyword' },
    ],
    enabled: true,
    metadata: {},
    document_count: store.count,
    schema_version: 1,
    created_at: created.toISOString(),
    updated_at: updated.toISOString(),
  };
}

/** The list of collections with offset paging; there are only four. */
export function collectionList(all: Collection[], namespaceId: string, query: URLSearchParams, body: Record<string, unknown>): Record<string, unknown> {
  const limit = Number(body['limit'] ?? query.get('limit') ?? 10);
  const offset = Number(body['offset'] ?? query.get('offset') ?? 0);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw validationError(['query', 'limit'], `Input should be between 1 and ${MAX_LIMIT}`, 'less_than_equal');
  if (!Number.isInteger(offset) || offset < 0) throw validationError(['query', 'offset'], 'Input should be greater than or equal to 0', 'greater_than_equal');
  const page = all.slice(offset, offset + limit);
  return {
    results: page.map((c) => collectionResponse(c, namespaceId)),
    pagination: { total: all.length, page: Math.floor(offset / limit) + 1, page_size: limit, total_pages: Math.ceil(all.length / limit) },
    total_count: all.length,
  };
}
