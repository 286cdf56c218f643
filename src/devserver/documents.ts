/**
 * Turns a document version into the JSON the list endpoint returns. A document is a pure
 * function of (seed, collection, index, version); nothing here is cached.
 */
import type { CollectionSpec } from './catalog.js';
import { internalBlock, type DocContext, type Tenant } from './docs/common.js';
import { ByteArena, vectorBytes, type VectorSpec } from './docs/vectors.js';
import { hashString, Rng, seedOf } from './prng.js';
import type { CollectionSchema } from './schema.js';
import type { DocVersion } from './store.js';

/** Seed parts of the `late` draws and of the values of fields defined at run time ("late", "ovrl"). */
const LATE_STREAM = 0x6c617465;
const OVERLAY_STREAM = 0x6f76726c;

/** How one document is rendered; mirrors the list request's flags. */
export interface RenderOptions {
  /** Named vectors to append as root keys (`return_vectors` or `return_vector_names: [...]`). */
  vectors: readonly VectorSpec[];
  /** `return_vector_names: true`: add `_vectors` with the sorted names only. */
  vectorNames: boolean;
  /** `return_presigned_urls` (or legacy `return_url`): add root `document_blobs` with URLs. */
  presignedUrls: boolean;
  /** Dot-path projection; `document_id` is always kept. Null = everything. */
  select: readonly string[] | null;
}

export class DocumentFactory {
  readonly salt: number;

  constructor(
    readonly spec: CollectionSpec,
    private readonly seed: number,
    private readonly tenant: Tenant,
    /** The collection's current output_schema; fields defined on it since start are overlaid on every document. */
    private readonly schema: CollectionSchema,
  ) {
    this.salt = hashString(spec.collectionId);
  }

  /** The document without vectors, as a fresh plain object. */
  build(version: DocVersion): Record<string, unknown> {
    const ctx: DocContext = {
      version,
      salt: this.salt,
      stable: new Rng(seedOf(this.seed, this.salt, version.index)),
      fresh: new Rng(seedOf(this.seed, this.salt, version.index, version.version)),
      late: new Rng(seedOf(this.seed, this.salt, version.index, LATE_STREAM)),
    };
    const fields = this.spec.fields(ctx);
    this.schema.overlay(fields, seedOf(this.seed, this.salt, version.index, OVERLAY_STREAM));
    const sizeBytes = Math.round(this.spec.typicalSizeBytes * (0.5 + ctx.stable.float()));
    return {
      document_id: version.id,
      collection_id: this.spec.collectionId,
      ...fields,
      _internal: internalBlock(this.spec, ctx, this.tenant, sizeBytes),
    };
  }

  /**
   * JSON of one document as parts to write in order: the document text, then each vector as
   * bytes (never parsed or re-serialised), spliced in before the closing brace.
   */
  render(version: DocVersion, doc: Record<string, unknown>, options: RenderOptions, arena = new ByteArena()): Array<string | Buffer> {
    let out: Record<string, unknown> = options.select ? project(doc, options.select) : doc;
    if (options.presignedUrls) out = { ...out, document_blobs: presign(doc) };
    if (options.vectorNames) out = { ...out, _vectors: this.spec.vectors.map((v) => v.name).sort() };
    const json = JSON.stringify(out);
    if (options.vectors.length === 0) return [json];
    const parts: Array<string | Buffer> = [json.slice(0, -1)];
    for (const v of options.vectors) parts.push(`,${JSON.stringify(v.name)}:`, this.vectorBytes(version, v, arena));
    parts.push('}');
    return parts;
  }

  private vectorBytes(version: DocVersion, v: VectorSpec, arena: ByteArena): Buffer {
    return vectorBytes(seedOf(this.seed, this.salt, version.index, version.version, hashString(v.name)), v.dims, arena);
  }
}

/** Root `document_blobs` with presigned URLs that expire in an hour, like S3's. */
function presign(doc: Record<string, unknown>): unknown[] {
  const internal = doc['_internal'] as { document_blobs: Array<Record<string, unknown>> };
  return internal.document_blobs.map((blob) => {
    const key = String(blob['url']).replace(/^s3:\/\/[^/]+\//, '');
    return { ...blob, presigned_url: `https://mixpeek-dev.s3.amazonaws.example/${key}?X-Amz-Expires=3600&X-Amz-Signature=${key.length.toString(16)}dev` };
  });
}

/** Keep only the selected dot paths (and `document_id`), preserving nesting. */
export function project(doc: Record<string, unknown>, paths: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { document_id: doc['document_id'] };
  for (const path of paths) {
    const keys = path.split('.');
    let src: unknown = doc;
    let dst = out;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      if (src === null || typeof src !== 'object') break;
      src = (src as Record<string, unknown>)[key];
      if (src === undefined) break;
      if (i === keys.length - 1) dst[key] = src;
      else dst = (dst[key] ??= {}) as Record<string, unknown>;
    }
  }
  return out;
}
