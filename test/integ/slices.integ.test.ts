import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../src/commit/checkpoint.js';
import { layout } from '../../src/commit/layout.js';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { readCheckpoint } from '../support/checkpoint.js';
import { compareVersions, exportEnv, runCli, stagedVersions } from '../support/harness.js';

/**
 * A run's window paged as several slices at once (run/slices.ts): kills at every step of the
 * protocol with slices in flight, while a slice is being split and at random moments, a
 * checkpoint written before slices existed, and the shared request budget. Every test ends
 * with every version staged exactly once and `verify` clean.
 */
const COL = 'col_audio_transcripts';
const DOCS = 6000;
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: DOCS, seed: 31 });
});
afterAll(async () => server?.close());

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'mxp-slices-'));
/**
 * Small pages and files: 60 pages, a file every 150 rows, four slices split whenever fewer are
 * in flight (`always`: the dev server answers faster than a page is written, so `when-waiting`
 * would keep one): every step is reached many times per run.
 */
const exportArgs = (dest: string, extra: string[] = []) => ['export', '--collection', COL, '--dest', dest, '--safety-lag-seconds', '0', '--max-rows-per-file', '150', '--page-size', '100', '--parallel-slices', '4', '--split-slices', 'always', ...extra];

async function checkpointOrNull(dest: string): Promise<Checkpoint | null> {
  try {
    return await readCheckpoint(dest, COL);
  } catch (error) {
    if (/no checkpoint|ENOENT|not found|none/i.test((error as Error).message)) return null;
    throw error;
  }
}

async function expectExactlyOnce(dest: string): Promise<void> {
  const cmp = compareVersions(server.currentVersions(COL), await stagedVersions(dest, COL));
  expect(cmp).toMatchObject({ duplicates: [], missing: [], unknown: [] });
  const verify = await runCli(['verify', '--collection', COL, '--dest', dest], exportEnv(server.url));
  expect(verify.code, verify.stdout + verify.stderr).toBe(0);
}

describe('parallel slices', () => {
  // Each sequence runs on its own destination, and each run after a kill resumes what it left
  // (splits happen early in a run, so they come first). In all: a kill while a split is only
  // in memory (slice-splitting), after splits are recorded, mid-file, at each file step, when a
  // slice is marked done, and at the manifest.
  const sequences = [
    ['slice-splitting:2', 'slice-split:3', 'page:9', 'intent-recorded:2', 'file-visible:3', 'manifest-written:1'],
    ['slice-splitting:1', 'slice-split:2', 'checkpoint-advanced:4', 'intent-recorded:4', 'slice-done:1'],
  ];
  for (const [n, crashPoints] of sequences.entries()) {
    it(`resume after SIGKILL at every step of the protocol, and while a slice is being split, with several slices in flight (${n + 1} of ${sequences.length}: ${crashPoints.join(', ')})`, async () => {
      const dest = tempDir();
      let inFlight = 0;
      for (const point of crashPoints) {
        const killed = await runCli(exportArgs(dest), exportEnv(server.url, { MIXPEEK_EXPORT_TEST_CRASH_AT: point }));
        expect(killed.signal, `run crashing at ${point}: ${killed.stderr.slice(-2000)}`).toBe('SIGKILL');
        const cp = await checkpointOrNull(dest);
        inFlight = Math.max(inFlight, cp?.active?.slices?.filter((s) => !s.done).length ?? 0);
        if (point === 'page:9' || point === 'slice-done:1') server.mutate(COL, 10); // changes land between a kill and its resume
      }
      expect(inFlight, 'a killed run left several slices in flight').toBeGreaterThanOrEqual(3);
      const finished = await runCli(exportArgs(dest), exportEnv(server.url));
      expect(finished.code, finished.stderr).toBe(0);
      expect((await readCheckpoint(dest, COL)).active).toBeNull();
      await expectExactlyOnce(dest);
    });
  }

  it('resume after SIGKILLs at random moments while slices page a slow API', async () => {
    const dest = tempDir();
    server.setOptions({ latencyMs: 15 });
    try {
      let seed = 11;
      const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      for (let i = 0; i < 4; i++) {
        // A random moment on purpose, counted from the first split (slices are in flight): the
        // kill may land anywhere, or after the run finished (exit 0); every assertion holds either way.
        const killed = await runCli(exportArgs(dest, ['--format', i % 2 ? 'ndjson' : 'parquet']), exportEnv(server.url), { killAfterMatch: /"event":"SliceSplit"/, killAfterMs: 50 + Math.floor(random() * 900) });
        expect(killed.code === 0 || killed.signal === 'SIGKILL', killed.stderr.slice(-2000)).toBe(true);
        server.mutate(COL, 5);
      }
    } finally {
      server.setOptions({ latencyMs: 0 });
    }
    // The format is the run's: a resumed run keeps it; this last run picks parquet for a new window.
    const finished = await runCli(exportArgs(dest), exportEnv(server.url));
    expect(finished.code, finished.stderr).toBe(0);
    await expectExactlyOnce(dest);
  });

  it('continue a run that a version without slices left in its checkpoint as one slice, then split it', async () => {
    const dest = tempDir();
    const killed = await runCli(exportArgs(dest, ['--parallel-slices', '1']), exportEnv(server.url, { MIXPEEK_EXPORT_TEST_CRASH_AT: 'file-visible:3' }));
    expect(killed.signal).toBe('SIGKILL');
    // Rewrite the checkpoint as the version before slices wrote it: position and intent on the run.
    const cp = await readCheckpoint(dest, COL);
    const [slice] = cp.active!.slices!;
    const { slices: _drop, ...run } = cp.active!;
    const { slice: _s, ...pending } = slice!.pending!;
    const legacy = { ...cp, active: { ...run, position: slice!.position, pending, files: run.files.map(({ slice: _f, ...f }) => f) } };
    writeFileSync(path.join(dest, layout.checkpoint(COL)), JSON.stringify(legacy, null, 1));
    const finished = await runCli(exportArgs(dest), exportEnv(server.url));
    expect(finished.code, finished.stderr).toBe(0);
    expect(finished.stderr).toMatch(/PendingFileAdopted/);
    expect(finished.stderr).toMatch(/"event":"SliceSplit"/);
    await expectExactlyOnce(dest);
  });

  it('share one request budget across slices: no 429 from a server limiting to the same rate', async () => {
    const dest = tempDir();
    server.setOptions({ rateLimit: { requestsPerMinute: 600, burst: 10 } as never });
    const before = server.stats().faults.rateLimited;
    try {
      const result = await runCli(exportArgs(dest, ['--requests-per-minute', '540', '--page-size', '500']), exportEnv(server.url));
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/"event":"SliceSplit"/);
    } finally {
      server.setOptions({ rateLimit: null });
    }
    expect(server.stats().faults.rateLimited - before).toBe(0);
    await expectExactlyOnce(dest);
  });

  it('add slices by default when the listing waits on a slow API, and record each split', async () => {
    const dest = tempDir();
    server.setOptions({ latencyMs: 120 }); // far longer than writing a page of 100 documents takes
    try {
      const defaults = ['export', '--collection', COL, '--dest', dest, '--safety-lag-seconds', '0', '--page-size', '100', '--max-rows-per-file', '400'];
      const killed = await runCli(defaults, exportEnv(server.url), { killOnMatch: /"event":"SliceSplit"/, killOnMatchNth: 3 });
      expect(killed.signal, killed.stderr.slice(-2000)).toBe('SIGKILL');
      const result = await runCli(defaults, exportEnv(server.url));
      expect(result.code, result.stderr).toBe(0);
    } finally {
      server.setOptions({ latencyMs: 0 });
    }
    await expectExactlyOnce(dest);
  });

  it('page the window as one sequence with parallelSlices 1, with the same rows', async () => {
    const dest = tempDir();
    const result = await runCli(exportArgs(dest, ['--parallel-slices', '1']), exportEnv(server.url));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/SliceSplit/);
    const cp = await readCheckpoint(dest, COL);
    expect(cp.history.at(-1)?.rows).toBe([...server.currentVersions(COL)].length);
    await expectExactlyOnce(dest);
  });
});
