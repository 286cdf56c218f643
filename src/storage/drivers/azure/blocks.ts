import { createHash, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BlockBlobClient } from '@azure/storage-blob';
import { StorageError } from '../../../errors.js';
import { chunksOf } from '../../chunker.js';
import { retryTransient, uploadPool } from '../../pool.js';
import type { ObjectInfo, PublishOptions } from '../../types.js';
import type { Intent } from './errors.js';

/** Put Block List accepts at most 50,000 blocks per blob. */
export const MAX_BLOCKS = 50_000;

/** What the staged-block upload needs from the driver. */
export interface AzureContext {
  url(key: string): string;
  blob(key: string): Promise<BlockBlobClient>;
  /** One SDK call; its failure becomes a StorageError (or, with an intent, the condition's own error). */
  call<T>(op: string, key: string, fn: () => Promise<T>, intent?: Intent): Promise<T>;
  /** Recognises a create that met its own earlier attempt (same bytes, or exactly our block ids). */
  unlessOwnRetry(key: string, sent: Uint8Array | string[]): (error: unknown) => Promise<{ etag?: string }>;
  blockSize: number;
  concurrency: number;
}

/**
 * Publishes a body create-only (`If-None-Match: *`), committed in ONE step at the final
 * name: a single Put Blob when it fits in one block, else Put Block(s) through the bounded
 * pool and then one Put Block List, so Event Grid fires one BlobCreated for a complete file.
 * `beforeCommit` runs once every block is staged. On failure or abort nothing needs
 * cleaning up: uncommitted blocks are invisible, fire no event, and the service
 * garbage-collects them after 7 days; we only wait for blocks in flight to settle.
 */
export async function publishBlocks(ctx: AzureContext, key: string, body: Readable | Uint8Array, opts: PublishOptions = {}): Promise<ObjectInfo> {
  const { signal } = opts;
  signal?.throwIfAborted();
  const target = await ctx.blob(key);
  const blobHTTPHeaders = opts.contentType ? { blobContentType: opts.contentType } : undefined;
  // Block ids: base64 of `<uuid>-<6 digits>`, fixed width (the service wants every id of
  // one blob the same length) and unique per upload, so two racing publishers of one
  // name never mix each other's uncommitted blocks; the loser's commit gets 409.
  const uploadId = randomUUID();
  const ids: string[] = [];
  const pool = uploadPool(ctx.concurrency, signal);
  const chunks = chunksOf(body, ctx.blockSize);
  let size = 0;
  try {
    for (let step = await chunks.next(); !step.done; step = await chunks.next()) {
      const { data, last } = step.value;
      size += data.length;
      if (last && ids.length === 0) return await putBlob(ctx, key, target, data, blobHTTPHeaders, opts);
      if (ids.length === MAX_BLOCKS) {
        throw new StorageError(`[azure] PutBlock ${ctx.url(key)}: the body needs more than ${MAX_BLOCKS} blocks; raise blockSizeBytes`, { code: 'ERR_AZURE_TOO_MANY_BLOCKS' });
      }
      const id = Buffer.from(`${uploadId}-${String(ids.length).padStart(6, '0')}`).toString('base64');
      ids.push(id);
      // https://learn.microsoft.com/rest/api/storageservices/put-block (idempotent: same id, same bytes)
      pool.add(() => retryTransient(() => ctx.call('PutBlock', key, () =>
        target.stageBlock(id, data, data.length, { transactionalContentMD5: md5(data), abortSignal: signal })), signal));
      if (last) break;
      await pool.ready(); // backpressure: the body is not read again until a slot is free
    }
    await pool.drain();
    // Every block is staged but nothing is visible yet: record the intent, then commit.
    await opts.beforeCommit?.();
    signal?.throwIfAborted();
    // https://learn.microsoft.com/rest/api/storageservices/put-block-list
    // (If the SDK retries a commit whose first attempt landed, the retry gets 409 for our
    // own file: unlessOwnRetry recognises our block ids and takes it as the commit.)
    const done = await ctx.call('PutBlockList', key, () => target.commitBlockList(ids, { blobHTTPHeaders, conditions: { ifNoneMatch: '*' } }), 'create')
      .catch(ctx.unlessOwnRetry(key, ids));
    return { key, size, etag: quoteEtag(done.etag) };
  } catch (error) {
    throw signal?.aborted ? signal.reason : error;
  } finally {
    await pool.settle();
    await chunks.return(); // stop reading the body if the upload ended early
  }
}

/** A body of one block or less: a single Put Blob is the whole commit. */
async function putBlob(ctx: AzureContext, key: string, target: BlockBlobClient, data: Buffer, blobHTTPHeaders: { blobContentType: string } | undefined, opts: PublishOptions): Promise<ObjectInfo> {
  await opts.beforeCommit?.();
  opts.signal?.throwIfAborted(); // the Put Blob below is the commit
  // https://learn.microsoft.com/rest/api/storageservices/put-blob
  const done = await ctx.call('PutBlob', key, () =>
    target.upload(data, data.length, { blobHTTPHeaders, conditions: { ifNoneMatch: '*' }, transactionalContentMD5: md5(data) }), 'create')
    .catch(ctx.unlessOwnRetry(key, data));
  return { key, size: data.length, etag: quoteEtag(done.etag) };
}

/** Header etags are quoted, List Blobs etags are not: one form so If-Match works with either. */
export function quoteEtag(etag: string | undefined): string {
  if (!etag) return '""';
  return etag.startsWith('"') || etag.startsWith('W/') ? etag : `"${etag}"`;
}

export function md5(data: Uint8Array): Buffer {
  return createHash('md5').update(data).digest();
}
