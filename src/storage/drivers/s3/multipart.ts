import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  type CompletedPart,
  CreateMultipartUploadCommand,
  type PutObjectCommandInput,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { ExportError, StorageError } from '../../../errors.js';
import type { Chunk } from '../../chunker.js';
import { retryTransient, uploadPool } from '../../pool.js';
import type { ObjectInfo, PublishOptions } from '../../types.js';

/** S3 accepts at most 10,000 parts per upload. */
export const MAX_PARTS = 10_000;

/** What the multipart upload needs from the driver: its addressing, settings and one wrapped SDK call. */
export interface S3Context {
  bucket: string;
  objectKey(key: string): string;
  url(key: string): string;
  client(): S3Client;
  /** Server-side encryption fields sent on every object created. */
  sse: Pick<PutObjectCommandInput, 'ServerSideEncryption' | 'SSEKMSKeyId'>;
  queueSize: number;
  /** One SDK call; its failure becomes a StorageError, or the condition's own error. */
  call<T>(op: string, key: string, fn: (c: S3Client) => Promise<T>, condition?: 'create' | 'replace'): Promise<T>;
  etagOf(etag: string | undefined, op: string, key: string): string;
  /** Recognises a conditional write that met its own earlier attempt (see the driver). */
  unlessOwnRetry(key: string, sent: Uint8Array | number): (error: unknown) => Promise<{ ETag?: string }>;
}

/**
 * Publishes a body of more than one part: CreateMultipartUpload, the parts through the
 * bounded pool (at most `queueSize` in flight; the body is not read while it is full), the
 * `beforeCommit` hook once every part is uploaded, then a create-only
 * CompleteMultipartUpload. Any failure, the hook's or an abort of `opts.signal` included,
 * aborts the upload after the parts in flight settle, so no part is left behind.
 *
 * Why not `@aws-sdk/lib-storage`'s `Upload`: it sends CompleteMultipartUpload (or a
 * PutObject for a one-part body) right after the last part, with no hook in between, and
 * the commit protocol must record its intent exactly there. A hook injected as client
 * middleware would reach every concurrent upload on the shared client. This is the part of
 * `Upload` we need: parts, a bounded queue, abort on failure.
 */
export async function publishMultipart(ctx: S3Context, key: string, first: Buffer, rest: AsyncIterator<Chunk>, opts: PublishOptions): Promise<ObjectInfo> {
  const { signal } = opts;
  // Same checksum choice as lib-storage: with the SDK default (WHEN_SUPPORTED) every part
  // carries a CRC32, and the upload must be created with that algorithm to accept them.
  const checksums = (await ctx.client().config.requestChecksumCalculation()) === 'WHEN_SUPPORTED';
  // https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateMultipartUpload.html
  // Not cancelled by the signal: an upload created with its answer lost could not be aborted.
  const created = await ctx.call('CreateMultipartUpload', key, (c) => c.send(new CreateMultipartUploadCommand({
    Bucket: ctx.bucket, Key: ctx.objectKey(key), ContentType: opts.contentType, ...ctx.sse, ...(checksums && { ChecksumAlgorithm: 'CRC32' as const }),
  })));
  const uploadId = created.UploadId ?? '';
  if (!uploadId) throw new StorageError(`[s3] CreateMultipartUpload ${ctx.url(key)}: the response carried no UploadId`);
  const pool = uploadPool(ctx.queueSize, signal);
  try {
    const { parts, size } = await uploadParts(ctx, { key, uploadId, checksums, signal }, first, rest, pool);
    // Every byte is staged and nothing is visible yet: the commit protocol records its intent here.
    await opts.beforeCommit?.();
    signal?.throwIfAborted();
    // https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html (If-None-Match: create-only)
    const res = await ctx.call('CompleteMultipartUpload', key, (c) => c.send(new CompleteMultipartUploadCommand({
      Bucket: ctx.bucket, Key: ctx.objectKey(key), UploadId: uploadId, MultipartUpload: { Parts: parts }, IfNoneMatch: '*',
    })), 'create').catch(ctx.unlessOwnRetry(key, size));
    return { key, size, etag: ctx.etagOf(res.ETag, 'CompleteMultipartUpload', key) };
  } catch (error) {
    await pool.settle(); // a part still uploading after the abort would be stranded
    return abandon(ctx, key, uploadId, signal?.aborted ? signal.reason : error);
  }
}

interface Upload {
  key: string;
  uploadId: string;
  checksums: boolean;
  signal?: AbortSignal;
}

/** Feeds the parts to the pool as slots free up; resolves with them in order once all are uploaded. */
async function uploadParts(ctx: S3Context, upload: Upload, first: Buffer, rest: AsyncIterator<Chunk>, pool: ReturnType<typeof uploadPool>) {
  const done: CompletedPart[] = [];
  let size = 0;
  let next: Chunk | undefined = { data: first, last: false };
  for (let partNumber = 1; next; partNumber++) {
    if (partNumber > MAX_PARTS) {
      throw new StorageError(`[s3] UploadPart ${ctx.url(upload.key)}: more than ${MAX_PARTS} parts; raise the part size`, { code: 'ERR_S3_TOO_MANY_PARTS' });
    }
    const { data } = next;
    const number = partNumber;
    size += data.length;
    pool.add(async () => void done.push(await uploadPart(ctx, upload, number, data)));
    if (next.last) break;
    await pool.ready(); // backpressure: the body is not read again until a slot is free
    const step: IteratorResult<Chunk> = await rest.next();
    next = step.done ? undefined : step.value;
  }
  await pool.drain();
  done.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
  return { parts: done, size };
}

/** One part, retried on transient failures with the shared backoff; the signal cancels the request and the waits. */
function uploadPart(ctx: S3Context, upload: Upload, partNumber: number, body: Buffer): Promise<CompletedPart> {
  const { key, uploadId, checksums, signal } = upload;
  return retryTransient(async () => {
    // https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html
    const res = await ctx.call('UploadPart', key, (c) => c.send(new UploadPartCommand({
      Bucket: ctx.bucket, Key: ctx.objectKey(key), UploadId: uploadId, PartNumber: partNumber, Body: body,
      ...(checksums && { ChecksumAlgorithm: 'CRC32' as const }),
    }), { abortSignal: signal }));
    return { PartNumber: partNumber, ETag: ctx.etagOf(res.ETag, 'UploadPart', key), ...(res.ChecksumCRC32 && { ChecksumCRC32: res.ChecksumCRC32 }) };
  }, signal);
}

/** Aborts the upload (so no parts are stranded) and rethrows the failure that led here. */
async function abandon(ctx: S3Context, key: string, uploadId: string, failure: unknown): Promise<never> {
  try {
    // https://docs.aws.amazon.com/AmazonS3/latest/API/API_AbortMultipartUpload.html
    await ctx.call('AbortMultipartUpload', key, (c) => c.send(new AbortMultipartUploadCommand({ Bucket: ctx.bucket, Key: ctx.objectKey(key), UploadId: uploadId })));
  } catch (abortError) {
    const note = `${(abortError as Error).message}; upload ${uploadId} keeps its parts until an AbortIncompleteMultipartUpload lifecycle rule removes them`;
    if (!(failure instanceof ExportError)) throw new StorageError(`[s3] publish ${ctx.url(key)} failed (${(failure as Error)?.message}), then ${note}`, { cause: failure });
    failure.context.abortFailed = note;
  }
  throw failure;
}
