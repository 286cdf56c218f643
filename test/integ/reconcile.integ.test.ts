import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { readCheckpoint } from '../support/checkpoint.js';
import { azureDestination, fsDestination, localCopy, s3Destination, type TestDestination } from '../support/destinations.js';
import { dataFiles, exportEnv, query, runCli } from '../support/harness.js';

const COL = 'col_pdf_pages';
const DOCS = 2500;
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: DOCS, seed: 77 });
});
afterAll(async () => server?.close());

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'mxp-reconcile-'));
const COMMON = ['--collection', COL, '--safety-lag-seconds', '0', '--reconcile-sort-chunk-rows', '700'];
/** A reconciliation writes small files (several tombstone files) and sorts in chunks of 700 (a multi-chunk sort); an export reconciles only when asked. */
const PER_COMMAND = { export: ['--reconcile-every-hours', '0'], reconcile: ['--max-rows-per-file', '4'] };

async function cli(command: 'export' | 'reconcile', dest: TestDestination | string, extra: string[] = [], env: Record<string, string> = {}) {
  const d = typeof dest === 'string' ? { dest, flags: [], env: {} } : dest;
  const args = [command, '--dest', d.dest, ...COMMON, ...d.flags, ...PER_COMMAND[command], ...extra];
  return runCli(args, { ...exportEnv(server.url), ...d.env, ...env });
}

/** Lets the dev server's clock pass the next millisecond (a run's window ends at its start, in ms). */
const tick = () => new Promise((resolve) => setTimeout(resolve, 3));

interface StagedRow {
  document_id: string;
  updated_at: string;
  exported_at: string;
  deleted: boolean;
}

/** Every staged row of a local folder, read back with DuckDB (files staged before `_deleted` existed read as live). */
async function stagedRows(root: string): Promise<StagedRow[]> {
  const files = dataFiles(root, COL);
  const parquet = files.filter((f) => f.endsWith('.parquet'));
  const json = files.filter((f) => /\.json(\.gz)?$/.test(f));
  const list = (fs: string[]) => `[${fs.map((f) => `'${f}'`).join(',')}]`;
  const ts = (c: string) => `strftime(${c} AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ')`;
  const rows: StagedRow[] = [];
  if (parquet.length) {
    rows.push(...((await query(`SELECT document_id, ${ts('updated_at')} AS updated_at, ${ts('_exported_at')} AS exported_at, coalesce(_deleted, false) AS deleted FROM read_parquet(${list(parquet)}, union_by_name = true)`)) as never[]));
  }
  if (json.length) {
    const columns = `columns={document_id:'VARCHAR', updated_at:'VARCHAR', _exported_at:'VARCHAR', _deleted:'BOOLEAN'}`;
    rows.push(...((await query(`SELECT document_id, updated_at, _exported_at AS exported_at, coalesce(_deleted, false) AS deleted FROM read_json(${list(json)}, format='newline_delimited', ${columns})`)) as never[]));
  }
  return rows;
}

/** The consumer's rule: per document_id the row with the greatest (updated_at, _exported_at); dropped when it is a tombstone. */
function liveSet(rows: StagedRow[]): Set<string> {
  const newest = new Map<string, StagedRow>();
  for (const r of rows) {
    const held = newest.get(r.document_id);
    if (!held || r.updated_at > held.updated_at || (r.updated_at === held.updated_at && r.exported_at > held.exported_at)) newest.set(r.document_id, r);
  }
  return new Set([...newest.values()].filter((r) => !r.deleted).map((r) => r.document_id));
}

function tombstoneCounts(rows: StagedRow[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of rows) if (r.deleted) counts.set(r.document_id, (counts.get(r.document_id) ?? 0) + 1);
  return counts;
}

const serverLive = () => new Set([...server.currentVersions(COL)].map((v) => v.document_id));

/** Every deleted id tombstoned exactly once, no live id tombstoned, and the consumer holds exactly the live documents. */
async function expectMirror(root: string, deletedOnce: readonly string[]) {
  const rows = await stagedRows(root);
  const tombs = tombstoneCounts(rows);
  const live = serverLive();
  const twice = [...tombs].filter(([, n]) => n > 1).map(([id]) => id);
  const falseOnes = [...tombs.keys()].filter((id) => live.has(id) && !deletedOnce.includes(id));
  expect({ twice, falseOnes }).toEqual({ twice: [], falseOnes: [] });
  for (const id of deletedOnce) expect(tombs.get(id), id).toBe(1);
  const consumer = liveSet(rows);
  expect([...consumer].filter((id) => !live.has(id))).toEqual([]);
  expect([...live].filter((id) => !consumer.has(id))).toEqual([]);
}

describe('reconciliation on a local folder', () => {
  it('tombstones documents deleted between runs exactly once, and a second reconciliation writes none', async () => {
    const dest = tempDir();
    expect((await cli('export', dest, ['--format', 'parquet'])).code).toBe(0);
    const deleted = server.delete(COL, 9);
    const first = await cli('reconcile', dest);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/9 tombstones/);
    const cp = await readCheckpoint(dest, COL);
    expect(cp.lastReconcile).toMatchObject({ tombstones: 9 });
    expect(cp.lastReconcile?.idsListed).toBe(serverLive().size);
    const second = await cli('reconcile', dest);
    expect(second.stdout, second.stderr).toMatch(/ 0 tombstones/);
    await expectMirror(dest, deleted);
  });

  it('runs after the window with export --reconcile, and when due by reconcileEveryHours, but not with --no-reconcile', async () => {
    const dest = tempDir();
    const first = await cli('export', dest, ['--reconcile']);
    expect(first.stdout, first.stderr).toMatch(/1 reconciliation\(s\)/);
    const deleted = server.delete(COL, 3);
    await tick();
    const skipped = await runCli(['export', '--dest', dest, ...COMMON, '--no-reconcile'], exportEnv(server.url));
    expect(skipped.stdout).not.toMatch(/reconciliation/);
    const notDue = await runCli(['export', '--dest', dest, ...COMMON], exportEnv(server.url));
    expect(notDue.stdout).not.toMatch(/reconciliation/); // the last one is younger than 24 h
    const due = await runCli(['export', '--dest', dest, ...COMMON, '--reconcile-every-hours', '0.0000001'], exportEnv(server.url));
    expect(due.stdout, due.stderr).toMatch(/1 reconciliation\(s\): \d+ ids listed, 3 tombstones/);
    await expectMirror(dest, deleted);
    const shard = await runCli(['export', '--dest', dest, ...COMMON, '--reconcile', '--since', '2020-01-01T00:00:00Z', '--until', '2021-01-01T00:00:00Z', '--shard', '0/2'], exportEnv(server.url));
    expect(shard.code).toBe(2);
    expect(shard.stderr).toMatch(/--reconcile does not run on a shard/);
  });

  it('finds the deletions of a destination staged before tombstones existed (no snapshot, no _deleted column)', async () => {
    const dest = tempDir();
    expect((await cli('export', dest, ['--format', 'ndjson', '--compression', 'none'])).code).toBe(0);
    for (const file of dataFiles(dest, COL)) {
      const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => {
        const { _deleted: _drop, ...rest } = JSON.parse(l);
        return JSON.stringify(rest);
      });
      writeFileSync(file, lines.join('\n') + '\n');
    }
    const deleted = server.delete(COL, 5);
    const run = await cli('reconcile', dest);
    expect(run.stdout, run.stderr).toMatch(/5 tombstones/);
    await expectMirror(dest, deleted);
  });

  it('writes the tombstones in the format of the staged files, whatever --format the reconcile command was given', async () => {
    const dest = tempDir();
    expect((await cli('export', dest, ['--format', 'ndjson'])).code).toBe(0); // NDJSON, gzip
    const before = dataFiles(dest, COL);
    const deleted = server.delete(COL, 3);
    const run = await cli('reconcile', dest); // no --format: the setting's default is Parquet
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/"event":"TombstoneFormat".*"format":"ndjson","compression":"gzip"/);
    const tombstones = dataFiles(dest, COL).filter((f) => !before.includes(f));
    expect(tombstones.length).toBeGreaterThan(0);
    for (const file of tombstones) expect(file).toMatch(/\.json\.gz$/);
    await expectMirror(dest, deleted);
  });

  it('never tombstones documents created, updated or re-created during the listing, and tombstones those deleted during it once', async () => {
    const dest = tempDir();
    const gone = server.delete(COL, 4);
    await tick();
    expect((await cli('export', dest)).code).toBe(0);
    const before = new Set(server.deletedIds(COL));
    server.setOptions({ deleteWhilePaging: { everyNPages: 1, count: 2 }, createWhilePaging: { everyNPages: 1, count: 2 }, mutateWhilePaging: { everyNPages: 1, count: 2 } });
    const toRecreate = gone.slice(0, 2);
    let recreated = false;
    const during = await runCli(['reconcile', '--dest', dest, ...COMMON, ...PER_COMMAND.reconcile], exportEnv(server.url), {
      onStderrLine: (line) => {
        if (!recreated && line.includes('"StagedStatePlanned"')) {
          recreated = true;
          for (const id of toRecreate) server.recreate(COL, id);
        }
      },
    });
    server.setOptions({ deleteWhilePaging: null, createWhilePaging: null, mutateWhilePaging: null });
    expect(during.code, during.stderr).toBe(0);
    await tick();
    expect((await cli('export', dest)).code).toBe(0);
    expect((await cli('reconcile', dest)).code).toBe(0);
    const deletedNow = server.deletedIds(COL).filter((id) => !before.has(id));
    await expectMirror(dest, deletedNow);
  });
});

describe('reconciliation killed at every protocol step', () => {
  const steps = ['listing-started:1', 'listing-page:1', 'candidates-checked:1', 'intent-recorded:1', 'file-visible:1', 'checkpoint-advanced:1', 'intent-recorded:2', 'checkpoint-advanced:3', 'snapshot-written:1', 'manifest-written:1'];
  let template: string;
  let deleted: string[];

  beforeAll(async () => {
    template = tempDir();
    expect((await cli('export', template)).code).toBe(0);
    deleted = server.delete(COL, 13);
  });

  for (const ms of [150, 600]) {
    it(`gives every tombstone exactly once after a SIGKILL at a random moment (${ms} ms into the reconciliation) and a re-run`, async () => {
      const dest = tempDir();
      cpSync(template, dest, { recursive: true });
      await runCli(['reconcile', '--dest', dest, ...COMMON, ...PER_COMMAND.reconcile], exportEnv(server.url), { killAfterMatch: /"ReconcileStarted"/, killAfterMs: ms });
      expect((await cli('reconcile', dest)).code).toBe(0);
      await expectMirror(dest, server.deletedIds(COL).filter((id) => deleted.includes(id)));
    });
  }

  for (const step of steps) {
    it(`gives every tombstone exactly once and no false one after a SIGKILL at ${step} and a re-run`, async () => {
      const dest = tempDir();
      cpSync(template, dest, { recursive: true });
      const killed = await cli('reconcile', dest, [], { MIXPEEK_EXPORT_TEST_CRASH_AT: step });
      expect(killed.signal).toBe('SIGKILL');
      const rerun = await cli('reconcile', dest);
      expect(rerun.code, rerun.stderr).toBe(0);
      const again = await cli('reconcile', dest);
      expect(again.stdout, again.stderr).toMatch(/ 0 tombstones/);
      await expectMirror(dest, server.deletedIds(COL).filter((id) => deleted.includes(id)));
    });
  }
});

describe('reconciliation on object stores', () => {
  const kinds: { name: string; make: () => Promise<TestDestination> }[] = [
    { name: 'S3 (s3rver)', make: () => s3Destination(inject('s3Endpoint')) },
    { name: 'Azure (Azurite)', make: () => azureDestination(inject('azuriteConnectionString')) },
    { name: 'a local folder', make: async () => fsDestination() },
  ];
  for (const kind of kinds) {
    it(`holds exactly the live documents on ${kind.name} after deletions, a kill and a re-run`, async () => {
      const dest = await kind.make();
      expect((await cli('export', dest)).code).toBe(0);
      const deleted = server.delete(COL, 6);
      const killed = await cli('reconcile', dest, [], { MIXPEEK_EXPORT_TEST_CRASH_AT: 'checkpoint-advanced:1' });
      expect(killed.signal).toBe('SIGKILL');
      expect((await cli('reconcile', dest)).code).toBe(0);
      const more = server.delete(COL, 2);
      await tick();
      const both = await cli('export', dest, ['--reconcile']);
      expect(both.stdout, both.stderr).toMatch(/2 tombstones/);
      await expectMirror(await localCopy(dest, COL), server.deletedIds(COL).filter((id) => [...deleted, ...more].includes(id)));
    });
  }
});
