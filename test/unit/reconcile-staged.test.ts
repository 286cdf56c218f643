import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildManifest, writeManifest } from '../../src/commit/manifest.js';
import type { ActiveRun, FileRecord } from '../../src/commit/schema.js';
import { createEncoder } from '../../src/encode/index.js';
import { fileRecords, planStaged, type StagedRecord, stagedState } from '../../src/reconcile/staged.js';
import type { Row } from '../../src/rows/types.js';
import { memoryDriver } from '../../src/storage/drivers/memory.js';

const COL = 'col_s';
const t = (minute: number) => `2026-11-01T00:${String(minute).padStart(2, '0')}:00.123456Z`;

function row(id: string, minute: number, runId: string): Row {
  return {
    document_id: id, collection_id: COL, namespace_id: 'ns', created_at: t(0), updated_at: t(minute), root_object_id: null, source_object_id: null,
    fields: { n: minute }, internal: null, vectors: {}, _run_id: runId, _exported_at: t(minute + 1), _deleted: false,
  } as Row;
}

/** Encodes rows with the real encoder and stores the file; returns its record. */
async function stage(driver: ReturnType<typeof memoryDriver>, key: string, format: 'parquet' | 'ndjson', rows: Row[]): Promise<FileRecord> {
  const encoder = createEncoder({ format, compression: format === 'parquet' ? 'zstd' : 'gzip', vectorKeys: [], rowGroupRows: 2 });
  const chunks: Buffer[] = [];
  encoder.output.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve) => encoder.output.on('end', resolve));
  for (const r of rows) await encoder.write(r);
  await encoder.end();
  await done;
  const body = Buffer.concat(chunks);
  driver.objects.set(key, body);
  return { key, seq: 0, dt: '2026-11-01', rows: rows.length, bytes: body.length, sha256: '', minUpdatedAt: null, maxUpdatedAt: null, columns: ['document_id', 'updated_at', '_exported_at'], endPosition: null };
}

async function manifestOf(driver: ReturnType<typeof memoryDriver>, runId: string, minute: number, files: FileRecord[]): Promise<void> {
  const run: ActiveRun = {
    runId, startedAt: t(minute), window: { lo: null, hi: t(minute) }, format: 'parquet', compression: 'zstd', vectors: false,
    nextSeq: files.length, position: null, files, pending: null, rejected: 0, untyped: 0,
  };
  await writeManifest(driver, buildManifest(COL, run, t(minute)));
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('the staged-state reader', () => {
  it('reads document_id, updated_at and _exported_at of a Parquet file to the microsecond, and counts a file without _deleted as live', async () => {
    const driver = memoryDriver();
    const file = await stage(driver, `${COL}/data/dt=2026-11-01/part-a.parquet`, 'parquet', [row('b', 3, 'r1'), row('a', 4, 'r1'), row('c', 5, 'r1')]);
    const records = await collect(fileRecords(driver, file));
    expect(records).toEqual([
      { id: 'b', u: t(3), e: t(4), d: false },
      { id: 'a', u: t(4), e: t(5), d: false },
      { id: 'c', u: t(5), e: t(6), d: false },
    ]);
  });

  it('reads gzip NDJSON by line and takes _deleted from it', async () => {
    const driver = memoryDriver();
    const lines = [JSON.stringify({ document_id: 'x', updated_at: t(9), _exported_at: t(10), _deleted: true }), JSON.stringify({ document_id: 'y', updated_at: t(2), _exported_at: t(3) })];
    driver.objects.set(`${COL}/data/dt=2026-11-01/part-t.json.gz`, gzipSync(lines.join('\n') + '\n'));
    const records = await collect(fileRecords(driver, { key: `${COL}/data/dt=2026-11-01/part-t.json.gz`, columns: [] }));
    expect(records).toEqual([{ id: 'x', u: t(9), e: t(10), d: true }, { id: 'y', u: t(2), e: t(3), d: false }]);
  });

  it('merges every manifest\'s files into the newest row per id, sorted by id, through a multi-chunk sort', async () => {
    const driver = memoryDriver();
    const f1 = await stage(driver, `${COL}/data/dt=2026-11-01/part-r1.parquet`, 'parquet', [row('d', 1, 'r1'), row('a', 1, 'r1'), row('c', 1, 'r1'), row('b', 1, 'r1')]);
    const f2 = await stage(driver, `${COL}/data/dt=2026-11-01/part-r2.json.gz`, 'ndjson', [row('c', 7, 'r2'), row('e', 7, 'r2')]);
    await manifestOf(driver, '20261101T000100Z-0001', 2, [f1]);
    await manifestOf(driver, '20261101T000800Z-0002', 8, [f2]);
    const sources = await planStaged(driver, COL, null);
    expect(sources.includedThrough).toEqual({ runId: '20261101T000800Z-0002', finishedAt: t(8) });
    const state = await collect(stagedState(driver, sources, [], 3));
    expect(state.map((r) => `${r.id}@${r.u.slice(14, 16)}`)).toEqual(['a@01', 'b@01', 'c@07', 'd@01', 'e@07']);
  });

  it('reads a snapshot plus only the runs finished after its marker, and lets a later tombstone win', async () => {
    const driver = memoryDriver();
    const snapshot: StagedRecord[] = [{ id: 'a', u: t(1), e: t(2), d: false }, { id: 'b', u: t(1), e: t(2), d: false }];
    driver.objects.set(`${COL}/_state/reconcile/snapshot-R.json.gz`, gzipSync(snapshot.map((r) => JSON.stringify(r)).join('\n') + '\n'));
    const old = await stage(driver, `${COL}/data/dt=2026-11-01/part-old.json.gz`, 'ndjson', [row('z', 1, 'r0')]);
    await manifestOf(driver, '20261101T000000Z-0000', 1, [old]);
    const tomb = `${COL}/data/dt=2026-11-01/part-tomb.json.gz`;
    driver.objects.set(tomb, gzipSync(JSON.stringify({ document_id: 'b', updated_at: t(20), _exported_at: t(21), _deleted: true }) + '\n'));
    const sources = await planStaged(driver, COL, { snapshotKey: `${COL}/_state/reconcile/snapshot-R.json.gz`, includedThrough: { runId: '20261101T000000Z-0000', finishedAt: t(1) }, runId: 'R' });
    expect(sources.files).toEqual([]);
    const state = await collect(stagedState(driver, sources, [{ key: tomb, columns: ['_deleted'] }], 3));
    expect(state).toEqual([{ id: 'a', u: t(1), e: t(2), d: false }, { id: 'b', u: t(20), e: t(21), d: true }]);
  });
});
