import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { readCheckpoint } from '../support/checkpoint.js';
import { exportEnv, readJson, runCli } from '../support/harness.js';

const COL = 'col_video_frames';
const GROUP_PATH = `/metrics/job/mixpeek_export/collection/${COL}/dest_kind/fs`;
const PASSWORD = `pgw-${Math.random().toString(36).slice(2)}-secret`;
const STAGES = ['source', 'storage', 'lease', 'integrity', 'interrupted', 'config', 'internal'];

interface Push {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let server: DevServer;
let gateway: Server;
let gatewayUrl: string;
let pushes: Push[] = [];
let gatewayStatus = 200;

/** A Pushgateway stand-in on a free port: records each request and answers `gatewayStatus`. */
beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: 900, seed: 41 });
  gateway = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      pushes.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      res.writeHead(gatewayStatus).end(gatewayStatus >= 400 ? `refused; you sent ${req.headers.authorization}` : '');
    });
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  gatewayUrl = `http://exporter:${PASSWORD}@127.0.0.1:${(gateway.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await server?.close();
  await new Promise((resolve) => gateway?.close(resolve));
});
beforeEach(() => {
  pushes = [];
  gatewayStatus = 200;
});

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'mxp-metrics-'));
const exportArgs = (dest: string, extra: string[] = []) => ['export', '--collection', COL, '--dest', dest, '--safety-lag-seconds', '0', '--max-rows-per-file', '200', '--page-size', '100', ...extra];

/** Samples of an exposition text, by `name` or `name{labels}`. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1] as string, Number(m[2]));
  }
  return out;
}

/** Every metric has its HELP and TYPE gauge lines; `errors` has one series per stage. */
function expectWellFormed(body: string, names: string[]) {
  for (const name of names) {
    expect(body).toMatch(new RegExp(`^# HELP ${name} \\S.*$`, 'm'));
    expect(body).toMatch(new RegExp(`^# TYPE ${name} gauge$`, 'm'));
  }
  const values = samples(body);
  for (const stage of STAGES) expect(values.has(`mixpeek_export_last_run_errors{stage="${stage}"}`)).toBe(true);
  // Labels come from the grouping key only (collection, dest_kind); the pushed text carries `stage` and nothing else.
  for (const key of values.keys()) expect(key).toMatch(/^[a-z_]+(\{stage="[a-z]+"\})?$/);
}

/** The password, plain, URL-encoded or as the Basic credentials (the refusing gateway echoes those). */
function expectNoSecret(...texts: string[]) {
  for (const text of texts) {
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(encodeURIComponent(PASSWORD));
    expect(text).not.toContain(Buffer.from(`exporter:${PASSWORD}`).toString('base64'));
  }
}

const RUN_METRICS = ['documents', 'files', 'bytes', 'duration_seconds', 'timestamp_seconds'].map((m) => `mixpeek_export_last_run_${m}`);

describe('metrics', () => {
  it('pushes documents, files, bytes, duration, freshness and last success after a successful run, with POST to the collection group', async () => {
    const dest = tempDir();
    const before = Date.now() / 1000;
    const run = await runCli(exportArgs(dest, ['--metrics-pushgateway', gatewayUrl]), exportEnv(server.url));
    expect(run.code, run.stderr).toBe(0);
    expect(pushes).toHaveLength(1);
    const [push] = pushes as [Push];
    expect(push.method).toBe('POST');
    expect(push.url).toBe(GROUP_PATH);
    expect(push.headers.authorization).toBe(`Basic ${Buffer.from(`exporter:${PASSWORD}`).toString('base64')}`);

    const checkpoint = await readCheckpoint(dest, COL);
    const manifest = readJson(path.join(dest, checkpoint.history[0]!.manifest));
    const names = [...RUN_METRICS, 'mixpeek_export_last_success_timestamp_seconds', 'mixpeek_export_newest_exported_timestamp_seconds', 'mixpeek_export_freshness_lag_seconds', 'mixpeek_export_last_run_errors'];
    expectWellFormed(push.body, names);
    const v = samples(push.body);
    expect(v.get('mixpeek_export_last_run_documents')).toBe(900);
    expect(v.get('mixpeek_export_last_run_files')).toBe(manifest.totals.files);
    expect(v.get('mixpeek_export_last_run_bytes')).toBe(manifest.totals.bytes);
    for (const stage of STAGES) expect(v.get(`mixpeek_export_last_run_errors{stage="${stage}"}`)).toBe(0);
    const ended = v.get('mixpeek_export_last_run_timestamp_seconds') as number;
    expect(ended).toBeGreaterThan(before);
    expect(ended).toBeLessThanOrEqual(Date.now() / 1000);
    expect(v.get('mixpeek_export_last_success_timestamp_seconds')).toBe(ended);
    expect(v.get('mixpeek_export_last_run_duration_seconds')).toBeGreaterThan(0);
    expect(v.get('mixpeek_export_last_run_duration_seconds')).toBeLessThan(ended - before);
    const newest = Date.parse(manifest.maxUpdatedAt) / 1000;
    expect(v.get('mixpeek_export_newest_exported_timestamp_seconds')).toBe(newest);
    expect(v.get('mixpeek_export_freshness_lag_seconds')).toBeCloseTo(ended - newest, 3);

    expect(run.stderr).toContain('"event":"MetricsPushed"');
    expect(run.stderr).toContain('"pushgateway":"http://***:***@127.0.0.1:');
    expectNoSecret(run.stdout, run.stderr);
  });

  it('pushes errors{stage="source"} 1 and no last success when the API key is wrong (exit 3)', async () => {
    const dest = tempDir();
    const run = await runCli(exportArgs(dest, ['--max-retries', '0']), exportEnv(server.url, { MIXPEEK_API_KEY: 'sk_wrong', MIXPEEK_EXPORT_METRICS_PUSHGATEWAY: gatewayUrl }));
    expect(run.code, run.stderr).toBe(3);
    expect(pushes).toHaveLength(1);
    const [push] = pushes as [Push];
    // POST replaces only the metrics pushed: the gateway keeps the last success of an earlier run.
    expect(push.method).toBe('POST');
    expect(push.url).toBe(GROUP_PATH);
    expectWellFormed(push.body, [...RUN_METRICS, 'mixpeek_export_last_run_errors']);
    expect(push.body).not.toContain('mixpeek_export_last_success_timestamp_seconds');
    // Nothing was ever exported here: no freshness to report.
    expect(push.body).not.toContain('mixpeek_export_freshness_lag_seconds');
    const v = samples(push.body);
    for (const stage of STAGES) expect(v.get(`mixpeek_export_last_run_errors{stage="${stage}"}`)).toBe(stage === 'source' ? 1 : 0);
    expect(v.get('mixpeek_export_last_run_documents')).toBe(0);
    expect(v.get('mixpeek_export_last_run_files')).toBe(0);
    expectNoSecret(run.stdout, run.stderr);
  });

  it('pushes errors{stage="interrupted"} 1 and the files published so far when SIGTERM stops a run (exit 143)', async () => {
    const dest = tempDir();
    // SIGTERM right after the second file is published (an observed log event, not a timer);
    // the dev server runs in this process, so the run cannot fetch the pages still ahead of
    // it, and finish, before this process has read that line.
    server.setOptions({ latencyMs: 100 });
    let run;
    try {
      run = await runCli(exportArgs(dest, ['--metrics-pushgateway', gatewayUrl]), exportEnv(server.url), { killOnMatch: /"event":"FilePublished"/, killOnMatchNth: 2, signal: 'SIGTERM' });
    } finally {
      server.setOptions({ latencyMs: 0 });
    }
    expect(run.code, run.stderr).toBe(143);
    const [push] = pushes as [Push];
    const v = samples(push.body);
    for (const stage of STAGES) expect(v.get(`mixpeek_export_last_run_errors{stage="${stage}"}`)).toBe(stage === 'interrupted' ? 1 : 0);
    const published = run.stderr.split('\n').filter((l) => l.includes('"event":"FilePublished"')).map((l) => JSON.parse(l));
    expect(published.length).toBeGreaterThan(0);
    expect(v.get('mixpeek_export_last_run_files')).toBe(published.length);
    expect(v.get('mixpeek_export_last_run_documents')).toBe(published.reduce((n, f) => n + f.rows, 0));
    expect(v.get('mixpeek_export_last_run_bytes')).toBe(published.reduce((n, f) => n + f.bytes, 0));
    expect(push.body).not.toContain('mixpeek_export_last_success_timestamp_seconds');
    // The interrupted run's files are visible to consumers: they count for freshness.
    const { active } = await readCheckpoint(dest, COL);
    const newest = active!.files.map((f) => f.maxUpdatedAt).sort().at(-1) as string;
    expect(v.get('mixpeek_export_newest_exported_timestamp_seconds')).toBe(Date.parse(newest) / 1000);
  });

  it('keeps the exit code and logs a redacted warning when the push fails, and pushes nothing for a config error (exit 2)', async () => {
    const dest = tempDir();
    gatewayStatus = 500;
    const refused = await runCli(exportArgs(dest, ['--metrics-pushgateway', gatewayUrl]), exportEnv(server.url));
    expect(refused.code, refused.stderr).toBe(0);
    expect(pushes).toHaveLength(1);
    const warning = refused.stderr.split('\n').find((l) => l.includes('"event":"MetricsPushFailed"'));
    expect(warning).toBeDefined();
    expect(JSON.parse(warning as string)).toMatchObject({ level: 'warn', collection_id: COL, pushgateway: expect.stringContaining('http://***:***@127.0.0.1:') });
    expect(warning).toContain('status 500');
    expectNoSecret(refused.stdout, refused.stderr);

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = await runCli(exportArgs(dest, ['--metrics-pushgateway', `http://127.0.0.1:${port}`]), exportEnv(server.url));
    expect(unreachable.code, unreachable.stderr).toBe(0);
    expect(unreachable.stderr).toMatch(/"event":"MetricsPushFailed".*ECONNREFUSED/);

    pushes = [];
    const badConfig = await runCli(exportArgs(dest, ['--metrics-pushgateway', gatewayUrl, '--format', 'csv']), exportEnv(server.url));
    expect(badConfig.code).toBe(2);
    expect(pushes).toHaveLength(0);
  });

  it('pushes the last reconciliation\'s tombstones, ids listed and time only from a run that reconciled', async () => {
    const dest = tempDir();
    const RECONCILE = ['tombstones', 'ids_listed', 'timestamp_seconds'].map((m) => `mixpeek_export_last_reconcile_${m}`);
    const plain = await runCli(exportArgs(dest, ['--metrics-pushgateway', gatewayUrl, '--reconcile-every-hours', '0']), exportEnv(server.url));
    expect(plain.code, plain.stderr).toBe(0);
    expect(pushes).toHaveLength(1);
    for (const name of RECONCILE) expect(pushes[0]!.body).not.toContain(name); // POST: the gateway keeps the earlier values

    pushes = [];
    const deleted = server.delete(COL, 9);
    const reconciled = await runCli(exportArgs(dest, ['--metrics-pushgateway', gatewayUrl, '--reconcile']), exportEnv(server.url));
    expect(reconciled.code, reconciled.stderr).toBe(0);
    expect(pushes).toHaveLength(1);
    const [push] = pushes as [Push];
    expect(push.method).toBe('POST');
    expect(push.url).toBe(GROUP_PATH);
    expectWellFormed(push.body, [...RUN_METRICS, ...RECONCILE]);
    const v = samples(push.body);
    const last = (await readCheckpoint(dest, COL)).lastReconcile!;
    expect(v.get('mixpeek_export_last_reconcile_tombstones')).toBe(deleted.length);
    expect(v.get('mixpeek_export_last_reconcile_ids_listed')).toBe(900 - deleted.length);
    expect(last).toMatchObject({ tombstones: deleted.length, idsListed: 900 - deleted.length });
    expect(v.get('mixpeek_export_last_reconcile_timestamp_seconds')).toBe(Date.parse(last.finishedAt) / 1000);
    expect(v.get('mixpeek_export_last_reconcile_timestamp_seconds')).toBeLessThanOrEqual(v.get('mixpeek_export_last_run_timestamp_seconds')!);
    expectNoSecret(reconciled.stdout, reconciled.stderr);

    // The reconcile command pushes the same way.
    pushes = [];
    const more = server.delete(COL, 4);
    const command = await runCli(['reconcile', ...exportArgs(dest, ['--metrics-pushgateway', gatewayUrl]).slice(1)], exportEnv(server.url));
    expect(command.code, command.stderr).toBe(0);
    expect(pushes).toHaveLength(1);
    expect(pushes[0]!.url).toBe(GROUP_PATH);
    expect(samples(pushes[0]!.body).get('mixpeek_export_last_reconcile_tombstones')).toBe(more.length);
  });

  it('pushes the notifications left pending and the failed deliveries when a sink fails (exit 7), and 0 once delivered', async () => {
    const dest = tempDir();
    const fail = await runCli(exportArgs(dest, ['--metrics-pushgateway', gatewayUrl]), exportEnv(server.url, { MIXPEEK_EXPORT_SINK_COMMAND: 'false' }));
    expect(fail.code, fail.stderr).toBe(7);
    let v = samples(pushes[0]!.body);
    expect(v.get('mixpeek_export_notifications_pending')).toBe(1);
    expect(v.get('mixpeek_export_last_run_notification_failures')).toBe(1);
    expect(v.get('mixpeek_export_last_run_errors{stage="source"}')).toBe(0);

    pushes = [];
    const ok = await runCli(exportArgs(dest, ['--metrics-pushgateway', gatewayUrl]), exportEnv(server.url, { MIXPEEK_EXPORT_SINK_COMMAND: 'true' }));
    expect(ok.code, ok.stderr).toBe(0);
    v = samples(pushes[0]!.body);
    expect(v.get('mixpeek_export_notifications_pending')).toBe(0);
    expect(v.get('mixpeek_export_last_run_notification_failures')).toBe(0);
  });
});
