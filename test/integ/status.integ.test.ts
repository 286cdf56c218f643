import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CollectionStatus } from '../../src/cli/status.js';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { readCheckpoint } from '../support/checkpoint.js';
import { exportEnv, readJson, runCli } from '../support/harness.js';

const COL = 'col_pdf_pages';
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: 1200, seed: 31 });
});
afterAll(async () => server?.close());

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'mxp-status-'));
const exportArgs = (dest: string) => ['export', '--collection', COL, '--dest', dest, '--safety-lag-seconds', '0', '--max-rows-per-file', '300', '--page-size', '250'];

async function status(dest: string, collections: string[], json: boolean) {
  const args = ['status', '--dest', dest, ...collections.flatMap((c) => ['--collection', c]), ...(json ? ['--json'] : [])];
  const result = await runCli(args, {});
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

/** The lag `status` should report at `asOf`, give or take the clock between reading and checking. */
function expectLag(report: CollectionStatus, newest: string) {
  expect(report.newest_updated_at).toBe(newest);
  expect(report.lag_seconds).toBe(Math.max(0, Math.round((Date.parse(report.as_of) - Date.parse(newest)) / 1000)));
}

describe('status', () => {
  it('shows the checkpoint position, the last run and the freshness lag after an export, as text and as JSON', async () => {
    const dest = tempDir();
    const exported = await runCli(exportArgs(dest), exportEnv(server.url));
    expect(exported.code, exported.stderr).toBe(0);
    const checkpoint = await readCheckpoint(dest, COL);
    const run = checkpoint.history[0]!;
    const manifest = readJson(path.join(dest, run.manifest));

    const [report] = JSON.parse(await status(dest, [COL], true)) as CollectionStatus[];
    expect(report).toMatchObject({
      collection_id: COL,
      last_hi: checkpoint.lastHi,
      interrupted_run: null,
      last_run: { run_id: run.runId, finished_at: manifest.finishedAt, window: manifest.window, rows: 1200, files: manifest.totals.files, bytes: manifest.totals.bytes, manifest: run.manifest },
    });
    expect(report.last_runs).toEqual([report.last_run]);
    expectLag(report, manifest.maxUpdatedAt);
    expect(report.checkpoint_url).toBe(`file://${dest}/${COL}/_state/checkpoint.json`);

    const text = await status(dest, [COL], false);
    expect(text).toContain(`exported up to ${checkpoint.lastHi}`);
    expect(text).toContain(`newest updated_at exported ${manifest.maxUpdatedAt}, lag `);
    expect(text).toMatch(new RegExp(`last run +${run.runId} finished ${manifest.finishedAt} \\(\\d+s ago\\)`));
    expect(text).toContain(`1,200 rows in ${manifest.totals.files} files`);
    expect(text).toContain(`window [beginning, ${checkpoint.lastHi})`);
  });

  it('says plainly that a collection was never exported, beside one that was', async () => {
    const dest = tempDir();
    expect((await runCli(exportArgs(dest), exportEnv(server.url))).code).toBe(0);
    const reports = JSON.parse(await status(dest, ['col_never_exported', COL], true)) as CollectionStatus[];
    expect(reports.map((r) => r.collection_id)).toEqual(['col_never_exported', COL]);
    expect(reports[0]).toMatchObject({ last_hi: null, newest_updated_at: null, lag_seconds: null, interrupted_run: null, last_run: null, last_runs: [] });
    expect(reports[1]?.last_run?.rows).toBe(1200);
    const text = await status(dest, ['col_never_exported'], false);
    expect(text).toBe(`col_never_exported\n  never exported no checkpoint at file://${dest}/col_never_exported/_state/checkpoint.json\n`);
  });

  it('shows each slice of an interrupted run with its range and position', async () => {
    const dest = tempDir();
    const killed = await runCli([...exportArgs(dest), '--parallel-slices', '4', '--split-slices', 'always'], exportEnv(server.url, { MIXPEEK_EXPORT_TEST_CRASH_AT: 'checkpoint-advanced:3' }));
    expect(killed.signal).toBe('SIGKILL');
    const active = (await readCheckpoint(dest, COL)).active!;
    expect(active.slices!.length).toBeGreaterThan(1);
    const [report] = JSON.parse(await status(dest, [COL], true)) as CollectionStatus[];
    expect(report?.interrupted_run).toMatchObject({ run_id: active.runId, position: null, files: 3 });
    expect(report?.interrupted_run?.slices).toEqual(active.slices!.map((s) => ({ id: s.id, lo: s.lo, hi: s.hi, position: s.position?.updatedAt ?? null, done: s.done, pending_file: s.pending?.key ?? null })));
    const text = await status(dest, [COL], false);
    expect(text).toContain(`published so far; ${active.slices!.filter((s) => s.done).length} of ${active.slices!.length} slices done`);
    for (const s of active.slices!.filter((x) => !x.done)) expect(text).toContain(`slice ${s.id} [${s.lo ?? 'beginning'}, ${s.hi}): up to updated_at ${s.position?.updatedAt ?? '(none yet)'}`);
    expect((await runCli(exportArgs(dest), exportEnv(server.url))).code).toBe(0);
  });

  it('shows an interrupted run with its position and the files it published so far, then the runs that finished it', async () => {
    const dest = tempDir();
    // One slice: the run is one sequence, with one position (the test above shows several slices).
    const killed = await runCli([...exportArgs(dest), '--parallel-slices', '1'], exportEnv(server.url, { MIXPEEK_EXPORT_TEST_CRASH_AT: 'checkpoint-advanced:2' }));
    expect(killed.signal).toBe('SIGKILL');
    const cp = (await readCheckpoint(dest, COL)).active!;
    const active = { ...cp, position: cp.slices![0]!.position };
    expect(active.files).toHaveLength(2);

    const [report] = JSON.parse(await status(dest, [COL], true)) as CollectionStatus[];
    expect(report).toMatchObject({
      last_hi: null,
      last_run: null,
      interrupted_run: {
        run_id: active.runId,
        started_at: active.startedAt,
        window: active.window,
        position: active.position!.updatedAt,
        files: 2,
        rows: active.files[0].rows + active.files[1].rows,
        bytes: active.files[0].bytes + active.files[1].bytes,
        pending_file: null,
      },
    });
    // What consumers can already see counts for freshness.
    expectLag(report, active.files[1]!.maxUpdatedAt!);
    const text = await status(dest, [COL], false);
    expect(text).toContain(`interrupted    ${active.runId} started ${active.startedAt}`);
    expect(text).toContain(`${report?.interrupted_run?.rows} rows in 2 files (`);
    expect(text).toContain(`published so far, up to updated_at ${active.position!.updatedAt}`);
    expect(text).toContain('the next export resumes this run');

    // The next export finishes the interrupted run, then runs a new (here empty) window: the
    // newest exported updated_at survives the empty run (the checkpoint's running max).
    expect((await runCli(exportArgs(dest), exportEnv(server.url))).code).toBe(0);
    const checkpoint = await readCheckpoint(dest, COL);
    const manifests = checkpoint.history.map((h) => readJson(path.join(dest, h.manifest)));
    const [after] = JSON.parse(await status(dest, [COL], true)) as CollectionStatus[];
    expect(after?.interrupted_run).toBeNull();
    expect(after?.last_runs.map((r) => r.run_id)).toEqual([...checkpoint.history].reverse().map((h) => h.runId));
    expect(after?.last_runs.at(-1)?.run_id).toBe(active.runId);
    expect(after?.last_runs.reduce((n, r) => n + r.rows, 0)).toBe(1200);
    expect(after?.last_hi).toBe(checkpoint.lastHi);
    expectLag(after as CollectionStatus, manifests.map((m: { maxUpdatedAt: string | null }) => m.maxUpdatedAt).filter(Boolean).sort().at(-1) as string);
  });

  it('shows the last reconciliation (when, T, ids listed, tombstones) and whether one is due, as text and as JSON', async () => {
    const dest = tempDir();
    expect((await runCli([...exportArgs(dest), '--reconcile-every-hours', '0'], exportEnv(server.url))).code).toBe(0);
    const [before] = JSON.parse(await status(dest, [COL], true)) as CollectionStatus[];
    expect(before).toMatchObject({ last_reconcile: null, reconcile_due: true, reconcile_every_hours: 24 });
    const [never] = JSON.parse((await runCli(['status', '--dest', dest, '--collection', COL, '--json', '--reconcile-every-hours', '0'], {})).stdout) as CollectionStatus[];
    expect(never).toMatchObject({ last_reconcile: null, reconcile_due: false, reconcile_every_hours: 0 });
    expect(await status(dest, [COL], false)).toContain('last reconcile none yet\n                 a reconciliation is due (every 24h): the next export runs one');

    server.delete(COL, 12);
    const reconciled = await runCli(['reconcile', '--collection', COL, '--dest', dest, '--safety-lag-seconds', '0'], exportEnv(server.url));
    expect(reconciled.code, reconciled.stderr).toBe(0);
    const last = (await readCheckpoint(dest, COL)).lastReconcile!;
    const [after] = JSON.parse(await status(dest, [COL], true)) as CollectionStatus[];
    expect(after).toMatchObject({
      last_reconcile: { run_id: last.runId, finished_at: last.finishedAt, listed_at: last.listedAt, ids_listed: 1188, tombstones: 12, manifest: last.manifest },
      reconcile_due: false,
    });
    expect(after?.last_run?.rows).toBe(1200); // a reconciliation is not an export run: the history is the exports'
    const text = await status(dest, [COL], false);
    expect(text).toMatch(new RegExp(`last reconcile ${last.runId} finished ${last.finishedAt} \\(\\d+s ago\\), listing at T = ${last.listedAt}\n {17}1,188 ids listed, 12 tombstones\n {17}no reconciliation due \\(every 24h\\)`));

    // Due once it is older than reconcileEveryHours (0.0001 h = 0.36 s; the clock only moves on).
    await new Promise((resolve) => setTimeout(resolve, 400));
    const due = await runCli(['status', '--dest', dest, '--collection', COL, '--reconcile-every-hours', '0.0001'], {});
    expect(due.stdout).toContain('a reconciliation is due (every 0.0001h): the next export runs one');
  });
});
