/**
 * `GET /v1/collections/{id}` and `POST /v1/collections/list` (reference §5 and §8): enough of
 * a CollectionResponse for a client to discover vector dimensions, document counts and the
 * declared fields (`output_schema`, `schema_version`).
 */
import { MAX_LIMIT } from './list-request.js';
import { validationError } from './http.js';
import type { Collection, ResolvedOptions } from './state.js';

/**
 * CollectionResponse-ish object; timestamps in the API's millisecond `Z` form. A collection
 * named in `noOutputSchema` has `output_schema: null` (as an API response model with the
 * field unset serialises it). `updated_at` is the newest of the last base document, the last
 * schema change and the creation.
 */
export function collectionResponse(c: Collection, options: Pick<ResolvedOptions, 'namespace' | 'noOutputSchema'>): Record<string, unknown> {
  const { spec, store, schema } = c;
  const lastMs = store.count > 0 ? Math.floor(store.baseVersion(store.count - 1).updatedMicros / 1000) : 0;
  const updated = new Date(Math.max(lastMs, schema.changedAtMs, c.createdAtMs));
  return {
    collection_id: spec.collectionId,
    collection_name: spec.name,
    description: spec.description,
    namespace_id: options.namespace,
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
    output_schema: options.noOutputSchema.includes(spec.collectionId) ? null : schema.outputSchema(),
    schema_version: schema.version,
    created_at: new Date(c.createdAtMs).toISOString(),
    updated_at: updated.toISOString(),
  };
}

/** The list of collections in creation order, with offset paging. */
export function collectionList(all: Collection[], options: Pick<ResolvedOptions, 'namespace' | 'noOutputSchema'>, query: URLSearchParams, body: Record<string, unknown>): Record<string, unknown> {
  const limit = Number(body['limit'] ?? query.get('limit') ?? 10);
  const offset = Number(body['offset'] ?? query.get('offset') ?? 0);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw validationError(['query', 'limit'], `Input should be between 1 and ${MAX_LIMIT}`, 'less_than_equal');
  if (!Number.isInteger(offset) || offset < 0) throw validationError(['query', 'offset'], 'Input should be greater than or equal to 0', 'greater_than_equal');
  const page = all.slice(offset, offset + limit);
  return {
    results: page.map((c) => collectionResponse(c, options)),
    pagination: { total: all.length, page: Math.floor(offset / limit) + 1, page_size: limit, total_pages: Math.ceil(all.length / limit) },
    total_count: all.length,
  };
}
