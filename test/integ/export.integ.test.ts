import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/load.js';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { runExport } from '../../src/run/export.js';
import { openDestination } from '../../src/storage/index.js';
import { formatVerifyReport, verifyCollections } from '../../src/verify/index.js';
import { readCheckpoint, readCheckpointBytes } from '../support/checkpoint.js';
import { compareVersions, dataFiles, exportEnv, query, readJson, stagedVersions } from '../support/harness.js';

const VIDEO = 'col_video_frames';
const PDF = 'col_pdf_pages';
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: 1500, seed: 11 });
});
afterAll(async () => server?.close());

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'mxp-export-'));
/**
 * Mutates documents, then lets the clock pass the next millisecond: a mutation is stamped in
 * microseconds, a run's window ends at its start in milliseconds, so a run started within
 * the same millisecond rightly leaves the change to the next window (no lag in these tests).
 */
const mutate = async (collectionId: string, n: number) => {
  const ids = server.mutate(collectionId, n);
  await new Promise((resolve) => setTimeout(resolve, 3));
  return ids;
};
const settingsFor = (dest: string, flags: Record<string, unknown> = {}) =>
  loadSettings({ flags: { collections: [VIDEO], dest, safetyLagSeconds: 0, ...flags }, env: exportEnv(server.url) });

describe('export to a local folder', () => {
  it('exports every document once as Parquet that DuckDB reads with the right types', async () => {
    const dest = tempDir();
    const result = await runExport(settingsFor(dest, { vectors: true, rowGroupRows: 200 }));
    expect(result.error).toBeUndefined();
    const run = result.collections[0]!.runs[0]!;
    expect(run.rows).toBe(1500);
    const cmp = compareVersions(server.currentVersions(VIDEO), await stagedVersions(dest, VIDEO));
    expect(cmp).toMatchObject({ duplicates: [], missing: [], unknown: [], staged: 1500 });

    const file = dataFiles(dest, VIDEO)[0]!;
    const types = Object.fromEntries((await query(`DESCRIBE SELECT * FROM read_parquet('${file}')`)).map((r) => [r.column_name, r.column_type]));
    expect(types).toMatchObject({
      document_id: 'VARCHAR',
      collection_id: 'VARCHAR',
      updated_at: 'TIMESTAMP WITH TIME ZONE',
      created_at: 'TIMESTAMP WITH TIME ZONE',
      fields: 'VARCHAR',
      internal: 'VARCHAR',
      vec_image_extractor_v1_embedding: 'FLOAT[]',
      vec_face_identity_extractor_v1_embedding: 'FLOAT[]',
      _run_id: 'VARCHAR',
      _exported_at: 'TIMESTAMP WITH TIME ZONE',
    });
    const [dims] = await query(`SELECT min(len(vec_image_extractor_v1_embedding)) AS lo, max(len(vec_image_extractor_v1_embedding)) AS hi, count(*) FILTER (WHERE NOT json_valid(fields)) AS invalid FROM read_parquet('${file}')`);
    expect([Number(dims!.lo), Number(dims!.hi), Number(dims!.invalid)]).toEqual([768, 768, 0]);

    const manifest = readJson(path.join(dest, VIDEO, '_manifests', `${run.runId}.json`));
    expect(manifest.totals.rows).toBe(1500);
    expect(manifest.files.map((f: { key: string }) => f.key)).toEqual(dataFiles(dest, VIDEO).map((f) => path.relative(dest, f)));
    const checkpoint = await readCheckpoint(dest, VIDEO);
    expect(checkpoint.active).toBeNull();
    expect(checkpoint.lastHi).toBe(run.window.hi);
  });

  it('exports NDJSON (gzip and zstd) with nested fields', async () => {
    for (const compression of ['gzip', 'zstd'] as const) {
      const dest = tempDir();
      const result = await runExport(settingsFor(dest, { collections: [PDF], format: 'ndjson', compression }));
      expect(result.error).toBeUndefined();
      const files = dataFiles(dest, PDF);
      expect(files.every((f) => f.endsWith(compression === 'gzip' ? '.json.gz' : '.json.zst'))).toBe(true);
      const cmp = compareVersions(server.currentVersions(PDF), await stagedVersions(dest, PDF));
      expect(cmp).toMatchObject({ duplicates: [], missing: [], staged: 1500 });
      const [row] = await query(`SELECT typeof(fields) AS t FROM read_json('${files[0]}', format='newline_delimited') LIMIT 1`);
      // A nested object, not text. DuckDB infers a STRUCT, or a MAP when the sampled objects' keys vary; which
      // documents the first file holds moves with the day (the dev server's updated_at are relative to now).
      expect(String(row!.t)).toMatch(/^(STRUCT|MAP|JSON)/);
    }
  });

  it('rolls files on the dt date, on the row cap and on the target size', async () => {
    const dest = tempDir();
    const result = await runExport(settingsFor(dest, { maxRowsPerFile: 100, rowGroupRows: 50 }));
    expect(result.error).toBeUndefined();
    const files = result.collections[0]!.runs[0]!.files;
    expect(files.every((f) => f.rows <= 100)).toBe(true);
    for (const f of files) expect(f.key).toContain(`/dt=${f.minUpdatedAt!.slice(0, 10)}/`);
    for (const f of files) expect(f.maxUpdatedAt!.slice(0, 10)).toBe(f.dt);
    const small = tempDir();
    const sized = await runExport(settingsFor(small, { targetFileMb: 0.05, rowGroupRows: 20 }));
    expect(sized.collections[0]!.runs[0]!.files.length).toBeGreaterThan(files.length / 4);
  });

  it('exports only changed documents on the next run, and a --since backfill again', async () => {
    const dest = tempDir();
    expect((await runExport(settingsFor(dest))).error).toBeUndefined();
    const changed = await mutate(VIDEO, 25);
    const second = await runExport(settingsFor(dest));
    expect(second.error).toBeUndefined();
    const run = second.collections[0]!.runs[0]!;
    expect(run.rows).toBe(25);
    const staged = await stagedVersions(dest, VIDEO);
    expect(compareVersions(server.currentVersions(VIDEO), staged)).toMatchObject({ duplicates: [], missing: [], unknown: [] });
    // DuckDB reads files in parallel, so select the second run's rows by their window, not by position.
    const secondRun = staged.filter((r) => r.updated_at >= run.window.lo!);
    expect(new Set(secondRun.map((r) => r.document_id))).toEqual(new Set(changed));
    expect(secondRun).toHaveLength(25);
    const third = await runExport(settingsFor(dest));
    expect(third.collections[0]!.runs[0]?.rows ?? 0).toBe(0);
    const since = run.window.lo!;
    const backfill = await runExport(settingsFor(dest, { since }));
    expect(backfill.collections[0]!.runs[0]!.rows).toBe(25);
  });

  it('keeps the next run\'s start where it was after a backfill of an older window, and verify stays consistent', async () => {
    const dest = tempDir();
    const first = await runExport(settingsFor(dest, { collections: [PDF] }));
    expect(first.error).toBeUndefined();
    const lastHi = (await readCheckpoint(dest, PDF)).lastHi as string;
    const backfill = await runExport(settingsFor(dest, { collections: [PDF], since: '2000-01-01', until: new Date(Date.now() - 10 * 86_400_000).toISOString() }));
    expect(backfill.error).toBeUndefined();
    expect(backfill.collections[0]!.runs[0]!.rows).toBeGreaterThan(0);
    expect((await readCheckpoint(dest, PDF)).lastHi).toBe(lastHi);
    const changed = await mutate(PDF, 7);
    const next = await runExport(settingsFor(dest, { collections: [PDF] }));
    expect(next.collections[0]!.runs[0]!.window.lo).toBe(lastHi);
    expect(next.collections[0]!.runs[0]!.rows).toBe(changed.length);
    const report = await verifyCollections(await openDestination(dest, {}), [PDF]);
    expect(report.problems, formatVerifyReport(report)).toBe(0);
  });

  it('keeps every version exactly once when documents change while it pages', async () => {
    const dest = tempDir();
    server.setOptions({ mutateWhilePaging: { everyNPages: 1, count: 7 } });
    try {
      const first = await runExport(settingsFor(dest, { pageSize: 100 }));
      expect(first.error).toBeUndefined();
    } finally {
      server.setOptions({ mutateWhilePaging: null });
    }
    const second = await runExport(settingsFor(dest, { pageSize: 100 }));
    expect(second.error).toBeUndefined();
    const cmp = compareVersions(server.currentVersions(VIDEO), await stagedVersions(dest, VIDEO));
    expect(cmp).toMatchObject({ duplicates: [], missing: [], unknown: [] });
  });

  it('writes nothing in a dry run', async () => {
    const dest = tempDir();
    const result = await runExport(settingsFor(dest, { dryRun: true }));
    expect(result.dryRun?.[0]).toMatchObject({ collectionId: VIDEO, documents: 1500, rejected: 0 });
    expect(readdirSync(dest)).toEqual([]);
  });

  it('retries 5xx, resets, truncated bodies and 429 and still exports everything once', async () => {
    const dest = tempDir();
    server.setOptions({ faults: { errorRate: 0.15, resetRate: 0.1, truncateRate: 0.1, seed: 5 }, rateLimit: { requestsPerMinute: 6000, burst: 3 } });
    try {
      const result = await runExport(settingsFor(dest, { pageSize: 100, retryBaseDelayMs: 5, retryMaxDelayMs: 50, maxRetries: 20 }));
      expect(result.error).toBeUndefined();
    } finally {
      server.setOptions({ faults: {}, rateLimit: null });
    }
    const cmp = compareVersions(server.currentVersions(VIDEO), await stagedVersions(dest, VIDEO));
    expect(cmp).toMatchObject({ duplicates: [], missing: [], unknown: [] });
    const stats = server.stats().faults;
    expect(stats.error + stats.reset + stats.truncate).toBeGreaterThan(0);
  });

  it('fails with the API message and leaves the checkpoint untouched on 401 and 404', async () => {
    const dest = tempDir();
    expect((await runExport(settingsFor(dest))).error).toBeUndefined();
    const before = await readCheckpointBytes(dest, VIDEO);
    expect(before).not.toBeNull();
    const unauthorized = await runExport(loadSettings({ flags: { collections: [VIDEO], dest, safetyLagSeconds: 0 }, env: { ...exportEnv(server.url), MIXPEEK_API_KEY: 'sk_test_wrong_key_123' } }));
    expect(unauthorized.error?.exitCode).toBe(3);
    expect(unauthorized.error?.message).toMatch(/401.*UnauthorizedError.*MIXPEEK_API_KEY/);
    expect(unauthorized.error?.message).not.toContain('sk_test_wrong_key_123');
    const missing = await runExport(settingsFor(dest, { collections: ['col_missing'] }));
    expect(missing.error?.exitCode).toBe(3);
    expect(missing.error?.message).toMatch(/404.*not found/i);
    expect(await readCheckpointBytes(dest, VIDEO)).toEqual(before);
    // The collection that does not exist is named as the failed one and got no checkpoint.
    expect(missing.failed?.collectionId).toBe('col_missing');
    expect(await readCheckpointBytes(dest, 'col_missing')).toBeNull();
  });
});
