import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Manifest, readManifest } from '../../src/commit/manifest.js';
import { loadSettings } from '../../src/config/load.js';
import { dataPattern } from '../../src/ddl/snowflake.js';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { ConfigError, SinkError } from '../../src/errors.js';
import { resolveSinks } from '../../src/sinks/config.js';
import { createSink, type RunNotice } from '../../src/sinks/index.js';
import { runExport } from '../../src/run/export.js';
import { openDestination, parseDestination } from '../../src/storage/index.js';
import { exportEnv } from '../support/harness.js';
import { type FakeSnowpipe, keyLines, rsaKeyPair, sinkEnv, startFakeSnowpipe } from '../support/sinks/snowpipe.js';

const VIDEO = 'col_video_frames';
const PIPE = 'MIXPEEK.PUBLIC.MIXPEEK_COL_VIDEO_FRAMES_PIPE';
const PASSPHRASE = 'hunter2-but-longer';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const keyDir = mkdtempSync(path.join(tmpdir(), 'mxp-snowkeys-'));
const plain = rsaKeyPair();
const encrypted = rsaKeyPair(PASSPHRASE);
const keyFile = (name: string, pem: string) => {
  const file = path.join(keyDir, name);
  writeFileSync(file, pem, { mode: 0o600 });
  return file;
};
const PLAIN_KEY = keyFile('rsa_key.p8', plain.privateKey);
const ENCRYPTED_KEY = keyFile('rsa_key_enc.p8', encrypted.privateKey);

let server: DevServer;
let dest: string;
let exported: RunNotice;
let reconciled: RunNotice;
const fakes: FakeSnowpipe[] = [];

/** A RunNotice as the delivery loop builds it: read back from the manifest a real run wrote. */
async function noticeOf(runId: string, manifestKey: string, kind: 'export' | 'reconcile'): Promise<RunNotice> {
  const driver = await openDestination(dest);
  const manifest = (await readManifest(driver, manifestKey)) as Manifest;
  return { collectionId: VIDEO, runId, kind, manifest, manifestKey, url: (k) => driver.url(k), dest, destination: parseDestination(dest) };
}

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: 400, seed: 77 });
  dest = mkdtempSync(path.join(tmpdir(), 'mxp-snowpipe-'));
  const settings = (flags: Record<string, unknown> = {}) => loadSettings({ flags: { collections: [VIDEO], dest, safetyLagSeconds: 0, maxRowsPerFile: 100, ...flags }, env: exportEnv(server.url) });
  const first = await runExport(settings());
  expect(first.error).toBeUndefined();
  const run = first.collections[0]!.runs[0]!;
  exported = await noticeOf(run.runId, run.manifestKey, 'export');
  server.delete(VIDEO, 5);
  const second = await runExport(settings({ reconcile: true }));
  expect(second.error).toBeUndefined();
  const rec = second.collections[0]!.reconciles![0]!;
  reconciled = await noticeOf(rec.runId, rec.manifestKey, 'reconcile');
});
afterAll(async () => server?.close());
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

/** ddl's PATTERN for Parquet files (src/ddl/snowflake.ts dataPattern). */
const PARQUET_PATTERN = new RegExp(`^${dataPattern('.parquet')}$`);

async function fakeSnowpipe(publicKey = plain.publicKey, pattern = PARQUET_PATTERN): Promise<FakeSnowpipe> {
  const fake = await startFakeSnowpipe({ publicKey, account: 'MYORG-MYACCOUNT', user: 'MIXPEEK_LOADER', pipes: [PIPE, 'MIXPEEK.PUBLIC.COL_VIDEO_FRAMES_PIPE'], pattern });
  fakes.push(fake);
  return fake;
}

/** The sink as `resolveSinks` builds it from the environment alone. */
function snowpipeFrom(fake: FakeSnowpipe, env: Record<string, string> = {}, entry: Record<string, unknown> | undefined = undefined) {
  const [spec] = resolveSinks(entry ? [{ type: 'snowpipe', ...entry } as never] : undefined, {
    SNOWFLAKE_ACCOUNT: 'myorg-myaccount',
    SNOWFLAKE_USER: 'mixpeek_loader',
    SNOWFLAKE_PIPE: PIPE,
    SNOWFLAKE_PRIVATE_KEY_PATH: PLAIN_KEY,
    SNOWFLAKE_URL: fake.url,
    ...env,
  });
  return createSink(spec!);
}

async function deliverError(promise: Promise<unknown>): Promise<SinkError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(SinkError);
  return error as SinkError;
}

/** A notice of `count` files that exist only in this synthetic manifest (for the batching limits). */
function syntheticNotice(count: number, key: (i: number) => string = (i) => `${VIDEO}/data/dt=2026-12-01/part-20261201T000000Z-abcd-${String(i).padStart(6, '0')}.parquet`): RunNotice {
  const files = Array.from({ length: count }, (_, i) => ({ ...exported.manifest.files[0]!, key: key(i), seq: i, bytes: 1000 + i }));
  return { ...exported, runId: '20261201T000000Z-abcd', manifest: { ...exported.manifest, runId: '20261201T000000Z-abcd', files } };
}

describe('snowpipe sink', () => {
  it("submits a real export's Parquet files as paths relative to the collection's data folder, with the documented headers", async () => {
    const fake = await fakeSnowpipe();
    const delivered = await snowpipeFrom(fake).deliver(exported, sinkEnv());

    const keys = exported.manifest.files.map((f) => f.key);
    expect(keys.length).toBeGreaterThan(2);
    expect(keys.every((k) => k.endsWith('.parquet'))).toBe(true);
    expect(fake.requests).toHaveLength(1);
    const [request] = fake.requests;
    expect(request).toMatchObject({ pipe: PIPE, status: 200 });
    expect(request!.requestId).toMatch(UUID_RE);
    expect(request!.files).toEqual(exported.manifest.files.map((f) => ({ path: f.key.slice(`${VIDEO}/data/`.length), size: f.bytes })));
    // Each path, resolved against the stage URL (the data folder), is a staged file of that size.
    for (const f of request!.files) expect(statSync(path.join(dest, VIDEO, 'data', f.path)).size).toBe(f.size);
    expect(request!.headers).toMatchObject({ 'x-snowflake-authorization-token-type': 'KEYPAIR_JWT', 'content-type': 'application/json', accept: 'application/json' });
    expect(request!.headers['user-agent']).toMatch(/mixpeek-export/);
    expect(request!.jwt!.claims).toMatchObject({ sub: 'MYORG-MYACCOUNT.MIXPEEK_LOADER', iss: expect.stringMatching(/^MYORG-MYACCOUNT\.MIXPEEK_LOADER\.SHA256:[A-Za-z0-9+/]{43}=$/) });
    const { iat, exp } = request!.jwt!.claims as { iat: number; exp: number };
    expect(exp - iat).toBe(59 * 60);
    expect(delivered.details).toEqual({ pipe: PIPE, files: keys.length, requests: 1, request_ids: [request!.requestId], skipped_files: 0 });
    expect(delivered.summary).toBe(`${keys.length} file(s) of run ${exported.runId} queued on pipe ${PIPE} in 1 request(s)`);
  });

  it('sends each collection to its own pipe when SNOWFLAKE_PIPE has {collection}, named as ddl names it', async () => {
    const fake = await fakeSnowpipe();
    const delivered = await snowpipeFrom(fake, { SNOWFLAKE_PIPE: 'MIXPEEK.PUBLIC.{collection}_PIPE' }).deliver(exported, sinkEnv());
    expect(fake.requests.map((r) => [r.pipe, r.status])).toEqual([['MIXPEEK.PUBLIC.COL_VIDEO_FRAMES_PIPE', 200]]);
    expect(delivered.details.pipe).toBe('MIXPEEK.PUBLIC.COL_VIDEO_FRAMES_PIPE');
  });

  it("refuses a 200 that lists files the pipe's PATTERN does not match, which would never load", async () => {
    const fake = await fakeSnowpipe(plain.publicKey, new RegExp(`^${dataPattern('.json.gz')}$`));
    const error = await deliverError(snowpipeFrom(fake).deliver(exported, sinkEnv()));
    expect(error.message).toMatch(new RegExp(`${exported.manifest.files.length} file\\(s\\) do not match the PATTERN of pipe ${PIPE.replace(/\./g, '\\.')} and will not load .* recreate the pipe from ddl --target snowflake`));
    expect(fake.loads.get(PIPE)?.size ?? 0).toBe(0);
  });

  it('submits the keys as they are with stage: destination', async () => {
    const fake = await fakeSnowpipe(plain.publicKey, new RegExp(`^${VIDEO}/${dataPattern('.parquet')}$`));
    await snowpipeFrom(fake, {}, { stage: 'destination' }).deliver(exported, sinkEnv());
    expect(fake.requests.map((r) => r.status)).toEqual([200]);
    expect(fake.requests[0]!.files.map((f) => f.path)).toEqual(exported.manifest.files.map((f) => f.key));
  });

  it("submits a reconciliation's tombstone files like any data files", async () => {
    expect(reconciled.manifest.files.length).toBeGreaterThan(0);
    const fake = await fakeSnowpipe();
    await snowpipeFrom(fake).deliver(reconciled, sinkEnv());
    expect(fake.requests[0]!.files.map((f) => f.path)).toEqual(reconciled.manifest.files.map((f) => f.key.slice(`${VIDEO}/data/`.length)));
  });

  it('signs with an encrypted key and its passphrase, and the fake verifies the JWT with the public key', async () => {
    const fake = await fakeSnowpipe(encrypted.publicKey);
    const lines: string[] = [];
    const sink = snowpipeFrom(fake, { SNOWFLAKE_PRIVATE_KEY_PATH: ENCRYPTED_KEY, SNOWFLAKE_PRIVATE_KEY_PASSPHRASE: PASSPHRASE });
    const delivered = await sink.deliver(exported, sinkEnv(lines));
    expect(fake.requests.map((r) => r.status)).toEqual([200]);
    const printed = [sink.endpoint, delivered.summary, JSON.stringify(delivered.details), ...lines].join('\n');
    expect(printed).not.toContain(PASSPHRASE);
    for (const line of keyLines(encrypted.privateKey)) expect(printed).not.toContain(line);
  });

  it('refuses a wrong passphrase at start with a ConfigError naming the variables, not the passphrase', async () => {
    const fake = await fakeSnowpipe(encrypted.publicKey);
    let error: unknown;
    try {
      snowpipeFrom(fake, { SNOWFLAKE_PRIVATE_KEY_PATH: ENCRYPTED_KEY, SNOWFLAKE_PRIVATE_KEY_PASSPHRASE: 'wrong-passphrase' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).exitCode).toBe(2);
    expect((error as Error).message).toMatch(/SNOWFLAKE_PRIVATE_KEY_PASSPHRASE does not decrypt SNOWFLAKE_PRIVATE_KEY_PATH .*rsa_key_enc\.p8/);
    expect((error as Error).message).not.toContain('wrong-passphrase');
    expect(fake.requests).toHaveLength(0);
  });

  it('sends 12,001 files (a synthetic manifest; the files need not exist) as 5,000, 5,000 and 2,001 with distinct requestIds', async () => {
    const fake = await fakeSnowpipe();
    const notice = syntheticNotice(12_001);
    const delivered = await snowpipeFrom(fake).deliver(notice, sinkEnv());
    expect(fake.requests.map((r) => [r.status, r.files.length])).toEqual([[200, 5000], [200, 5000], [200, 2001]]);
    const ids = fake.requests.map((r) => r.requestId);
    expect(new Set(ids).size).toBe(3);
    expect(ids.every((id) => UUID_RE.test(id!))).toBe(true);
    // One JWT serves the three requests (it is reused until 54 minutes old).
    expect(new Set(fake.requests.map((r) => r.headers.authorization)).size).toBe(1);
    expect(fake.requests.flatMap((r) => r.files.map((f) => f.path))).toEqual(notice.manifest.files.map((f) => f.key.slice(`${VIDEO}/data/`.length)));
    expect(delivered.details).toMatchObject({ files: 12_001, requests: 3, request_ids: ids });
    expect(fake.loads.get(PIPE)!.size).toBe(12_001);
  });

  it('refuses a path over 1,024 UTF-8 bytes before any request, with the fix', async () => {
    const fake = await fakeSnowpipe();
    const long = syntheticNotice(2, (i) => `${VIDEO}/data/dt=2026-12-01/${'é'.repeat(i === 1 ? 520 : 1)}.parquet`);
    const error = await deliverError(snowpipeFrom(fake).deliver(long, sinkEnv()));
    expect(error.message).toMatch(/^\[sink snowpipe\] http:\/\/127\.0\.0\.1:\d+\/v1\/data\/pipes\/MIXPEEK\.PUBLIC\.MIXPEEK_COL_VIDEO_FRAMES_PIPE\/insertFiles: path .* is 1062 bytes as UTF-8; Snowpipe takes at most 1024/);
    expect(fake.requests).toHaveLength(0);
  });

  it('retries 503 and 429 (with Retry-After) and then succeeds, loading each file once', async () => {
    const fake = await fakeSnowpipe();
    fake.failNext(2, 503);
    fake.failNext(1, 429, 0);
    const lines: string[] = [];
    await snowpipeFrom(fake).deliver(exported, sinkEnv(lines));
    expect(fake.requests.map((r) => r.status)).toEqual([503, 503, 429, 200]);
    // A retry of a batch is the same request: the same requestId.
    expect(new Set(fake.requests.map((r) => r.requestId)).size).toBe(1);
    expect(lines.filter((l) => l.includes('"SinkRetry"'))).toHaveLength(3);
    expect([...fake.loads.get(PIPE)!.values()].every((n) => n === 1)).toBe(true);
  });

  it('gives up on a Snowflake outage after the retries with a transient error saying the next run sends it again', async () => {
    const fake = await fakeSnowpipe();
    fake.failNext(10, 503);
    const error = await deliverError(snowpipeFrom(fake).deliver(exported, sinkEnv()));
    expect(fake.requests).toHaveLength(4);
    expect(error).toMatchObject({ status: 503, transient: true, exitCode: 7 });
    expect(error.message).toMatch(/HTTP 503 \(Snowflake said: Service temporarily unavailable \[503\]\): Snowflake failed .* the next run sends it again/);
  });

  it('does not retry a 400 (invalid request or limit exceeded) and says it is a bug to report', async () => {
    const fake = await fakeSnowpipe();
    fake.failNext(1, 400);
    const error = await deliverError(snowpipeFrom(fake).deliver(exported, sinkEnv()));
    expect(fake.requests).toHaveLength(1);
    expect(error).toMatchObject({ status: 400, transient: false });
    expect(error.message).toMatch(/HTTP 400 \(Snowflake said: Invalid request \[400\]\): Snowpipe refused the request as malformed or over a limit .* please report it/);
  });

  it('signs a new JWT and tries once more when one is refused (401), as the Java SDK does', async () => {
    const fake = await fakeSnowpipe();
    fake.refuseNext(1);
    const lines: string[] = [];
    await snowpipeFrom(fake).deliver(exported, sinkEnv(lines));
    expect(fake.requests.map((r) => r.status)).toEqual([401, 200]);
    expect(lines.some((l) => l.includes('signing a new one'))).toBe(true);
  });

  it('explains a refused key (401 twice) with the fix and the fingerprint, and prints no key material', async () => {
    const fake = await fakeSnowpipe(encrypted.publicKey); // the user has another public key than the one signing
    const lines: string[] = [];
    const error = await deliverError(snowpipeFrom(fake).deliver(exported, sinkEnv(lines)));
    expect(fake.requests.map((r) => [r.status, r.refusal])).toEqual([
      [401, expect.stringMatching(/signature verification failed/)],
      [401, expect.stringMatching(/signature verification failed/)],
    ]);
    expect(error).toMatchObject({ status: 401, transient: false, exitCode: 7 });
    expect(error.message).toMatch(/HTTP 401: Snowflake refused the key-pair JWT for MYORG-MYACCOUNT\.MIXPEEK_LOADER/);
    expect(error.message).toMatch(/ALTER USER MIXPEEK_LOADER SET RSA_PUBLIC_KEY=/);
    expect(error.message).toMatch(/SNOWFLAKE_ACCOUNT and SNOWFLAKE_USER/);
    expect(error.message).toMatch(/DESC USER MIXPEEK_LOADER shows RSA_PUBLIC_KEY_FP = SHA256:[A-Za-z0-9+/]{43}=/);
    const printed = [error.message, ...lines].join('\n');
    for (const line of keyLines(plain.privateKey)) expect(printed).not.toContain(line);
    const jwt = fake.requests[0]!.headers.authorization!.slice('Bearer '.length);
    expect(printed).not.toContain(jwt);
  });

  it('explains a 404 as an unknown pipe or a missing privilege, names SNOWFLAKE_PIPE and the grants, and does not retry', async () => {
    const fake = await fakeSnowpipe();
    const error = await deliverError(snowpipeFrom(fake, { SNOWFLAKE_PIPE: 'MIXPEEK.PUBLIC.No_Such_Pipe' }).deliver(exported, sinkEnv()));
    expect(fake.requests.map((r) => r.status)).toEqual([404]);
    expect(error.message).toMatch(/Snowflake stores unquoted names in upper case: MIXPEEK\.PUBLIC\.NO_SUCH_PIPE/);
    expect(error).toMatchObject({ status: 404, transient: false });
    expect(error.message).toMatch(/No_Such_Pipe\/insertFiles: HTTP 404 \(Snowflake said: Specified object does not exist or not authorized/);
    expect(error.message).toMatch(/does not exist, or the user's default role may not use it .* check SNOWFLAKE_PIPE/);
    expect(error.message).toMatch(/OWNERSHIP of the pipe, or MONITOR and OPERATE on it, with USAGE on its database and schema and READ/);
  });

  it('accepts the docs\' {"status":"success"} form of a 200 as well as {"responseCode":"SUCCESS"}', async () => {
    const fake = await fakeSnowpipe();
    fake.successForm = 'docs';
    const delivered = await snowpipeFrom(fake).deliver(exported, sinkEnv());
    expect(delivered.details).toMatchObject({ requests: 1 });
  });

  it('refuses a 200 whose body is not a success, naming what came back', async () => {
    const fake = await fakeSnowpipe();
    fake.nextBody = '<html>Sign in to continue</html>';
    const error = await deliverError(snowpipeFrom(fake).deliver(exported, sinkEnv()));
    expect(error.message).toMatch(/HTTP 200 for requestId [0-9a-f-]{36} but not a success: <html>Sign in to continue<\/html>; .* SNOWFLAKE_URL/);
  });

  it('sends the same paths again on a redelivery, which the pipe skips as already loaded', async () => {
    const fake = await fakeSnowpipe();
    const sink = snowpipeFrom(fake);
    const first = await sink.deliver(exported, sinkEnv());
    const again = await sink.deliver(exported, sinkEnv());
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[1]!.files).toEqual(fake.requests[0]!.files);
    expect(fake.requests[1]!.requestId).not.toBe(fake.requests[0]!.requestId);
    expect([...fake.loads.get(PIPE)!.values()]).toEqual(exported.manifest.files.map(() => 1));
    expect(first.details.skipped_files).toBe(0);
    expect(again.details.skipped_files).toBe(exported.manifest.files.length);
    expect(again.summary).toMatch(/already loaded, skipped by Snowpipe/);
  });
});
