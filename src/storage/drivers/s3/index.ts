import type { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { AlreadyExistsError, ConfigError, PreconditionFailedError, StorageError } from '../../../errors.js';
import { chunksOf } from '../../chunker.js';
import type { DriverCapabilities, PublishOptions, StorageDriver, WriteCondition } from '../../types.js';
import { type SdkErrorShape, sdkError, toStorageError } from './errors.js';
import { MAX_PARTS, publishMultipart, type S3Context } from './multipart.js';

const MiB = 1024 * 1024;
/** S3 rejects smaller parts (all but the last) with EntityTooSmall at completion. */
export const S3_MIN_PART_BYTES = 5 * MiB;
const MAX_PART_BYTES = 5 * 1024 * MiB;

export interface S3DriverOptions {
  /** Bucket name, e.g. `acme-lake`. */
  bucket: string;
  /** Key prefix inside the bucket, e.g. `mixpeek/exports`; slashes at either end are ignored. Default: none. */
  prefix?: string;
  /** Region; default: the SDK's chain (`AWS_REGION`, profile). */
  region?: string;
  /** Endpoint of an S3-compatible store (MinIO, emulators); default: AWS. */
  endpoint?: string;
  /** Path-style addressing (`endpoint/bucket/key`), for most S3-compatible stores. Default false. */
  forcePathStyle?: boolean;
  /** Server-side encryption for every object written: SSE-S3 or SSE-KMS (default key if `kmsKeyId` is unset). */
  sse?: { kind: 'AES256' } | { kind: 'aws:kms'; kmsKeyId?: string };
  /**
   * A client, or a factory called once on first use (kysely's instance-or-factory). Tests
   * point it at an emulator. An instance is left open on `close()`; a client the driver
   * made (default or from the factory) is destroyed. Default: `new S3Client(...)` with
   * credentials from the SDK default chain only (env, profile, web identity, container or
   * instance role).
   */
  client?: S3Client | (() => S3Client);
  /**
   * Part size of a multipart publish, in bytes. Default 8 MiB; from `minPartBytes` to 5 GiB.
   * Bodies of at most one part are sent with a single PutObject.
   */
  partSizeBytes?: number;
  /**
   * The store's smallest part (all but the last), in bytes: the `capabilities.minPartBytes`
   * flag, which `partSizeBytes` is checked against. Default 5 MiB (AWS S3, MinIO). Never
   * guessed from the endpoint: a store that takes smaller parts (an emulator) is told so by
   * the setting `s3MinPartMb`, or by this option with an injected `client`.
   */
  minPartBytes?: number;
  /**
   * Parts uploaded at once per publish. Default 4. Memory per publish is bounded by
   * `partSizeBytes × (queueSize + 1)`: the parts in flight plus the one being read (the
   * body is not read while the queue is full). 8 MiB × 5 = 40 MiB with the defaults.
   */
  queueSize?: number;
}

/**
 * Amazon S3 (and S3-compatible) driver, after unstorage's `drivers/s3.ts`: a plain object,
 * state in the closure, the client created on first use.
 *
 * - publish: create-only with `If-None-Match: *`, on PutObject (one part) or on
 *   CompleteMultipartUpload (more, see `multipart.ts`). `beforeCommit` runs after every
 *   byte is uploaded and before the request that makes the object visible. A failed or
 *   aborted multipart publish is aborted, so no parts are left behind.
 * - writeIf / deleteIf: `If-None-Match` / `If-Match` on PutObject and DeleteObject.
 * - Errors become `StorageError`s (exit 4) that name the call, the object and the fix (`errors.ts`).
 *
 * @example s3Driver({ bucket: 'acme-lake', prefix: 'mixpeek', sse: { kind: 'aws:kms' } })
 */
export function s3Driver(options: S3DriverOptions): StorageDriver {
  const capabilities = validate(options);
  const ctx = context(options, capabilities.queueSize);
  const { bucket, objectKey, url, call, etagOf, unlessOwnRetry } = ctx;
  const root = objectKey('').replace(/\/$/, '');
  const get = (key: string) => call('GetObject', key, (c) => c.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey(key) })));
  const orNull = (error: unknown): null => {
    if (error instanceof StorageError && error.code === 'ERR_NOT_FOUND') return null;
    throw error;
  };

  return {
    kind: 's3',
    url,
    capabilities,
    async publish(key: string, body: Readable | Uint8Array, opts: PublishOptions = {}) {
      opts.signal?.throwIfAborted();
      const chunks = chunksOf(body, capabilities.partBytes);
      try {
        const { data, last } = (await chunks.next()).value ?? { data: Buffer.alloc(0), last: true };
        if (!last) return await publishMultipart(ctx, key, data, chunks, opts);
        await opts.beforeCommit?.();
        opts.signal?.throwIfAborted(); // the PutObject below is the commit
        // https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html (If-None-Match: create-only)
        const res = await call('PutObject', key, (c) => c.send(new PutObjectCommand({
          Bucket: bucket, Key: objectKey(key), Body: data, ContentType: opts.contentType, IfNoneMatch: '*', ...ctx.sse,
        })), 'create').catch(unlessOwnRetry(key, data));
        return { key, size: data.length, etag: etagOf(res.ETag, 'PutObject', key) };
      } finally {
        await chunks.return(); // stop reading the body if the upload ended early
      }
    },
    async read(key) {
      // https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
      return call('GetObject', key, async (c) => {
        const res = await c.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
        const body = Buffer.from((await res.Body?.transformToByteArray()) ?? []);
        return { body, etag: etagOf(res.ETag, 'GetObject', key) };
      }).catch(orNull);
    },
    async readStream(key) {
      return (await get(key)).Body as Readable; // in Node the body is an http.IncomingMessage
    },
    async writeIf(key: string, body: Uint8Array, condition: WriteCondition) {
      const create = 'ifNoneMatch' in condition;
      const res = await call('PutObject', key, (c) => c.send(new PutObjectCommand({
        Bucket: bucket, Key: objectKey(key), Body: body, ...ctx.sse, ...(create ? { IfNoneMatch: '*' } : { IfMatch: condition.ifMatch }),
      })), create ? 'create' : 'replace').catch(unlessOwnRetry(key, body));
      return { etag: etagOf(res.ETag, 'PutObject', key) };
    },
    async deleteIf(key, etag) {
      // https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObject.html: with If-Match, a
      // changed object answers 412 and a missing one 404; neither is ours to delete.
      await call('DeleteObject', key, (c) => c.send(new DeleteObjectCommand({ Bucket: bucket, Key: objectKey(key), IfMatch: etag })), 'replace')
        .catch((error: unknown) => { if (!(error instanceof PreconditionFailedError)) throw error; });
    },
    async head(key) {
      // https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html
      const res = await call('HeadObject', key, (c) => c.send(new HeadObjectCommand({ Bucket: bucket, Key: objectKey(key) }))).catch(orNull);
      return res && { key, size: res.ContentLength ?? 0, etag: etagOf(res.ETag, 'HeadObject', key) };
    },
    async *list(prefix) {
      const start = root ? root.length + 1 : 0;
      let token: string | undefined;
      do {
        // https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html (UTF-8 binary order)
        const page = await call('ListObjectsV2', prefix, (c) => c.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: objectKey(prefix), ContinuationToken: token })));
        for (const item of page.Contents ?? []) yield { key: (item.Key ?? '').slice(start), size: item.Size ?? 0, etag: item.ETag ?? '' };
        const next = page.IsTruncated ? page.NextContinuationToken : undefined;
        if (page.IsTruncated && (!next || next === token)) {
          throw new StorageError(`[s3] ListObjectsV2 ${url(prefix)}: the continuation token did not advance; refusing to return a truncated list`, { code: 'ERR_S3_STUCK_LISTING' });
        }
        token = next;
      } while (token);
    },
    close: async () => ctx.close(),
  };
}

/** The driver's closure state: addressing, the lazily created client, and the wrapped SDK call. */
function context(options: S3DriverOptions, queueSize: number): S3Context & { close(): void } {
  const { bucket } = options;
  const root = options.prefix?.split('/').filter(Boolean).join('/') ?? '';
  let client: S3Client | undefined;
  const ownsClient = !(options.client instanceof S3Client);
  const s3 = (): S3Client =>
    (client ??= typeof options.client === 'function' ? options.client()
      : options.client ?? new S3Client({ region: options.region, endpoint: options.endpoint, forcePathStyle: options.forcePathStyle }));
  const objectKey = (key: string) => (root ? `${root}/` : '') + key.replace(/^\/+/, '');
  const url = (key: string) => `s3://${bucket}/${objectKey(key)}`;

  async function call<T>(op: string, key: string, fn: (c: S3Client) => Promise<T>, condition?: 'create' | 'replace'): Promise<T> {
    try {
      return await fn(s3());
    } catch (error) {
      const { name, status } = sdkError(error);
      // 409 ConditionalRequestConflict: a concurrent conditional write to the key won.
      const lost = status === 412 || name === 'PreconditionFailed' || name === 'ConditionalRequestConflict';
      if (condition === 'create' && lost) {
        throw new AlreadyExistsError(`[s3] ${op} ${url(key)}: ${name}; the object already exists and is never overwritten`, { cause: error, context: { key } });
      }
      if (condition === 'replace' && (lost || (status === 404 && name !== 'NoSuchBucket'))) {
        throw new PreconditionFailedError(`[s3] ${op} ${url(key)}: ${name}; the object changed or vanished since it was read (compare-and-swap lost)`, { cause: error, context: { key } });
      }
      throw toStorageError(op, url(key), error);
    }
  }

  const etagOf = (etag: string | undefined, op: string, key: string): string => {
    if (etag) return etag;
    throw new StorageError(`[s3] ${op} ${url(key)}: the response carried no ETag; conditional writes need one`, { code: 'ERR_S3_NO_ETAG' });
  };

  /**
   * A conditional write that the SDK sent more than once (a reset or timeout, then a retry)
   * and that failed with 412 may have met its own first attempt: applied by S3, its response
   * lost. Then the write did succeed, and calling it a conflict would fail the run (or blame
   * "another writer"). It is ours when the SDK made more than one attempt and the object
   * holds exactly `sent` (a buffered body) or `sent` bytes (a streamed multipart body, the
   * check the commit protocol's resume also makes); otherwise the original error stands.
   */
  const unlessOwnRetry = (key: string, sent: Uint8Array | number) => async (error: unknown): Promise<{ ETag?: string }> => {
    const attempts = ((error as { cause?: SdkErrorShape })?.cause?.$metadata?.attempts ?? 1);
    if (attempts < 2 || !(error instanceof AlreadyExistsError || error instanceof PreconditionFailedError)) throw error;
    const found = await call('GetObject', key, async (c) => {
      if (typeof sent === 'number') {
        const res = await c.send(new HeadObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
        return { etag: res.ETag, same: res.ContentLength === sent };
      }
      const res = await c.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
      return { etag: res.ETag, same: Buffer.from((await res.Body?.transformToByteArray()) ?? []).equals(sent) };
    }).catch(() => null);
    if (!found?.same) throw error;
    return { ETag: found.etag };
  };

  const sse: S3Context['sse'] = options.sse === undefined ? {} : options.sse.kind === 'AES256'
    ? { ServerSideEncryption: 'AES256' }
    : { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: options.sse.kmsKeyId };
  const close = () => {
    if (client && ownsClient) client.destroy();
    client = undefined;
  };
  return { bucket, objectKey, url, client: s3, sse, queueSize, call, etagOf, unlessOwnRetry, close };
}

/** Checks the options before any I/O and states the capability flags they imply. */
function validate(options: S3DriverOptions): DriverCapabilities {
  const { bucket, partSizeBytes: partSize = 8 * MiB, queueSize = 4 } = options;
  const min = options.minPartBytes ?? S3_MIN_PART_BYTES;
  if (!bucket || /[/\s]/.test(bucket)) throw new ConfigError(`s3 bucket "${bucket}" is not a bucket name; use s3://bucket/prefix`);
  if (!Number.isInteger(min) || min < 1) throw new ConfigError(`s3 minPartBytes ${min} must be an integer of at least 1`);
  if (!Number.isInteger(partSize) || partSize < min || partSize > MAX_PART_BYTES) {
    throw new ConfigError(`s3 partSizeBytes ${partSize} is out of range; use an integer from ${min} (5 MiB on AWS) to 5 GiB`);
  }
  if (!Number.isInteger(queueSize) || queueSize < 1) throw new ConfigError(`s3 queueSize ${queueSize} must be an integer of at least 1`);
  return { partBytes: partSize, minPartBytes: min, maxParts: MAX_PARTS, queueSize };
}
