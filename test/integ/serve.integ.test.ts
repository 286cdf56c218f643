/**
 * `mixpeek-export serve` end to end: the real CLI as a child process, real HTTP, the dev
 * server as the Mixpeek API, a folder as the destination. Every wait is on an observed log
 * line, an HTTP answer or a process exit.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { readCheckpoint } from '../support/checkpoint.js';
import { API_KEY, compareVersions, dataFiles, exportEnv, runCli, stagedVersions } from '../support/harness.js';
import { deliver, documentsWritten, holdingProxy, postRaw, type ServeProcess, startServeProcess } from '../support/serve.js';

const SECRET = 'inbound-secret-7f3a9c1e5b2d4680';
const DOCS = 600;
let server: DevServer;
/** Everything every process printed, for the last test (no secret anywhere). */
const outputs: string[] = [];

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: DOCS, seed: 15 });
});
afterAll(async () => server?.close());

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'mxp-serve-'));
const env = (extra: Record<string, string> = {}) => exportEnv(server.url, { MIXPEEK_INBOUND_WEBHOOK_SECRET: SECRET, ...extra });
/** Small pages and files, no reconciliation, no timer unless asked: each run is a few requests and files. */
const serveArgs = (collection: string, dest: string, extra: string[] = []) => [
  '--port', '0', '--host', '127.0.0.1', '--collection', collection, '--dest', dest, '--safety-lag-seconds', '0', '--reconcile-every-hours', '0',
  '--interval', '0', '--page-size', '100', '--max-rows-per-file', '200', ...extra,
];

async function serve(collection: string, dest: string, extra: string[] = [], extraEnv: Record<string, string> = {}): Promise<ServeProcess> {
  const p = await startServeProcess(serveArgs(collection, dest, extra), env(extraEnv));
  void p.exited.then(() => outputs.push(p.stdout, p.stderr));
  return p;
}

/** The server's metrics as `name{labels}` → value. */
async function metrics(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return new Map(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));
}

async function expectExactlyOnce(dest: string, collection: string): Promise<void> {
  const cmp = compareVersions(server.currentVersions(collection), await stagedVersions(dest, collection));
  expect(cmp).toMatchObject({ duplicates: [], missing: [], unknown: [] });
}

describe('serve', () => {
  it('exports the collection a valid event names within seconds: files staged, checkpoint advanced, every version once', async () => {
    const col = 'col_pdf_pages';
    const dest = tempDir();
    const p = await serve(col, dest);
    expect((await fetch(`${p.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${p.url}/healthz`)).status).toBe(200);
    const sent = performance.now();
    const answer = await deliver(p.url, documentsWritten('evt_valid_1', col), SECRET);
    expect(answer).toEqual({ status: 202, body: { status: 'accepted', run: 'started' } });
    const finished = await p.waitFor((r) => r.event === 'ServeRunFinished');
    const seconds = (performance.now() - sent) / 1000;
    console.log(`serve: event -> ${DOCS} documents staged in ${seconds.toFixed(2)} s`);
    expect(finished).toMatchObject({ collection_id: col, result: 'ok', rows: DOCS, event_ids: ['evt_valid_1'], trigger: 'event' });
    expect(seconds).toBeLessThan(60);
    expect(dataFiles(dest, col).length).toBe(finished.files);
    const checkpoint = await readCheckpoint(dest, col);
    expect(checkpoint.lastHi).not.toBeNull();
    expect(checkpoint.active).toBeNull();
    await expectExactlyOnce(dest, col);
    // Every serve line about the event names it and the collection; the run's own lines name them too.
    expect(p.events('EventAccepted')).toEqual([expect.objectContaining({ event_id: 'evt_valid_1', collection_id: col, run: 'started' })]);
    for (const event of ['ServeRunStarted', 'RunStarted', 'FilePublished', 'ServeRunFinished']) {
      expect(p.events(event).length, event).toBeGreaterThan(0);
      for (const r of p.events(event)) expect(r, event).toMatchObject({ collection_id: col, event_ids: ['evt_valid_1'], serve_run: 1 });
    }
    expect(await p.stop()).toEqual({ code: 0, signal: null });
  });

  it('answers a wrong or missing secret 401, an oversized body 413, malformed JSON 400, other events and collections 202 and a duplicate 200, and runs nothing for any of them', async () => {
    const col = 'col_video_frames';
    const dest = tempDir();
    const p = await serve(col, dest);
    expect((await deliver(p.url, documentsWritten('evt_a', col), 'wrong-secret-wrong-secret')).status).toBe(401);
    expect((await deliver(p.url, documentsWritten('evt_b', col), null)).status).toBe(401);
    expect((await deliver(p.url, 'not json', 'wrong-secret-wrong-secret')).status).toBe(401); // authenticated before the body is read
    expect(await postRaw(p.url, 2 * 1024 * 1024, false, SECRET)).toBe(413);
    expect(await postRaw(p.url, 2 * 1024 * 1024, true, SECRET)).toBe(413);
    expect((await deliver(p.url, '{"event_id": "evt_c", ', SECRET)).status).toBe(400);
    expect((await deliver(p.url, { event_type: 'collection.documents.written' }, SECRET)).status).toBe(400);
    expect((await deliver(p.url, { ...documentsWritten('evt_d', col), event_type: 'collection.updated' }, SECRET)).body).toEqual({ status: 'ignored', reason: 'ignored_type' });
    expect((await deliver(p.url, documentsWritten('evt_e', 'col_not_configured'), SECRET)).body).toEqual({ status: 'ignored', reason: 'unknown_collection' });
    let m = await metrics(p.url);
    expect(m.get('mixpeek_export_serve_runs_in_flight')).toBe(0);
    expect(m.get('mixpeek_export_serve_queue_depth')).toBe(0);
    expect([...m.keys()].filter((k) => k.startsWith('mixpeek_export_serve_runs_total'))).toEqual([]);
    for (const [reason, n] of [['auth', 3], ['too_large', 2], ['malformed', 2], ['ignored_type', 1], ['unknown_collection', 1]] as const) {
      expect(m.get(`mixpeek_export_serve_events_rejected_total{reason="${reason}"}`), reason).toBe(n);
    }

    expect((await deliver(p.url, documentsWritten('evt_f', col), SECRET)).status).toBe(202);
    await p.waitFor((r) => r.event === 'ServeRunFinished');
    const afterRun = server.stats().requests;
    expect((await deliver(p.url, documentsWritten('evt_f', col), SECRET))).toEqual({ status: 200, body: { status: 'ignored', reason: 'duplicate' } });
    m = await metrics(p.url);
    expect(m.get(`mixpeek_export_serve_runs_total{collection="${col}",result="ok"}`)).toBe(1);
    expect(m.get('mixpeek_export_serve_runs_in_flight')).toBe(0);
    expect(m.get('mixpeek_export_serve_queue_depth')).toBe(0);
    expect(server.stats().requests).toBe(afterRun); // the duplicate asked the API nothing
    expect(p.events('ServeRunStarted')).toHaveLength(1);
    expect(p.events('EventRejected').find((r) => r.reason === 'duplicate')).toMatchObject({ event_id: 'evt_f', collection_id: col });
    expect((await p.stop()).code).toBe(0);
  });

  it('runs a burst of 50 events during a run as exactly one more run, and stages every version once', async () => {
    const col = 'col_audio_transcripts';
    const dest = tempDir();
    // Serve reaches the API through a proxy that holds its requests: the first run is in
    // flight, held, for as long as the burst takes to be answered.
    const proxy = await holdingProxy(server.url);
    const p = await serve(col, dest, [], { MIXPEEK_BASE_URL: proxy.url });
    try {
      proxy.hold();
      const first = await deliver(p.url, documentsWritten('evt_burst_0', col), SECRET);
      expect(first.body.run).toBe('started');
      await proxy.holding;
      server.create(col, 5);
      const rest = await Promise.all(Array.from({ length: 49 }, (_, i) => deliver(p.url, documentsWritten(`evt_burst_${i + 1}`, col), SECRET)));
      expect(rest.every((a) => a.status === 202)).toBe(true);
      const admissions = rest.map((a) => a.body.run);
      expect(admissions.filter((a) => a === 'queued')).toHaveLength(1);
      expect(admissions.filter((a) => a === 'coalesced')).toHaveLength(48);
      proxy.release();
      const second = await p.waitFor((r) => r.event === 'ServeRunFinished', 2);
      expect(second).toMatchObject({ result: 'ok', rows: 5 });
      const m = await metrics(p.url);
      expect(m.get(`mixpeek_export_serve_runs_total{collection="${col}",result="ok"}`)).toBe(2);
      expect(m.get('mixpeek_export_serve_queue_depth')).toBe(0);
      expect(m.get('mixpeek_export_serve_runs_in_flight')).toBe(0);
      expect(m.get(`mixpeek_export_serve_events_accepted_total{collection="${col}"}`)).toBe(50);
      console.log(`serve: 50 events in a burst -> 2 runs (48 coalesced)`);
    } finally {
      proxy.release();
      expect((await p.stop()).code).toBe(0);
      await proxy.close();
    }
    expect(p.events('ServeRunStarted')).toHaveLength(2);
    await expectExactlyOnce(dest, col);
  });

  it('exports every configured collection on the --interval timer without any event', async () => {
    const col = 'col_product_images';
    const dest = tempDir();
    const p = await serve(col, dest, ['--interval', '1s']);
    const first = await p.waitFor((r) => r.event === 'ServeRunFinished' && r.trigger === 'interval');
    expect(first).toMatchObject({ rows: DOCS });
    const created = server.create(col, 3);
    const later = await p.waitFor((r) => r.event === 'ServeRunFinished' && (r.serve_run as number) > (first.serve_run as number) && (r.rows as number) > 0);
    expect(later.rows).toBe(created.length);
    expect(later).toMatchObject({ collection_id: col, result: 'ok', event_ids: [] });
    expect(p.events('EventAccepted')).toEqual([]);
    expect((await p.stop()).code).toBe(0);
    await expectExactlyOnce(dest, col);
  });

  it('stops on SIGTERM during a run with exit 0 and a valid checkpoint that the next export resumes with no duplicate and no gap', async () => {
    const col = 'col_pdf_pages';
    const dest = tempDir();
    // After the first file, the proxy holds serve's API requests: the run, 12 pages long, cannot
    // end before SIGTERM (at most the page it reads ahead is already on its way).
    const proxy = await holdingProxy(server.url);
    const p = await serve(col, dest, ['--page-size', '50', '--max-rows-per-file', '100'], { MIXPEEK_BASE_URL: proxy.url });
    let exit;
    try {
      await deliver(p.url, documentsWritten('evt_term', col), SECRET);
      await p.waitFor((r) => r.event === 'FilePublished');
      proxy.hold();
      exit = await p.stop('SIGTERM');
    } finally {
      proxy.release();
      await proxy.close();
    }
    expect(exit, p.stderr.slice(-2000)).toEqual({ code: 0, signal: null });
    expect(p.events('ServeStopped')).toHaveLength(1);
    expect(p.events('ServeRunFinished')[0]).toMatchObject({ result: 'interrupted' });
    const checkpoint = await readCheckpoint(dest, col);
    expect(checkpoint.active?.files.length).toBeGreaterThan(0); // stopped mid-run, at a commit point
    const resumed = await runCli(['export', '--collection', col, '--dest', dest, '--safety-lag-seconds', '0', '--reconcile-every-hours', '0'], exportEnv(server.url));
    outputs.push(resumed.stdout, resumed.stderr);
    expect(resumed.code, resumed.stderr.slice(-2000)).toBe(0);
    expect(resumed.stderr).toContain('"event":"RunResumed"');
    await expectExactlyOnce(dest, col);
  });

  it('makes an export started while serve runs the same collection exit 5, and loses nothing', async () => {
    const col = 'col_video_frames';
    const dest = tempDir();
    // After its first file the proxy holds serve's API requests: serve's run is in flight,
    // holding the lease, until the export has exited (an observed log line decides, not timing).
    const proxy = await holdingProxy(server.url);
    const p = await serve(col, dest, ['--page-size', '50', '--max-rows-per-file', '100'], { MIXPEEK_BASE_URL: proxy.url });
    let cron;
    try {
      await deliver(p.url, documentsWritten('evt_lease', col), SECRET);
      await p.waitFor((r) => r.event === 'FilePublished');
      proxy.hold();
      cron = await runCli(['export', '--collection', col, '--dest', dest, '--safety-lag-seconds', '0', '--reconcile-every-hours', '0'], exportEnv(server.url));
    } finally {
      proxy.release();
    }
    outputs.push(cron.stdout, cron.stderr);
    expect(cron.code, cron.stdout + cron.stderr.slice(-1500)).toBe(5);
    expect(cron.stdout).toContain(`${col} is being exported by`);
    expect(await p.waitFor((r) => r.event === 'ServeRunFinished')).toMatchObject({ result: 'ok', rows: DOCS });
    expect((await p.stop()).code).toBe(0);
    await proxy.close();
    await expectExactlyOnce(dest, col);
  });

  it('answers /healthz 503 after three runs in a row fail on the API, and still takes events', async () => {
    const col = 'col_pdf_pages';
    const p = await startServeProcess(serveArgs(col, tempDir(), ['--max-retries', '0']), { ...env(), MIXPEEK_BASE_URL: 'http://127.0.0.1:9' });
    void p.exited.then(() => outputs.push(p.stdout, p.stderr));
    for (let i = 1; i <= 3; i++) {
      expect((await fetch(`${p.url}/healthz`)).status).toBe(200);
      expect((await deliver(p.url, documentsWritten(`evt_fail_${i}`, col), SECRET)).status).toBe(202);
      expect(await p.waitFor((r) => r.event === 'ServeRunFinished', i)).toMatchObject({ result: 'failed', exit_code: 3 });
    }
    expect((await fetch(`${p.url}/healthz`)).status).toBe(503);
    expect((await fetch(`${p.url}/readyz`)).status).toBe(200);
    expect(p.events('ServeUnhealthy')).toHaveLength(1);
    expect((await p.stop()).code).toBe(0);
  });

  it('refuses to start without MIXPEEK_INBOUND_WEBHOOK_SECRET, or with it in the config file, with exit 2', async () => {
    const dest = tempDir();
    const missing = await runCli(['serve', ...serveArgs('col_pdf_pages', dest)], exportEnv(server.url));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('serve needs MIXPEEK_INBOUND_WEBHOOK_SECRET');
    const config = path.join(tempDir(), 'serve.yaml');
    writeFileSync(config, `inboundWebhookSecret: ${SECRET}\n`);
    const inFile = await runCli(['serve', '--config', config, ...serveArgs('col_pdf_pages', dest)], env());
    expect(inFile.code).toBe(2);
    expect(inFile.stderr).toContain('inboundWebhookSecret is a secret and must not be in a file; set the MIXPEEK_INBOUND_WEBHOOK_SECRET environment variable');
    const flag = await runCli(['serve', '--inbound-webhook-secret', SECRET, ...serveArgs('col_pdf_pages', dest)], env());
    expect(flag.code).toBe(2);
    outputs.push(missing.stdout, missing.stderr, inFile.stdout, inFile.stderr, flag.stdout, flag.stderr);
  });

  it('prints no secret in any output: not the inbound secret, not the API key', () => {
    expect(outputs.length).toBeGreaterThan(10);
    for (const text of outputs) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(API_KEY);
    }
  });
});
