import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import type { SinkError } from '../../src/errors.js';
import { createSink, type RunNotice } from '../../src/sinks/index.js';
import { RUN_COMPLETED_EVENT } from '../../src/sinks/payload.js';
import { WEBHOOK_USER_AGENT, webhookHeaders } from '../../src/sinks/webhook.js';
import { COLLECTION, exportedNotice, testSinkEnv } from '../support/sinks/notice-from-export.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/sinks/webhook.js';

const SECRET = `whsec_${Buffer.from('a-test-secret-of-32-random-bytes').toString('base64')}`;
const KEY_PART = SECRET.slice(6);
let server: DevServer;
let notice: RunNotice;
let receiver: WebhookReceiver;

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: 300, seed: 14 });
  notice = await exportedNotice(server);
});
afterAll(async () => server?.close());
beforeEach(async () => {
  receiver = await startWebhookReceiver({ secret: SECRET });
});
afterEach(async () => receiver.close());

const sinkFor = (url: string, timeoutMs = 15_000) => createSink({ type: 'webhook', name: 'hook', url, secret: SECRET, timeoutMs });
const failure = (promise: Promise<unknown>) => promise.then(() => expect.fail('the delivery succeeded'), (error: SinkError) => error);
/** Nothing the sink printed or threw holds the secret or a signature it sent. */
const expectNoSecrets = (text: string) => {
  expect(text).not.toContain(SECRET);
  expect(text).not.toContain(KEY_PART);
  for (const d of receiver.deliveries) expect(text).not.toContain(d.signature.slice(3));
};

describe('the webhook sink', () => {
  it('posts the run payload signed so that the standardwebhooks library verifies it', async () => {
    const env = testSinkEnv();
    const delivered = await sinkFor(receiver.url).deliver(notice, env);
    expect(receiver.deliveries).toHaveLength(1);
    const [d] = receiver.deliveries;
    expect(d).toMatchObject({ id: notice.runId, verified: true, status: 200, duplicate: false });
    expect(d!.headers['content-type']).toBe('application/json');
    expect(d!.headers['user-agent']).toBe(WEBHOOK_USER_AGENT);
    expect(d!.headers['user-agent']).toMatch(/^mixpeek-export\/\d/);
    expect(d!.signature).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(Math.abs(Number(d!.timestamp) - Date.now() / 1000)).toBeLessThan(60);
    expect(new Webhook(SECRET).verify(d!.body, d!.headers)).toMatchObject({ type: RUN_COMPLETED_EVENT, data: { run_id: notice.runId } });
    expect(delivered.details).toMatchObject({ status: 200, webhook_id: notice.runId, attempts: 1 });
    expect(receiver.distinctIds()).toEqual(new Set([notice.runId]));
  });

  it('sends the files, totals and manifest URL of the manifest the export wrote', async () => {
    await sinkFor(receiver.url).deliver(notice, testSinkEnv());
    const payload = JSON.parse(receiver.deliveries[0]!.body);
    const { manifest } = notice;
    expect(manifest.files.length).toBeGreaterThan(0);
    expect(payload).toMatchObject({ type: 'export.run.completed', timestamp: manifest.finishedAt });
    expect(payload.data).toMatchObject({
      collection_id: COLLECTION,
      run_id: notice.runId,
      kind: 'export',
      window: manifest.window,
      format: manifest.format,
      destination: notice.dest,
      totals: { files: manifest.totals.files, rows: manifest.totals.rows, bytes: manifest.totals.bytes, rejected: manifest.totals.rejected },
      manifest_key: `${COLLECTION}/_manifests/${notice.runId}.json`,
      manifest_url: notice.url(notice.manifestKey),
    });
    expect(payload.data.totals.rows).toBe(300);
    expect(payload.data.files).toEqual(manifest.files.map((f) => ({ key: f.key, url: notice.url(f.key), dt: f.dt, rows: f.rows, bytes: f.bytes, sha256: f.sha256 })));
    expect(payload.data.files[0].url).toMatch(/^file:\/\//);
  });

  it('refuses, on the receiver side, a timestamp ten minutes old and a body changed after signing', async () => {
    const body = JSON.stringify({ type: RUN_COMPLETED_EVENT, data: { run_id: notice.runId } });
    const stale = webhookHeaders(SECRET, notice.runId, new Date(Date.now() - 10 * 60_000), body);
    const fresh = webhookHeaders(SECRET, notice.runId, new Date(), body);
    const staleAnswer = await fetch(receiver.url, { method: 'POST', headers: stale, body });
    const tamperedAnswer = await fetch(receiver.url, { method: 'POST', headers: fresh, body: body.replace(notice.runId, 'run_forged') });
    expect([staleAnswer.status, tamperedAnswer.status]).toEqual([401, 401]);
    expect(receiver.deliveries.map((d) => [d.verified, d.error])).toEqual([
      [false, 'Message timestamp too old'],
      [false, 'No matching signature found'],
    ]);
    expect(receiver.distinctIds()).toEqual(new Set());
  });

  it('retries after 503 with Retry-After and delivers with a fresh timestamp and the same body', async () => {
    receiver.failNext(2, 503);
    // The sink's clock moves 7 s per attempt, ending near now (the receiver verifies against its own clock).
    let clock = Date.now() - 21_000;
    const env = testSinkEnv({ now: () => new Date((clock += 7_000)) });
    const delivered = await sinkFor(receiver.url).deliver(notice, env);
    expect(receiver.deliveries.map((d) => d.status)).toEqual([503, 503, 200]);
    expect(receiver.deliveries.every((d) => d.verified && d.id === notice.runId)).toBe(true);
    expect(new Set(receiver.deliveries.map((d) => d.body)).size).toBe(1);
    const stamps = receiver.deliveries.map((d) => Number(d.timestamp));
    expect([stamps[1]! - stamps[0]!, stamps[2]! - stamps[1]!]).toEqual([7, 7]);
    expect(new Set(receiver.deliveries.map((d) => d.signature)).size).toBe(3);
    // Retry-After: 1 is honoured up to the policy's cap (4 × maxDelayMs = 20 ms); a plain backoff would be ≤ 5 ms.
    expect(env.sleeps).toEqual([20, 20]);
    expect(env.logs.filter((l) => l.event === 'SinkRetry').map((l) => l.status)).toEqual([503, 503]);
    expect(delivered.details).toMatchObject({ attempts: 3 });
    expect(receiver.distinctIds()).toEqual(new Set([notice.runId]));
  });

  it('delivers a redelivered run under the same webhook-id, which the receiver processes once', async () => {
    const sink = sinkFor(receiver.url);
    await sink.deliver(notice, testSinkEnv());
    await sink.deliver(notice, testSinkEnv({ now: () => new Date(Date.now() + 2_000) }));
    expect(receiver.deliveries.map((d) => [d.id, d.duplicate])).toEqual([
      [notice.runId, false],
      [notice.runId, true],
    ]);
    expect(receiver.deliveries[0]!.timestamp).not.toBe(receiver.deliveries[1]!.timestamp);
    expect(receiver.distinctIds()).toEqual(new Set([notice.runId]));
  });

  it('stops at once on 410 Gone, saying the receiver asked to stop, with no secret in the message or logs', async () => {
    receiver.failNext(1, 410);
    const env = testSinkEnv();
    const error = await failure(sinkFor(receiver.url).deliver(notice, env));
    expect(receiver.deliveries).toHaveLength(1);
    expect(error).toMatchObject({ exitCode: 7, status: 410, transient: false, sink: 'hook' });
    expect(error.message).toMatch(/^\[sink hook\] http:\/\/127\.0\.0\.1:\d+\/hooks\/mixpeek: the receiver answered 410 Gone: it asks that deliveries to this URL stop/);
    expect(error.message).toContain('MIXPEEK_EXPORT_WEBHOOK_URL');
    expectNoSecrets(error.message + JSON.stringify(env.logs));
  });

  it('stops at once on 400 with the status and the body, even when the receiver echoes the signature back', async () => {
    receiver.failNext(1, 400);
    const env = testSinkEnv();
    const error = await failure(sinkFor(receiver.url).deliver(notice, env));
    expect(receiver.deliveries).toHaveLength(1);
    expect(error).toMatchObject({ status: 400, transient: false });
    expect(error.message).toContain('the receiver refused the delivery (HTTP 400): {"error":"payload refused","echo":"v1,***"}');
    expectNoSecrets(error.message + JSON.stringify(env.logs));
  });

  it('treats a 302 as a failure and does not follow it', async () => {
    receiver.failNext(1, 302);
    const error = await failure(sinkFor(receiver.url).deliver(notice, testSinkEnv()));
    expect(receiver.deliveries.map((d) => d.status)).toEqual([302]);
    expect(error).toMatchObject({ status: 302, transient: false });
    expect(error.message).toMatch(/answered 302 \(a redirect to http:\/\/127\.0\.0\.1:\d+\/hooks\/moved\), and redirects are not followed/);
    expect(error.message).not.toContain('receiver-query-secret');
  });

  it('gives up after the retries when the receiver keeps answering 500, naming the status', async () => {
    receiver.failNext(10, 500);
    const env = testSinkEnv();
    const error = await failure(sinkFor(receiver.url).deliver(notice, env));
    expect(receiver.deliveries).toHaveLength(4);
    expect(error).toMatchObject({ status: 500, transient: true });
    expect(error.message).toContain('the receiver failed (HTTP 500): {"error":"fault 500"}; retries ran out');
    expectNoSecrets(error.message + JSON.stringify(env.logs));
  });

  it('times out a receiver that does not answer within timeoutMs, retries, then fails', async () => {
    receiver.failNext(10, 'hang');
    const error = await failure(sinkFor(receiver.url, 150).deliver(notice, testSinkEnv()));
    expect(receiver.deliveries).toHaveLength(4);
    expect(error).toMatchObject({ code: 'ERR_SINK_NETWORK', transient: true });
    expect(error.message).toMatch(/^\[sink hook\] http:\/\/127\.0\.0\.1:\d+\/hooks\/mixpeek: no response within 0\.15 s/);
  });

  it('names a 401 as a signature the receiver refused, pointing at the secret and the clock', async () => {
    const other = createSink({ type: 'webhook', name: 'hook', url: receiver.url, secret: `whsec_${Buffer.from('another-secret-of-32-random-byte').toString('base64')}`, timeoutMs: 5_000 });
    const error = await failure(other.deliver(notice, testSinkEnv()));
    expect(receiver.deliveries.map((d) => [d.status, d.verified])).toEqual([[401, false]]);
    expect(error.message).toContain('check that it verifies with the same secret as MIXPEEK_EXPORT_WEBHOOK_SECRET');
  });

  it('uses a test receiver whose failNext replaces the faults still pending, and clears them with 0', async () => {
    receiver.failNext(5, 503);
    receiver.failNext(1, 429);
    receiver.failNext(0, 503);
    await sinkFor(receiver.url).deliver(notice, testSinkEnv());
    expect(receiver.deliveries.map((d) => d.status)).toEqual([200]);
    receiver.reset();
    expect([receiver.deliveries.length, receiver.distinctIds().size]).toEqual([0, 0]);
  });

  it('leaves the query string out of its endpoint', () => {
    expect(sinkFor('https://hooks.example.com/in?token=abc').endpoint).toBe('https://hooks.example.com/in');
  });
});
