import { describe, expect, it } from 'vitest';
import { CheckpointStore, emptyCheckpoint } from '../../src/commit/checkpoint.js';
import { layout } from '../../src/commit/layout.js';
import { parseLease, readLease } from '../../src/commit/lease.js';
import { buildManifest, readManifest, writeManifest } from '../../src/commit/manifest.js';
import { fieldPath } from '../../src/commit/schema.js';
import { CorruptStateError, IntegrityError } from '../../src/errors.js';
import { memoryDriver } from '../../src/storage/drivers/memory.js';

const COL = 'col_s';
const KEY = layout.checkpoint(COL);
const URL = `memory://schema/${KEY}`;
const T0 = '2026-11-01T00:00:00.000000Z';
const T1 = '2026-11-01T01:00:00.000000Z';

/** A checkpoint as the current code writes it mid-run: one file published, one intent, no `vectorDims` (a run without vectors) and a history entry without `newestUpdatedAt` (written before it existed). */
function written(): any {
  const file = { key: `${COL}/data/dt=2026-11-01/part-r-000000.parquet`, seq: 0, dt: '2026-11-01', rows: 3, bytes: 10, sha256: 'ff'.repeat(32), minUpdatedAt: T0, maxUpdatedAt: T0, columns: ['document_id'], endPosition: { updatedAt: T0, ids: ['d1', 'd2'] } };
  return {
    version: 1,
    collectionId: COL,
    lastHi: T0,
    active: {
      runId: '20261101T010000Z-abcd', startedAt: T1, window: { lo: T0, hi: T1 }, format: 'parquet', compression: 'zstd', vectors: false,
      nextSeq: 1, position: file.endPosition, files: [file], pending: { ...file, seq: 1, key: file.key.replace('000000', '000001') }, rejected: 0, untyped: 0,
    },
    history: [{ runId: '20261101T000000Z-0000', window: { lo: null, hi: T0 }, files: 0, rows: 0, bytes: 0, finishedAt: T0, manifest: `${COL}/_manifests/20261101T000000Z-0000.json` }],
  };
}

async function load(body: string | object) {
  const driver = memoryDriver({ name: 'schema' });
  driver.objects.set(KEY, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));
  return { driver, attempt: CheckpointStore.load(driver, COL) };
}

describe('the checkpoint schema', () => {
  it('accepts a checkpoint written by the current code, fields added later absent, and keeps its values', async () => {
    const { attempt } = await load(written());
    expect((await attempt).value).toEqual(written());
    const withDims = { ...written(), active: { ...written().active, vectors: true, vectorDims: { vec_clip: 512 } } };
    expect((await (await load(withDims)).attempt).value.active?.vectorDims).toEqual({ vec_clip: 512 });
  });

  const broken: [string, (cp: any) => unknown, RegExp][] = [
    ['a negative nextSeq', (cp) => (cp.active.nextSeq = -1), /active\.nextSeq: Too small/],
    ['a nextSeq that is a string', (cp) => (cp.active.nextSeq = '3'), /active\.nextSeq: Invalid input: expected number, received string/],
    ['a missing history', (cp) => delete cp.history, /history: missing \(expected array\)/],
    ['a file without its size', (cp) => delete cp.active.files[0].bytes, /active\.files\[0\]\.bytes: missing \(expected number\)/],
    ['a lastHi that is not a canonical timestamp', (cp) => (cp.lastHi = '2026-11-01'), /lastHi: expected a canonical UTC timestamp like 2026-11-21T15:30:00\.000000Z/],
    ['an unknown format', (cp) => (cp.active.format = 'csv'), /active\.format: Invalid option: expected one of "parquet"\|"ndjson"/],
    ['another version', (cp) => (cp.version = 2), /version: Invalid input: expected 1/],
    ['a pending intent that is not an object', (cp) => (cp.active.pending = 'yes'), /active\.pending: /],
    ['a history entry with a float row count', (cp) => (cp.history[0].rows = 1.5), /history\[0\]\.rows: /],
  ];
  for (const [what, edit, field] of broken) {
    it(`refuses ${what} with exit 6, naming the object, the field and the fix`, async () => {
      const cp = written();
      edit(cp);
      const error = await (await load(cp)).attempt.catch((e) => e);
      expect(error).toBeInstanceOf(CorruptStateError);
      expect(error).toBeInstanceOf(IntegrityError);
      expect(error.exitCode).toBe(6);
      expect(error.code).toBe('ERR_STATE_CORRUPT');
      expect(error.message).toMatch(new RegExp(`^\\[checkpoint\\] ${URL.replace(/[./]/g, '\\$&')} is not a valid checkpoint: `));
      expect(error.message).toMatch(field);
      expect(error.message).toMatch(/restore it from a backup, or move it aside to export again from the beginning/);
    });
  }

  it('refuses bad JSON and a root that is not an object', async () => {
    const bad = await (await load('{"version":1,')).attempt.catch((e) => e);
    expect(bad).toBeInstanceOf(CorruptStateError);
    expect(bad.message).toMatch(new RegExp(`^\\[checkpoint\\] ${URL.replace(/[./]/g, '\\$&')} is not valid JSON \\(.+\\); restore it from a backup`));
    const array = await (await load('[]')).attempt.catch((e) => e);
    expect(array.message).toMatch(/is not a valid checkpoint: \(root\): Invalid input: expected object, received array/);
  });

  it("refuses another collection's checkpoint", async () => {
    const error = await (await load({ ...emptyCheckpoint('col_other') })).attempt.catch((e) => e);
    expect(error).toBeInstanceOf(CorruptStateError);
    expect(error.message).toMatch(/is not a valid checkpoint: collectionId: it says col_other, not col_s/);
  });

  it('names array indices and nested keys in field paths', () => {
    expect(fieldPath(['active', 'files', 2, 'endPosition', 'ids', 0])).toBe('active.files[2].endPosition.ids[0]');
    expect(fieldPath([])).toBe('(root)');
  });
});

describe('the manifest schema', () => {
  const run = { ...written().active, pending: null };
  it('reads back what writeManifest wrote, and null where there is none', async () => {
    const driver = memoryDriver({ name: 'schema' });
    const manifest = buildManifest(COL, run, T1);
    const key = await writeManifest(driver, manifest);
    expect(await readManifest(driver, key)).toEqual(manifest);
    expect(await readManifest(driver, layout.manifest(COL, 'nope'))).toBeNull();
  });

  it('refuses a manifest with a wrong field, naming the object and the field', async () => {
    const driver = memoryDriver({ name: 'schema' });
    const key = layout.manifest(COL, run.runId);
    const manifest: any = buildManifest(COL, run, T1);
    manifest.files[0].sha256 = 42;
    driver.objects.set(key, Buffer.from(JSON.stringify(manifest)));
    const error = await readManifest(driver, key).catch((e) => e);
    expect(error).toBeInstanceOf(CorruptStateError);
    expect(error.message).toBe(`[manifest] memory://schema/${key} is not a valid manifest: files[0].sha256: Invalid input: expected string, received number; restore it from a backup`);
    delete manifest.totals;
    driver.objects.set(key, Buffer.from(JSON.stringify({ ...manifest, files: [] })));
    await expect(readManifest(driver, key)).rejects.toThrow(/totals: missing \(expected object\)/);
  });

  it('refuses a rewrite of a run whose existing manifest is corrupt, instead of accepting it', async () => {
    const driver = memoryDriver({ name: 'schema' });
    const manifest = buildManifest(COL, run, T1);
    await driver.writeIf(layout.manifest(COL, run.runId), Buffer.from('{"manifestVersion":'), { ifNoneMatch: '*' });
    await expect(writeManifest(driver, manifest)).rejects.toBeInstanceOf(CorruptStateError);
  });
});

describe('the lease schema', () => {
  const lease = { holder: 'h:1:r', host: 'h', pid: 1, runId: 'r', acquiredAt: T0, expiresAt: '2026-11-01T00:02:00.000Z' };
  it('reads a lease the exporter wrote, and one that has only a readable expiry', () => {
    expect(parseLease(Buffer.from(JSON.stringify(lease)))).toEqual(lease);
    expect(parseLease(Buffer.from('{"expiresAt":"2026-11-01T00:02:00Z"}'))).toEqual({ expiresAt: '2026-11-01T00:02:00Z' });
  });

  it('refuses a lease that is not JSON, has no readable expiry or a field of the wrong type, naming the field', () => {
    const url = 'memory://schema/col_s/_state/lease.json';
    expect(readLease(Buffer.from('{not json'), url).refused).toMatch(/^\[lease\] memory:\/\/schema\/col_s\/_state\/lease\.json is not valid JSON/);
    expect(readLease(Buffer.from(JSON.stringify({ ...lease, expiresAt: 'soon' })), url).refused).toBe(`[lease] ${url} is not a valid lease: expiresAt: expected an ISO-8601 time; the next export takes it over`);
    expect(readLease(Buffer.from(JSON.stringify({ holder: 'h:1:r' })), url).refused).toMatch(/expiresAt: missing \(expected string\)/);
    expect(readLease(Buffer.from(JSON.stringify({ ...lease, pid: 'one' })), url).refused).toMatch(/pid: Invalid input: expected number, received string/);
    for (const body of ['42', 'null', '[]']) expect(parseLease(Buffer.from(body)), body).toBeNull();
  });
});
