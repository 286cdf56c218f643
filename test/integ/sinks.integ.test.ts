/**
 * The delivery of sink notifications end to end, through the CLI (src/sinks/deliver.ts): a
 * webhook configured by environment variables alone, a receiver that verifies each delivery
 * with the standardwebhooks library (test/support/sinks/webhook.ts), and kills at the
 * protocol steps around the notification. What a user is promised: every run is delivered at
 * least once, a failed sink never undoes the export (exit 7), and no secret is printed.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { readCheckpoint } from '../support/checkpoint.js';
import { compareVersions, exportEnv, runCli, stagedVersions } from '../support/harness.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/sinks/webhook.js';

const COL = 'col_pdf_pages';
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const TOKEN = 'dapi-this-token-must-never-be-printed-0123456789';
let server: DevServer;
let receiver: WebhookReceiver;

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: 1200, seed: 41 });
  receiver = await startWebhookReceiver({ secret: SECRET });
});
afterAll(async () => {
  await receiver?.close();
  await server?.close();
});

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'mxp-sinks-'));
/** Fast retries, so a sink that stays down fails within the test. */
const args = (dest: string, extra: string[] = []) => ['export', '--collection', COL, '--dest', dest, '--safety-lag-seconds', '0', '--max-rows-per-file', '500', '--max-retries', '2', '--retry-base-delay-ms', '1', '--retry-max-delay-ms', '5', ...extra];
const env = (extra: Record<string, string> = {}) => exportEnv(server.url, { MIXPEEK_EXPORT_WEBHOOK_URL: receiver.url, MIXPEEK_EXPORT_WEBHOOK_SECRET: SECRET, ...extra });
const mutate = async (n: number) => {
  server.mutate(COL, n);
  await new Promise((resolve) => setTimeout(resolve, 3));
};
/** The run ids the receiver accepted (2xx, signature verified), in order of arrival. */
const accepted = () => receiver.deliveries.filter((d) => d.verified && d.status < 300).map((d) => d.id);
/** The runs that published files (a later window that found nothing new notifies nobody), oldest first. */
const runIds = async (dest: string) => (await readCheckpoint(dest, COL)).history.filter((h) => h.files > 0).map((h) => h.runId);

describe('sinks through the CLI', () => {
  it('delivers a run to a webhook configured by two environment variables, signed, once, with the run id as webhook-id', async () => {
    receiver.reset();
    const dest = tempDir();
    const run = await runCli(args(dest), env());
    expect(run.code, run.stderr).toBe(0);
    const [runId] = await runIds(dest);
    expect(accepted()).toEqual([runId]);
    const body = JSON.parse(receiver.deliveries[0]!.body);
    expect(body.type).toBe('export.run.completed');
    expect(body.data.run_id).toBe(runId);
    expect(body.data.totals.rows).toBe(1200);
    expect(run.stdout).toMatch(/notifications: 1 delivered/);
    expect((await readCheckpoint(dest, COL)).notifications ?? []).toEqual([]);
  });

  it('keeps a failed notification pending with exit 7, the export committed, then delivers it first in the next run, exactly once', async () => {
    receiver.reset();
    const dest = tempDir();
    receiver.failNext(1000, 503);
    const down = await runCli(args(dest), env());
    expect(down.code, down.stderr).toBe(7);
    expect(down.stdout).toMatch(/export ok/);
    expect(down.stdout).toMatch(/1 failed; 1 pending in the checkpoint/);
    // The export is whole and committed: a failed sink never undoes it.
    expect(compareVersions(server.currentVersions(COL), await stagedVersions(dest, COL))).toMatchObject({ missing: [], duplicates: [], unknown: [] });
    const checkpoint = await readCheckpoint(dest, COL);
    expect(checkpoint.active).toBeNull();
    const [first] = checkpoint.history.map((h) => h.runId);
    expect(checkpoint.notifications).toMatchObject([{ sink: 'webhook', runId: first, attempts: 1 }]);
    expect(checkpoint.notifications?.[0]?.lastError).toMatch(/\[sink webhook\].*503/);
    const status = await runCli(['status', '--collection', COL, '--dest', dest, '--json'], {});
    expect(JSON.parse(status.stdout)[0].pending_notifications).toMatchObject([{ sink: 'webhook', run_id: first, attempts: 1 }]);
    const text = await runCli(['status', '--collection', COL, '--dest', dest], {});
    expect(text.stdout).toMatch(/sinks +1 notification\(s\) pending/);
    expect(text.stdout).toContain(`webhook: run ${first} (export), 1 failed attempt(s)`);
    expect(accepted()).toEqual([]);

    receiver.failNext(0, 503);
    await mutate(30);
    const up = await runCli(args(dest), env());
    expect(up.code, up.stderr).toBe(0);
    const [, second] = await runIds(dest);
    // The pending one goes out before the new run starts, then the new run's own.
    expect(accepted()).toEqual([first, second]);
    const events = up.stderr.split('\n').filter((l) => /"event":"(NotificationDelivered|RunStarted)"/.test(l)).map((l) => JSON.parse(l).event);
    expect(events).toEqual(['NotificationDelivered', 'RunStarted', 'NotificationDelivered']);
    expect((await readCheckpoint(dest, COL)).notifications ?? []).toEqual([]);
    expect(receiver.distinctIds()).toEqual(new Set([first, second]));
  });

  it('keeps a down sink\'s notifications in run order: the second waits behind the first, then both go out oldest first', async () => {
    receiver.reset();
    const dest = tempDir();
    receiver.failNext(1000, 503);
    expect((await runCli(args(dest), env())).code).toBe(7);
    await mutate(20);
    const second = await runCli(args(dest), env());
    expect(second.code, second.stderr).toBe(7);
    expect(second.stdout).toMatch(/0 delivered, 1 failed, 1 postponed behind a failure/);
    const [r1, r2] = await runIds(dest);
    // The first was tried again (2 attempts); the second was not tried at all behind it.
    expect((await readCheckpoint(dest, COL)).notifications?.map((n) => [n.runId, n.attempts])).toEqual([[r1, 2], [r2, 0]]);
    receiver.failNext(0, 503);
    const third = await runCli(args(dest), env());
    expect(third.code, third.stderr).toBe(0);
    expect(accepted()).toEqual([r1, r2]);
  });

  it('announces a reconciliation\'s tombstones as a run of kind reconcile', async () => {
    receiver.reset();
    const dest = tempDir();
    expect((await runCli(args(dest), env())).code).toBe(0);
    const deleted = server.delete(COL, 7);
    const run = await runCli(args(dest, ['--reconcile']), env());
    expect(run.code, run.stderr).toBe(0);
    const reconcile = receiver.deliveries.map((d) => JSON.parse(d.body)).find((b) => b.data.kind === 'reconcile');
    expect(reconcile?.data.totals.rows).toBe(deleted.length);
    expect(reconcile?.data.run_id).toBe((await readCheckpoint(dest, COL)).lastReconcile?.runId);
  });

  it('delivers a run killed between its manifest and its notification once, in the next run', async () => {
    for (const point of ['manifest-written:1', 'sink-delivering:1']) {
      receiver.reset();
      const dest = tempDir();
      const killed = await runCli(args(dest), env({ MIXPEEK_EXPORT_TEST_CRASH_AT: point }));
      expect(killed.signal, `${point}: ${killed.stderr}`).toBe('SIGKILL');
      expect(accepted()).toEqual([]);
      const next = await runCli(args(dest), env());
      expect(next.code, next.stderr).toBe(0);
      const ids = await runIds(dest);
      expect(ids.length, point).toBe(1);
      expect(accepted(), point).toEqual(ids);
      expect(compareVersions(server.currentVersions(COL), await stagedVersions(dest, COL))).toMatchObject({ missing: [], duplicates: [], unknown: [] });
    }
  });

  it('delivers again, with the same webhook-id and body, a run killed after the receiver took it but before the checkpoint recorded that', async () => {
    receiver.reset();
    const dest = tempDir();
    const killed = await runCli(args(dest), env({ MIXPEEK_EXPORT_TEST_CRASH_AT: 'sink-delivered:1' }));
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    const next = await runCli(args(dest), env());
    expect(next.code, next.stderr).toBe(0);
    const [runId] = await runIds(dest);
    // At least once: the receiver saw it twice and dedupes on webhook-id.
    expect(accepted()).toEqual([runId, runId]);
    expect(receiver.deliveries[0]!.body).toBe(receiver.deliveries[1]!.body);
    expect(receiver.distinctIds()).toEqual(new Set([runId]));
    expect((await readCheckpoint(dest, COL)).notifications ?? []).toEqual([]);
  });

  it('refuses a sink without its secret before touching the destination (exit 2), and a secret in the config file', async () => {
    const dest = tempDir();
    const noSecret = await runCli(args(dest), exportEnv(server.url, { MIXPEEK_EXPORT_WEBHOOK_URL: receiver.url }));
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toMatch(/MIXPEEK_EXPORT_WEBHOOK_SECRET/);
    expect(existsSync(path.join(dest, COL))).toBe(false);
    const config = path.join(dest, 'config.yaml');
    writeFileSync(config, `sinks:\n  - type: databricks-sql\n    host: https://example.cloud.databricks.com\n    warehouseId: abc\n    token: ${TOKEN}\n`);
    const inFile = await runCli([...args(dest), '--config', config], exportEnv(server.url));
    expect(inFile.code).toBe(2);
    expect(inFile.stderr).toMatch(/sinks\[0\]\.token is a secret.*DATABRICKS_TOKEN/);
    expect(inFile.stderr + inFile.stdout).not.toContain(TOKEN);
  });

  it('never prints or stores a sink secret, also when the sink fails', async () => {
    receiver.reset();
    const dest = tempDir();
    // A Databricks workspace that is not there (a closed port), next to the webhook.
    const run = await runCli(args(dest), env({ MIXPEEK_EXPORT_SINKS: 'databricks-sql,webhook', DATABRICKS_HOST: 'http://127.0.0.1:9', DATABRICKS_TOKEN: TOKEN, DATABRICKS_WAREHOUSE_ID: 'wh1', DATABRICKS_SOURCE: 's3://bucket/{collection}/data/' }));
    expect(run.code, run.stderr).toBe(7);
    // The webhook does not wait for Databricks.
    expect(accepted().length).toBe(1);
    const checkpoint = await runCli(['status', '--collection', COL, '--dest', dest, '--json'], {});
    const pending = JSON.parse(checkpoint.stdout)[0].pending_notifications;
    expect(pending).toMatchObject([{ sink: 'databricks-sql', attempts: 1 }]);
    expect(pending[0].last_error).toMatch(/\[sink databricks-sql\] http:\/\/127\.0\.0\.1:9/);
    const stored = readFileSync(path.join(dest, COL, '_state/checkpoint.json'), 'utf8');
    for (const text of [run.stdout, run.stderr, stored, checkpoint.stdout]) {
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(SECRET.slice(6));
    }
  });
});
