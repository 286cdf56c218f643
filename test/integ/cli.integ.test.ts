import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { readCheckpoint } from '../support/checkpoint.js';
import { compareVersions, exportEnv, runCli, stagedVersions } from '../support/harness.js';

const COL = 'col_audio_transcripts';
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: 3000, seed: 23 });
});
afterAll(async () => server?.close());

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'mxp-cli-'));
/** Small files so a run publishes many: every kill point is reached several times. */
const exportArgs = (dest: string, extra: string[] = []) => ['export', '--collection', COL, '--dest', dest, '--safety-lag-seconds', '0', '--max-rows-per-file', '400', '--page-size', '250', ...extra];

describe('the CLI', () => {
  it('resumes after SIGKILL at every step of the commit protocol with no duplicate and no gap', async () => {
    const dest = tempDir();
    const crashPoints = ['page:3', 'intent-recorded:1', 'file-visible:2', 'checkpoint-advanced:3', 'intent-recorded:5', 'manifest-written:1'];
    for (const point of crashPoints) {
      const killed = await runCli(exportArgs(dest), exportEnv(server.url, { MIXPEEK_EXPORT_TEST_CRASH_AT: point }));
      expect(killed.signal, `run crashing at ${point}: ${killed.stderr}`).toBe('SIGKILL');
      if (point === 'page:3') server.mutate(COL, 10); // changes land between a kill and its resume
    }
    const finished = await runCli(exportArgs(dest), exportEnv(server.url));
    expect(finished.code, finished.stderr).toBe(0);
    expect(finished.stderr).toMatch(/PendingFileAdopted|RunResumed/);
    const cmp = compareVersions(server.currentVersions(COL), await stagedVersions(dest, COL));
    expect(cmp).toMatchObject({ duplicates: [], missing: [], unknown: [] });
    expect((await readCheckpoint(dest, COL)).active).toBeNull();
  });

  it('resumes after SIGKILLs at random moments', async () => {
    const dest = tempDir();
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 4; i++) {
      // A random moment on purpose: the kill may land anywhere, or after the run finished
      // (exit 0); every assertion here holds either way.
      const killed = await runCli(exportArgs(dest, ['--format', 'ndjson']), exportEnv(server.url), { killAfterMs: 900 + Math.floor(random() * 1500) });
      expect(killed.code === 0 || killed.signal === 'SIGKILL').toBe(true);
      server.mutate(COL, 5);
    }
    const finished = await runCli(exportArgs(dest, ['--format', 'ndjson']), exportEnv(server.url));
    expect(finished.code, finished.stderr).toBe(0);
    const cmp = compareVersions(server.currentVersions(COL), await stagedVersions(dest, COL));
    expect(cmp).toMatchObject({ duplicates: [], missing: [], unknown: [] });
  });

  it('ends cleanly on SIGTERM with a valid checkpoint and exit 143', async () => {
    const dest = tempDir();
    // SIGTERM right after the first file is published (an observed log event, not a timer).
    // The dev server runs in this process, so the child cannot fetch the dozen pages still
    // ahead of it before this process has read that log line: the run cannot finish first.
    server.setOptions({ latencyMs: 150 });
    let result;
    try {
      result = await runCli(exportArgs(dest), exportEnv(server.url), { killOnMatch: /"event":"FilePublished"/, signal: 'SIGTERM' });
    } finally {
      server.setOptions({ latencyMs: 0 });
    }
    expect(result.killSent, result.stderr).toBe(true);
    expect(result.code, result.stderr).toBe(143);
    expect(result.stderr).toContain('"event":"InterruptReceived"');
    expect(result.stderr).not.toContain('"event":"RunCompleted"');
    const published = result.stderr.split('\n').filter((l) => l.includes('"event":"FilePublished"')).length;
    const status = await runCli(['status', '--collection', COL, '--dest', dest, '--json'], {});
    expect(status.code, status.stderr).toBe(0);
    const [report] = JSON.parse(status.stdout);
    expect(report.interrupted_run).toMatchObject({ files: published });
    expect(published).toBeGreaterThan(0);
    expect(report.last_runs).toEqual([]);

    const finished = await runCli(exportArgs(dest), exportEnv(server.url));
    expect(finished.code, finished.stderr).toBe(0);
    expect(finished.stderr).toMatch(new RegExp(`"event":"RunResumed".*"run_id":"${report.interrupted_run.run_id}"`));
    const cmp = compareVersions(server.currentVersions(COL), await stagedVersions(dest, COL));
    expect(cmp).toMatchObject({ duplicates: [], missing: [], unknown: [], staged: 3000 });
  });

  it('gives exit 2 with a message for bad flags and bad config, before any I/O', async () => {
    const dest = tempDir();
    const badFlag = await runCli(['export', '--colection', COL, '--dest', dest], exportEnv(server.url));
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain('did you mean --collection');
    const config = path.join(tempDir(), 'bad.yaml');
    writeFileSync(config, 'collections: [x]\npageSise: 10\n');
    const badConfig = await runCli(['export', '--config', config, '--dest', dest], exportEnv(server.url));
    expect(badConfig.code).toBe(2);
    expect(badConfig.stderr).toContain('did you mean "pageSize"');
    const badFormat = await runCli(exportArgs(dest, ['--format', 'csv']), exportEnv(server.url));
    expect(badFormat.code).toBe(2);
    expect(badFormat.stderr).toMatch(/--format/);
    expect(readdirSync(dest)).toEqual([]);
  });

  it('prints status and a one-line summary', async () => {
    const dest = tempDir();
    const ok = await runCli(exportArgs(dest), exportEnv(server.url));
    expect(ok.stdout.trim().split('\n')).toHaveLength(1);
    expect(ok.stdout).toMatch(/^export ok; 1 collection\(s\), 1 run\(s\), \d+ files, \d+ rows/);
    const status = await runCli(['status', '--collection', COL, '--dest', dest, '--json'], {});
    expect(status.code).toBe(0);
    const [report] = JSON.parse(status.stdout);
    expect(report.collection_id).toBe(COL);
    expect(report.interrupted_run).toBeNull();
    expect(report.last_runs).toHaveLength(1);
  });
});
