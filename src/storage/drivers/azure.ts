import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { ContainerClient, StorageSharedKeyCredential, type StoragePipelineOptions } from '@azure/storage-blob';
import type { TokenCredential } from '@azure/identity';
import { AlreadyExistsError, ConfigError, PreconditionFailedError, StorageError } from '../../errors.js';
import type { ObjectInfo, PublishOptions, StorageDriver, WriteCondition } from '../types.js';

const MiB = 1024 * 1024;
/** Put Block List accepts at most 50,000 blocks per blob. */
const MAX_BLOCKS = 50_000;

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
  /**
   * How to authenticate. Default `'default'`: `DefaultAzureCredential` from @azure/identity
   * (workload identity, managed identity, Azure CLI...), created on first use. Secrets given
   * here never appear in URLs, logs or error messages.
   * @example { connectionString: process.env.AZURE_STORAGE_CONNECTION_STRING! }
   */
  credential?: 'default' | { connectionString: string } | { accountName: string; accountKey: string } | { sasToken: string } | TokenCredential;
  /** A ready client, or a factory called once on first use (tests point it at Azurite). */
  client?: ContainerClient | (() => ContainerClient);
  /**
   * Size of each staged block, and the largest body sent as a single Put Blob. Default
   * 8 MiB; at most 4000 MiB. A blob holds at most 50,000 blocks (8 MiB → 390 GiB).
   */
  blockSizeBytes?: number;
  /**
   * Blocks staged in parallel. Default 4. A publish holds at most
   * `blockSizeBytes × concurrency` of body in memory (32 MiB with the defaults), plus the
   * one chunk the body stream last gave: the body is not read further until a slot frees.
   */
  concurrency?: number;
  /** Blobs per List Blobs page. Default 5000 (the service maximum); lowered in tests to page. */
  listPageSize?: number;
}

/**
 * Azure Blob Storage (and ADLS Gen2 through its Blob endpoint).
 *
 * - publish: create-only (`If-None-Match: *`), committed in ONE step at the final name —
 *   a single Put Blob, or Put Block(s) then one Put Block List — so Event Grid fires one
 *   BlobCreated for a complete file (Snowpipe auto-ingest; a DFS create/append/rename
 *   would fire early or not at all: reference/consumers-and-peers.md §0 item 7).
 * - writeIf / deleteIf: `If-None-Match: *` / `If-Match: <etag>`, atomic on the service.
 * - Errors are `StorageError`s naming the operation, the blob URL and the fix.
 */
export function azureDriver(options: AzureDriverOptions): StorageDriver {
  const accountUrl = stripUrl(options.accountUrl);
  const container = options.container;
  const prefix = (options.prefix ?? '').replace(/^\/+|\/+$/g, '');
  const blockSize = options.blockSizeBytes ?? 8 * MiB;
  const concurrency = options.concurrency ?? 4;
  const pageSize = options.listPageSize ?? 5000;
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 4000 * MiB) {
    throw new ConfigError(`[azure] blockSizeBytes ${blockSize}: use a whole number of bytes from 1 to ${4000 * MiB} (4000 MiB)`);
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new ConfigError(`[azure] concurrency ${concurrency}: use a whole number ≥ 1`);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 5000) throw new ConfigError(`[azure] listPageSize ${pageSize}: use 1 to 5000`);

  const secrets = secretsOf(options.credential);
  const blobName = (key: string) => (prefix ? `${prefix}/${key}` : key);
  const url = (key: string) => `${accountUrl}/${container}/${encodeURI(blobName(key))}`;
  const call = <T>(op: string, key: string, fn: () => Promise<T>, intent?: Intent) =>
    fn().catch((error: unknown) => {
      throw toStorageError(op, url(key), error, secrets, intent);
    });

  let client: Promise<ContainerClient> | undefined;
  const getClient = () => {
    client ??= createClient(options, accountUrl, secrets).catch((error: unknown) => {
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

  return {
    kind: 'azure',
    url,

    async publish(key: string, body: Readable | Uint8Array, opts?: PublishOptions): Promise<ObjectInfo> {
      const target = await blob(key);
      const blobHTTPHeaders = opts?.contentType ? { blobContentType: opts.contentType } : undefined;
      // Block ids: base64 of `<uuid>-<6 digits>`, fixed width (the service wants every id of
      // one blob the same length) and unique per upload, so two racing publishers of one
      // name never mix each other's uncommitted blocks; the loser's commit gets 409.
      const uploadId = randomUUID();
      const ids: string[] = [];
      const pool = createPool(concurrency);
      let size = 0;
      try {
        for await (const { data, last } of blocksOf(body, blockSize)) {
          size += data.length;
          if (last && ids.length === 0) {
            // Fits in one block: a single Put Blob is the whole commit.
            // https://learn.microsoft.com/rest/api/storageservices/put-blob
            await opts?.beforeCommit?.();
            const done = await call('PutBlob', key, () =>
              target.upload(data, data.length, { blobHTTPHeaders, conditions: { ifNoneMatch: '*' }, transactionalContentMD5: md5(data) }), 'create')
              .catch(unlessOwnRetry(key, data));
            return { key, size, etag: quoteEtag(done.etag) };
          }
          if (ids.length === MAX_BLOCKS) {
            throw new StorageError(`[azure] PutBlock ${url(key)}: the body needs more than ${MAX_BLOCKS} blocks; raise blockSizeBytes`, { code: 'ERR_AZURE_TOO_MANY_BLOCKS' });
          }
          const id = Buffer.from(`${uploadId}-${String(ids.length).padStart(6, '0')}`).toString('base64');
          ids.push(id);
          // https://learn.microsoft.com/rest/api/storageservices/put-block
          await pool.run(() => call('PutBlock', key, () => target.stageBlock(id, data, data.length, { transactionalContentMD5: md5(data) })));
        }
        await pool.drain();
        // Every block is staged but nothing is visible yet: record the intent, then commit.
        await opts?.beforeCommit?.();
        // https://learn.microsoft.com/rest/api/storageservices/put-block-list
        // (If the SDK retries a commit whose first attempt landed, the retry gets 409 for our
        // own file: unlessOwnRetry recognises our block ids and takes it as the commit.)
        const done = await call('PutBlockList', key, () => target.commitBlockList(ids, { blobHTTPHeaders, conditions: { ifNoneMatch: '*' } }), 'create')
          .catch(unlessOwnRetry(key, ids));
        return { key, size, etag: quoteEtag(done.etag) };
      } finally {
        // On failure (body error, hook error, a block or the commit refused) nothing needs
        // cleaning up: uncommitted blocks are invisible, fire no event, and the service
        // garbage-collects them after 7 days. We only wait for in-flight blocks to settle.
        await pool.settle();
      }
    },

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

/**
 * Splits an ADLS Gen2 or Blob URL into the parts `azureDriver` takes:
 * `abfss://container@account.dfs.core.windows.net/prefix` (written through the Blob
 * endpoint `https://account.blob.core.windows.net`) or
 * `https://account.blob.core.windows.net/container/prefix`. A SAS in the URL is refused:
 * pass it as a credential so it never lands in logs. Throws a `ConfigError` whose message
 * does not repeat the URL (the caller prefixes it, e.g. `--dest <url>: ...`).
 * @example parseAzureUrl('abfss://raw@acme.dfs.core.windows.net/mixpeek')
 *   // { accountUrl: 'https://acme.blob.core.windows.net', account: 'acme', container: 'raw', prefix: 'mixpeek' }
 */
export function parseAzureUrl(input: string): { accountUrl: string; account: string; container: string; prefix: string } {
  let parsed: URL;
  try {
    parsed = new URL(input);
  } catch {
    throw new ConfigError(`not a URL; ${USE_FORMS}`);
  }
  if (parsed.search) throw new ConfigError('remove the query string: a SAS goes in the credential, never in the URL');
  const segments = parsed.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const host = parsed.hostname.toLowerCase();
  const [, account, suffix] = /^([a-z0-9]{3,24})\.(?:dfs|blob)\.(.+)$/.exec(host) ?? [];
  if (account && suffix) {
    // ADLS Gen2 is written through its Blob endpoint: same data, and Put Blob / Put Block
    // List fire the BlobCreated event Snowpipe and Auto Loader wait for.
    const accountUrl = `https://${account}.blob.${suffix}`;
    if ((parsed.protocol === 'abfss:' || parsed.protocol === 'abfs:') && parsed.username) {
      return { accountUrl, account, container: decodeURIComponent(parsed.username), prefix: segments.join('/') };
    }
    const [container, ...rest] = segments;
    if ((parsed.protocol === 'https:' || parsed.protocol === 'http:') && container) return { accountUrl, account, container, prefix: rest.join('/') };
  }
  throw new ConfigError(`not an Azure Blob or ADLS Gen2 URL; ${USE_FORMS}`);
}

const USE_FORMS = 'use abfss://container@account.dfs.core.windows.net/prefix or https://account.blob.core.windows.net/container/prefix';

/** What a conditional write meant, so 409/412/404 map to the right error class. */
type Intent = 'create' | 'replace' | 'delete';

async function createClient(options: AzureDriverOptions, accountUrl: string, secrets: string[]): Promise<ContainerClient> {
  if (options.client) return typeof options.client === 'function' ? options.client() : options.client;
  const containerUrl = `${accountUrl}/${encodeURIComponent(options.container)}`;
  const pipeline: StoragePipelineOptions = { userAgentOptions: { userAgentPrefix: 'mixpeek-export' } };
  const credential = options.credential ?? 'default';
  try {
    if (credential === 'default') {
      // Loaded on first use only: most runs with keys or a SAS never need @azure/identity.
      const { DefaultAzureCredential } = await import('@azure/identity');
      return new ContainerClient(containerUrl, new DefaultAzureCredential(), pipeline);
    }
    if ('connectionString' in credential) return new ContainerClient(credential.connectionString, options.container, pipeline);
    if ('accountKey' in credential) {
      return new ContainerClient(containerUrl, new StorageSharedKeyCredential(credential.accountName, credential.accountKey), pipeline);
    }
    if ('sasToken' in credential) return new ContainerClient(`${containerUrl}?${credential.sasToken.replace(/^\?/, '')}`, undefined, pipeline);
    return new ContainerClient(containerUrl, credential, pipeline);
  } catch (error) {
    throw new ConfigError(`[azure] cannot create a client for ${containerUrl}: ${redact(messageOf(error), secrets)}; check the credential`);
  }
}

/**
 * Reads a body into blocks of `size` bytes. A full block is held back until the next byte
 * arrives, so the consumer knows which block is the last (and whether there is only one).
 * Pulling is driven by the consumer, so a slow upload pauses the body stream.
 */
async function* blocksOf(body: Readable | Uint8Array, size: number): AsyncGenerator<{ data: Buffer; last: boolean }> {
  if (body instanceof Uint8Array) {
    const all = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    let offset = 0;
    do {
      yield { data: all.subarray(offset, offset + size), last: offset + size >= all.length };
      offset += size;
    } while (offset < all.length);
    return;
  }
  let parts: Buffer[] = [];
  let filled = 0;
  let held: Buffer | null = null;
  for await (const chunk of body) {
    let rest = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (rest.length > 0) {
      if (held) {
        yield { data: held, last: false };
        held = null;
      }
      const take = Math.min(size - filled, rest.length);
      parts.push(rest.subarray(0, take));
      filled += take;
      rest = rest.subarray(take);
      if (filled === size) {
        held = Buffer.concat(parts, size);
        parts = [];
        filled = 0;
      }
    }
  }
  if (held && filled === 0) yield { data: held, last: true };
  else {
    if (held) yield { data: held, last: false };
    yield { data: Buffer.concat(parts, filled), last: true };
  }
}

/**
 * At most `limit` tasks in flight; `run` returns once a slot is free, so the caller reads
 * the next block only then. The first failure is rethrown by `run` or `drain`.
 */
function createPool(limit: number) {
  const inflight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const check = () => {
    if (failure) throw failure.error;
  };
  return {
    async run(task: () => Promise<unknown>): Promise<void> {
      check();
      const tracked: Promise<void> = task().then(
        () => void inflight.delete(tracked),
        (error: unknown) => {
          inflight.delete(tracked);
          failure ??= { error };
        },
      );
      inflight.add(tracked);
      while (inflight.size >= limit && !failure) await Promise.race(inflight);
      check();
    },
    async drain(): Promise<void> {
      await Promise.all(inflight);
      check();
    },
    settle: async (): Promise<void> => void (await Promise.all(inflight)),
  };
}

/**
 * What the service said, read from an SDK RestError (or an identity or network error).
 * `code` is the storage error code (`x-ms-error-code`, also sent on HEAD where there is no
 * body), or the errno of a failed connection, or '' when there is none.
 */
function readServiceError(error: unknown): { status?: number; code: string; message: string; name: string } {
  const e = error as { statusCode?: number; code?: string; details?: { errorCode?: string }; name?: string };
  const message = messageOf(error);
  let code = e?.details?.errorCode ?? e?.code ?? '';
  if (code === 'REQUEST_SEND_ERROR') code = /\b(E[A-Z_]{3,})\b/.exec(message)?.[1] ?? code;
  return { status: e?.statusCode, code, message, name: e?.name ?? 'Error' };
}

const TOKEN_ERRORS = new Set(['CredentialUnavailableError', 'AuthenticationError', 'AggregateAuthenticationError', 'AuthenticationRequiredError']);
const NETWORK_CODES = new Set(['REQUEST_SEND_ERROR', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNREFUSED', 'EAI_AGAIN', 'ESOCKETTIMEDOUT', 'UND_ERR_SOCKET']);
const ROLE = 'the identity needs the Storage Blob Data Contributor role on the container';

function hintFor(status: number | undefined, code: string, message: string): string | undefined {
  if (code === 'ContainerNotFound') return 'create the container or fix --dest';
  if (code === 'AuthenticationFailed' || code === 'InvalidAuthenticationInfo' || code === 'TokenUnavailable' || /not valid in the specified time frame|expired/i.test(message)) {
    return 'the credentials were rejected (wrong account key, expired or malformed SAS, or an expired token); refresh them';
  }
  if (code === 'KeyBasedAuthenticationNotPermitted') return 'shared key access is disabled on the account; use a SAS or an Entra ID identity';
  if (code === 'AuthorizationSourceIPMismatch') return "the account's network rules block this address";
  if (code === 'AuthorizationFailure') {
    return `access refused: the credentials may be wrong or expired (refresh them), the account's network rules may block this address, or ${ROLE}`;
  }
  if (status === 403) return `${ROLE} (or the SAS needs read, add, create, write, delete and list permissions)`;
  if (code === 'ENOTFOUND') return 'the account host does not resolve; check the account name in --dest';
  return undefined;
}

function toStorageError(op: string, target: string, error: unknown, secrets: string[], intent?: Intent): StorageError {
  if (error instanceof StorageError) return error;
  const info = readServiceError(error);
  const context = { op, url: target, status: info.status, azureCode: info.code };
  const cause = Object.assign(new Error(redact(info.message, secrets)), { name: info.name, statusCode: info.status, code: info.code });
  const conditionFailed = info.status === 412 && (info.code === 'ConditionNotMet' || info.code === '');
  if (intent === 'create' && ((info.status === 409 && info.code === 'BlobAlreadyExists') || conditionFailed)) {
    return new AlreadyExistsError(`[azure] ${op} ${target}: already exists; a published file is never overwritten`, { cause, context });
  }
  if ((intent === 'replace' && (conditionFailed || (info.status === 404 && info.code === 'BlobNotFound'))) || (intent === 'delete' && conditionFailed)) {
    return new PreconditionFailedError(`[azure] ${op} ${target}: changed since it was read (compare-and-swap lost)`, { cause, context });
  }
  const code = TOKEN_ERRORS.has(info.name) ? 'TokenUnavailable' : info.code || (info.status ? `HTTP${info.status}` : info.name);
  const hint = hintFor(info.status, code, info.message);
  const detail = hint ?? redact(info.message.split('\n')[0] ?? '', secrets);
  const transient =
    (info.status !== undefined && (info.status >= 500 || info.status === 408 || info.status === 429)) ||
    code === 'ServerBusy' || code === 'OperationTimedOut' || NETWORK_CODES.has(code);
  return new StorageError(`[azure] ${op} ${target}: ${code}${detail ? `; ${detail}` : ''}`, { cause, context, transient, code: `ERR_AZURE_${code}` });
}

function isNotFound(error: unknown): boolean {
  const context = (error as StorageError)?.context;
  return error instanceof StorageError && context?.status === 404 && (context.azureCode === 'BlobNotFound' || context.azureCode === '');
}

function nullIfNotFound(error: unknown): null {
  if (isNotFound(error)) return null;
  throw error;
}

function secretsOf(credential: AzureDriverOptions['credential']): string[] {
  if (!credential || credential === 'default' || 'getToken' in credential) return [];
  if ('accountKey' in credential) return [credential.accountKey];
  if ('sasToken' in credential) return [credential.sasToken.replace(/^\?/, '')];
  return credential.connectionString.split(';').flatMap((part) => (/^(AccountKey|SharedAccessSignature)=/i.test(part) ? [part.slice(part.indexOf('=') + 1)] : []));
}

/** Removes keys, signatures and tokens from any text we put in a message. */
function redact(text: string, secrets: string[]): string {
  let out = text
    .replace(/\b(sig|AccountKey|SharedAccessSignature)=[^&;\s"']*/gi, '$1=REDACTED')
    .replace(/\bBearer\s+[\w.~+/=-]+/gi, 'Bearer REDACTED');
  for (const secret of secrets) if (secret.length >= 8) out = out.split(secret).join('REDACTED');
  return out;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A URL without query, fragment, user info or trailing slash (never a SAS or key). */
function stripUrl(raw: string): string {
  return raw.replace(/[?#].*$/s, '').replace(/\/\/[^/@]*@/, '//').replace(/\/+$/, '');
}

/** Header etags are quoted, List Blobs etags are not: one form so If-Match works with either. */
function quoteEtag(etag: string | undefined): string {
  if (!etag) return '""';
  return etag.startsWith('"') || etag.startsWith('W/') ? etag : `"${etag}"`;
}

async function readAll(stream: NodeJS.ReadableStream | undefined): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream ?? []) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

function md5(data: Uint8Array): Buffer {
  return createHash('md5').update(data).digest();
}
