/**
 * fakesnow, as Snowflake would (issue 12, item 3): the real CLI exports from the dev server to
 * s3rver, `ddl --target snowflake --load copy` prints the setup for that destination, and
 * test/consumers/snowflake_load.py runs it on fakesnow (Snowflake SQL on DuckDB): the schema,
 * file format, table, ALTERs and view as printed, the files PUT into an internal stage in
 * place of the S3 one, and the printed COPY INTO ... MATCH_BY_COLUMN_NAME, twice with new
 * files (mutations, deletions and their tombstones) in between. What fakesnow cannot run is
 * replaced by the closest statement it takes; each replacement is printed as "not covered on
 * fakesnow: ..." and listed in the title.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalTimestamp } from '../../src/rows/time.js';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { s3Store } from '../support/consumers.js';
import { createBucket, type S3rverProcess, startS3rver } from '../support/emulators/s3.js';
import { exportEnv, query, runCli } from '../support/harness.js';
import { notReady, runPython } from './python.js';

const COL = 'col_video_frames';
const BUCKET = 'lake';
const S3_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };

/** What fakesnow 0.12.1 lacks of the printed script; the test fails when this list changes, so a new fakesnow is noticed. */
const EXPECTED_GAPS = [
  'the external stage',
  'ENABLE_SCHEMA_EVOLUTION: fakesnow takes CREATE TABLE',
  'ALTER TABLE ... SET ENABLE_SCHEMA_EVOLUTION',
  'COPY as printed',
  'INCLUDE_METADATA',
  "the stage's FILE_FORMAT",
  'VECTOR',
];
/** And for NDJSON files: fakesnow loads JSON into one VARIANT column only, and reads the dt= folder as a column. */
const EXPECTED_JSON_GAPS = ['MATCH_BY_COLUMN_NAME on JSON files', "fakesnow's JSON COPY adds the dt= folder"];

interface Version {
  document_id: string;
  updated_at: string;
}
interface LoadStep {
  copy: [file: string, status: string, rows: number][];
  /** Files in the stage that the printed PATTERN left out. */
  skipped_by_pattern: string[];
  latest: Version[];
  table_rows: number;
  null_file_names: number;
  /** The view against the newest row of each document in the files, read by DuckDB: the columns both have. */
  compared: { columns: string[]; non_null_values: number; differences: string[]; variant_nulls: Record<string, number> };
}
interface LoadResult {
  gaps: string[];
  steps: LoadStep[];
  columns: Record<string, string>;
}

let server: DevServer;
let s3: S3rverProcess;
let storage: string[];
const tempDirs: string[] = [];

beforeAll(async () => {
  if (notReady) return;
  s3 = await startS3rver();
  await createBucket(s3.endpoint, BUCKET);
  storage = ['--s3-endpoint', s3.endpoint, '--s3-force-path-style', '--s3-region', 'us-east-1'];
  server = await startDevServer({ documentsPerCollection: 400, seed: 31 });
});
afterAll(async () => {
  await server?.close();
  await s3?.stop();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

const byId = (rows: Iterable<Version>) => [...rows].map(({ document_id, updated_at }) => ({ document_id, updated_at: canonicalTimestamp(updated_at) ?? updated_at })).sort((a, b) => (a.document_id < b.document_id ? -1 : 1));

/** Runs the CLI on the destination `s3://lake/<prefix>`; its stdout. */
async function cli(prefix: string, args: string[]): Promise<string> {
  const result = await runCli([...args, '--collection', COL, '--dest', `s3://${BUCKET}/${prefix}`, ...storage], exportEnv(server.url, S3_ENV));
  expect(result.code, result.stderr.slice(-2000)).toBe(0);
  return result.stdout;
}

/** Copies every data file staged so far to `dir`: the files of one load step ({ local path, key under data/ }). */
async function stagedFiles(prefix: string, dir: string): Promise<{ path: string; key: string }[]> {
  const store = s3Store(s3.endpoint, BUCKET, prefix);
  try {
    const out: { path: string; key: string }[] = [];
    for (const object of await store.list(`${COL}/data/`)) {
      const target = path.join(dir, ...object.key.split('/'));
      await store.download(object.key, target);
      out.push({ path: target, key: object.key.slice(`${COL}/data/`.length) });
    }
    return out;
  } finally {
    store.close();
  }
}

describe.skipIf(notReady)('fakesnow runs the Snowflake setup ddl prints', () => {
  it('loads Parquet twice with the printed COPY and the _latest view is exactly the live documents each time (not covered on fakesnow: the S3 stage, PATTERN, INCLUDE_METADATA, the stage FILE_FORMAT, VECTOR, ENABLE_SCHEMA_EVOLUTION)', async () => {
    await loadTwice('parquet');
  });

  it('loads NDJSON (gzip) twice and the _latest view is exactly the live documents each time (not covered on fakesnow: MATCH_BY_COLUMN_NAME on JSON, loaded through a VARIANT table and INSERT ... SELECT $1:<column>::<type> instead, and the Parquet gaps)', async () => {
    await loadTwice('ndjson');
  });
});

async function loadTwice(format: 'parquet' | 'ndjson'): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'mxp-snow-'));
  tempDirs.push(dir);
  const prefix = `fakesnow-${format}`;
  const exportArgs = ['export', '--safety-lag-seconds', '0', '--vectors', '--format', format];

  await cli(prefix, exportArgs);
  const first = await stagedFiles(prefix, path.join(dir, 'step1'));
  const live1 = byId(server.currentVersions(COL));
  const files = first.map((f) => `'${f.path}'`).join(', ');
  const source = format === 'parquet' ? `read_parquet([${files}], union_by_name = true)` : `read_json([${files}], format = 'newline_delimited', union_by_name = true)`;
  const [dims] = await query(`SELECT max(len(vec_image_extractor_v1_embedding)) AS image, max(len(vec_face_identity_extractor_v1_embedding)) AS face FROM ${source}`);
  const vectorDims = `image_extractor_v1_embedding=${dims!.image},face_identity_extractor_v1_embedding=${dims!.face}`;
  const sql = await cli(prefix, ['ddl', '--target', 'snowflake', '--load', 'copy', '--format', format, '--vectors', '--vector-dims', vectorDims]);
  expect(sql).toContain('MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE');

  const mutated = server.mutate(COL, 40);
  const deleted = server.delete(COL, 15);
  await new Promise((resolve) => setTimeout(resolve, 3));
  await cli(prefix, exportArgs);
  // No --format: reconcile writes its tombstones in the format of the staged files (it once wrote Parquet here, which the NDJSON PATTERN skipped).
  await cli(prefix, ['reconcile']);
  const second = await stagedFiles(prefix, path.join(dir, 'step2'));
  const live2 = byId(server.currentVersions(COL));
  const suffix = format === 'parquet' ? '.parquet' : '.json.gz';
  expect(second.filter((f) => !f.key.endsWith(suffix)).map((f) => f.key)).toEqual([]);
  const newKeys = new Set(second.map((f) => f.key).filter((key) => !first.some((f) => f.key === key)));
  expect(newKeys.size, 'the second export and the reconcile staged new files').toBeGreaterThanOrEqual(2);

  // A file in the stage that is not a data file (`tmp-part-…`, as an upload tool might name one): the printed PATTERN must leave it out.
  const data = first[0]!;
  const rename = (p: string) => p.replace(/part-[^/]+$/, (name) => `tmp-${name}`);
  const decoy = { path: rename(data.path), key: rename(data.key), decoy: true };
  copyFileSync(data.path, decoy.path);
  const result = await runPython<LoadResult>('snowflake_load.py', { sql, format, steps: [{ files: [...first, decoy] }, { files: second }] });
  for (const gap of result.gaps) console.log(`not covered on fakesnow: ${gap}`);
  const expectedGaps = format === 'parquet' ? EXPECTED_GAPS : [...EXPECTED_GAPS, ...EXPECTED_JSON_GAPS];
  expect(result.gaps.map((g) => expectedGaps.find((e) => g.startsWith(e)) ?? g).sort()).toEqual([...expectedGaps].sort());

  const [load1, load2] = result.steps as [LoadStep, LoadStep];
  expect(load1.copy.every(([, status]) => status === 'LOADED'), JSON.stringify(load1.copy)).toBe(true);
  expect(load1.copy.map(([file]) => file).sort()).toEqual(first.map((f) => f.key).sort());
  expect(load1.skipped_by_pattern).toEqual([decoy.key]);
  expect(load2.skipped_by_pattern).toEqual([decoy.key]);
  expect(load1.latest).toEqual(live1);
  expect(load1.compared.differences).toEqual([]);
  expect(load1.compared.columns).toEqual(expect.arrayContaining(['updated_at', 'frame_number', 'luma_histogram', 'detected_objects', 'vec_image_extractor_v1_embedding', 'fields', '_exported_at']));
  expect(load1.compared.non_null_values).toBeGreaterThan(live1.length * 10);

  // The second COPY loads only the new files (load history), and the view follows the mutations and tombstones.
  expect(load2.copy.filter(([, status]) => status === 'LOADED').map(([file]) => file).sort()).toEqual([...newKeys].sort());
  expect(load2.copy.filter(([, status]) => status !== 'LOADED').every(([, status]) => status === 'LOAD_SKIPPED')).toBe(true);
  expect(load2.table_rows).toBe(load1.table_rows + load2.copy.reduce((n, [, , rows]) => n + rows, 0));
  expect(load2.latest).toEqual(live2);
  expect(load2.latest.some((v) => deleted.includes(v.document_id))).toBe(false);
  expect(load1.latest.filter((v) => deleted.includes(v.document_id))).toHaveLength(deleted.length);
  const changed = new Set(mutated.filter((id) => !deleted.includes(id)));
  expect(load1.latest.filter((v) => changed.has(v.document_id)), 'the mutations made new versions').not.toEqual(live2.filter((v) => changed.has(v.document_id)));
  expect(load2.latest.filter((v) => changed.has(v.document_id))).toEqual(live2.filter((v) => changed.has(v.document_id)));
  expect(load2.compared.differences).toEqual([]);
  // A typed field without a value is SQL NULL in _latest, never a VARIANT JSON null (NDJSON leaves a null typed value out of its line).
  expect(Object.entries(load2.compared.variant_nulls)).toEqual([]);
  expect(load2.null_file_names).toBe(0);

  // The view's types as fakesnow declares them from the printed statements.
  expect(result.columns).toMatchObject({ fields: 'VARIANT', internal: 'VARIANT', frame_number: 'NUMBER(38,0)', start_time: 'FLOAT' });
  expect(result.columns.updated_at).toMatch(/^TIMESTAMP/);
}
