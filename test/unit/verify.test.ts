import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Zstd } from '@hpcc-js/wasm-zstd';
import { describe, expect, it } from 'vitest';
import { type ActiveRun, emptyCheckpoint, type FileRecord } from '../../src/commit/checkpoint.js';
import { layout } from '../../src/commit/layout.js';
import { buildManifest, writeManifest } from '../../src/commit/manifest.js';
import { createEncoder, extensionFor, type Compression, type Format } from '../../src/encode/index.js';
import { createZstdCompress } from '../../src/encode/zstd.js';
import { StorageError } from '../../src/errors.js';
import { tombstoneRow } from '../../src/rows/tombstone.js';
import type { Row } from '../../src/rows/types.js';
import { memoryDriver } from '../../src/storage/drivers/memory.js';
import { formatVerifyReport, verifyCollection, verifyCollections } from '../../src/verify/index.js';
import { analyseWindows } from '../../src/verify/windows.js';
import { createZstdDecompress } from '../../src/verify/zstd.js';

const COL = 'col_t';
const DT = '2026-11-01';
const t = (hour: number) => `2026-11-01T${String(hour).padStart(2, '0')}:00:00.000000Z`;

function row(i: number): Row {
  return {
    document_id: `doc_${i}`,
    collection_id: COL,
    namespace_id: 'ns_1',
    created_at: t(0),
    updated_at: `2026-11-01T00:00:${String(i % 60).padStart(2, '0')}.000000Z`,
    root_object_id: null,
    source_object_id: null,
    fields: { title: `Document ${i}`, n: i },
    internal: null,
    vectors: {},
    _run_id: 'r',
    _exported_at: t(1),
    _deleted: false,
  };
}

async function encode(format: Format, compression: Compression, rows: number): Promise<Buffer> {
  const encoder = createEncoder({ format, compression, vectorKeys: [] });
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of encoder.output) chunks.push(Buffer.from(chunk));
  })();
  for (let i = 0; i < rows; i++) await encoder.write(row(i));
  await Promise.all([encoder.end(), collected]);
  return Buffer.concat(chunks);
}

const sha256 = (body: Buffer) => createHash('sha256').update(body).digest('hex');

interface RunSpec {
  runId: string;
  lo: string | null;
  hi: string;
  format?: Format;
  compression?: Compression;
  /** Rows of each file. */
  files: number[];
}

async function publishFile(driver: ReturnType<typeof memoryDriver>, run: ActiveRun, seq: number, rows: number): Promise<FileRecord> {
  const body = await encode(run.format as Format, run.compression as Compression, rows);
  const key = layout.dataFile(COL, DT, run.runId, seq, extensionFor(run.format as Format, run.compression as Compression));
  await driver.publish(key, body);
  return { key, seq, dt: DT, rows, bytes: body.length, sha256: sha256(body), minUpdatedAt: t(0), maxUpdatedAt: t(0), columns: ['document_id'], endPosition: null };
}

async function publishRun(driver: ReturnType<typeof memoryDriver>, spec: RunSpec): Promise<ActiveRun> {
  const format = spec.format ?? 'parquet';
  const run: ActiveRun = {
    runId: spec.runId, startedAt: spec.hi, window: { lo: spec.lo, hi: spec.hi }, format, compression: spec.compression ?? (format === 'parquet' ? 'zstd' : 'gzip'),
    vectors: false, nextSeq: 0, position: null, files: [], pending: null, rejected: 0, untyped: 0,
  };
  for (const [seq, rows] of spec.files.entries()) run.files.push(await publishFile(driver, run, seq, rows));
  run.nextSeq = run.files.length;
  return run;
}

/** Stages completed runs (files, manifest, checkpoint) as an export would, and optionally an interrupted one. */
async function stage(specs: RunSpec[], options: { active?: RunSpec; pending?: 'published' | 'absent'; activeManifest?: boolean } = {}) {
  const driver = memoryDriver({ name: 'verify' });
  const checkpoint = emptyCheckpoint(COL);
  for (const spec of specs) {
    const run = await publishRun(driver, spec);
    const manifest = buildManifest(COL, run, spec.hi);
    const key = await writeManifest(driver, manifest);
    checkpoint.lastHi = spec.hi;
    checkpoint.history.push({ runId: run.runId, window: run.window, files: run.files.length, rows: manifest.totals.rows, bytes: manifest.totals.bytes, finishedAt: spec.hi, manifest: key });
  }
  if (options.active) {
    const run = await publishRun(driver, options.active);
    if (options.pending) {
      const pending = await publishFile(driver, run, run.nextSeq, 3);
      if (options.pending === 'absent') driver.objects.delete(pending.key);
      run.pending = pending;
    }
    if (options.activeManifest) await writeManifest(driver, buildManifest(COL, run, options.active.hi));
    checkpoint.active = run;
  }
  await driver.writeIf(layout.checkpoint(COL), Buffer.from(JSON.stringify(checkpoint)), { ifNoneMatch: '*' });
  return driver;
}

/** Three runs meeting at each end: Parquet, NDJSON gzip, NDJSON zstd, NDJSON uncompressed. */
const RUNS: RunSpec[] = [
  { runId: '20261101T010000Z-aaaa', lo: null, hi: t(1), files: [40, 25] },
  { runId: '20261101T020000Z-bbbb', lo: t(1), hi: t(2), format: 'ndjson', compression: 'gzip', files: [30, 5] },
  { runId: '20261101T030000Z-cccc', lo: t(2), hi: t(3), format: 'ndjson', compression: 'zstd', files: [12] },
  { runId: '20261101T040000Z-dddd', lo: t(3), hi: t(4), format: 'ndjson', compression: 'none', files: [7] },
];

const manifestKey = (runId: string) => layout.manifest(COL, runId);
const editJson = (driver: ReturnType<typeof memoryDriver>, key: string, change: (value: any) => void) => {
  const value = JSON.parse(driver.objects.get(key)!.toString('utf8'));
  change(value);
  driver.objects.set(key, Buffer.from(JSON.stringify(value)));
};
const problems = (report: Awaited<ReturnType<typeof verifyCollection>>) => report.findings.filter((f) => f.severity === 'problem');

describe('verify', () => {
  it('finds a clean export consistent, with one ok line per manifest and per check', async () => {
    const driver = await stage(RUNS);
    const report = await verifyCollection(driver, COL);
    expect(problems(report)).toEqual([]);
    expect(report).toMatchObject({ consistent: true, nothingExported: false, checked: { manifests: 4, files: 6, rows: 119 } });
    expect(report.checked.bytes).toBe([...driver.objects.keys()].filter((k) => k.includes('/data/')).reduce((n, k) => n + driver.objects.get(k)!.length, 0));
    expect(report.findings.map((f) => `${f.severity} ${f.check}`)).toEqual([...RUNS.map(() => 'ok manifest'), 'ok checkpoint', 'ok orphans', 'ok windows']);
    expect(report.findings[4]!.message).toContain(`lastHi ${t(4)} is the end of the furthest run 20261101T040000Z-dddd`);
    expect(report.findings[6]!.message).toBe(`no gaps: 4 run window(s) cover [the beginning, ${t(4)}) without a hole`);
  });

  it('says "nothing exported yet" for a collection with nothing at the destination', async () => {
    const report = await verifyCollection(memoryDriver(), COL);
    expect(report).toMatchObject({ consistent: true, nothingExported: true, findings: [{ severity: 'ok', message: 'memory://default/col_t/: nothing exported yet' }] });
  });

  it('names a deleted data file, and the deleted file does not count as checked', async () => {
    const driver = await stage(RUNS);
    const victim = layout.dataFile(COL, DT, RUNS[0]!.runId, 1, '.parquet');
    driver.objects.delete(victim);
    const report = await verifyCollection(driver, COL);
    expect(report.consistent).toBe(false);
    expect(problems(report)).toEqual([
      expect.objectContaining({ check: 'file', url: driver.url(victim), message: expect.stringMatching(/does not exist; restore it from a backup or bucket versioning, or re-export its rows with export --since/) }),
    ]);
    expect(report.checked.files).toBe(5);
  });

  it('names a truncated file by its size', async () => {
    const driver = await stage(RUNS);
    const victim = layout.dataFile(COL, DT, RUNS[1]!.runId, 0, '.json.gz');
    const body = driver.objects.get(victim)!;
    driver.objects.set(victim, body.subarray(0, body.length - 10));
    const [problem, ...rest] = problems(await verifyCollection(driver, COL));
    expect(rest).toEqual([]);
    expect(problem!.message).toBe(
      `${driver.url(victim)} has ${body.length - 10} bytes but manifest ${driver.url(manifestKey(RUNS[1]!.runId))} records ${body.length}; the exporter never rewrites a published file, so something else changed it: restore it from a backup or bucket versioning, or re-export its rows with export --since ${t(0)} --until ${t(2)}`,
    );
  });

  it('detects a flipped byte (same size) by its sha256, and a broken zstd body by its rows', async () => {
    const driver = await stage(RUNS);
    const parquet = layout.dataFile(COL, DT, RUNS[0]!.runId, 0, '.parquet');
    driver.objects.get(parquet)![100] ^= 0xff;
    const zst = layout.dataFile(COL, DT, RUNS[2]!.runId, 0, '.json.zst');
    const body = driver.objects.get(zst)!;
    body.fill(0x41, 20, 30); // inside the compressed block: sha256 changes, decoding fails or miscounts
    const found = problems(await verifyCollection(driver, COL));
    expect(found.map((p) => p.url)).toEqual([driver.url(parquet), driver.url(zst), driver.url(zst)]);
    expect(found[0]!.message).toMatch(/: sha256 [0-9a-f]{12}… but manifest .* records [0-9a-f]{12}… \(same size\); the bytes changed after publishing/);
    expect(found[2]!.message).toMatch(/rows cannot be read|holds \d+ rows but/);
  });

  it('detects an NDJSON file that lost a line even when its size and sha256 were rewritten to match', async () => {
    const driver = await stage(RUNS);
    const victim = layout.dataFile(COL, DT, RUNS[1]!.runId, 1, '.json.gz');
    const lines = gunzipSync(driver.objects.get(victim)!).toString('utf8').split('\n');
    const shorter = gzipSync(lines.slice(1).join('\n'));
    driver.objects.set(victim, shorter);
    editJson(driver, manifestKey(RUNS[1]!.runId), (m) => {
      m.totals.bytes += shorter.length - m.files[1].bytes;
      Object.assign(m.files[1], { bytes: shorter.length, sha256: sha256(shorter) });
    });
    const found = problems(await verifyCollection(driver, COL));
    expect(found.map((p) => p.message)).toContainEqual(
      `${driver.url(victim)} holds 4 rows but manifest ${driver.url(manifestKey(RUNS[1]!.runId))} records 5; the bytes match, so the record was edited: restore the manifest or checkpoint from a backup`,
    );
  });

  it('reports a manifest whose row count was edited, in the file, its totals and the checkpoint history', async () => {
    const driver = await stage(RUNS);
    editJson(driver, manifestKey(RUNS[0]!.runId), (m) => (m.files[0].rows += 1));
    const found = problems(await verifyCollection(driver, COL)).map((p) => `${p.check}: ${p.message}`);
    expect(found).toEqual([
      expect.stringMatching(/^manifest: .*totals.rows is 65 but its files add up to 66; the manifest was edited/),
      expect.stringMatching(/^file: .*part-20261101T010000Z-aaaa-000000.parquet holds 40 rows but manifest .* records 41/),
    ]);
    editJson(driver, manifestKey(RUNS[0]!.runId), (m) => (m.totals.rows += 1));
    const again = problems(await verifyCollection(driver, COL)).map((p) => p.check);
    expect(again).toEqual(['file', 'checkpoint']); // history now disagrees with the manifest's totals
  });

  it('reports seq numbers that are not 0..n-1 and keys off the layout', async () => {
    const driver = await stage(RUNS);
    editJson(driver, manifestKey(RUNS[0]!.runId), (m) => (m.files[1].seq = 2));
    const found = problems(await verifyCollection(driver, COL)).map((p) => p.message);
    expect(found[0]).toMatch(/lists seq 0,2, not 0\.\.1; missing 1; it was edited/);
    expect(found[1]).toMatch(/part-20261101T010000Z-aaaa-000001.parquet, which is not where run 20261101T010000Z-aaaa puts seq 2/);
  });

  it('lists an orphan data file that no manifest or interrupted run accounts for', async () => {
    const driver = await stage(RUNS);
    const orphan = `${COL}/data/dt=${DT}/part-20261101T050000Z-eeee-000000.parquet`;
    driver.objects.set(orphan, Buffer.from('stray'));
    const report = await verifyCollection(driver, COL);
    expect(problems(report)).toEqual([
      { severity: 'problem', check: 'orphans', url: driver.url(orphan), message: `${driver.url(orphan)} (5 bytes) is in no manifest and not in the checkpoint's interrupted run, and consumers load it; if its manifest was lost, restore the manifest; if something else wrote it, move it out of data/` },
    ]);
  });

  it('turns the files of a removed manifest into orphans and reports the gap it leaves', async () => {
    const driver = await stage(RUNS);
    driver.objects.delete(manifestKey(RUNS[1]!.runId));
    const found = problems(await verifyCollection(driver, COL));
    expect(found.map((p) => p.check)).toEqual(['checkpoint', 'orphans', 'orphans', 'windows']);
    expect(found[0]!.message).toMatch(/history lists run 20261101T020000Z-bbbb \(2 files, 35 rows\) but its manifest .* is missing or unreadable/);
    expect(found[3]!.message).toBe(
      `gap: no run covers updated_at [${t(1)}, ${t(2)}) (run 20261101T010000Z-aaaa ends there, run 20261101T030000Z-cccc starts later); documents updated then were never exported: run export --since ${t(1)} --until ${t(2)}`,
    );
  });

  it('reports a manifest that is not valid JSON, and lists its files as orphans', async () => {
    const driver = await stage(RUNS.slice(0, 1));
    driver.objects.set(manifestKey(RUNS[0]!.runId), Buffer.from('{"manifestVersion":1,'));
    const found = problems(await verifyCollection(driver, COL)).map((p) => p.check);
    expect(found).toEqual(['manifest', 'checkpoint', 'checkpoint', 'orphans', 'orphans']);
  });

  it('reports a manifest the schema refuses, naming the field, and lists its files as orphans', async () => {
    const driver = await stage(RUNS.slice(0, 1));
    editJson(driver, manifestKey(RUNS[0]!.runId), (m) => (m.totals.rows = '65'));
    const found = problems(await verifyCollection(driver, COL));
    expect(found.map((p) => p.check)).toEqual(['manifest', 'checkpoint', 'checkpoint', 'orphans', 'orphans']);
    expect(found[0]!.message).toBe(
      `memory://verify/${manifestKey(RUNS[0]!.runId)} is not a valid manifest: totals.rows: Invalid input: expected number, received string; restore it from a backup (until then its data files are listed as orphans)`,
    );
  });

  it('reports a checkpoint the schema refuses, naming the field', async () => {
    const driver = await stage(RUNS);
    editJson(driver, layout.checkpoint(COL), (c) => (c.history[1].files = -2));
    const found = problems(await verifyCollection(driver, COL));
    expect(found.map((p) => `${p.check}: ${p.message}`)).toEqual([
      expect.stringMatching(/^checkpoint: memory:\/\/verify\/col_t\/_state\/checkpoint\.json is not a valid checkpoint: history\[1\]\.files: Too small: expected number to be >=0; restore it from a backup/),
    ]);
  });

  it('compares the checkpoint lastHi with the newest manifest, both ways', async () => {
    const driver = await stage(RUNS);
    editJson(driver, layout.checkpoint(COL), (c) => (c.lastHi = t(3)));
    const behind = problems(await verifyCollection(driver, COL));
    expect(behind.map((p) => p.message)).toEqual([expect.stringContaining(`lastHi is ${t(3)} but run 20261101T040000Z-dddd ended at ${t(4)}; the next export would stage [${t(3)}, ${t(4)}) again`)]);
    editJson(driver, layout.checkpoint(COL), (c) => (c.lastHi = t(6)));
    const ahead = problems(await verifyCollection(driver, COL));
    expect(ahead.map((p) => p.message)).toEqual([expect.stringContaining(`no manifest covers [${t(4)}, ${t(6)}): restore the missing manifest, or re-export with export --since ${t(4)} --until ${t(6)}`)]);
  });

  it('reports a missing checkpoint when manifests exist, with the --since that continues', async () => {
    const driver = await stage(RUNS);
    driver.objects.delete(layout.checkpoint(COL));
    const found = problems(await verifyCollection(driver, COL));
    expect(found.map((p) => p.message)).toEqual([expect.stringMatching(new RegExp(`checkpoint.json is missing but 4 manifest\\(s\\) exist; .* run the next export with --since ${t(4).replace(/\./g, '\\.')}`))]);
  });

  it('accounts for an interrupted run: its files and published pending file are checked, not orphans', async () => {
    const active = { runId: '20261101T050000Z-eeee', lo: t(4), hi: t(5), files: [9, 4] };
    const driver = await stage(RUNS, { active, pending: 'published' });
    const report = await verifyCollection(driver, COL);
    expect(problems(report)).toEqual([]);
    expect(report.checked.files).toBe(6 + 3);
    const run = report.findings.find((f) => f.check === 'run')!;
    expect(run).toMatchObject({ severity: 'info', message: expect.stringMatching(/^interrupted run in progress: 20261101T050000Z-eeee .* 2 files published, pending memory:\/\/verify\/col_t\/data\/.*-000002\.parquet; the next export resumes it$/) });
    expect(report.findings.at(-1)!.message).toContain(`5 run window(s) cover [the beginning, ${t(5)})`);

    const absent = await stage(RUNS, { active, pending: 'absent' });
    const second = await verifyCollection(absent, COL);
    expect(second.consistent).toBe(true);
    expect(second.findings.filter((f) => f.check === 'run').map((f) => f.message)[1]).toMatch(/was never published; the next export writes its 3 rows again$/);
  });

  it('accepts an interrupted run whose manifest is written but whose checkpoint has not moved on', async () => {
    const driver = await stage(RUNS, { active: { runId: '20261101T050000Z-eeee', lo: t(4), hi: t(5), files: [9] }, activeManifest: true });
    const report = await verifyCollection(driver, COL);
    expect(problems(report)).toEqual([]);
    expect(report.checked.manifests).toBe(5);
    expect(report.findings.find((f) => f.check === 'run')!.message).toMatch(/its manifest .* is written; only the checkpoint has to move on/);
  });

  it('reports a --since re-export as an overlap (info), not as a problem', async () => {
    const driver = await stage([...RUNS, { runId: '20261101T050000Z-eeee', lo: t(2), hi: t(5), files: [3] }]);
    const report = await verifyCollection(driver, COL);
    expect(problems(report)).toEqual([]);
    expect(report.findings.filter((f) => f.severity === 'info').map((f) => f.message)).toEqual([
      `overlap (re-export): run 20261101T050000Z-eeee starts before the end of earlier runs and exported [${t(2)}, ${t(4)}) again (a --since re-export); those versions are staged twice, keep the latest per document_id downstream`,
    ]);
  });

  it('prints a readable report and a JSON one; a storage failure is thrown, not reported', async () => {
    const driver = await stage(RUNS);
    driver.objects.delete(layout.dataFile(COL, DT, RUNS[0]!.runId, 0, '.parquet'));
    const report = await verifyCollections(driver, [COL]);
    const text = formatVerifyReport(report);
    expect(text.split('\n')[0]).toBe('col_t (memory://verify/col_t/)');
    expect(text).toMatch(/\n {2}PROBLEM file: memory:\/\/verify\/col_t\/data\/dt=2026-11-01\/part-20261101T010000Z-aaaa-000000\.parquet is listed by manifest/);
    expect(text.split('\n').slice(-2)).toEqual([
      expect.stringMatching(/^ {2}col_t: INCONSISTENT, 1 problem\(s\); checked 4 manifest\(s\), 5 file\(s\), 79 rows, 0\.0 MB$/),
      'verify failed: 1 problem(s) in 1 of 1 collection(s) (exit 6)',
    ]);
    expect(JSON.parse(JSON.stringify(report))).toMatchObject({ consistent: false, problems: 1, collections: [{ collectionId: COL, problems: 1 }] });
    const broken = { ...driver, readStream: async () => { throw new StorageError('[memory] AccessDenied'); } };
    await expect(verifyCollection(broken, COL)).rejects.toThrow(StorageError);
    await expect(verifyCollections(driver, ['../etc'])).rejects.toThrow(/not a plain id/);
  });
});

describe('verify helpers', () => {
  it('finds gaps and overlaps between run windows', () => {
    const w = (runId: string, lo: number | null, hi: number) => ({ runId, lo: lo === null ? null : t(lo), hi: t(hi) });
    expect(analyseWindows([w('a', null, 1), w('b', 1, 2)])).toEqual({ gaps: [], overlaps: [], span: { lo: null, hi: t(2) } });
    expect(analyseWindows([w('a', 3, 4), w('b', 6, 7)]).gaps).toEqual([{ from: t(4), to: t(6), endedBy: 'a', resumedBy: 'b' }]);
    // a backfill filling the hole later closes the gap and overlaps nothing
    expect(analyseWindows([w('a', 3, 4), w('b', 6, 7), w('c', 4, 6)])).toMatchObject({ gaps: [], overlaps: [] });
    // a --since from the beginning re-exports everything before it
    expect(analyseWindows([w('a', 1, 2), w('b', 2, 3), w('c', null, 5)]).overlaps).toEqual([{ runId: 'c', from: t(1), to: t(3) }]);
    expect(analyseWindows([w('a', 5, 5)])).toEqual({ gaps: [], overlaps: [], span: null });
  });

  it('decodes zstd with the wasm decoder across frames and odd chunk sizes, and refuses a truncated stream', async () => {
    const text = Buffer.from(Array.from({ length: 30_000 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(i % 90) })).join('\n') + '\n' + 'y'.repeat(2_000_000));
    const compressed: Buffer[] = [];
    await pipeline(Readable.from(pieces(text, 1 << 20)), createZstdCompress(), sink(compressed));
    const zst = Buffer.concat(compressed);
    const oneFrame = Buffer.from((await Zstd.load()).compress(text)); // as a single-frame writer (zlib's zstd) makes it
    for (const [input, step] of [[zst, 7], [zst, 4096], [zst, 1 << 20], [oneFrame, 65536]] as const) {
      const out: Buffer[] = [];
      await pipeline(Readable.from(pieces(input, step)), createZstdDecompress({ native: false }), sink(out));
      expect(Buffer.concat(out).equals(text)).toBe(true);
    }
    await expect(pipeline(Readable.from([zst.subarray(0, zst.length - 5)]), createZstdDecompress({ native: false }), sink([]))).rejects.toThrow(/truncated/);
  });
});

function* pieces(buffer: Buffer, size: number) {
  for (let i = 0; i < buffer.length; i += size) yield buffer.subarray(i, i + size);
}

function sink(into: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      into.push(chunk);
      callback();
    },
  });
}

/** A reconciliation at T = t(4) after RUNS: one Parquet file of tombstones (and `live` version rows, which a reconcile file must never hold), its manifest, the checkpoint's lastReconcile and snapshot. */
async function stageReconcile(options: { tombstones?: number; live?: number; snapshot?: boolean } = {}) {
  const driver = await stage(RUNS);
  const runId = '20261101T040000Z-rrrr';
  const listedAt = t(4);
  const encoder = createEncoder({ format: 'parquet', compression: 'zstd', vectorKeys: [] });
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of encoder.output) chunks.push(Buffer.from(chunk));
  })();
  const count = options.tombstones ?? 3;
  for (let i = 0; i < count; i++) await encoder.write(tombstoneRow({ documentId: `doc_${i}`, collectionId: COL, namespaceId: 'ns_1', runId, exportedAt: t(5), observedAt: listedAt }));
  for (let i = 0; i < (options.live ?? 0); i++) await encoder.write(row(100 + i));
  await Promise.all([encoder.end(), collected]);
  const body = Buffer.concat(chunks);
  const key = layout.dataFile(COL, DT, runId, 0, '.parquet');
  await driver.publish(key, body);
  const rows = count + (options.live ?? 0);
  const file: FileRecord = { key, seq: 0, dt: DT, rows, bytes: body.length, sha256: sha256(body), minUpdatedAt: listedAt, maxUpdatedAt: listedAt, columns: ['document_id', 'updated_at', '_exported_at', '_deleted'], endPosition: null, lastId: `doc_${count - 1}` };
  const snapshot = layout.reconcileSnapshot(COL, runId);
  const run: ActiveRun = {
    runId, startedAt: listedAt, window: { lo: listedAt, hi: listedAt }, format: 'parquet', compression: 'zstd', vectors: false, nextSeq: 1, position: null, files: [file], pending: null,
    rejected: 0, untyped: 0, kind: 'reconcile', reconcile: { listedAt, position: file.lastId!, idsListed: 119 - count, snapshot, includedThrough: { runId: RUNS[3]!.runId, finishedAt: t(4) } },
  };
  const manifest = await writeManifest(driver, buildManifest(COL, run, t(5)));
  if (options.snapshot !== false) await driver.publish(snapshot, gzipSync('{"id":"doc_0","u":"x","e":"y","d":true}\n'));
  editJson(driver, layout.checkpoint(COL), (cp) => {
    cp.history.push({ runId, window: run.window, files: 1, rows, bytes: body.length, finishedAt: t(5), manifest });
    cp.lastReconcile = { runId, listedAt, snapshot, includedThrough: run.reconcile!.includedThrough, idsListed: 119 - count, tombstones: rows, finishedAt: t(5), manifest };
  });
  return { driver, runId, key, manifest, snapshot };
}

describe('verify with reconciliations', () => {
  it('counts the tombstones of a reconcile run, treats its window [T, T) as neither a gap nor an overlap, and finds the snapshot', async () => {
    const { driver, runId, snapshot } = await stageReconcile();
    const report = await verifyCollection(driver, COL);
    expect(problems(report)).toEqual([]);
    expect(report).toMatchObject({ consistent: true, tombstones: 3, checked: { manifests: 5, files: 7, rows: 122 } });
    expect(report.lastReconcile).toEqual({ runId, listedAt: t(4), finishedAt: t(5), idsListed: 116, tombstones: 3, snapshot: driver.url(snapshot), snapshotExists: true });
    expect(report.findings.filter((f) => f.check === 'windows').map((f) => `${f.severity} ${f.message}`)).toEqual([`ok no gaps: 4 run window(s) cover [the beginning, ${t(4)}) without a hole; 1 empty window(s) [T, T) of reconciliations cover nothing and are no gap`]);
    expect(report.findings.find((f) => f.check === 'checkpoint')!.message).toContain(`lastHi ${t(4)} is the end of the furthest run 20261101T040000Z-dddd`);
    const tombstoneLines = report.findings.filter((f) => f.check === 'tombstones').map((f) => f.message);
    expect(tombstoneLines[0]).toMatch(new RegExp(`^reconcile manifest .*${runId}\\.json: reconciliation at ${t(4)}: 116 ids listed, 3 tombstones, all rows _deleted = true`));
    expect(tombstoneLines[1]).toBe(`last reconciliation ${runId} at ${t(4)} (finished ${t(5)}): 116 ids listed, 3 tombstones; its snapshot ${driver.url(snapshot)} exists`);
    expect(formatVerifyReport({ consistent: true, problems: 0, collections: [report] })).toContain('; 3 tombstone(s) in reconcile runs');
  });

  it('reports a missing snapshot of the last reconciliation as a problem that names the object and the fix', async () => {
    const { driver, snapshot } = await stageReconcile({ snapshot: false });
    const report = await verifyCollection(driver, COL);
    expect(problems(report).map((f) => f.message)).toEqual([
      `${driver.url(snapshot)}, the snapshot of the last reconciliation 20261101T040000Z-rrrr, does not exist, so the next reconciliation cannot start from it; restore it from a backup or bucket versioning, or remove lastReconcile from the checkpoint so the next reconciliation reads every data file`,
    ]);
    expect(report.lastReconcile?.snapshotExists).toBe(false);
  });

  it('refuses a reconcile manifest whose tombstones total disagrees with its files, or whose files hold live rows', async () => {
    const edited = await stageReconcile();
    editJson(edited.driver, edited.manifest, (m) => (m.tombstones = 5));
    const wrongTotal = problems(await verifyCollection(edited.driver, COL)).map((f) => f.message);
    expect(wrongTotal[0]).toMatch(/: tombstones is 5 but its files hold 3 rows; the manifest was edited: restore it from a backup$/);
    expect(wrongTotal[1]).toMatch(/lastReconcile \(T .*, 3 tombstones\) disagrees with its manifest .* \(T .*, 5 tombstones\)/);

    const mixed = await stageReconcile({ tombstones: 2, live: 1 });
    const live = problems(await verifyCollection(mixed.driver, COL)).map((f) => f.message);
    expect(live).toEqual([`${mixed.driver.url(mixed.key)} is a tombstone file of reconcile manifest ${mixed.driver.url(mixed.manifest)} but 1 of its rows have _deleted = false; only reconciliation writes there, so something else changed it: restore it from a backup`]);
  });

  it('refuses a reconcile manifest whose window is not the empty [T, T) at its listedAt', async () => {
    const { driver, manifest } = await stageReconcile();
    editJson(driver, manifest, (m) => (m.window = { lo: t(3), hi: t(4) }));
    const found = problems(await verifyCollection(driver, COL)).map((f) => f.message);
    expect(found).toEqual([expect.stringMatching(new RegExp(`: its window is \\[${t(3)}, ${t(4)}\\) but a reconciliation's is the empty \\[T, T\\) with T = listedAt ${t(4)}`))]);
  });
});
