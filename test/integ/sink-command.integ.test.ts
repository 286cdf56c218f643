import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import type { SinkError } from '../../src/errors.js';
import { commandSink, type CommandSinkOptions } from '../../src/sinks/command.js';
import { createSink, type RunNotice } from '../../src/sinks/index.js';
import { runPayload } from '../../src/sinks/payload.js';
import { REPO } from '../support/harness.js';
import { COLLECTION, exportedNotice, testSinkEnv } from '../support/sinks/notice-from-export.js';

const LOADER = path.join(REPO, 'test/fixtures/sinks/loader.mjs');
const SECRETS = {
  MIXPEEK_API_KEY: 'sk_live_mixpeek_key_1234',
  DATABRICKS_TOKEN: 'dapi0123456789abcdef',
  MIXPEEK_EXPORT_WEBHOOK_SECRET: `whsec_${Buffer.from('a-test-secret-of-32-random-bytes').toString('base64')}`,
  SNOWFLAKE_PRIVATE_KEY_PASSPHRASE: 'correct horse battery',
};
let server: DevServer;
let notice: RunNotice;

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: 200, seed: 15 });
  notice = await exportedNotice(server);
});
afterAll(async () => server?.close());

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'mxp-cmd-'));
const sinkFor = (command: string[], timeoutSeconds = 30, options: CommandSinkOptions = {}) => commandSink({ type: 'command', name: 'loader', command, timeoutSeconds }, options);
const failure = (promise: Promise<unknown>) => promise.then(() => expect.fail('the delivery succeeded'), (error: SinkError) => error);
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));
/** Running (a zombie, killed but not yet reaped by init, counts as gone). */
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
};

describe('the command sink', () => {
  it('writes the run payload to the command’s stdin, passes its arguments, and logs its last stdout line', async () => {
    const dir = tempDir();
    const env = testSinkEnv();
    const delivered = await createSink({ type: 'command', name: 'loader', command: [LOADER, 'capture', dir], timeoutSeconds: 30 }).deliver(notice, env);
    expect(delivered.details).toEqual({ exit_code: 0, attempts: 1 });
    expect(readFileSync(path.join(dir, 'stdin.json'), 'utf8')).toBe(JSON.stringify(runPayload(notice)));
    const payload = readJson(path.join(dir, 'stdin.json'));
    expect(payload.data).toMatchObject({ collection_id: COLLECTION, run_id: notice.runId, manifest_url: notice.url(notice.manifestKey), totals: { rows: 200, files: notice.manifest.files.length } });
    expect(payload.data.files).toEqual(notice.manifest.files.map((f) => ({ key: f.key, url: notice.url(f.key), dt: f.dt, rows: f.rows, bytes: f.bytes, sha256: f.sha256 })));
    expect(readJson(path.join(dir, 'argv.json'))).toEqual(['capture', dir]);
    expect(env.logs.filter((l) => l.event === 'SinkCommandExited').map((l) => l.stdout_last_line)).toEqual([`loaded run ${notice.runId}`]);
  });

  it('gives the command the run’s variables and the process’s own, without the exporter’s secrets', async () => {
    const dir = tempDir();
    const base = { PATH: process.env.PATH, HOME: '/home/loader', AWS_SECRET_ACCESS_KEY: 'aws-secret-kept', AZURE_STORAGE_CONNECTION_STRING: 'kept', DATABRICKS_HOST: 'https://dbc.example.com', ...SECRETS };
    await sinkFor([LOADER, 'capture', dir], 30, { env: base }).deliver(notice, testSinkEnv());
    const seen = readJson(path.join(dir, 'env.json'));
    expect(seen).toMatchObject({
      MIXPEEK_EXPORT_EVENT: 'export.run.completed',
      MIXPEEK_EXPORT_RUN_ID: notice.runId,
      MIXPEEK_EXPORT_COLLECTION_ID: COLLECTION,
      MIXPEEK_EXPORT_MANIFEST_URL: notice.url(notice.manifestKey),
      HOME: '/home/loader',
      AWS_SECRET_ACCESS_KEY: 'aws-secret-kept',
      AZURE_STORAGE_CONNECTION_STRING: 'kept',
      DATABRICKS_HOST: 'https://dbc.example.com',
    });
    expect(seen.MIXPEEK_EXPORT_MANIFEST_URL).toMatch(new RegExp(`^file://.*/${COLLECTION}/_manifests/${notice.runId}\\.json$`));
    for (const name of Object.keys(SECRETS)) expect(seen).not.toHaveProperty(name);
    const text = readFileSync(path.join(dir, 'env.json'), 'utf8');
    for (const value of Object.values(SECRETS)) expect(text).not.toContain(value);
  });

  it('fails on exit 1, naming the command and the code, with the last 2 KB of its stderr', async () => {
    const env = testSinkEnv();
    const error = await failure(sinkFor([LOADER, 'fail', '1']).deliver(notice, env));
    expect(error).toMatchObject({ exitCode: 7, status: 1, transient: false, sink: 'loader', endpoint: `${LOADER} fail 1` });
    expect(error.message).toContain(`[sink loader] ${LOADER} fail 1: exited with code 1; its stderr ended with: `);
    expect(error.message).toMatch(/progress line 38 \| ERROR: table main\.default\.mixpeek_col missing; fix the command \(exit 0: delivered; exit 75: retry later\)/);
    const stderr = error.message.slice(error.message.indexOf('ended with: ') + 12, error.message.indexOf('; fix the command'));
    expect(stderr.length).toBeLessThanOrEqual(2048);
    expect(stderr).not.toContain('xxxxxxxxxx');
    expect(env.sleeps).toEqual([]);
  });

  it('runs a command that exits 75 again with the retry policy until it exits 0', async () => {
    const dir = tempDir();
    const env = testSinkEnv();
    const delivered = await sinkFor([LOADER, 'tempfail', '2', dir]).deliver(notice, env);
    expect(readFileSync(path.join(dir, 'runs'), 'utf8')).toBe('3');
    expect(delivered.details).toEqual({ exit_code: 0, attempts: 3 });
    expect(env.sleeps).toHaveLength(2);
    expect(env.sleeps.every((ms) => ms >= 0 && ms <= 5)).toBe(true);
    expect(env.logs.filter((l) => l.event === 'SinkRetry').map((l) => l.status)).toEqual([75, 75]);
    expect(readJson(path.join(dir, 'stdin.json')).data.run_id).toBe(notice.runId);
  });

  it('gives up on a command that keeps exiting 75 once the retries run out, as a transient failure', async () => {
    const dir = tempDir();
    const error = await failure(sinkFor([LOADER, 'tempfail', '99', dir]).deliver(notice, testSinkEnv()));
    expect(readFileSync(path.join(dir, 'runs'), 'utf8')).toBe('4');
    expect(error).toMatchObject({ status: 75, transient: true });
    expect(error.message).toContain('exited with code 75 (EX_TEMPFAIL: try again later) and retries ran out; its stderr ended with: warehouse busy (run 4)');
  });

  it('says which file is missing and how to give it', async () => {
    const missing = path.join(REPO, 'test/fixtures/sinks/no-such-loader');
    const error = await failure(sinkFor([missing, '--flag']).deliver(notice, testSinkEnv()));
    expect(error).toMatchObject({ code: 'ERR_SINK_COMMAND', transient: false, endpoint: `${missing} --flag` });
    expect(error.message).toContain(`cannot run ${missing}: no such file (ENOENT); give an absolute path, or put it on PATH, in MIXPEEK_EXPORT_SINK_COMMAND`);
  });

  it('says to chmod +x a file that is not executable', async () => {
    const file = path.join(REPO, 'test/fixtures/sinks/not-executable.mjs');
    const error = await failure(sinkFor([file]).deliver(notice, testSinkEnv()));
    expect(error).toMatchObject({ code: 'ERR_SINK_COMMAND', transient: false });
    expect(error.message).toContain(`cannot run ${file}: permission denied (EACCES); make it executable (chmod +x ${file}) or run it through its interpreter, e.g. ["node", "${file}"]`);
  });

  it('points at the #! line when a script’s interpreter is missing (exit 127)', async () => {
    const file = path.join(REPO, 'test/fixtures/sinks/bad-interpreter.sh');
    const error = await failure(sinkFor([file]).deliver(notice, testSinkEnv()));
    expect(error).toMatchObject({ status: 127, transient: false });
    expect(error.message).toMatch(/exited with code 127 \(command not found: is the interpreter on its #! line installed and on PATH\?\); its stderr ended with: .*no-such-interpreter-for-mixpeek/);
  });

  it('kills a command still running after timeoutSeconds, with what it started, and fails once as transient', async () => {
    const dir = tempDir();
    const env = testSinkEnv();
    const error = await failure(sinkFor([LOADER, 'hang', dir], 1).deliver(notice, env));
    expect(error).toMatchObject({ code: 'ERR_SINK_TIMEOUT', transient: true });
    expect(error.message).toContain('still running after 1 s, so it was killed; its stderr ended with: started, waiting forever; raise timeoutSeconds');
    const [pid, grandchild] = readJson(path.join(dir, 'pids.json')) as number[];
    expect(alive(pid!)).toBe(false);
    await expect.poll(() => alive(grandchild!)).toBe(false);
    expect(env.sleeps).toEqual([]);
  });

  it('sends SIGKILL to a timed-out command that ignores SIGTERM', async () => {
    const dir = tempDir();
    const error = await failure(sinkFor([LOADER, 'hang', dir, 'ignore-term'], 1, { killGraceMs: 200 }).deliver(notice, testSinkEnv()));
    expect(error).toMatchObject({ code: 'ERR_SINK_TIMEOUT' });
    expect(error.message).toContain('ignoring SIGTERM');
    const [pid] = readJson(path.join(dir, 'pids.json')) as number[];
    expect(alive(pid!)).toBe(false);
  });

  it('stops the command when the delivery is cancelled', async () => {
    const dir = tempDir();
    const controller = new AbortController();
    const pending = failure(sinkFor([LOADER, 'hang', dir]).deliver(notice, testSinkEnv({ signal: controller.signal })));
    await expect.poll(() => readFileSync(path.join(dir, 'pids.json'), 'utf8'), { timeout: 10_000 }).toMatch(/^\[/);
    controller.abort();
    const error = await pending;
    expect(error).toMatchObject({ transient: true });
    expect(error.message).toContain('cancelled before it finished (it was sent SIGTERM)');
    const [pid, grandchild] = readJson(path.join(dir, 'pids.json')) as number[];
    expect(alive(pid!)).toBe(false);
    await expect.poll(() => alive(grandchild!)).toBe(false);
  });

  it('fails a command killed by a signal it was not sent by the exporter, naming the signal', async () => {
    const error = await failure(sinkFor([LOADER, 'kill-self']).deliver(notice, testSinkEnv()));
    expect(error).toMatchObject({ transient: false });
    expect(error.message).toContain('was killed by SIGKILL (not by this exporter');
  });
});
