import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  type CompletedPart,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { AlreadyExistsError, ConfigError, ExportError, PreconditionFailedError, StorageError } from '../../errors.js';
import { retryDelay, sleep } from '../../source/retry.js';
import type { ObjectInfo, PublishOptions, StorageDriver, WriteCondition } from '../types.js';

const MiB = 1024 * 1024;
/** S3 rejects smaller parts (all but the last) with EntityTooSmall at completion. */
const MIN_PART_BYTES = 5 * MiB;
const MAX_PART_BYTES = 5 * 1024 * MiB;
const MAX_PARTS = 10_000;
/** On top of the SDK's own 3 attempts per request: a part is worth a few more tries. */
const PART_RETRY = { maxRetries: 3, baseDelayMs: 250, maxDelayMs: 4_000 };

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
   * Part size of a multipart publish, in bytes. Default 8 MiB. At least 5 MiB (S3's
   * minimum) unless `endpoint` or `client` is set (emulators in tests take less). Bodies of
   * at most one part are sent with a single PutObject.
   */
  partSizeBytes?: number;
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
 *   CompleteMultipartUpload (more). `beforeCommit` runs after every byte is uploaded and
 *   before the request that makes the object visible. A failed multipart publish is
 *   aborted, so no parts are left behind.
 * - writeIf / deleteIf: `If-None-Match` / `If-Match` on PutObject and DeleteObject.
 * - Errors become `StorageError`s (exit 4) that name the call, the object and the fix.
 *
 * Why not `@aws-sdk/lib-storage`'s `Upload`: it sends CompleteMultipartUpload (or a
 * PutObject for a one-part body) right after the last part, with no hook in between, and
 * the commit protocol must record its intent exactly there. A hook injected as client
 * middleware would reach every concurrent upload on the shared client. The loop below is
 * the part of `Upload` we need: parts, a bounded queue, abort on failure.
 *
 * @example s3Driver({ bucket: 'acme-lake', prefix: 'mixpeek', sse: { kind: 'aws:kms' } })
 */
export function s3Driver(options: S3DriverOptions): StorageDriver {
  const { bucket, partSize, queueSize } = validate(options);
  const root = options.prefix?.split('/').filter(Boolean).join('/') ?? '';
  const sse = options.sse === undefined ? {} : options.sse.kind === 'AES256'
    ? { ServerSideEncryption: 'AES256' as const }
    : { ServerSideEncryption: 'aws:kms' as const, SSEKMSKeyId: options.sse.kmsKeyId };
  let client: S3Client | undefined;
  const ownsClient = !(options.client instanceof S3Client);
  const s3 = (): S3Client =>
    (client ??= typeof options.client === 'function' ? options.client()
      : options.client ?? new S3Client({ region: options.region, endpoint: options.endpoint, forcePathStyle: options.forcePathStyle }));

  const objectKey = (key: string) => (root ? `${root}/` : '') + key.replace(/^\/+/, '');
  const url = (key: string) => `s3://${bucket}/${objectKey(key)}`;

  /** One SDK call; its failure becomes a StorageError, or the condition's own error. */
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

  const etagOf = (etag: string | undefined, op: string, key: string): string => {
    if (etag) return etag;
    throw new StorageError(`[s3] ${op} ${url(key)}: the response carried no ETag; conditional writes need one`, { code: 'ERR_S3_NO_ETAG' });
  };

  async function uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer, checksums: boolean): Promise<CompletedPart> {
    for (let attempt = 0; ; attempt++) {
      try {
        // https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPart.html
        const res = await call('UploadPart', key, (c) => c.send(new UploadPartCommand({
          Bucket: bucket, Key: objectKey(key), UploadId: uploadId, PartNumber: partNumber, Body: body,
          ...(checksums && { ChecksumAlgorithm: 'CRC32' as const }),
        })));
        return { PartNumber: partNumber, ETag: etagOf(res.ETag, 'UploadPart', key), ...(res.ChecksumCRC32 && { ChecksumCRC32: res.ChecksumCRC32 }) };
      } catch (error) {
        const delay = error instanceof StorageError && error.transient ? retryDelay({ kind: 'network', code: error.code }, attempt, PART_RETRY) : null;
        if (delay === null) throw error;
        await sleep(delay);
      }
    }
  }

  /** Aborts the upload (so no parts are stranded) and rethrows the failure that led here. */
  async function abandon(key: string, uploadId: string, failure: unknown): Promise<never> {
    try {
      // https://docs.aws.amazon.com/AmazonS3/latest/API/API_AbortMultipartUpload.html
      await call('AbortMultipartUpload', key, (c) => c.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: objectKey(key), UploadId: uploadId })));
    } catch (abortError) {
      const note = `${(abortError as Error).message}; upload ${uploadId} keeps its parts until an AbortIncompleteMultipartUpload lifecycle rule removes them`;
      if (!(failure instanceof ExportError)) throw new StorageError(`[s3] publish ${url(key)} failed (${(failure as Error)?.message}), then ${note}`, { cause: failure });
      failure.context.abortFailed = note;
    }
    throw failure;
  }

  async function publishMultipart(key: string, parts: AsyncIterable<Buffer>, opts: PublishOptions): Promise<ObjectInfo> {
    // Same checksum choice as lib-storage: with the SDK default (WHEN_SUPPORTED) every part
    // carries a CRC32, and the upload must be created with that algorithm to accept them.
    const checksums = (await s3().config.requestChecksumCalculation()) === 'WHEN_SUPPORTED';
    // https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateMultipartUpload.html
    const created = await call('CreateMultipartUpload', key, (c) => c.send(new CreateMultipartUploadCommand({
      Bucket: bucket, Key: objectKey(key), ContentType: opts.contentType, ...sse, ...(checksums && { ChecksumAlgorithm: 'CRC32' as const }),
    })));
    const uploadId = created.UploadId ?? '';
    if (!uploadId) throw new StorageError(`[s3] CreateMultipartUpload ${url(key)}: the response carried no UploadId`);
    const done: CompletedPart[] = [];
    const inFlight = new Set<Promise<void>>();
    let failed: { error: unknown } | undefined;
    let size = 0;
    let partNumber = 0;
    try {
      for await (const part of parts) {
        if (failed) throw failed.error;
        if (++partNumber > MAX_PARTS) {
          throw new StorageError(`[s3] UploadPart ${url(key)}: more than ${MAX_PARTS} parts; raise the part size`, { code: 'ERR_S3_TOO_MANY_PARTS' });
        }
        size += part.length;
        const task: Promise<void> = uploadPart(key, uploadId, partNumber, part, checksums).then((p) => {
          done.push(p);
          inFlight.delete(task);
        });
        task.catch((error: unknown) => { failed ??= { error }; });
        inFlight.add(task);
        // Backpressure: the body is not read again until a slot in the queue is free.
        while (inFlight.size >= queueSize && !failed) await Promise.race(inFlight).catch(() => {});
      }
      await Promise.all(inFlight);
      done.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
      // Every byte is staged and nothing is visible yet: the commit protocol records its intent here.
      await opts.beforeCommit?.();
      // https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html (If-None-Match: create-only)
      const res = await call('CompleteMultipartUpload', key, (c) => c.send(new CompleteMultipartUploadCommand({
        Bucket: bucket, Key: objectKey(key), UploadId: uploadId, MultipartUpload: { Parts: done }, IfNoneMatch: '*',
      })), 'create').catch(unlessOwnRetry(key, size));
      return { key, size, etag: etagOf(res.ETag, 'CompleteMultipartUpload', key) };
    } catch (error) {
      await Promise.allSettled(inFlight); // a part still uploading after the abort would be stranded
      return abandon(key, uploadId, error);
    }
  }

  return {
    kind: 's3',
    url,
    async publish(key: string, body: Readable | Uint8Array, opts: PublishOptions = {}) {
      const parts = readParts(body, partSize);
      const first = await parts.next();
      const second = first.done ? first : await parts.next();
      if (!second.done) {
        try {
          return await publishMultipart(key, chain([first.value as Buffer, second.value], parts), opts);
        } finally {
          await parts.return(); // stop reading the body if the upload ended early
        }
      }
      const data = first.done ? Buffer.alloc(0) : first.value;
      await opts.beforeCommit?.();
      // https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html (If-None-Match: create-only)
      const res = await call('PutObject', key, (c) => c.send(new PutObjectCommand({
        Bucket: bucket, Key: objectKey(key), Body: data, ContentType: opts.contentType, IfNoneMatch: '*', ...sse,
      })), 'create').catch(unlessOwnRetry(key, data));
      return { key, size: data.length, etag: etagOf(res.ETag, 'PutObject', key) };
    },
    async read(key) {
      try {
        // https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
        return await call('GetObject', key, async (c) => {
          const res = await c.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey(key) }));
          const body = Buffer.from((await res.Body?.transformToByteArray()) ?? []);
          return { body, etag: etagOf(res.ETag, 'GetObject', key) };
        });
      } catch (error) {
        if (error instanceof StorageError && error.code === 'ERR_NOT_FOUND') return null;
        throw error;
      }
    },
    async readStream(key) {
      const res = await call('GetObject', key, (c) => c.send(new GetObjectCommand({ Bucket: bucket, Key: objectKey(key) })));
      return res.Body as Readable; // in Node the body is an http.IncomingMessage
    },
    async writeIf(key: string, body: Uint8Array, condition: WriteCondition) {
      const create = 'ifNoneMatch' in condition;
      const res = await call('PutObject', key, (c) => c.send(new PutObjectCommand({
        Bucket: bucket, Key: objectKey(key), Body: body, ...sse, ...(create ? { IfNoneMatch: '*' } : { IfMatch: condition.ifMatch }),
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
      try {
        // https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html
        const res = await call('HeadObject', key, (c) => c.send(new HeadObjectCommand({ Bucket: bucket, Key: objectKey(key) })));
        return { key, size: res.ContentLength ?? 0, etag: etagOf(res.ETag, 'HeadObject', key) };
      } catch (error) {
        if (error instanceof StorageError && error.code === 'ERR_NOT_FOUND') return null;
        throw error;
      }
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
    async close() {
      if (client && ownsClient) client.destroy();
      client = undefined;
    },
  };
}

function validate(options: S3DriverOptions): { bucket: string; partSize: number; queueSize: number } {
  const { bucket, partSizeBytes: partSize = 8 * MiB, queueSize = 4 } = options;
  if (!bucket || /[/\s]/.test(bucket)) throw new ConfigError(`s3 bucket "${bucket}" is not a bucket name; use s3://bucket/prefix`);
  const emulator = options.endpoint !== undefined || options.client !== undefined;
  const min = emulator ? 1 : MIN_PART_BYTES;
  if (!Number.isInteger(partSize) || partSize < min || partSize > MAX_PART_BYTES) {
    throw new ConfigError(`s3 partSizeBytes ${partSize} is out of range; use an integer from ${min} (5 MiB on AWS) to 5 GiB`);
  }
  if (!Number.isInteger(queueSize) || queueSize < 1) throw new ConfigError(`s3 queueSize ${queueSize} must be an integer of at least 1`);
  return { bucket, partSize, queueSize };
}

/** Cuts a body into parts of exactly `partSize` bytes (the last one shorter), reading lazily. */
async function* readParts(body: Readable | Uint8Array, partSize: number): AsyncGenerator<Buffer, void, undefined> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const chunk of body instanceof Uint8Array ? [body] : body) {
    let data = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (pendingBytes + data.length >= partSize) {
      const take = partSize - pendingBytes;
      yield Buffer.concat([...pending, data.subarray(0, take)]);
      pending = [];
      pendingBytes = 0;
      data = data.subarray(take);
    }
    if (data.length > 0) {
      pending.push(data);
      pendingBytes += data.length;
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending);
}

/** The parts already read, then the rest. */
async function* chain(head: Buffer[], rest: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield* head;
  yield* rest;
}

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  /** `attempts`: how many times the SDK sent the request (set by its retry middleware). */
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

function sdkError(error: unknown): { name: string; status: number | undefined; message: string } {
  const e = (error ?? {}) as SdkErrorShape;
  return { name: e.name ?? 'Error', status: e.$metadata?.httpStatusCode, message: e.message ?? String(error) };
}

/** The IAM permission each call needs, named in AccessDenied messages. */
const PERMISSION: Record<string, string> = {
  PutObject: 's3:PutObject',
  CreateMultipartUpload: 's3:PutObject',
  UploadPart: 's3:PutObject',
  CompleteMultipartUpload: 's3:PutObject',
  GetObject: 's3:GetObject',
  HeadObject: 's3:GetObject (and s3:ListBucket, without which a missing key answers 403)',
  ListObjectsV2: 's3:ListBucket',
  DeleteObject: 's3:DeleteObject',
  AbortMultipartUpload: 's3:AbortMultipartUpload',
};
const WRITES = new Set(['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload']);
const CHAIN = 'the exporter uses the AWS default chain: env, profile, web identity (IRSA), container/instance role';
const CREDENTIALS: Record<string, string> = {
  ExpiredToken: 'the session credentials have expired; refresh them',
  ExpiredTokenException: 'the session credentials have expired; refresh them',
  TokenRefreshRequired: 'the session credentials have expired; refresh them',
  InvalidToken: 'the session token is not valid; refresh the credentials',
  InvalidAccessKeyId: 'the credentials name an access key id this endpoint does not know; fix or refresh them',
  SignatureDoesNotMatch: 'the secret key does not match the access key id (or the clock is off); fix or refresh the credentials',
  CredentialsProviderError: 'no credentials were found; provide them and refresh them when they expire',
};
const TRANSIENT_NAMES = new Set(['SlowDown', 'RequestTimeout', 'InternalError', 'ServiceUnavailable', 'Throttling', 'ThrottlingException', 'TooManyRequestsException']);
const TRANSIENT_STATUSES = new Set([429, 500, 502, 503, 504]);
const NETWORK_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EAI_AGAIN']);

/** Names the call, the object and the fix (STYLE.md item 7); never includes credentials. */
export function toStorageError(op: string, where: string, error: unknown): StorageError {
  if (error instanceof StorageError) return error;
  const { name, status, message } = sdkError(error);
  const code = (error as SdkErrorShape)?.code;
  const bucket = where.replace(/^s3:\/\/([^/]*).*$/, '$1');
  const make = (text: string, errorCode: string, transient = false) =>
    new StorageError(`[s3] ${op} ${where}: ${text}`, { cause: error, transient, code: errorCode, context: { op, url: where, status, s3Code: name } });

  if (name === 'NoSuchKey' || (status === 404 && (name === 'NotFound' || name === 'Unknown'))) return make(`${name}; the object does not exist`, 'ERR_NOT_FOUND');
  if (name === 'NoSuchBucket') return make(`NoSuchBucket; bucket ${bucket} does not exist; create the bucket or fix --dest`, 'ERR_S3_NO_SUCH_BUCKET');
  const credentials = CREDENTIALS[name] ?? (/could not load credentials/i.test(message) ? CREDENTIALS.CredentialsProviderError : undefined);
  if (credentials) return make(`${name}; ${credentials}; ${CHAIN}`, 'ERR_S3_CREDENTIALS');
  if (name === 'AccessDenied' || status === 403) {
    const kms = /kms/i.test(message) || name.startsWith('KMS');
    const needs = kms ? (WRITES.has(op) ? 'kms:GenerateDataKey and kms:Decrypt on the bucket\'s KMS key' : 'kms:Decrypt on the bucket\'s KMS key')
      : `${PERMISSION[op] ?? 's3:*'} on ${op === 'ListObjectsV2' ? 'that bucket' : 'that prefix'}`;
    return make(`${name}; the role needs ${needs}`, 'ERR_S3_ACCESS_DENIED');
  }
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed') return make(`${name}; bucket ${bucket} is in another region; set the region`, 'ERR_S3_REGION');
  if (name === 'EntityTooSmall') return make(`${name}; parts must be at least 5 MiB; raise the part size`, 'ERR_S3_PART_SIZE');
  if ((code && NETWORK_CODES.has(code)) || name === 'TimeoutError' || /socket hang up|ECONNRESET|ETIMEDOUT/i.test(message)) {
    return make(`${code ?? name}; the connection was reset or timed out; retried with backoff`, 'ERR_S3_NETWORK', true);
  }
  if (TRANSIENT_NAMES.has(name) || (status !== undefined && TRANSIENT_STATUSES.has(status))) {
    return make(`${name}${status ? ` (HTTP ${status})` : ''}; S3 is throttling or briefly unavailable; retried with backoff`, 'ERR_S3_TRANSIENT', true);
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND') return make(`${code}; cannot reach the S3 endpoint; check the endpoint and the network`, 'ERR_S3_UNREACHABLE');
  // Unknown: keep the service's own words, minus anything shaped like an access key id.
  const said = message.replace(/\b(AKIA|ASIA)[A-Z0-9]{12,}\b/g, '***').slice(0, 200);
  return make(`${name}${status ? ` (HTTP ${status})` : ''}: ${said}`, 'ERR_STORAGE');
}
