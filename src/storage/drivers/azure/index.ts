import { Readable } from 'node:stream';
import type { ContainerClient } from '@azure/storage-blob';
import { ConfigError, PreconditionFailedError, StorageError, AlreadyExistsError } from '../../../errors.js';
import { makeRedactor } from '../../../util/redact.js';
import type { DriverCapabilities, StorageDriver, WriteCondition } from '../../types.js';
import { type AzureContext, MAX_BLOCKS, md5, publishBlocks, quoteEtag } from './blocks.js';
import { type AzureClientOption, type AzureCredential, createClient, secretsOf } from './client.js';
import { type Intent, isNotFound, nullIfNotFound, toStorageError } from './errors.js';
import { stripUrl } from './url.js';

export { parseAzureUrl } from '../../destination.js';

const MiB = 1024 * 1024;

export interface AzureDriverOptions {
  /**
   * The Blob endpoint, used for requests (unless `client` or a connection string says
   * otherwise) and for printable URLs: `https://<account>.blob.core.windows.net`, or
   * Azurite's `http://127.0.0.1:<port>/devstoreaccount1`. ADLS Gen2 accounts are written
   * through this endpoint too (see `parseAzureUrl`).
   */
  accountUrl: string;
  container: string;
  /** Folder inside the container; keys are joined to it with `/`. Default: none. */
  prefix?: string;
  /** How to authenticate (see `AzureCredential`). Default `'default'` (DefaultAzureCredential). */
  credential?: AzureCredential;
  /** A ready client, or a factory called once on first use (tests point it at Azurite). */
  client?: AzureClientOption;
  /**
   * Size of each staged block, and the largest body sent as a single Put Blob. Default
   * 8 MiB; at most 4000 MiB. A blob holds at most 50,000 blocks (8 MiB → 390 GiB).
   */
  blockSizeBytes?: number;
  /**
   * Blocks staged in parallel. Default 4. A publish holds at most
   * `blockSizeBytes × (concurrency + 1)` of body in memory (40 MiB with the defaults): the
   * blocks in flight plus the one being filled, and at most one chunk of the body stream;
   * the body is not read further until a slot frees.
   */
  concurrency?: number;
  /** Blobs per List Blobs page. Default 5000 (the service maximum); lowered in tests to page. */
  listPageSize?: number;
}

/**
 * Azure Blob Storage (and ADLS Gen2 through its Blob endpoint).
 *
 * - publish: create-only (`If-None-Match: *`), committed in ONE step at the final name —
 *   a single Put Blob, or Put Block(s) then one Put Block List (`blocks.ts`) — so Event Grid
 *   fires one BlobCreated for a complete file (Snowpipe auto-ingest; a DFS create/append/rename
 *   would fire early or not at all: reference/consumers-and-peers.md §0 item 7).
 * - writeIf / deleteIf: `If-None-Match: *` / `If-Match: <etag>`, atomic on the service.
 * - Errors are `StorageError`s naming the operation, the blob URL and the fix (`errors.ts`).
 */
export function azureDriver(options: AzureDriverOptions): StorageDriver {
  const { capabilities, pageSize } = validate(options);
  const accountUrl = stripUrl(options.accountUrl);
  const { container } = options;
  const prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
  const redact = makeRedactor(secretsOf(options.credential));
  const blobName = (key: string) => (prefix ? `${prefix}/${key}` : key);
  const url = (key: string) => `${accountUrl}/${container}/${encodeURI(blobName(key))}`;
  const call = <T>(op: string, key: string, fn: () => Promise<T>, intent?: Intent) =>
    fn().catch((error: unknown) => {
      throw toStorageError(op, url(key), error, redact, intent);
    });

  let client: Promise<ContainerClient> | undefined;
  const getClient = () => {
    client ??= createClient(options, accountUrl, redact).catch((error: unknown) => {
      client = undefined;
      throw error;
    });
    return client;
  };
  const blob = async (key: string) => (await getClient()).getBlockBlobClient(blobName(key));

  /**
   * A create or swap refused with 409/412 may have met its own earlier attempt: the SDK
   * retries after a reset or timeout, and the first attempt may have been applied with its
   * response lost. Calling that a conflict would fail the run (or blame "another writer").
   * The SDK does not say whether it retried, so the write is ours when the blob holds exactly
   * what we sent: the same bytes, or (Put Block List) exactly our block ids, which carry this
   * upload's UUID. Otherwise the original error stands.
   */
  const unlessOwnRetry = (key: string, sent: Uint8Array | string[]) => async (error: unknown): Promise<{ etag?: string }> => {
    if (!(error instanceof AlreadyExistsError || error instanceof PreconditionFailedError)) throw error;
    const target = await blob(key);
    const found = await (Array.isArray(sent)
      ? target.getBlockList('committed').then((list) => ({ etag: list.etag, same: (list.committedBlocks ?? []).map((b) => b.name).join() === sent.join() }))
      : target.download().then(async (res) => ({ etag: res.etag, same: (await readAll(res.readableStreamBody)).equals(sent) }))
    ).catch(() => null);
    if (!found?.same) throw error;
    return { etag: found.etag };
  };
  const ctx: AzureContext = { url, blob, call, unlessOwnRetry, blockSize: capabilities.partBytes, concurrency: capabilities.queueSize };

  return {
    kind: 'azure',
    url,
    capabilities,
    publish: (key, body, opts) => publishBlocks(ctx, key, body, opts),

    async read(key) {
      const target = await blob(key);
      // One GET gives the body and the etag of that very version.
      const response = await call('GetBlob', key, () => target.download()).catch(nullIfNotFound);
      if (!response) return null;
      const body = await call('GetBlob', key, () => readAll(response.readableStreamBody));
      return { body, etag: quoteEtag(response.etag) };
    },

    async readStream(key) {
      const target = await blob(key);
      const response = await call('GetBlob', key, () => target.download());
      const stream = response.readableStreamBody as NodeJS.ReadableStream;
      return stream instanceof Readable ? stream : Readable.from(stream);
    },

    async writeIf(key: string, body: Uint8Array, condition: WriteCondition) {
      const target = await blob(key);
      const intent: Intent = 'ifNoneMatch' in condition ? 'create' : 'replace';
      const done = await call('PutBlob', key, () => target.upload(body, body.byteLength, { conditions: condition, transactionalContentMD5: md5(body) }), intent)
        .catch(unlessOwnRetry(key, body));
      return { etag: quoteEtag(done.etag) };
    },

    async deleteIf(key, etag) {
      const target = await blob(key);
      // https://learn.microsoft.com/rest/api/storageservices/delete-blob
      // Absent (404) or already replaced (412): nothing of ours to delete.
      await call('DeleteBlob', key, () => target.delete({ conditions: { ifMatch: etag } }), 'delete').catch((error: unknown) => {
        if (!(error instanceof PreconditionFailedError) && !isNotFound(error)) throw error;
      });
    },

    async head(key) {
      const target = await blob(key);
      const props = await call('GetBlobProperties', key, () => target.getProperties()).catch(nullIfNotFound);
      return props ? { key, size: props.contentLength ?? 0, etag: quoteEtag(props.etag) } : null;
    },

    async *list(listPrefix: string) {
      const containerClient = await getClient();
      const base = prefix ? `${prefix}/` : '';
      // https://learn.microsoft.com/rest/api/storageservices/list-blobs — names come back
      // in lexical order; we follow continuation tokens and refuse one that does not advance.
      let token: string | undefined;
      do {
        const pages = containerClient.listBlobsFlat({ prefix: base + listPrefix }).byPage({ continuationToken: token, maxPageSize: pageSize });
        const page = (await call('ListBlobs', listPrefix, () => pages.next())).value;
        if (!page) return;
        for (const item of page.segment.blobItems) {
          yield { key: item.name.slice(base.length), size: item.properties.contentLength ?? 0, etag: quoteEtag(item.properties.etag) };
        }
        if (page.continuationToken && page.continuationToken === token) {
          throw new StorageError(`[azure] ListBlobs ${url(listPrefix)}: the continuation token did not advance`, { code: 'ERR_AZURE_LIST_STUCK' });
        }
        token = page.continuationToken || undefined;
      } while (token);
    },

    async close() {
      // The SDK keeps no handles that need closing; dropping the client frees its sockets.
      client = undefined;
    },
  };
}

/** Checks the options before any I/O and states the capability flags they imply. */
function validate(options: AzureDriverOptions): { capabilities: DriverCapabilities; pageSize: number } {
  const blockSize = options.blockSizeBytes ?? 8 * MiB;
  const concurrency = options.concurrency ?? 4;
  const pageSize = options.listPageSize ?? 5000;
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 4000 * MiB) {
    throw new ConfigError(`[azure] blockSizeBytes ${blockSize}: use a whole number of bytes from 1 to ${4000 * MiB} (4000 MiB)`);
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new ConfigError(`[azure] concurrency ${concurrency}: use a whole number ≥ 1`);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 5000) throw new ConfigError(`[azure] listPageSize ${pageSize}: use 1 to 5000`);
  // Put Block has no minimum block size.
  return { capabilities: { partBytes: blockSize, minPartBytes: 0, maxParts: MAX_BLOCKS, queueSize: concurrency }, pageSize };
}

async function readAll(stream: NodeJS.ReadableStream | undefined): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream ?? []) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}
