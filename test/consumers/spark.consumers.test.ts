/**
 * Spark + Delta, as Databricks would (issue 12, item 2). The real CLI exports from the dev
 * server to an S3 emulator (the destination `ddl` reads its typed columns from), `ddl --target
 * databricks` prints the job, and test/consumers/spark_load.py runs section A of what it printed
 * on a local Spark 4 + Delta 4 session, once after each of three exports, as a job scheduled
 * after each export. The files reach Spark through a local folder that mirrors the bucket's
 * `data/` folder, each export's new files copied in before the next trigger.
 *
 * What runs is the printed code with only these substitutions (the test prints them too):
 * - `readStream.format("cloudFiles")` with `cloudFiles.format` → Spark's own streaming file
 *   source of that format, `.schema(<the printed schema hints>, dt STRING)`: Auto Loader adds the
 *   Hive partition column `dt` by itself; the file source reads it from the `dt=` folders;
 * - the `cloudFiles.schemaLocation/schemaHints/schemaEvolutionMode/inferColumnTypes` options
 *   are dropped (Auto Loader's own; the schema above stands for them);
 * - the `s3://…/data/` folder → the local mirror.
 * - Unity Catalog's `main.mixpeek.<table>` → the local database `mixpeek.<table>`: open-source
 *   Delta's `DeltaTable.createIfNotExists().tableName()` parses only two-part names (Databricks
 *   takes three). `ddl --state-location <dir>` is a real flag: the state is a local folder, and no
 *   volume is created.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { canonicalTimestamp } from '../../src/rows/time.js';
import { countRows, s3Store, type StagedStore } from '../support/consumers.js';
import { createBucket, type S3rverProcess, startS3rver } from '../support/emulators/s3.js';
import { exportEnv, runCli } from '../support/harness.js';
import { notReady, runPython } from './python.js';

const COL = 'col_product_images';
const VECTOR = 'image_extractor_v1_embedding';
const S3_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
/** One typed column of each kind the DDL maps, declared on top of the collection's own output_schema. */
const EXTRA_FIELDS = {
  spark_units: { type: 'integer' },
  spark_ratio: { type: 'number' },
  spark_flag: { type: 'boolean' },
  spark_seen_at: { type: 'datetime' },
  spark_day: { type: 'date' },
  spark_tags: { type: 'array', items: { type: 'string' } },
  spark_scores: { type: 'array', items: { type: 'integer' } },
  spark_meta: { type: 'object', properties: { a: { type: 'string' } } },
} as const;

interface SparkRound {
  latest: [string, string][];
  files: Record<string, number>;
  tombstones: string[];
}
interface SparkResult {
  substitutions: string[];
  tables: [string, string];
  rounds: SparkRound[];
  schema: { table: [string, string][]; latest: [string, string][] };
  typeNames: { table: Record<string, string>; latest: Record<string, string> };
  versions: { spark: string };
  /** `[document_id, ...VALUE_COLUMNS, vector length, vector[0]]` of each `_latest` row after the last round. */
  values: unknown[][];
}

/** What one format's run gives the assertions. */
interface FormatRun {
  ddl: string;
  hints: [string, string][];
  spark: SparkResult;
  /** The live documents after each export, sorted: the dev server's truth. */
  live: [string, string][][];
  /** Per round, the data files that export staged (relative to data/) and their row counts by DuckDB. */
  staged: Record<string, number>[];
  deleted: string[];
  /** The live documents as the API serves them at the end (vectors included), by document_id. */
  api: Map<string, Record<string, unknown>>;
}

const VALUE_COLUMNS = Object.keys(EXTRA_FIELDS);

async function apiDocuments(): Promise<Map<string, Record<string, unknown>>> {
  const response = await fetch(`${server.url}/v1/collections/${COL}/documents/list`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk_test_devserver', 'x-namespace': 'ns_dev', 'content-type': 'application/json' },
    body: JSON.stringify({ limit: 1000, return_vectors: true }),
  });
  const { results } = (await response.json()) as { results: Record<string, unknown>[] };
  return new Map(results.map((doc) => [doc.document_id as string, doc]));
}

let s3: S3rverProcess;
let server: DevServer;

beforeAll(async () => {
  if (notReady) return;
  s3 = await startS3rver();
  server = await startDevServer({ documentsPerCollection: 120, seed: 12 });
  for (const [name, schema] of Object.entries(EXTRA_FIELDS)) server.defineField(COL, name, schema);
});
afterAll(async () => {
  await server?.close();
  await s3?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function liveNow(): [string, string][] {
  return [...server.currentVersions(COL)]
    .map((v): [string, string] => [v.document_id, canonicalTimestamp(v.updated_at) ?? v.updated_at])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** Downloads the data files not seen before into `staging`; their keys relative to data/ and row counts. */
async function pullNew(store: StagedStore, seen: Set<string>, staging: string, extension: string): Promise<{ files: { src: string; rel: string }[]; rows: Record<string, number> }> {
  const files: { src: string; rel: string }[] = [];
  const rows: Record<string, number> = {};
  const prefix = `${COL}/data/`;
  for (const o of await store.list(prefix)) {
    if (seen.has(o.key)) continue;
    seen.add(o.key);
    const rel = o.key.slice(prefix.length);
    const src = path.join(staging, ...rel.split('/'));
    await store.download(o.key, src);
    files.push({ src, rel });
    if (rel.endsWith(extension)) rows[rel] = await countRows(src);
  }
  return { files, rows };
}

/** The `name TYPE` pairs of the schema hints in the printed job. */
function printedHints(ddl: string): [string, string][] {
  const m = /^\s*\("col_product_images", "[^"]+", "[^"]+",\n\s*"([^"]+)"\),$/m.exec(ddl);
  if (!m) throw new Error(`no COLLECTIONS entry in the ddl output:\n${ddl}`);
  return m[1]!.split(/, (?=[A-Za-z_][A-Za-z0-9_]* )/).map((pair) => {
    const at = pair.indexOf(' ');
    return [pair.slice(0, at), pair.slice(at + 1)];
  });
}

async function runFormat(format: 'parquet' | 'ndjson'): Promise<FormatRun> {
  const bucket = `spark${format}${Math.random().toString(36).slice(2, 8)}`;
  await createBucket(s3.endpoint, bucket);
  const dest = `s3://${bucket}/lake`;
  const storage = ['--s3-endpoint', s3.endpoint, '--s3-force-path-style', '--s3-region', 'us-east-1'];
  const shape = format === 'parquet' ? ['--format', 'parquet', '--vectors'] : ['--format', 'ndjson', '--compression', 'gzip', '--vectors'];
  const extension = format === 'parquet' ? '.parquet' : '.json.gz';
  const env = exportEnv(server.url, S3_ENV);
  const work = mkdtempSync(path.join(tmpdir(), `mxp-spark-${format}-`));
  const store = s3Store(s3.endpoint, bucket, 'lake');
  const seen = new Set<string>();
  const rounds: { src: string; rel: string }[][] = [];
  const staged: Record<string, number>[] = [];
  const live: [string, string][][] = [];
  const cli = async (args: string[]) => {
    const result = await runCli([...args, '--collection', COL, '--dest', dest, ...storage, ...shape], env);
    expect(result.code, `${args[0]}: ${result.stderr}`).toBe(0);
    return result;
  };
  const stage = async () => {
    const pulled = await pullNew(store, seen, path.join(work, `staging${rounds.length}`), extension);
    rounds.push(pulled.files);
    staged.push(pulled.rows);
    live.push(liveNow());
  };
  try {
    await cli(['export', '--safety-lag-seconds', '0']);
    await stage();
    server.mutate(COL, 15);
    await sleep(3);
    await cli(['export', '--safety-lag-seconds', '0']);
    await stage();
    const deleted = server.delete(COL, 6);
    await cli(['reconcile']);
    await stage();

    const state = path.join(work, 'state');
    mkdirSync(state, { recursive: true });
    const ddl = await cli(['ddl', '--target', 'databricks', '--state-location', state, '--vector-dims', `${VECTOR}=768`]);
    const mirror = path.join(work, 'mirror', COL, 'data');
    mkdirSync(mirror, { recursive: true });
    const spark = await runPython<SparkResult>('spark_load.py', { ddl: ddl.stdout, format, dataUrl: `${dest}/${COL}/data/`, mirror, warehouse: work, rounds, valueColumns: VALUE_COLUMNS, vectorColumn: `vec_${VECTOR}` });
    console.log(`[spark ${spark.versions.spark}, ${format}] ran the printed job with these substitutions:\n  - ${spark.substitutions.join('\n  - ')}`);
    return { ddl: ddl.stdout, hints: printedHints(ddl.stdout), spark, live, staged, deleted: deleted.sort(), api: await apiDocuments() };
  } finally {
    store.close();
  }
}

/** Spark's name for a hinted type: `ARRAY<FLOAT>` → `array<float>`, `BIGINT` → `bigint`. */
const sparkName = (hint: string) => hint.toLowerCase();

describe.skipIf(notReady !== null)('Spark + Delta run the job ddl --target databricks prints', () => {
  for (const format of ['parquet', 'ndjson'] as const) {
    describe(`${format === 'parquet' ? 'Parquet with vectors' : 'NDJSON gzip with vectors'}`, () => {
      let run: FormatRun;
      beforeAll(async () => {
        run = await runFormat(format);
      }, 300_000);

      it('the hints declare every typed column, a vector, the timestamps and _deleted', () => {
        const hints = new Map(run.hints);
        expect(hints.get('updated_at')).toBe('TIMESTAMP');
        expect(hints.get(`vec_${VECTOR}`)).toBe('ARRAY<FLOAT>');
        expect(hints.get('_deleted')).toBe('BOOLEAN');
        expect(hints.get('spark_units')).toBe('BIGINT');
        expect(hints.get('spark_ratio')).toBe('DOUBLE');
        expect(hints.get('spark_flag')).toBe('BOOLEAN');
        expect(hints.get('spark_seen_at')).toBe('TIMESTAMP');
        expect(hints.get('spark_day')).toBe('DATE');
        expect(hints.get('spark_tags')).toBe('ARRAY<STRING>');
        expect(hints.get('spark_scores')).toBe('ARRAY<BIGINT>');
        expect(hints.get('spark_meta')).toBe('STRING');
      });

      it("Spark's types in <table> and <table>_latest are exactly the ones the DDL declares", () => {
        const want: [string, string][] = [...run.hints.map(([name, hint]): [string, string] => [name, sparkName(hint)]), ['dt', 'string'], ['_file_name', 'string']];
        for (const which of ['table', 'latest'] as const) {
          expect(new Map(run.spark.schema[which])).toEqual(new Map(want));
          const types = run.spark.typeNames[which];
          expect(types.updated_at).toBe('TimestampType()');
          expect(types.created_at).toBe('TimestampType()');
          expect(types._exported_at).toBe('TimestampType()');
          expect(types.spark_seen_at).toBe('TimestampType()');
          expect(types[`vec_${VECTOR}`]).toBe('ArrayType(FloatType(), True)');
          expect(types.spark_units).toBe('LongType()');
          expect(types.spark_ratio).toBe('DoubleType()');
          expect(types.spark_day).toBe('DateType()');
          expect(types.spark_tags).toBe('ArrayType(StringType(), True)');
        }
      });

      it('after each export, <table>_latest holds exactly the live documents at their current versions', () => {
        expect(run.spark.rounds).toHaveLength(3);
        run.spark.rounds.forEach((round, i) => {
          expect(round.latest.length, `round ${i + 1}`).toBe(run.live[i]!.length);
          expect(round.latest, `round ${i + 1}`).toEqual(run.live[i]);
        });
        expect(run.live[0]).not.toEqual(run.live[1]); // the mutations changed versions
      });

      it("<table>_latest holds each live document's typed values and vector as the API serves them", () => {
        expect(run.api.size).toBe(run.live[2]!.length);
        expect(run.spark.values).toHaveLength(run.api.size);
        const nonNull = new Map(VALUE_COLUMNS.map((c) => [c, 0]));
        for (const [id, ...rest] of run.spark.values) {
          const doc = run.api.get(id as string)!;
          expect(doc, `${id} is live`).toBeDefined();
          const got = Object.fromEntries(VALUE_COLUMNS.map((c, i) => [c, rest[i]]));
          for (const c of VALUE_COLUMNS) if (got[c] !== null) nonNull.set(c, nonNull.get(c)! + 1);
          const vector = doc[VECTOR] as number[];
          expect({ ...got, spark_meta: got.spark_meta === null ? null : JSON.parse(got.spark_meta as string), spark_seen_at: got.spark_seen_at ?? null, n: rest[VALUE_COLUMNS.length], v0: rest[VALUE_COLUMNS.length + 1] }, id as string).toEqual({
            ...Object.fromEntries(VALUE_COLUMNS.map((c) => [c, doc[c] ?? null])),
            spark_seen_at: canonicalTimestamp(doc.spark_seen_at),
            n: vector.length,
            v0: Math.fround(vector[0]!),
          });
        }
        for (const [c, n] of nonNull) expect(n, `${c}: rows with a value`).toBeGreaterThan(0);
      });

      it('each trigger loads only the files staged since the last one, each exactly once', () => {
        let expected: Record<string, number> = {};
        run.spark.rounds.forEach((round, i) => {
          expect(Object.keys(run.staged[i]!).length, `round ${i + 1} staged files`).toBeGreaterThan(0);
          expected = { ...expected, ...run.staged[i] };
          expect(round.files, `round ${i + 1}`).toEqual(expected);
        });
      });

      it('a tombstone removes its document from <table>_latest and stays in <table>', () => {
        const [, second, third] = run.spark.rounds;
        const before = new Set(second!.latest.map(([id]) => id));
        const after = new Set(third!.latest.map(([id]) => id));
        expect(run.deleted).toHaveLength(6);
        for (const id of run.deleted) {
          expect(before.has(id), `${id} live before the deletion`).toBe(true);
          expect(after.has(id), `${id} gone after the tombstone`).toBe(false);
        }
        expect(second!.tombstones).toEqual([]);
        expect(third!.tombstones).toEqual(run.deleted);
      });
    });
  }
});

describe.skipIf(notReady !== null)('What open-source Spark cannot run', () => {
  // Lakeflow Declarative Pipelines (CREATE STREAMING TABLE ... read_files, AUTO CDC INTO) exist on
  // Databricks only; so do Auto Loader's own behaviours (schema location and evolution with
  // UnknownFieldException, the _rescued_data column, cloudFiles.inferColumnTypes).
  it.skip('section B, the pipeline SQL (read_files, AUTO CDC INTO), is not covered: open-source Spark has neither', () => {});
  it.skip("Auto Loader's schema evolution (addNewColumns, UnknownFieldException) and _rescued_data are not covered: the file source stands in for cloudFiles", () => {});
});

describe.skipIf(notReady === null)('Spark + Delta consumer tier', () => {
  it(`is not run here: ${notReady}`, () => {
    console.log(`Spark consumer tests skipped: ${notReady}`);
  });
});
