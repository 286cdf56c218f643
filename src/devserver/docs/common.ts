/**
 * What every generated document shares: the generation context and the `_internal` block
 * (reference §2a, InternalPayloadModel).
 */
import { Rng, hex8, seedOf } from '../prng.js';
import type { DocVersion } from '../store.js';
import { formatMicros } from '../time.js';

/** Everything a collection's field generator may depend on. */
export interface DocContext {
  version: DocVersion;
  /** Draws that never change for a document: identity, source, most content. */
  stable: Rng;
  /** Draws re-seeded per version: the fields a mutation changes. */
  fresh: Rng;
  /**
   * Draws that never change for a document, for fields added after the first release (the
   * typed-columns fields): a stream of its own, so adding one changes no value drawn from
   * `stable` or `fresh` (`size_bytes` and `content_hash` are drawn after the fields).
   */
  late: Rng;
  /** Per-collection salt, for ids derived from something other than the document. */
  salt: number;
}

/** Static facts of a collection that shape its `_internal` block. */
export interface InternalSpec {
  collectionId: string;
  modality: 'video' | 'image' | 'text' | 'audio';
  mimeType: string;
  bucketId: string;
  /** Documents cut from one source object (frames per video, pages per PDF). */
  docsPerObject: number;
  blobType: 'video' | 'image' | 'pdf' | 'audio';
  /** What `document_blobs` points at, e.g. a frame thumbnail. */
  documentBlob: { field: string; role: string; type: string; ext: string };
}

/** Server-wide identity stamped into every `_internal`. */
export interface Tenant {
  namespaceId: string;
  internalId: string;
}

/**
 * Include an optional key with probability p, so the schema varies per document. An absent
 * key holds `undefined`, which JSON.stringify drops (deleting keys instead would push V8
 * objects into slow dictionary mode and double serialisation time).
 */
export function maybe<T>(rng: Rng, p: number, make: () => T): T | undefined {
  return rng.chance(p) ? make() : undefined;
}

/** The source object a document was extracted from. */
export function objectIdOf(spec: InternalSpec, ctx: DocContext): string {
  const obj = Math.floor(ctx.version.index / spec.docsPerObject);
  return `obj_${hex8(seedOf(ctx.salt, obj, 11))}${hex8(seedOf(ctx.salt, obj, 12))}`;
}

/** The `_internal` block of one document version. */
export function internalBlock(
  spec: InternalSpec, ctx: DocContext, tenant: Tenant, sizeBytes: number,
): Record<string, unknown> {
  const v = ctx.version;
  const objectId = objectIdOf(spec, ctx);
  const blobId = `blob_${objectId.slice(4, 16)}`;
  const blob = spec.documentBlob;
  return {
    internal_id: tenant.internalId,
    namespace_id: tenant.namespaceId,
    document_id: v.id,
    collection_id: spec.collectionId,
    created_at: formatMicros(v.createdMicros, v.createdFormat),
    updated_at: v.updated,
    modality: spec.modality,
    mime_type: spec.mimeType,
    lineage: {
      root_object_id: objectId,
      root_bucket_id: spec.bucketId,
      source_type: 'bucket',
      source_object_id: objectId,
      path: `${spec.bucketId}/${spec.collectionId}`,
    },
    source_blobs: [{ blob_id: blobId, blob_property: spec.blobType, blob_type: spec.blobType }],
    document_blobs: [{
      field: blob.field, role: blob.role, type: blob.type,
      url: `s3://mixpeek-dev-${spec.bucketId}/${spec.collectionId}/${v.id}.${blob.ext}`,
    }],
    metadata: { ingestion_status: 'COMPLETED', feature_extractor_config_hash: hex8(ctx.salt) },
    size_bytes: sizeBytes,
    content_hash: ctx.fresh.hex(64),
  };
}
