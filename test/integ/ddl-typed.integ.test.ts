/**
 * `ddl` with typed columns against real parts: the dev server (its collections declare an
 * output_schema), a real export to s3rver, the real CLI, and DuckDB reading the files the
 * export wrote. The DDL must name exactly the columns in the files, with the types each
 * consumer loads them as; and the columns come from the newest manifest, else the API's
 * output_schema, else the envelope alone with a warning (exit 0 every time).
 */
import { createWriteStream, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readManifest } from '../../src/commit/manifest.js';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { ENVELOPE_COLUMNS, RUN_COLUMNS } from '../../src/rows/columns.js';
import { planColumns } from '../../src/rows/typed.js';
import { openDestination } from '../../src/storage/index.js';
import type { StorageDriver } from '../../src/storage/types.js';
import { type FileFormat, duckColumns, SNOWFLAKE_TYPE_OF, SPARK_TYPE_OF, snowflakeTable, snowflakeTables, sparkHints } from '../support/ddl-columns.js';
import { createBucket } from '../support/emulators/s3.js';
import { API_KEY, duckdb, exportEnv, NAMESPACE, runCli } from '../support/harness.js';

const COL = 'col_pdf_pages';
const S3_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: 300, seed: 23 });
});
afterAll(async () => server?.close());

/** A fresh, empty bucket on s3rver: its URL, the storage flags `ddl` and `export` share, and `export`'s own. */
async function freshBucket(): Promise<{ dest: string; storage: string[]; upload: string[] }> {
  const endpoint = inject('s3Endpoint');
  const bucket = `ddl${Math.random().toString(36).slice(2, 10)}`;
  await createBucket(endpoint, bucket);
  return {
    dest: `s3://${bucket}/lake`,
    storage: ['--s3-endpoint', endpoint, '--s3-force-path-style', '--s3-region', 'us-east-1'],
    upload: ['--upload-part-mb', '0.25', '--s3-min-part-mb', '0.0625'],
  };
}

async function driverOf(dest: string): Promise<StorageDriver> {
  Object.assign(process.env, S3_ENV); // the AWS SDK's default chain reads credentials from the environment
  return openDestination(dest, { s3Endpoint: inject('s3Endpoint'), s3ForcePathStyle: true, s3Region: 'us-east-1' });
}

/** Downloads `<collection>/data/` into a temp folder, for DuckDB; the local paths. */
async function download(driver: StorageDriver, collectionId: string): Promise<string[]> {
  const root = mkdtempSync(path.join(tmpdir(), 'mxp-ddl-'));
  const paths: string[] = [];
  for await (const info of driver.list(`${collectionId}/data/`)) {
    const target = path.join(root, ...info.key.split('/'));
    mkdirSync(path.dirname(target), { recursive: true });
    await pipeline(await driver.readStream(info.key), createWriteStream(target));
    paths.push(target);
  }
  return paths;
}

async function exportTo(dest: string, storage: string[], upload: string[], format: FileFormat): Promise<void> {
  const exported = await runCli(['export', '--collection', COL, '--dest', dest, '--format', format, '--safety-lag-seconds', '0', ...storage, ...upload], exportEnv(server.url, S3_ENV));
  expect(exported.code, exported.stderr).toBe(0);
}

/** The typed columns of the export run's manifest, read through the store (the first export also reconciles: that manifest lists none). */
async function stagedTypedNames(driver: StorageDriver): Promise<{ key: string; names: string[] }> {
  const keys: string[] = [];
  for await (const info of driver.list(`${COL}/_manifests/`)) keys.push(info.key);
  for (const key of keys.sort().reverse()) {
    const manifest = (await readManifest(driver, key))!;
    if (manifest.kind !== 'reconcile') return { key, names: (manifest.typedColumns ?? []).map((c) => c.name) };
  }
  throw new Error(`no export manifest under ${COL}/_manifests/`);
}

/** The collection as the API serves it (the exporter plans its first typed run from its output_schema). */
async function collectionResponse(): Promise<Record<string, unknown>> {
  const response = await fetch(`${server.url}/v1/collections/${COL}`, { headers: { authorization: `Bearer ${API_KEY}`, 'x-namespace': NAMESPACE } });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

const ENVELOPE_AND_RUN = [...ENVELOPE_COLUMNS, ...RUN_COLUMNS].map((c) => c.name);

describe('ddl names exactly the columns of the files a typed export wrote', () => {
  for (const format of ['parquet', 'ndjson'] as FileFormat[]) {
    it(`declares every column DuckDB reads in the ${format} files, with the type Snowflake loads and the Spark hint that reads it`, async () => {
      const { dest, storage, upload } = await freshBucket();
      await exportTo(dest, storage, upload, format);
      const driver = await driverOf(dest);
      const staged = await stagedTypedNames(driver);
      expect(staged.names.length, 'the dev server declares fields, so the run has typed columns').toBeGreaterThan(0);
      const columns = await duckColumns(await duckdb(), await download(driver, COL), format);
      expect(columns.map((c) => c.name)).toEqual(expect.arrayContaining(staged.names));

      // Storage settings only, no API key: the columns must come from the manifest, with no warning.
      const snowflake = await runCli(['ddl', '--target', 'snowflake', '--dest', dest, '--collection', COL, '--format', format, ...storage], S3_ENV);
      expect(snowflake.code, snowflake.stderr).toBe(0);
      expect(snowflake.stderr).not.toContain('mixpeek-export: warning');
      expect(snowflake.stdout).toContain(`--   ${COL}: ${staged.names.length} typed columns from the newest manifest that lists them, ${staged.key}`);
      const table = snowflakeTable(snowflake.stdout);
      // NDJSON has no column order: a null typed value is left out of its line, so DuckDB's inferred order varies; compare the sets.
      const inOrder = (names: string[]) => (format === 'ndjson' ? [...names].sort() : names);
      expect(inOrder(table.map((c) => c.name))).toEqual(inOrder([...columns.map((c) => c.name), '_file_name']));
      for (const column of columns) expect(table.find((c) => c.name === column.name)!.type, `${column.name} (${column.type})`).toBe(SNOWFLAKE_TYPE_OF[format][column.type]);

      const databricks = await runCli(['ddl', '--target', 'databricks', '--dest', dest, '--collection', COL, '--format', format, ...storage], S3_ENV);
      expect(databricks.code, databricks.stderr).toBe(0);
      for (const hints of sparkHints(databricks.stdout)) {
        expect(inOrder([...hints.keys()])).toEqual(inOrder(columns.map((c) => c.name)));
        for (const column of columns) expect(hints.get(column.name), `${column.name} (${column.type})`).toBe(SPARK_TYPE_OF[format][column.type]);
      }
      await driver.close?.();
    }, 120_000);
  }
});

describe('where ddl takes the typed columns from', () => {
  it('uses the newest manifest, else the API output_schema, else the envelope with a warning, and exits 0 each time', async () => {
    const { dest, storage, upload } = await freshBucket();
    const ddl = ['ddl', '--target', 'snowflake', '--dest', dest, '--collection', COL, ...storage];
    const api = ['--namespace', NAMESPACE, '--base-url', server.url];
    const tableNames = (text: string) => snowflakeTable(text).map((c) => c.name);

    // Nothing staged, no API key: the envelope alone, and a warning that says why and what to do.
    const envelope = await runCli(ddl, S3_ENV);
    expect(envelope.code, envelope.stderr).toBe(0);
    expect(envelope.stderr).toContain(`mixpeek-export: warning: ${COL}: the DDL declares the envelope only: no manifest at the destination lists typed columns yet; MIXPEEK_API_KEY is not set`);
    expect(tableNames(envelope.stdout)).toEqual([...ENVELOPE_AND_RUN, '_file_name']);

    // Nothing staged, the API reachable: the columns the first typed run will plan.
    const planned = planColumns((await collectionResponse()).output_schema, []).columns.map((c) => c.name);
    const fromApi = await runCli([...ddl, ...api], { ...S3_ENV, MIXPEEK_API_KEY: API_KEY });
    expect(fromApi.code, fromApi.stderr).toBe(0);
    expect(fromApi.stderr).not.toContain('mixpeek-export: warning');
    expect(fromApi.stdout).toContain(`--   ${COL}: ${planned.length} typed columns planned from the API's output_schema`);
    expect(tableNames(fromApi.stdout)).toEqual([...ENVELOPE_COLUMNS.map((c) => c.name), ...planned, ...RUN_COLUMNS.map((c) => c.name), '_file_name']);
    expect(fromApi.stdout).not.toContain(API_KEY);

    // Staged: the manifest wins over the API, also once the API declares a field no file has yet.
    await exportTo(dest, storage, upload, 'parquet');
    const driver = await driverOf(dest);
    const staged = await stagedTypedNames(driver);
    await driver.close?.();
    server.defineField(COL, 'reviewer', { type: 'string' });
    try {
      const fromManifest = await runCli([...ddl, ...api], { ...S3_ENV, MIXPEEK_API_KEY: API_KEY });
      expect(fromManifest.code, fromManifest.stderr).toBe(0);
      expect(fromManifest.stdout).toContain(`from the newest manifest that lists them, ${staged.key}`);
      expect(tableNames(fromManifest.stdout)).toEqual([...ENVELOPE_COLUMNS.map((c) => c.name), ...staged.names, ...RUN_COLUMNS.map((c) => c.name), '_file_name']);
      expect(fromManifest.stdout).not.toContain('reviewer');
    } finally {
      server.defineField(COL, 'reviewer', null);
    }
  }, 120_000);

  it('with --all-collections prints one table per collection of the namespace, each with its own typed columns', async () => {
    const { dest, storage, upload } = await freshBucket();
    await exportTo(dest, storage, upload, 'parquet');
    const driver = await driverOf(dest);
    const staged = await stagedTypedNames(driver);
    await driver.close?.();
    const excluded = 'col_audio_transcripts';
    const result = await runCli(['ddl', '--target', 'snowflake', '--dest', dest, '--all-collections', '--exclude-collection', excluded, ...storage, '--namespace', NAMESPACE, '--base-url', server.url], {
      ...S3_ENV,
      MIXPEEK_API_KEY: API_KEY,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toContain('mixpeek-export: warning');
    const ids = [...server.collections].filter((id) => id !== excluded).sort();
    const tables = snowflakeTables(result.stdout);
    expect([...tables.keys()]).toEqual(ids.map((id) => `mixpeek_db.mixpeek.${id}`));
    const typedOf = (id: string) => tables.get(`mixpeek_db.mixpeek.${id}`)!.map((c) => c.name).filter((name) => !ENVELOPE_AND_RUN.includes(name) && name !== '_file_name');
    expect(typedOf(COL)).toEqual(staged.names);
    expect(result.stdout).toContain(`--   ${COL}: ${staged.names.length} typed columns from the newest manifest that lists them`);
    for (const id of ids.filter((i) => i !== COL)) {
      expect(result.stdout).toContain(`--   ${id}: `);
      expect(typedOf(id), id).not.toEqual(staged.names); // each collection its own columns
    }
  }, 120_000);

  it('prints the envelope with a warning naming both, and exit 0, when neither the destination nor the API answers', async () => {
    const { dest } = await freshBucket();
    const closed = 'http://127.0.0.1:9'; // the discard port: nothing listens there
    const started = Date.now();
    const result = await runCli(['ddl', '--target', 'databricks', '--dest', dest, '--collection', COL, '--s3-endpoint', closed, '--s3-force-path-style', '--s3-region', 'us-east-1', '--namespace', NAMESPACE, '--base-url', closed], {
      ...S3_ENV,
      MIXPEEK_API_KEY: API_KEY,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(new RegExp(`warning: ${COL}: the DDL declares the envelope only: the destination ${dest} was not readable \\(.+\\); check its credentials.*; the API at ${closed} did not answer GET /v1/collections/${COL}`));
    expect(result.stderr).not.toContain(API_KEY);
    expect([...sparkHints(result.stdout)[0]!.keys()]).toEqual(ENVELOPE_AND_RUN);
    expect(Date.now() - started, 'bounded: a few seconds per source at most').toBeLessThan(30_000);
  }, 60_000);
});
