import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layout } from '../../src/commit/layout.js';
import { loadSettings } from '../../src/config/load.js';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { canonicalTimestamp, fromEpochMicros, toEpochMicros } from '../../src/rows/time.js';
import { runExport } from '../../src/run/export.js';
import { shardBounds } from '../../src/run/window.js';
import { openDestination } from '../../src/storage/index.js';
import { formatVerifyReport, verifyCollections } from '../../src/verify/index.js';
import { readCheckpoint, readCheckpointBytes } from '../support/checkpoint.js';
import { compareVersions, dataFiles, exportEnv, runCli, stagedVersions } from '../support/harness.js';

const VIDEO = 'col_video_frames';
let server: DevServer;
/** The backfill range; boundary 1 of 3 falls exactly on a document's updated_at. */
let since: string;
let until: string;

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: 1200, seed: 29 });
  const stamps = [...new Set([...server.currentVersions(VIDEO)].map((v) => canonicalTimestamp(v.updated_at)!))].sort();
  since = stamps[40]!;
  const onBoundary = toEpochMicros(stamps[120]!);
  until = fromEpochMicros(toEpochMicros(since) + 3n * (onBoundary - toEpochMicros(since)))!;
  expect(until < stamps[stamps.length - 1]!).toBe(true);
  expect(shardBounds(since, until, 1, 3).lo).toBe(stamps[120]);
});
afterAll(async () => server?.close());

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'mxp-shard-'));
const settingsFor = (dest: string, flags: Record<string, unknown> = {}) =>
  loadSettings({ flags: { collections: [VIDEO], dest, safetyLagSeconds: 0, maxRowsPerFile: 120, ...flags }, env: exportEnv(server.url) });
const shardSettings = (dest: string, i: number, n: number, flags: Record<string, unknown> = {}) => settingsFor(dest, { since, until, shard: `${i}/${n}`, ...flags });
/** Current versions from `from` on: what a backfill from `from` plus the scheduled runs after it must stage exactly once. */
const versionsFrom = (from: string) => [...server.currentVersions(VIDEO)].filter((v) => canonicalTimestamp(v.updated_at)! >= from);
const verify = async (dest: string) => verifyCollections(await openDestination(dest, {}), [VIDEO]);

describe('a backfill split with --shard i/n', () => {
  it('stages every version of [since, until) exactly once from 3 concurrent shards, leaving the scheduled checkpoint untouched', async () => {
    const dest = tempDir();
    // The scheduled runs started at `until`; the backfill fills what lies before.
    const scheduled = await runExport(settingsFor(dest, { since: until }));
    expect(scheduled.error).toBeUndefined();
    const before = await readCheckpointBytes(dest, VIDEO);
    expect(before).not.toBeNull();

    const results = await Promise.all([0, 1, 2].map((i) => runExport(shardSettings(dest, i, 3))));
    for (const [i, result] of results.entries()) {
      expect(result.error, `shard ${i}`).toBeUndefined();
      const run = result.collections[0]!.runs[0]!;
      expect(run.window).toEqual(shardBounds(since, until, i, 3));
      expect(run.runId).toMatch(new RegExp(`^\\d{8}T\\d{6}Z-s0${i}of03-[0-9a-f]{4}$`));
      expect(run.files.length).toBeGreaterThan(1);
      const own = await readCheckpoint(dest, VIDEO, { index: i, count: 3, since, until });
      expect(own).toMatchObject({ lastHi: run.window.hi, active: null, history: [{ runId: run.runId }] });
    }
    expect(await readCheckpointBytes(dest, VIDEO)).toEqual(before);
    expect(existsSync(path.join(dest, layout.lease(VIDEO)))).toBe(false);

    const cmp = compareVersions(versionsFrom(since), await stagedVersions(dest, VIDEO));
    expect(cmp).toMatchObject({ duplicates: [], missing: [], unknown: [] });
    expect(cmp.staged).toBe(cmp.current);
    expect(new Set(dataFiles(dest, VIDEO)).size).toBe(results.reduce((n, r) => n + r.collections[0]!.runs[0]!.files.length, 0) + scheduled.collections[0]!.runs[0]!.files.length);

    // A pod of the Indexed Job retried after it finished: nothing new, nothing written.
    const again = await runExport(shardSettings(dest, 1, 3));
    expect(again.error).toBeUndefined();
    expect(again.collections[0]!.runs).toEqual([]);

    const report = await verify(dest);
    const text = formatVerifyReport(report);
    expect(report.problems, text).toBe(0);
    const mainHi = scheduled.collections[0]!.runs[0]!.window.hi;
    expect(text).toContain(`lastHi ${mainHi} is the end of the furthest run ${scheduled.collections[0]!.runs[0]!.runId}`);
    expect(text).toContain(`no gaps: 4 run window(s) cover [${since}, ${mainHi}) without a hole`);
    expect(text).not.toContain('overlap');
  });

  it('resumes a killed shard from its own checkpoint; verify accounts for the interrupted shard meanwhile', async () => {
    const dest = tempDir();
    const killed = await runExport(shardSettings(dest, 0, 2, { maxRowsPerFile: 60 }), {
      onStep: (step, n) => {
        if (step === 'checkpoint-advanced' && n === 2) throw new Error('killed after its third file');
      },
    });
    expect(killed.error?.message).toMatch(/killed after its third file/);
    const shard0 = { index: 0, count: 2, since, until };
    expect((await readCheckpoint(dest, VIDEO, shard0)).active?.files).toHaveLength(3);

    const during = await verify(dest);
    const duringText = formatVerifyReport(during);
    expect(during.problems, duringText).toBe(0);
    expect(duringText).toMatch(/interrupted run in progress: \d{8}T\d{6}Z-s00of02-[0-9a-f]{4} \[/);

    const resumed = await runExport(shardSettings(dest, 0, 2, { maxRowsPerFile: 60 }));
    expect(resumed.error).toBeUndefined();
    expect(resumed.collections[0]!.runs).toMatchObject([{ resumed: true, window: shardBounds(since, until, 0, 2) }]);
    expect((await runExport(shardSettings(dest, 1, 2))).error).toBeUndefined();

    // Only the backfill ran: no scheduled checkpoint was created, and [since, until) is staged exactly once.
    expect(existsSync(path.join(dest, layout.checkpoint(VIDEO)))).toBe(false);
    const inRange = versionsFrom(since).filter((v) => canonicalTimestamp(v.updated_at)! < until);
    expect(compareVersions(inRange, await stagedVersions(dest, VIDEO))).toMatchObject({ duplicates: [], missing: [], unknown: [], staged: inRange.length });
    const report = await verify(dest);
    const text = formatVerifyReport(report);
    expect(report.problems, text).toBe(0);
    expect(text).toContain(`no gaps: 2 run window(s) cover [${since}, ${until}) without a hole`);
  });

  it('exits 2 from the CLI for a relative range or a shard index out of range, touching nothing', async () => {
    const dest = tempDir();
    const env = exportEnv(server.url);
    const span = await runCli(['export', '--collection', VIDEO, '--dest', dest, '--since', '7d', '--until', until, '--shard', '0/4'], env);
    expect(span.code).toBe(2);
    expect(span.stderr).toContain('--shard 0/4 needs an absolute --since');
    const index = await runCli(['export', '--collection', VIDEO, '--dest', dest, '--since', since, '--until', until], { ...env, MIXPEEK_EXPORT_SHARD: '4/4' });
    expect(index.code).toBe(2);
    expect(index.stderr).toContain('--shard 4/4: i counts from 0, so it must be 0..3');
    expect(dataFiles(dest, VIDEO)).toEqual([]);
  });
});
