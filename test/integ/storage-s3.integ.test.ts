import { Readable } from 'node:stream';
import { GetObjectCommand, ListMultipartUploadsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlreadyExistsError, StorageError } from '../../src/errors.js';
import { s3Driver, type S3DriverOptions } from '../../src/storage/drivers/s3/index.js';
import { toStorageError } from '../../src/storage/drivers/s3/errors.js';
import { describeDriverConformance } from '../support/conformance.js';
import { createBucket, s3TestClient, startS3rver, type S3rverProcess } from '../support/emulators/s3.js';

const PART = 256 * 1024; // lowered from 8 MiB so the multipart path runs on small bodies
const bucket = `mxp-${Math.random().toString(36).slice(2, 10)}`;
let s3rver: S3rverProcess;
const clients: S3Client[] = [];

beforeAll(async () => {
  s3rver = await startS3rver();
  await createBucket(s3rver.endpoint, bucket);
});
afterAll(async () => {
  for (const client of clients) client.destroy();
  await s3rver?.stop();
});

const random = () => Math.random().toString(36).slice(2, 8);
const client = (make: () => S3Client = () => s3TestClient(s3rver.endpoint)) => {
  const c = make();
  clients.push(c);
  return c;
};
const driverWith = (c: S3Client, options: Partial<S3DriverOptions> = {}) =>
  s3Driver({ bucket, prefix: `s3-${random()}`, client: c, partSizeBytes: PART, minPartBytes: 1, ...options });

/** The requests a client sent: command name and HTTP headers, recorded after serialisation. */
function recordRequests(c: S3Client): { command: string; headers: Record<string, string> }[] {
  const sent: { command: string; headers: Record<string, string> }[] = [];
  c.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push({ command: context.commandName ?? '', headers: { ...(args.request as { headers: Record<string, string> }).headers } });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'recordRequests', priority: 'low' },
  );
  return sent;
}

async function openUploads(c: S3Client, prefix: string): Promise<string[]> {
  const res = await c.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return (res.Uploads ?? []).map((u) => u.Key ?? '');
}

/** A body of `parts` × PART bytes that reads one part per `read()`, and counts the reads. */
function countedBody(parts: number, failAfter?: number): Readable & { reads: number } {
  const body = new Readable({
    highWaterMark: 1,
    read() {
      body.reads++;
      if (failAfter !== undefined && body.reads > failAfter) this.destroy(new Error('encoder failed'));
      else this.push(body.reads <= parts ? Buffer.alloc(PART, body.reads) : null);
    },
  }) as Readable & { reads: number };
  body.reads = 0;
  return body;
}

describeDriverConformance('s3', () =>
  s3Driver({ bucket, prefix: `conf-${random()}`, client: client(), partSizeBytes: PART, minPartBytes: 1 }));

describe('s3 driver on s3rver-plus', () => {
  it('runs the commit hook after the last part and aborts the upload when the hook throws', async () => {
    const c = client();
    const driver = driverWith(c);
    const prefix = driver.url('').replace(`s3://${bucket}/`, '');
    let seenInHook: { uploads: string[]; visible: unknown } | undefined;
    const publishing = driver.publish('data/a.parquet', countedBody(4), {
      beforeCommit: async () => {
        seenInHook = { uploads: await openUploads(c, prefix), visible: await driver.head('data/a.parquet') };
        throw new Error('no intent');
      },
    });
    await expect(publishing).rejects.toThrow('no intent');
    expect(seenInHook).toEqual({ uploads: [`${prefix}data/a.parquet`], visible: null });
    expect(await openUploads(c, prefix)).toEqual([]);
    expect(await driver.head('data/a.parquet')).toBeNull();
  });

  it('aborts the upload when the body fails after some parts were sent', async () => {
    const c = client();
    const sent = recordRequests(c);
    const driver = driverWith(c);
    const prefix = driver.url('').replace(`s3://${bucket}/`, '');
    await expect(driver.publish('data/b.parquet', countedBody(10, 6))).rejects.toThrow('encoder failed');
    expect(sent.filter((r) => r.command === 'UploadPartCommand').length).toBeGreaterThanOrEqual(2);
    expect(sent.map((r) => r.command)).toContain('AbortMultipartUploadCommand');
    expect(await openUploads(c, prefix)).toEqual([]);
    expect(await driver.head('data/b.parquet')).toBeNull();
  });

  it('turns a 412 on CompleteMultipartUpload into AlreadyExistsError and keeps the original object', async () => {
    const c = client();
    const sent = recordRequests(c);
    const driver = driverWith(c);
    const prefix = driver.url('').replace(`s3://${bucket}/`, '');
    await driver.publish('data/c.parquet', Buffer.from('original'));
    await expect(driver.publish('data/c.parquet', countedBody(3))).rejects.toBeInstanceOf(AlreadyExistsError);
    const complete = sent.find((r) => r.command === 'CompleteMultipartUploadCommand');
    expect(complete?.headers['if-none-match']).toBe('*');
    expect((await driver.read('data/c.parquet'))?.body.toString()).toBe('original');
    expect(await openUploads(c, prefix)).toEqual([]);
  });

  it('stops reading the body while the part queue is full', async () => {
    const c = client();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    let waiting = 0;
    c.middlewareStack.add((next, context) => async (args) => {
      if (context.commandName === 'UploadPartCommand') {
        waiting++;
        await gate;
      }
      return next(args);
    }, { step: 'initialize', name: 'holdParts' });
    const driver = driverWith(c, { queueSize: 2 });
    const body = countedBody(8);
    const publishing = driver.publish('data/d.parquet', body);
    while (waiting < 2) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    // Two parts in flight, at most one being assembled, plus the stream's own one-read lookahead.
    expect(body.reads).toBeLessThanOrEqual(4);
    release();
    expect((await publishing).size).toBe(8 * PART);
  });

  it('retries a part whose connection was reset', async () => {
    const c = client();
    let failures = 0;
    c.middlewareStack.add((next, context) => async (args) => {
      if (context.commandName === 'UploadPartCommand' && failures++ === 0) {
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      }
      return next(args);
    }, { step: 'initialize', name: 'resetOnce' });
    const driver = driverWith(c);
    const info = await driver.publish('data/e.parquet', countedBody(3));
    expect(info.size).toBe(3 * PART);
    expect(failures).toBe(4); // 3 parts, one of them twice
  });

  it('aborts the multipart upload and rejects at once when the run is aborted while a part is uploading', async () => {
    const c = client();
    const sent = recordRequests(c);
    const controller = new AbortController();
    const reason = new Error('run interrupted');
    let parts = 0;
    c.middlewareStack.add((next, context) => async (args) => {
      if (context.commandName === 'UploadPartCommand' && ++parts === 2) controller.abort(reason);
      return next(args);
    }, { step: 'initialize', name: 'abortOnSecondPart' });
    const driver = driverWith(c);
    const prefix = driver.url('').replace(`s3://${bucket}/`, '');
    const body = countedBody(10);
    let hookCalled = false;
    const publishing = driver.publish('data/g.parquet', body, { signal: controller.signal, beforeCommit: async () => void (hookCalled = true) });
    await expect(publishing).rejects.toBe(reason);
    expect(hookCalled).toBe(false);
    expect(body.reads).toBeLessThan(10); // the rest of the body was never read
    const commands = sent.map((r) => r.command);
    expect(commands).toContain('AbortMultipartUploadCommand');
    expect(commands).not.toContain('CompleteMultipartUploadCommand');
    expect(await openUploads(c, prefix)).toEqual([]);
    expect(await driver.head('data/g.parquet')).toBeNull();
  });

  it('states its part size, minimum and queue as capability flags', () => {
    expect(driverWith(client(), { queueSize: 3 }).capabilities).toEqual({ partBytes: PART, minPartBytes: 1, maxParts: 10_000, queueSize: 3 });
    expect(s3Driver({ bucket, client: client() }).capabilities.minPartBytes).toBe(5 * 1024 * 1024);
    expect(() => s3Driver({ bucket, client: client(), partSizeBytes: PART })).toThrow(/partSizeBytes 262144 is out of range; use an integer from 5242880/);
  });

  it('reports a rejected access key as a StorageError that names the call and the object, not the secret', async () => {
    const secret = 'wJalrXUtnFEMI-not-a-real-secret';
    const c = client(() => new S3Client({
      endpoint: s3rver.endpoint, region: 'us-east-1', forcePathStyle: true,
      credentials: { accessKeyId: 'WRONG-TEST-KEY-ID', secretAccessKey: secret },
    }));
    const driver = driverWith(c);
    const error = await driver.publish('data/f.parquet', Buffer.from('x')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ exitCode: 4, transient: false, code: 'ERR_S3_CREDENTIALS' });
    const message = (error as Error).message;
    expect(message).toContain(`[s3] PutObject ${driver.url('data/f.parquet')}: InvalidAccessKeyId`);
    expect(message).toContain('the exporter uses the AWS default chain');
    expect(message).not.toContain(secret);
  });

  it('explains a credentials chain that found nothing', async () => {
    const c = client(() => new S3Client({
      endpoint: s3rver.endpoint, region: 'us-east-1', forcePathStyle: true, maxAttempts: 1,
      credentials: async () => { throw Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }); },
    }));
    const error = await driverWith(c).read('x.json').catch((e: unknown) => e);
    expect(error).toMatchObject({ exitCode: 4, code: 'ERR_S3_CREDENTIALS' });
    expect((error as Error).message).toMatch(/^\[s3\] GetObject s3:\/\/.*: CredentialsProviderError; no credentials were found.*web identity \(IRSA\)/);
  });

  it('tells the operator to create a bucket that does not exist, whatever the call', async () => {
    const driver = s3Driver({ bucket: `missing-${random()}`, client: client(), partSizeBytes: PART, minPartBytes: 1 });
    await expect(driver.publish('a.json', Buffer.from('x'))).rejects.toThrow(/^\[s3\] PutObject s3:\/\/missing-\w+\/a\.json: NoSuchBucket; .*create the bucket or fix --dest$/);
    // Conditional calls must not mistake the missing bucket for a lost compare-and-swap.
    await expect(driver.writeIf('a.json', Buffer.from('x'), { ifMatch: '"abc"' })).rejects.toMatchObject({ code: 'ERR_S3_NO_SUCH_BUCKET' });
    await expect(driver.deleteIf('a.json', '"abc"')).rejects.toMatchObject({ code: 'ERR_S3_NO_SUCH_BUCKET' });
    await expect(collect(driver.list(''))).rejects.toThrow(/ListObjectsV2 .*create the bucket/);
  });

  it('sends the SSE-KMS settings on every PutObject and CreateMultipartUpload', async () => {
    const c = client();
    const sent = recordRequests(c);
    const kmsKeyId = 'arn:aws:kms:us-east-1:111122223333:key/test-key';
    const driver = driverWith(c, { sse: { kind: 'aws:kms', kmsKeyId } });
    await driver.publish('small.json', Buffer.from('{}'));
    await driver.publish('big.parquet', countedBody(2), { contentType: 'application/vnd.apache.parquet' });
    await driver.writeIf('_state/checkpoint.json', Buffer.from('{}'), { ifNoneMatch: '*' });
    const writes = sent.filter((r) => r.command === 'PutObjectCommand' || r.command === 'CreateMultipartUploadCommand');
    expect(writes.map((r) => r.command)).toEqual(['PutObjectCommand', 'CreateMultipartUploadCommand', 'PutObjectCommand']);
    for (const { headers } of writes) {
      expect(headers['x-amz-server-side-encryption']).toBe('aws:kms');
      expect(headers['x-amz-server-side-encryption-aws-kms-key-id']).toBe(kmsKeyId);
    }
    expect(writes[1]!.headers['content-type']).toBe('application/vnd.apache.parquet');

    const aesDriver = driverWith(c, { sse: { kind: 'AES256' } });
    const before = sent.length;
    await aesDriver.publish('aes.json', Buffer.from('{}'));
    expect(sent.slice(before).find((r) => r.command === 'PutObjectCommand')?.headers['x-amz-server-side-encryption']).toBe('AES256');
  });

  it('keeps keys relative to a prefix without doubled slashes, and URLs free of credentials', async () => {
    const driver = s3Driver({ bucket, prefix: '/exports//mixpeek/', client: client() });
    expect(driver.url('col/data/a.parquet')).toBe(`s3://${bucket}/exports/mixpeek/col/data/a.parquet`);
    await driver.writeIf(`t-${random()}/x.json`, Buffer.from('1'), { ifNoneMatch: '*' });
    for await (const info of driver.list('t-')) expect(info.key).toMatch(/^t-\w+\/x\.json$/);
  });

  it('lets the emulator store a streamed aws-chunked body byte for byte', async () => {
    const c = client();
    const sent = recordRequests(c);
    const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251));
    const key = `raw-${random()}/stream.bin`;
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Readable.from([data.subarray(0, 70_000), data.subarray(70_000)]), ContentLength: data.length }));
    expect(sent[0]?.headers['content-encoding']).toContain('aws-chunked');
    const res = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(Buffer.from(await res.Body!.transformToByteArray()).equals(data)).toBe(true);
    expect(res.ContentEncoding).toBeUndefined();
  });
});

describe('s3 error messages', () => {
  // Plain objects shaped like SDK errors: the classification is a pure function.
  const sdk = (name: string, status?: number, extra: object = {}) => Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status }, ...extra });
  const where = 's3://lake/exports/a.parquet';

  it('marks throttling, server errors and connection resets as transient', () => {
    for (const error of [sdk('SlowDown', 503), sdk('InternalError', 500), sdk('TooManyRequests', 429), sdk('RequestTimeout', 400),
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), Object.assign(new Error('read ETIMEDOUT'), { code: 'ETIMEDOUT' })]) {
      expect(toStorageError('UploadPart', where, error).transient).toBe(true);
    }
    expect(toStorageError('PutObject', where, sdk('AccessDenied', 403)).transient).toBe(false);
  });

  it('names the missing permission, and the KMS one when KMS refused', () => {
    expect(toStorageError('PutObject', where, sdk('AccessDenied', 403)).message)
      .toBe(`[s3] PutObject ${where}: AccessDenied; the role needs s3:PutObject on that prefix`);
    expect(toStorageError('ListObjectsV2', where, sdk('AccessDenied', 403)).message).toContain('s3:ListBucket on that bucket');
    expect(toStorageError('DeleteObject', where, sdk('AccessDenied', 403)).message).toContain('s3:DeleteObject');
    expect(toStorageError('AbortMultipartUpload', where, sdk('AccessDenied', 403)).message).toContain('s3:AbortMultipartUpload');
    const kms = Object.assign(sdk('AccessDenied', 403), { message: 'User is not authorized to perform: kms:GenerateDataKey' });
    expect(toStorageError('CompleteMultipartUpload', where, kms).message).toContain('kms:GenerateDataKey and kms:Decrypt');
    expect(toStorageError('GetObject', where, kms).message).toContain('needs kms:Decrypt');
    expect(toStorageError('GetObject', where, sdk('ExpiredToken', 400)).message).toMatch(/expired; refresh them; the exporter uses the AWS default chain/);
  });
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
