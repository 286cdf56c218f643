/**
 * Typed columns end to end: the dev server's output_schema becomes typed columns in the
 * staged files (read back by DuckDB with their types), every value is in its column or in
 * `fields` and none is lost, and the columns evolve across runs (a field added, a declared
 * type changed, a field removed) and survive a kill-and-resume.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/load.js';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { columnsFor } from '../../src/rows/columns.js';
import { canonicalTimestamp } from '../../src/rows/time.js';
import { fitValue } from '../../src/rows/typed.js';
import { runExport } from '../../src/run/export.js';
import { readCheckpoint } from '../support/checkpoint.js';
import { API_KEY, dataFiles, exportEnv, NAMESPACE, query, readJson, runCli } from '../support/harness.js';

const PRODUCTS = 'col_product_images';
const PDF = 'col_pdf_pages';
const VIDEO = 'col_video_frames';
const DOCS = 400;
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: DOCS, seed: 23, noOutputSchema: ['col_audio_transcripts'] });
});
afterAll(async () => server?.close());

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'mxp-typed-'));
const settingsFor = (dest: string, collections: string[], flags: Record<string, unknown> = {}) =>
  loadSettings({ flags: { collections, dest, safetyLagSeconds: 0, reconcileEveryHours: 0, ...flags }, env: exportEnv(server.url) });
const mutate = async (collectionId: string, n: number) => {
  const ids = server.mutate(collectionId, n);
  await new Promise((resolve) => setTimeout(resolve, 3));
  return ids;
};
const list = (files: string[]) => `[${files.map((f) => `'${f}'`).join(', ')}]`;
const manifests = (dest: string, collectionId: string) =>
  readdirSync(path.join(dest, collectionId, '_manifests'))
    .map((f) => readJson(path.join(dest, collectionId, '_manifests', f)))
    .sort((a, b) => (a.finishedAt < b.finishedAt ? -1 : 1));

/** The JSON log lines of a CLI run. */
const eventsOf = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Every current document of a collection, as the API lists it. */
async function documents(collectionId: string): Promise<Map<string, Record<string, unknown>>> {
  const out = new Map<string, Record<string, unknown>>();
  let cursor: string | undefined;
  do {
    const res = await fetch(`${server.url}/v1/collections/${collectionId}/documents/list`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'x-namespace': NAMESPACE, 'content-type': 'application/json' },
      body: JSON.stringify({ limit: 1000, ...(cursor ? { cursor } : {}) }),
    });
    const body = (await res.json()) as { results: Record<string, unknown>[]; pagination: { next_cursor?: string } };
    for (const doc of body.results) out.set(doc.document_id as string, doc);
    cursor = body.pagination.next_cursor;
  } while (cursor);
  return out;
}

/** The staged rows of Parquet files as JSON-friendly objects: timestamps as canonical text, lists and dates as JSON. */
async function stagedParquet(files: string[], typed: { name: string; type: string; list?: boolean }[]) {
  const cast = typed.map((c) => {
    if (c.type === 'timestamp') return c.list ? `[strftime(t, '%Y-%m-%dT%H:%M:%S.%fZ') FOR t IN "${c.name}"] AS "${c.name}"` : `strftime("${c.name}", '%Y-%m-%dT%H:%M:%S.%fZ') AS "${c.name}"`;
    if (c.type === 'date') return c.list ? `[d::VARCHAR FOR d IN "${c.name}"] AS "${c.name}"` : `"${c.name}"::VARCHAR AS "${c.name}"`;
    if (c.type === 'int64') return c.list ? `"${c.name}"::DOUBLE[] AS "${c.name}"` : `"${c.name}"::DOUBLE AS "${c.name}"`;
    return `"${c.name}"`;
  });
  await query(`SET TimeZone = 'UTC'`);
  return query(`SELECT document_id, fields, ${cast.join(', ')} FROM read_parquet(${list(files)}, union_by_name = true)`);
}

describe('typed columns from output_schema', () => {
  it('stages each declared field as its own column of the mapped type, with every value in its column or in fields and none lost', async () => {
    const dest = tempDir();
    const result = await runExport(settingsFor(dest, [PRODUCTS]));
    expect(result.error).toBeUndefined();
    const [manifest] = manifests(dest, PRODUCTS);
    const typed = manifest.typedColumns as { name: string; field: string; type: string; list?: boolean }[];
    const declared = server.outputSchema(PRODUCTS).properties;
    // Brand equals brand ignoring case, so only the first declared is a column; discontinued is undeclared.
    expect(typed.map((c) => c.name)).toEqual(Object.keys(declared).filter((f) => f !== 'Brand'));
    const file = dataFiles(dest, PRODUCTS)[0]!;
    const types = Object.fromEntries((await query(`DESCRIBE SELECT * FROM read_parquet('${file}', hive_partitioning = false)`)).map((r) => [r.column_name, r.column_type]));
    expect(Object.keys(types)).toEqual(columnsFor([], typed as never).map((c) => c.name));
    expect(types).toMatchObject({ title: 'VARCHAR', price: 'DOUBLE', colors: 'VARCHAR[]', in_stock: 'BOOLEAN', stock_count: 'BIGINT', published_at: 'TIMESTAMP WITH TIME ZONE', release_date: 'DATE', dimensions_cm: 'VARCHAR', fields: 'VARCHAR' });

    const source = await documents(PRODUCTS);
    const rows = await stagedParquet(dataFiles(dest, PRODUCTS), typed);
    expect(rows).toHaveLength(source.size);
    const rescued: Record<string, number> = {};
    for (const row of rows) {
      const doc = source.get(row.document_id as string)!;
      const fields = JSON.parse(row.fields as string) as Record<string, unknown>;
      const { document_id: _id, collection_id: _c, _internal: _i, ...rest } = doc;
      for (const [key, value] of Object.entries(rest)) {
        const column = typed.find((c) => c.field === key);
        if (!column || value === null) {
          if (value !== null) expect(fields[key], `${key} of ${row.document_id}`).toEqual(value);
          continue;
        }
        const fit = fitValue(column as never, value);
        if (fit.ok) {
          expect(key in fields, `${key} of ${row.document_id} is stored twice`).toBe(false);
          const got = row[column.name];
          expect(column.type === 'json' ? JSON.parse(got as string) : got, `${key} of ${row.document_id}`).toEqual(column.type === 'timestamp' ? canonicalTimestamp(value) : fit.value);
        } else {
          expect(fields[key]).toEqual(value);
          expect(row[column.name]).toBeNull();
          rescued[key] = (rescued[key] ?? 0) + 1;
        }
      }
      expect(Object.keys(fields).every((k) => k in rest), `fields of ${row.document_id} hold only document keys`).toBe(true);
    }
    expect(Object.keys(rescued)).toEqual(['stock_count']); // the dev server's mixed-type field
    expect(manifest.totals.rescued).toBe(rescued.stock_count);
    expect(manifest.rescuedFields).toEqual(rescued);
    expect(result.collections[0]!.runs[0]!.rows).toBe(source.size);
  });

  it('writes NDJSON with the typed fields at the top level of each line and the rest in fields', async () => {
    const dest = tempDir();
    expect((await runExport(settingsFor(dest, [VIDEO], { format: 'ndjson', compression: 'gzip' }))).error).toBeUndefined();
    const files = dataFiles(dest, VIDEO);
    const [row] = await query(`SELECT typeof(start_time) AS start, typeof(frame_number) AS frame, typeof(luma_histogram) AS luma, typeof(fields) AS f FROM read_json(${list(files)}, format = 'newline_delimited') LIMIT 1`);
    expect(row).toEqual({ start: 'DOUBLE', frame: 'BIGINT', luma: 'BIGINT[]', f: expect.stringMatching(/STRUCT|JSON|MAP/) });
    const labels = await query(`SELECT count(*) AS n FROM read_json(${list(files)}, format = 'newline_delimited', columns = {document_id: 'VARCHAR', fields: 'JSON'}) WHERE (fields->>'$."scene-label"') IS NOT NULL`);
    expect(Number(labels[0]!.n)).toBeGreaterThan(0); // a name that cannot be a column stays in fields
  });

  it('adds a field declared between runs as a column of the later files only, readable with the earlier ones by union_by_name', async () => {
    const dest = tempDir();
    expect((await runExport(settingsFor(dest, [PDF]))).error).toBeUndefined();
    const first = dataFiles(dest, PDF);
    server.defineField(PDF, 'reviewed_on', { type: 'date' });
    const changed = await mutate(PDF, 25);
    expect((await runExport(settingsFor(dest, [PDF]))).error).toBeUndefined();
    const later = dataFiles(dest, PDF).filter((f) => !first.includes(f));
    expect(later.length).toBeGreaterThan(0);
    const columnsOf = async (f: string) => (await query(`DESCRIBE SELECT * FROM read_parquet('${f}')`)).map((r) => `${r.column_name} ${r.column_type}`);
    for (const f of first) expect(await columnsOf(f)).not.toContain('reviewed_on DATE');
    for (const f of later) expect(await columnsOf(f)).toContain('reviewed_on DATE');
    const [both] = await query(`SELECT count(*) AS n, count(reviewed_on) AS dated, count(DISTINCT document_id) FILTER (WHERE reviewed_on IS NOT NULL) AS ids FROM read_parquet(${list(dataFiles(dest, PDF))}, union_by_name = true)`);
    expect(both).toEqual({ n: String(DOCS + 25), dated: '25', ids: String(new Set(changed).size) });
    expect((await readCheckpoint(dest, PDF)).typedColumns?.at(-1)).toMatchObject({ name: 'reviewed_on', type: 'date' });
  });

  it('keeps the first staged type when the declared type drifts, rescues the new values into fields, and status says what to do', async () => {
    const dest = tempDir();
    expect((await runExport(settingsFor(dest, [PDF]))).error).toBeUndefined();
    server.defineField(PDF, 'page_number', { type: 'string' });
    try {
      await mutate(PDF, 10);
      const second = await runCli(['export', '--collection', PDF, '--dest', dest, '--safety-lag-seconds', '0', '--reconcile-every-hours', '0'], exportEnv(server.url));
      expect(second.code).toBe(0);
      const drift = eventsOf(second.stderr).find((e) => e.event === 'ColumnTypeDrift');
      expect(drift).toMatchObject({ field: 'page_number', column: 'page_number', staged: 'int64', declared: 'string' });
      const manifest = manifests(dest, PDF).at(-1);
      expect(manifest.typedColumns.find((c: { name: string }) => c.name === 'page_number')).toMatchObject({ type: 'int64' });
      expect(manifest.rescuedFields).toEqual({ page_number: 10 });
      expect(manifest.columnDrift).toEqual([{ field: 'page_number', column: 'page_number', staged: 'int64', declared: 'string', wouldBe: 'string' }]);
      const files = dataFiles(dest, PDF);
      const [types] = await query(`SELECT typeof(page_number) AS t, count(*) FILTER (WHERE page_number IS NULL AND (fields->>'$.page_number') IS NOT NULL) AS rescued FROM read_parquet(${list(files)}, union_by_name = true) GROUP BY 1`);
      expect(types).toEqual({ t: 'BIGINT', rescued: '10' });
      const status = await runCli(['status', '--collection', PDF, '--dest', dest], {});
      expect(status.stdout).toMatch(/type drift\s+field page_number is now declared string: column page_number keeps type int64/);
      const json = JSON.parse((await runCli(['status', '--collection', PDF, '--dest', dest, '--json'], {})).stdout);
      expect(json[0].column_drift[0]).toMatchObject({ field: 'page_number', staged: 'int64', declared: 'string' });
      expect(json[0].typed_columns.page_number).toBe('int64');
    } finally {
      server.defineField(PDF, 'page_number', { type: 'integer' });
    }
  });

  it('keeps a column whose field left the schema, null in the later files', async () => {
    const dest = tempDir();
    server.defineField(PDF, 'temporary_flag', { type: 'boolean' });
    expect((await runExport(settingsFor(dest, [PDF]))).error).toBeUndefined();
    server.defineField(PDF, 'temporary_flag', null);
    const before = dataFiles(dest, PDF);
    await mutate(PDF, 5);
    expect((await runExport(settingsFor(dest, [PDF]))).error).toBeUndefined();
    const later = dataFiles(dest, PDF).filter((f) => !before.includes(f));
    const [row] = await query(`SELECT count(*) AS n, count(temporary_flag) AS flagged FROM read_parquet(${list(later)})`);
    expect(row).toEqual({ n: '5', flagged: '0' });
    const [earlier] = await query(`SELECT count(temporary_flag) AS flagged FROM read_parquet(${list(before)})`);
    expect(Number(earlier!.flagged)).toBe(DOCS);
  });

  it('falls back to fields alone, saying so once, for a collection that declares no output_schema', async () => {
    const dest = tempDir();
    const run = await runCli(['export', '--collection', 'col_audio_transcripts', '--dest', dest, '--safety-lag-seconds', '0', '--reconcile-every-hours', '0', '--page-size', '100'], exportEnv(server.url));
    expect(run.code).toBe(0);
    expect(eventsOf(run.stderr).filter((e) => e.event === 'OutputSchemaMissing')).toHaveLength(1);
    const [manifest] = manifests(dest, 'col_audio_transcripts');
    expect(manifest.typedColumns).toBeUndefined();
    expect(manifest.columns).toEqual(columnsFor([]).map((c) => c.name));
  });

  it('writes the files of before typed columns with columns: json, every field in fields', async () => {
    const dest = tempDir();
    const before = server.stats().requests;
    const run = await runCli(['export', '--collection', PRODUCTS, '--dest', dest, '--columns', 'json', '--safety-lag-seconds', '0', '--reconcile-every-hours', '0'], exportEnv(server.url));
    expect(run.code).toBe(0);
    expect(eventsOf(run.stderr).some((e) => e.event === 'ColumnsPlanned')).toBe(false);
    const [manifest] = manifests(dest, PRODUCTS);
    expect(manifest.columns).toEqual(columnsFor([]).map((c) => c.name));
    expect(manifest.typedColumns).toBeUndefined();
    expect(manifest.totals.rescued).toBeUndefined();
    expect(server.stats().requests - before).toBe(1); // one list page: no GET of the collection
    const [row] = await query(`SELECT count(*) FILTER (WHERE (fields->>'$.title') IS NOT NULL) AS titled, count(*) AS n FROM read_parquet(${list(dataFiles(dest, PRODUCTS))})`);
    expect(row).toEqual({ titled: String(DOCS), n: String(DOCS) });
  });

  it('resumes a killed run with the columns it started with, and the next run adds the new field', async () => {
    const dest = tempDir();
    const args = ['export', '--collection', PRODUCTS, '--dest', dest, '--safety-lag-seconds', '0', '--reconcile-every-hours', '0', '--page-size', '50', '--max-rows-per-file', '60'];
    const killed = await runCli(args, { ...exportEnv(server.url), MIXPEEK_EXPORT_TEST_CRASH_AT: 'checkpoint-advanced:2' });
    expect(killed.signal).toBe('SIGKILL');
    const columns = (await readCheckpoint(dest, PRODUCTS)).active!.typedColumns!.map((c) => c.name);
    server.defineField(PRODUCTS, 'added_mid_run', { type: 'integer' });
    try {
      const resumed = await runCli(args, exportEnv(server.url));
      expect(resumed.code).toBe(0);
      const [first, ...rest] = manifests(dest, PRODUCTS);
      expect(first.typedColumns.map((c: { name: string }) => c.name)).toEqual(columns);
      for (const f of first.files) expect(f.columns).not.toContain('added_mid_run');
      // The same invocation then ran a new window, planned afresh: it has the new field.
      for (const m of rest) expect(m.typedColumns.map((c: { name: string }) => c.name)).toContain('added_mid_run');
      const [row] = await query(`SELECT count(*) AS n, count(DISTINCT document_id) AS ids FROM read_parquet(${list(dataFiles(dest, PRODUCTS))})`);
      expect(row).toEqual({ n: String(DOCS), ids: String(DOCS) });
      await mutate(PRODUCTS, 3);
      expect((await runCli(args, exportEnv(server.url))).code).toBe(0);
      const last = manifests(dest, PRODUCTS).at(-1);
      expect(last.typedColumns.map((c: { name: string }) => c.name)).toEqual([...columns, 'added_mid_run']);
    } finally {
      server.defineField(PRODUCTS, 'added_mid_run', null);
    }
  });
});
