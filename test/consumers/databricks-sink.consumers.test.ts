/**
 * The `databricks-sql` sink's own SQL on Spark 4 + Delta 4 (issue 14). The real CLI exports from
 * the dev server to a local folder with the sink configured by environment variables, pointed at
 * the fake workspace (test/support/sinks/databricks.ts), which records every statement. Four
 * rounds: the first export; mutations, deletions and `--reconcile` (tombstones); a typed column
 * declared with `defineField`, then mutations (mergeSchema); one mutated document. After them,
 * test/consumers/databricks_sink_load.py runs the statements each round recorded, in order, on one
 * local Spark + Delta session, and the tables are checked against DuckDB on the files and against
 * the dev server's own truth (currentVersions, deletedIds).
 *
 * What runs is the sink's text with only these substitutions (the test prints them too):
 * - Unity Catalog's three-part `main`.`default`.`<table>` → two-part `default`.`<table>` (the
 *   open-source session catalog is two-part);
 * - CREATE TABLE gets `USING DELTA` before its COMMENT (open-source Spark's default provider is
 *   parquet; Databricks' is Delta);
 * - COPY INTO (Databricks only) → `INSERT INTO <table> BY NAME SELECT <the sink's select list,
 *   verbatim>, _metadata.file_path AS _file_name FROM <parquet|json>.`<the files>``: the files are
 *   those the PATTERN matches under the source that this table has not loaded before (the
 *   script's own loaded-file set stands for COPY INTO's idempotency), read in one statement as
 *   COPY INTO infers one schema across them; `spark.databricks.delta.schema.autoMerge.enabled` is
 *   set for that INSERT only (COPY_OPTIONS mergeSchema: a new column evolves the table);
 * - MERGE WITH SCHEMA EVOLUTION INTO → MERGE INTO with autoMerge set for that MERGE only: Delta
 *   4.0.0 parses the clause but does not evolve the target by it (the new typed column did not
 *   reach `_latest`); the rest of the MERGE runs verbatim (`* EXCEPT`, the window, WHEN clauses).
 * A statement Spark refuses ends that round's delivery there, as the sink's would (the warehouse
 * answers FAILED), and is reported with its error condition.
 *
 * Two bugs of the sink's NDJSON COPY INTO showed here first, and are fixed: with FILEFORMAT = JSON,
 * Spark's JSON reader inferred the schema of the run's own lines, so a column absent from every
 * line of a small run was UNRESOLVED_COLUMN, and a JSON column came back as `to_json` of the
 * inferred struct (keys sorted). The sink now reads NDJSON as TEXT and parses each column with
 * its table type (`from_json`), which keeps a JSON column's text as the file holds it.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { canonicalTimestamp } from '../../src/rows/time.js';
import { type FakeWorkspace, startFakeWorkspace } from '../support/sinks/databricks.js';
import { dataFiles, exportEnv, query, runCli } from '../support/harness.js';
import { notReady, runPython } from './python.js';

const COL = 'col_product_images';
const TOKEN = 'dapi-consumers-token';
const WAREHOUSE = 'wh-consumers';
/** The typed column declared before the third export: new to the tables then. */
const NEW_FIELD = 'sink_units';
const TIMELINE = { start: new Date('2026-01-01T00:00:00Z'), end: new Date('2026-01-04T00:00:00Z') };

interface Statement {
  kind: 'create' | 'copy' | 'merge' | 'failed';
  sql: string[];
  result: Record<string, number> | null;
  error?: { condition: string; message: string };
}
interface SparkRound {
  statements: Statement[];
  /** `[document_id, updated_at, _deleted, _file_name, _run_id]` of every row of <table>. */
  table: [string, string, boolean, string, string][];
  /** `[document_id, updated_at, _deleted]` of every row of <table>_latest. */
  latest: [string, string, boolean | null][];
}
interface SparkResult {
  versions: { spark: string; delta: string };
  tables: [string, string];
  substitutions: Record<string, number>;
  rounds: SparkRound[];
  schema: { table: [string, string][]; latest: [string, string][] };
  typeNames: { table: Record<string, string>; latest: Record<string, string> };
  /** `[_file_name, document_id, column, text]` of each non-null JSON column value in <table>. */
  json: [string, string, string, string][];
}

/** A staged row as DuckDB (Parquet) or a plain JSON parse (NDJSON) reads it from its file. */
interface FileRow {
  file: string;
  document_id: string;
  updated_at: string;
  deleted: boolean;
  json: Record<string, string | null>;
}

interface FormatRun {
  spark: SparkResult;
  dataDir: string;
  /** Per round, the data files staged so far (absolute paths). */
  staged: string[][];
  rows: FileRow[];
  /** The dev server's live documents after each round, sorted `[document_id, updated_at]`. */
  live: [string, string][][];
  deleted: string[];
  jsonColumns: string[];
}

const byFirst = <T extends unknown[]>(a: T, b: T) => (String(a[0]) < String(b[0]) ? -1 : String(a[0]) > String(b[0]) ? 1 : 0);

/** Every file under `dir`, absolute. */
function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? walk(full) : [full];
  });
}

/** The JSON columns (text in the table): `fields`, `internal` and every typed JSON column any run's manifest lists. */
function jsonColumnsOf(dest: string): string[] {
  const out = new Set(['fields', 'internal']);
  for (const file of walk(path.join(dest, COL, '_manifests'))) {
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as { typedColumns?: { name: string; type: string; list?: boolean }[] };
    for (const c of manifest.typedColumns ?? []) if (c.type === 'json' && !c.list) out.add(c.name);
  }
  return [...out].sort();
}

/** The staged rows, read independently of Spark: DuckDB for Parquet, line by line for NDJSON (the JSON text as the Parquet encoder writes it, JSON.stringify). */
async function fileRows(files: string[], jsonColumns: string[]): Promise<FileRow[]> {
  const out: FileRow[] = [];
  for (const file of files) {
    if (file.endsWith('.parquet')) {
      const names = new Set((await query(`DESCRIBE SELECT * FROM read_parquet('${file}')`)).map((c) => String(c.column_name)));
      const cols = jsonColumns.filter((c) => names.has(c));
      const rows = await query(
        `SELECT document_id, strftime(updated_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') AS u, ${names.has('_deleted') ? 'coalesce(_deleted, false)' : 'false'} AS d${cols.map((c) => `, "${c}"`).join('')} FROM read_parquet('${file}')`,
      );
      for (const r of rows) out.push({ file, document_id: String(r.document_id), updated_at: String(r.u), deleted: r.d === true, json: Object.fromEntries(cols.map((c) => [c, (r[c] as string | null) ?? null])) });
    } else {
      for (const line of gunzipSync(readFileSync(file)).toString('utf8').split('\n')) {
        if (!line) continue;
        const r = JSON.parse(line) as Record<string, unknown>;
        const json = Object.fromEntries(jsonColumns.filter((c) => r[c] !== undefined && r[c] !== null).map((c) => [c, JSON.stringify(r[c])]));
        out.push({ file, document_id: String(r.document_id), updated_at: canonicalTimestamp(String(r.updated_at)) ?? String(r.updated_at), deleted: r._deleted === true, json });
      }
    }
  }
  return out;
}

let ws: FakeWorkspace;

beforeAll(async () => {
  if (notReady) return;
  ws = await startFakeWorkspace({ token: TOKEN, warehouseId: WAREHOUSE });
});
afterAll(async () => {
  await ws?.close();
});

async function runFormat(format: 'parquet' | 'ndjson'): Promise<FormatRun> {
  ws.reset();
  const server: DevServer = await startDevServer({ documentsPerCollection: 150, seed: 14, timeline: TIMELINE });
  const dest = mkdtempSync(path.join(tmpdir(), `mxp-dbx-sink-${format}-`));
  const dataDir = path.join(dest, COL, 'data');
  const env = exportEnv(server.url, {
    DATABRICKS_HOST: ws.url,
    DATABRICKS_TOKEN: TOKEN,
    DATABRICKS_WAREHOUSE_ID: WAREHOUSE,
    DATABRICKS_SOURCE: `file://${dest}/{collection}/data/`,
    DATABRICKS_MERGE_LATEST: 'true',
  });
  const shape = format === 'parquet' ? ['--format', 'parquet'] : ['--format', 'ndjson', '--compression', 'gzip'];
  const rounds: string[][] = [];
  const staged: string[][] = [];
  const live: [string, string][][] = [];
  const round = async (extra: string[] = []) => {
    const from = ws.statements.length;
    const result = await runCli(['export', '--collection', COL, '--dest', dest, '--safety-lag-seconds', '0', '--vectors', ...shape, ...extra], env);
    expect(result.code, result.stderr).toBe(0);
    rounds.push(ws.statements.slice(from));
    staged.push(dataFiles(dest, COL));
    live.push([...server.currentVersions(COL)].map((v): [string, string] => [v.document_id, canonicalTimestamp(v.updated_at) ?? v.updated_at]).sort(byFirst));
  };
  try {
    await round();
    server.mutate(COL, 15);
    const deleted = server.delete(COL, 6);
    await round(['--reconcile']);
    server.defineField(COL, NEW_FIELD, { type: 'integer' });
    server.mutate(COL, 20);
    await round();
    server.mutate(COL, 1);
    await round();
    expect(server.deletedIds(COL)).toEqual([...deleted].sort());

    const jsonColumns = jsonColumnsOf(dest);
    const spark = await runPython<SparkResult>('databricks_sink_load.py', { warehouse: path.join(dest, 'spark'), rounds, jsonColumns });
    console.log(
      `[spark ${spark.versions.spark} + delta ${spark.versions.delta}, ${format}] ran ${rounds.flat().length} statements of the databricks-sql sink with these substitutions:\n  - ${Object.entries(spark.substitutions)
        .map(([what, n]) => `${what} (${n}x)`)
        .join('\n  - ')}`,
    );
    for (const s of spark.rounds.flatMap((r) => r.statements)) if (s.error) console.log(`[spark, ${format}] refused: ${s.error.message}\n${s.sql[0]}`);
    return { spark, dataDir, staged, rows: await fileRows(staged.at(-1)!, jsonColumns), live, deleted: [...deleted].sort(), jsonColumns };
  } finally {
    await server.close();
    rmSync(dest, { recursive: true, force: true });
  }
}

/** A row's key: its file relative to data/ and its document_id (a document appears once per file). */
const rel = (dataDir: string, file: string) => path.relative(dataDir, file.replace(/^file:(\/\/)?/, '')).split(path.sep).join('/');

describe.skipIf(notReady !== null)('Spark + Delta run the statements the databricks-sql sink sends', () => {
  for (const format of ['parquet', 'ndjson'] as const) {
    describe(format === 'parquet' ? 'Parquet' : 'NDJSON gzip', () => {
      let run: FormatRun;
      beforeAll(async () => {
        run = await runFormat(format);
      }, 400_000);

      it('every statement of the first three rounds runs on Spark, with only the substitutions listed above', () => {
        const first = run.spark.rounds.slice(0, 3);
        expect(first.flatMap((r) => r.statements).filter((s) => s.error).map((s) => s.error!.message)).toEqual([]);
        // Round 2 delivers two runs (the export, then the reconcile's tombstones); the tables exist then.
        expect(first.map((r) => r.statements.map((s) => s.kind))).toEqual([
          ['create', 'copy', 'create', 'merge'],
          ['create', 'copy', 'create', 'merge', 'copy', 'merge'],
          ['create', 'copy', 'create', 'merge'],
        ]);
        expect(Object.keys(run.spark.substitutions)).toHaveLength(4);
        for (const [what, n] of Object.entries(run.spark.substitutions)) expect(n, what).toBeGreaterThan(0);
      });

      // A run of one document: a column no line of it has (a null typed value is left out of its line)
      // must still load (NDJSON: it failed as UNRESOLVED_COLUMN while the sink read the files as JSON).
      it(
        'a run of one mutated document loads too',
        () => {
          const last = run.spark.rounds[3]!;
          expect(last.statements.filter((s) => s.error).map((s) => s.error!.message)).toEqual([]);
          expect(last.statements.map((s) => s.kind)).toEqual(['create', 'copy', 'create', 'merge']);
          expect(last.statements[1]!.result!.num_inserted_rows).toBe(1);
          expect(last.latest.map(([id, updated]) => [id, updated])).toEqual(run.live[3]);
        },
      );

      it('<table> holds every staged row exactly once after each round, with the file it came from', () => {
        const truth = new Map(run.rows.map((r) => [`${rel(run.dataDir, r.file)}|${r.document_id}`, r]));
        expect(truth.size).toBe(run.rows.length);
        run.spark.rounds.slice(0, 3).forEach((round, i) => {
          const files = new Set(run.staged[i]!.map((f) => rel(run.dataDir, f)));
          const want = [...truth.entries()].filter(([, r]) => files.has(rel(run.dataDir, r.file))).map(([key, r]) => [key, r.updated_at, r.deleted]).sort(byFirst);
          const got = round.table.map(([id, updated, deleted, file]) => [`${rel(run.dataDir, file)}|${id}`, updated, deleted]).sort(byFirst);
          expect(got.length, `round ${i + 1}: rows`).toBe(want.length);
          expect(got, `round ${i + 1}`).toEqual(want);
        });
        const copies = run.spark.rounds.slice(0, 3).flatMap((r) => r.statements).filter((s) => s.kind === 'copy');
        const loaded = new Set(run.staged[2]!);
        expect(copies.reduce((n, s) => n + s.result!.num_inserted_rows!, 0)).toBe(run.rows.filter((r) => loaded.has(r.file)).length);
        expect(run.rows.filter((r) => r.deleted).map((r) => r.document_id).sort()).toEqual(run.deleted);
      });

      it('<table> and <table>_latest have the Spark types the sink declares, the new typed column as BIGINT', () => {
        for (const which of ['table', 'latest'] as const) {
          const types = new Map(run.spark.schema[which]);
          for (const c of ['created_at', 'updated_at', '_exported_at', 'published_at']) expect(types.get(c), `${which}.${c}`).toBe('timestamp');
          expect(run.spark.typeNames[which].updated_at).toBe('TimestampType()');
          expect(types.get(NEW_FIELD), `${which}.${NEW_FIELD}: mergeSchema / WITH SCHEMA EVOLUTION added it`).toBe('bigint');
          expect(types.get('stock_count')).toBe('bigint');
          expect(types.get('price')).toBe('double');
          expect(types.get('release_date')).toBe('date');
          expect(types.get('colors')).toBe('array<string>');
          expect(types.get('vec_image_extractor_v1_embedding')).toBe('array<float>');
          expect(types.get('_deleted')).toBe('boolean');
          expect(types.get('_file_name')).toBe('string');
          for (const c of run.jsonColumns) expect(types.get(c), `${which}.${c}`).toBe('string');
        }
      });

      // NDJSON: from_json with a STRING field keeps the raw text (the JSON reader's inferred struct sorted its keys).
      it('the JSON columns in <table> hold the same JSON text as the files', () => {
        const loaded = new Set(run.staged[2]!);
        const want = new Map<string, string>();
        for (const r of run.rows.filter((row) => loaded.has(row.file))) for (const [c, text] of Object.entries(r.json)) if (text !== null) want.set(`${rel(run.dataDir, r.file)}|${r.document_id}|${c}`, text);
        const got = new Map(run.spark.json.filter(([file]) => loaded.has(file.replace(/^file:(\/\/)?/, ''))).map(([file, id, c, text]) => [`${rel(run.dataDir, file)}|${id}|${c}`, text]));
        expect(want.size).toBeGreaterThan(run.rows.length); // fields and internal at least, on most rows
        const differing = [...want].filter(([k, text]) => got.get(k) !== text).slice(0, 3).map(([k, text]) => `${k}\n  file:  ${text.slice(0, 200)}\n  spark: ${got.get(k)?.slice(0, 200)}`);
        expect(differing, 'first differences').toEqual([]);
        expect(got.size).toBe(want.size);
      });

      it('after each round <table>_latest holds exactly the live documents at their current updated_at, no deleted one', () => {
        run.spark.rounds.slice(0, 3).forEach((round, i) => {
          expect(round.latest.map(([id, updated]) => [id, updated]), `round ${i + 1}`).toEqual(run.live[i]);
          expect(round.latest.filter(([, , deleted]) => deleted === true), `round ${i + 1}: tombstones in _latest`).toEqual([]);
        });
        const last = new Set(run.spark.rounds[2]!.latest.map(([id]) => id));
        expect(run.deleted).toHaveLength(6);
        for (const id of run.deleted) expect(last.has(id), `${id} deleted`).toBe(false);
        expect(run.live[0]).not.toEqual(run.live[1]);
        expect(run.live[1]).not.toEqual(run.live[2]);
      });
    });
  }
});

describe.skipIf(notReady === null)('Spark + Delta runs of the databricks-sql sink', () => {
  it(`are not run here: ${notReady}`, () => {
    console.log(`Spark consumer tests skipped: ${notReady}`);
  });
});
