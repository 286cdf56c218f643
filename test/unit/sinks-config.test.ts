import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { emptyCheckpoint } from '../../src/commit/checkpoint.js';
import { notificationFailed, notificationsDelivered, queueNotifications } from '../../src/commit/notifications.js';
import { checkpointSchema, type Manifest } from '../../src/commit/schema.js';
import { loadSettings } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { resolveSinks, sinkSecrets } from '../../src/sinks/config.js';

const DBX = { DATABRICKS_HOST: 'adb-123.azuredatabricks.net', DATABRICKS_TOKEN: 'dapi-secret-token', DATABRICKS_WAREHOUSE_ID: 'wh-1' };
const HOOK = { MIXPEEK_EXPORT_WEBHOOK_URL: 'https://hooks.example.com/mixpeek?x=1', MIXPEEK_EXPORT_WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' };

describe('choosing sinks', () => {
  it('turns on databricks-sql with three environment variables and the defaults of the issue', () => {
    expect(resolveSinks(undefined, DBX)).toEqual([
      { type: 'databricks-sql', name: 'databricks-sql', host: 'https://adb-123.azuredatabricks.net', token: 'dapi-secret-token', warehouseId: 'wh-1', catalog: 'main', schema: 'default', mergeLatest: false, waitTimeoutSeconds: 50, pollIntervalMs: 5000, statementTimeoutSeconds: 3600 },
    ]);
  });

  it('runs no sink when nothing chooses one, and only the listed types with MIXPEEK_EXPORT_SINKS', () => {
    expect(resolveSinks(undefined, {})).toEqual([]);
    expect(resolveSinks(undefined, { ...DBX, ...HOOK, MIXPEEK_EXPORT_SINKS: 'webhook' }).map((s) => s.type)).toEqual(['webhook']);
    expect(resolveSinks([], { ...DBX, ...HOOK })).toEqual([]);
  });

  it('takes a config entry over the environment, and fills what it leaves out from it', () => {
    const [sink] = resolveSinks([{ type: 'databricks-sql', name: 'lake', catalog: 'prod', table: 'frames' }], { ...DBX, DATABRICKS_CATALOG: 'ignored' });
    expect(sink).toMatchObject({ name: 'lake', catalog: 'prod', table: 'frames', warehouseId: 'wh-1', token: 'dapi-secret-token' });
  });

  it('reads a secret from a file when its variable is not set', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mxp-sinkcfg-'));
    writeFileSync(path.join(dir, 'token'), 'dapi-from-file\n');
    const [sink] = resolveSinks([{ type: 'databricks-job', jobId: 42, host: 'https://x.cloud.databricks.com', tokenFile: path.join(dir, 'token') }], {});
    expect(sink).toMatchObject({ token: 'dapi-from-file', jobId: 42 });
    expect(sinkSecrets([sink!])).toEqual(['dapi-from-file']);
  });

  it('refuses a missing option naming its variable, a bad webhook secret, plain http to a remote host and duplicate names', () => {
    expect(() => resolveSinks(undefined, { DATABRICKS_WAREHOUSE_ID: 'wh' })).toThrow(/host is required: set DATABRICKS_HOST/);
    expect(() => resolveSinks(undefined, { ...DBX, DATABRICKS_TOKEN: '' })).toThrow(/set DATABRICKS_TOKEN, or give a file holding it with DATABRICKS_TOKEN_FILE/);
    expect(() => resolveSinks(undefined, { ...HOOK, MIXPEEK_EXPORT_WEBHOOK_SECRET: 'hunter2' })).toThrow(/not a Standard Webhooks secret/);
    expect(() => resolveSinks(undefined, { ...HOOK, MIXPEEK_EXPORT_WEBHOOK_URL: 'http://hooks.example.com/' })).toThrow(/use https/);
    expect(() => resolveSinks([{ type: 'webhook' }, { type: 'webhook' }], HOOK)).toThrow(ConfigError);
    expect(() => resolveSinks(undefined, { MIXPEEK_EXPORT_SINKS: 'kafka' })).toThrow(/unknown sink type "kafka"/);
  });

  it('refuses a secret in the config file, naming the variable to use', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mxp-sinkcfg-'));
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, 'sinks:\n  - type: webhook\n    secret: whsec_abc\n');
    expect(() => loadSettings({ flags: { collections: ['c'], dest: dir }, env: { MIXPEEK_API_KEY: 'k', MIXPEEK_NAMESPACE: 'n' }, configFile: file })).toThrow(/sinks\[0\]\.secret is a secret.*MIXPEEK_EXPORT_WEBHOOK_SECRET/);
  });

  it('reads the command as an executable path or a JSON array', () => {
    expect(resolveSinks(undefined, { MIXPEEK_EXPORT_SINK_COMMAND: '/opt/load.sh' })).toMatchObject([{ command: ['/opt/load.sh'] }]);
    expect(resolveSinks(undefined, { MIXPEEK_EXPORT_SINK_COMMAND: '["python3", "/opt/load.py"]' })).toMatchObject([{ command: ['python3', '/opt/load.py'] }]);
    expect(() => resolveSinks(undefined, { MIXPEEK_EXPORT_SINK_COMMAND: '[python3' })).toThrow(/JSON array/);
  });
});

describe('pending notifications in the checkpoint', () => {
  const manifest = { runId: 'r1', kind: undefined } as unknown as Manifest;
  const sinks = [
    { name: 'lake', type: 'databricks-sql' },
    { name: 'webhook', type: 'webhook' },
  ];

  it('are queued per sink, kept with their error on failure, and dropped once delivered', () => {
    const at = '2026-12-02T01:00:00.000000Z';
    let cp = queueNotifications(emptyCheckpoint('c'), manifest, 'c/_manifests/r1.json', sinks, at);
    expect(cp.notifications).toEqual([
      { sink: 'lake', type: 'databricks-sql', runId: 'r1', kind: 'export', manifest: 'c/_manifests/r1.json', queuedAt: at, attempts: 0 },
      { sink: 'webhook', type: 'webhook', runId: 'r1', kind: 'export', manifest: 'c/_manifests/r1.json', queuedAt: at, attempts: 0 },
    ]);
    cp = notificationFailed(cp, 'lake', 'r1', '[sink lake] https://x: 503', at);
    expect(cp.notifications?.[0]).toMatchObject({ attempts: 1, lastError: '[sink lake] https://x: 503', lastAttemptAt: at });
    cp = notificationsDelivered(cp, [{ sink: 'webhook', runId: 'r1' }]);
    expect(cp.notifications?.map((n) => n.sink)).toEqual(['lake']);
    expect(checkpointSchema.safeParse(cp).success).toBe(true);
    cp = notificationsDelivered(cp, [{ sink: 'lake', runId: 'r1' }]);
    expect(cp.notifications).toBeUndefined();
  });

  it('are queued once per run and sink, however often the completion is replayed', () => {
    const once = queueNotifications(emptyCheckpoint('c'), manifest, 'm', sinks, '2026-12-02T01:00:00.000000Z');
    expect(queueNotifications(once, manifest, 'm', sinks, '2026-12-02T01:00:00.000000Z').notifications).toHaveLength(2);
  });
});
