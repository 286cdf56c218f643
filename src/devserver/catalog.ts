/**
 * The four collections the dev server hosts: one per modality, with the vector indexes and
 * field shapes of the real extractors (reference §2a, §2c).
 */
import { audioFields, audioSchema, CHUNKS_PER_RECORDING } from './docs/audio.js';
import type { DocContext, InternalSpec } from './docs/common.js';
import { pdfPageFields, pdfPageSchema, PAGES_PER_PDF } from './docs/pdf.js';
import { productFields, productSchema } from './docs/products.js';
import type { VectorSpec } from './docs/vectors.js';
import { FRAMES_PER_VIDEO, videoFrameFields, videoFrameSchema } from './docs/video.js';
import type { SchemaProperties } from './schema.js';

/** Static description of a collection; documents are generated from it on demand. */
export interface CollectionSpec extends InternalSpec {
  name: string;
  description: string;
  /** Feature extractor name as in `feature_extractor.feature_extractor_name`. */
  extractor: string;
  /** Named vectors returned with `return_vectors: true`, in output order. */
  vectors: VectorSpec[];
  /** Typical `size_bytes` of a document's source slice. */
  typicalSizeBytes: number;
  fields(ctx: DocContext): Record<string, unknown>;
  /**
   * The `output_schema.properties` the collection starts with: every top-level field
   * `fields` writes, with its type (next to its generator in docs/*.ts, so the two change
   * together). Deliberate exceptions are documented there.
   */
  schema: SchemaProperties;
}

const IMAGE_768: VectorSpec = { name: 'image_extractor_v1_embedding', dims: 768 };
const TEXT_1024: VectorSpec = { name: 'text_extractor_v1_embedding', dims: 1024 };
const FACE_512: VectorSpec = { name: 'face_identity_extractor_v1_embedding', dims: 512 };

export const COLLECTIONS: readonly CollectionSpec[] = [
  {
    collectionId: 'col_video_frames', name: 'video-frames', description: 'Keyframes of marketing videos',
    modality: 'video', mimeType: 'video/mp4', bucketId: 'bkt_marketing', docsPerObject: FRAMES_PER_VIDEO,
    blobType: 'video', documentBlob: { field: 'thumbnail', role: 'thumbnail', type: 'image', ext: 'jpg' },
    extractor: 'multimodal_extractor', vectors: [IMAGE_768, FACE_512], typicalSizeBytes: 180_000,
    fields: videoFrameFields, schema: videoFrameSchema,
  },
  {
    collectionId: 'col_product_images', name: 'product-images', description: 'Catalogue product photos',
    modality: 'image', mimeType: 'image/jpeg', bucketId: 'bkt_catalog', docsPerObject: 1,
    blobType: 'image', documentBlob: { field: 'image', role: 'source', type: 'image', ext: 'jpg' },
    extractor: 'image_extractor', vectors: [IMAGE_768], typicalSizeBytes: 420_000,
    fields: productFields, schema: productSchema,
  },
  {
    collectionId: 'col_pdf_pages', name: 'pdf-pages', description: 'Pages of contracts, manuals and reports',
    modality: 'text', mimeType: 'application/pdf', bucketId: 'bkt_documents', docsPerObject: PAGES_PER_PDF,
    blobType: 'pdf', documentBlob: { field: 'page_render', role: 'processed', type: 'image', ext: 'png' },
    extractor: 'text_extractor', vectors: [TEXT_1024], typicalSizeBytes: 60_000,
    fields: pdfPageFields, schema: pdfPageSchema,
  },
  {
    collectionId: 'col_audio_transcripts', name: 'audio-transcripts', description: 'Transcribed meeting and podcast audio',
    modality: 'audio', mimeType: 'audio/mpeg', bucketId: 'bkt_media', docsPerObject: CHUNKS_PER_RECORDING,
    blobType: 'audio', documentBlob: { field: 'audio_chunk', role: 'artifact', type: 'audio', ext: 'mp3' },
    extractor: 'text_extractor', vectors: [TEXT_1024], typicalSizeBytes: 960_000,
    fields: audioFields, schema: audioSchema,
  },
];
