/**
 * The `databricks-sql` sink: loads a run's files into a Delta table through a SQL warehouse
 * (Statement Execution API, databricks-api.ts). Per notice:
 *
 * 1. `CREATE TABLE IF NOT EXISTS <catalog>.<schema>.<table>` with the run's file columns (the
 *    ddl module's Spark types) plus `_file_name STRING`, once per table and process;
 * 2. `COPY INTO` that table from the run's own files (`PATTERN = 'dt=*\/part-<run_id>-*<ext>'`),
 *    with `mergeSchema` so a new typed or vector column evolves the table (NDJSON as TEXT, each
 *    column parsed with its table type: see textSourceExpr);
 * 3. with `mergeLatest`: a MERGE of this run's rows (`_run_id`) into `<table>_latest`, the
 *    newest version per document_id as `ddl --target databricks` does, tombstones deleting.
 *
 * `_file_name` (the data file's path, `_metadata.file_path` read inside COPY INTO) makes the
 * table the same as the one `ddl`'s Auto Loader job writes, so a user can switch between the two,
 * and it is the MERGE's last tie-breaker, as in ddl. A redelivery is harmless: COPY INTO skips
 * files it has loaded (0 rows), and the MERGE only replaces a row by a strictly newer one.
 */
import { ConfigError, SinkError } from '../errors.js';
import { extensionFor } from '../encode/codecs.js';
import { FILE_NAME_COLUMN, fileColumns, sparkColumnType, tableNameFor, type VectorColumn } from '../ddl/columns.js';
import { consumerLocation } from '../ddl/location.js';
import { type ColumnSpec, VECTOR_PREFIX } from '../rows/columns.js';
import type { DatabricksSqlSpec } from './config.js';
import { excerpt, type SinkRef } from './http.js';
import { firstRow, runStatement, type StatementResponse } from './databricks-api.js';
import type { Delivered, RunNotice, Sink, SinkEnv } from './types.js';

/** Builds the sink; `spec` is resolved (config.ts). Tables created by this process are remembered, so CREATE runs once per table. */
export function databricksSqlSink(spec: DatabricksSqlSpec): Sink {
  const ref: SinkRef = { name: spec.name, endpoint: `${spec.host}/api/2.0/sql/statements` };
  const created = new Set<string>();
  return { name: spec.name, type: spec.type, endpoint: ref.endpoint, deliver: (notice, env) => deliver(spec, ref, created, notice, env) };
}

/** Every statement of one notice, and what the messages name. */
export interface LoadPlan {
  table: string;
  latest: string;
  source: string;
  create: string;
  copy: string;
  createLatest: string;
  merge: string;
}

type Step = 'create' | 'copy' | 'createLatest' | 'merge';

async function deliver(spec: DatabricksSqlSpec, ref: SinkRef, created: Set<string>, notice: RunNotice, env: SinkEnv): Promise<Delivered> {
  if (notice.manifest.files.length === 0) return { summary: `run ${notice.runId} has no files: nothing to load`, details: { rows_loaded: 0, statement_ids: [] } };
  const plan = loadPlan(spec, notice, ref);
  const ids: string[] = [];
  const run = async (step: Step, sql: string): Promise<StatementResponse> => {
    const response = await runStatement(ref, env, spec, sql);
    ids.push(response.statement_id);
    env.logger.debug('SinkStatementFinished', { sink: ref.name, step, statement_id: response.statement_id, state: response.status.state });
    if (response.status.state === 'FAILED' || response.status.state === 'CANCELED') {
      if (step === 'copy' || step === 'merge') created.clear(); // a dropped table is created again next time
      throw failure(ref, step, response, plan, spec);
    }
    return response;
  };
  if (!created.has(plan.table)) {
    await run('create', plan.create);
    created.add(plan.table);
  }
  const loaded = count(firstRow(await run('copy', plan.copy)), 'num_inserted_rows');
  let merged: Record<string, number | null> | null = null;
  if (spec.mergeLatest) {
    if (!created.has(plan.latest)) {
      await run('createLatest', plan.createLatest);
      created.add(plan.latest);
    }
    const row = firstRow(await run('merge', plan.merge));
    merged = { inserted: count(row, 'num_inserted_rows'), updated: count(row, 'num_updated_rows'), deleted: count(row, 'num_deleted_rows') };
  }
  const rows = loaded === null ? 'an unknown number of rows (the result expired)' : `${loaded} rows`;
  return {
    summary: `loaded ${rows} of run ${notice.runId} into ${plan.table}${merged ? `; merged into ${plan.latest} (${merged.inserted ?? '?'} inserted, ${merged.updated ?? '?'} updated, ${merged.deleted ?? '?'} deleted)` : ''}`,
    details: { table: plan.table, rows_loaded: loaded, ...(merged ? { latest_table: plan.latest, merged } : {}), statement_ids: ids },
  };
}

/** A count from a result row (strings in `data_array`), or null when the result is gone (CLOSED) or lacks it. */
function count(row: Record<string, string | null> | null, column: string): number | null {
  const value = row?.[column];
  return value === null || value === undefined || !/^\d+$/.test(value) ? null : Number(value);
}

/** Backtick-quoted identifier (Databricks SQL). */
export const quote = (name: string) => `\`${name.replace(/`/g, '``')}\``;
/** Single-quoted string literal (Spark SQL escapes). */
const literal = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** The statements of one notice. Pure: the integration tests read them from the fake workspace. */
export function loadPlan(spec: DatabricksSqlSpec, notice: RunNotice, ref: SinkRef): LoadPlan {
  const { manifest } = notice;
  const tableName = spec.table ?? `mixpeek_${tableNameFor(notice.collectionId)}`;
  const table = [spec.catalog, spec.schema, tableName].map(quote).join('.');
  const latest = [spec.catalog, spec.schema, `${tableName}_latest`].map(quote).join('.');
  const vectors: VectorColumn[] = manifest.columns.filter((c) => c.startsWith(VECTOR_PREFIX)).map((c) => ({ key: c.slice(VECTOR_PREFIX.length), dims: null }));
  const columns = fileColumns(vectors, manifest.typedColumns ?? []).filter((c) => manifest.columns.includes(c.name));
  const definition = [...columns.map((c) => `${quote(c.name)} ${sparkColumnType(c)}`), `${quote(FILE_NAME_COLUMN)} STRING`].join(', ');
  const source = sourceOf(spec, notice, ref);
  const pattern = `dt=*/part-${notice.runId}-*${extensionFor(manifest.format, manifest.compression)}`;
  const select = manifest.format === 'parquet' ? '*' : columns.map(textSourceExpr).join(', ');
  const copy = [
    `COPY INTO ${table}`,
    `FROM (SELECT ${select}, _metadata.file_path AS ${quote(FILE_NAME_COLUMN)} FROM ${literal(source)})`,
    `FILEFORMAT = ${manifest.format === 'parquet' ? 'PARQUET' : 'TEXT'}`,
    `PATTERN = ${literal(pattern)}`,
    "FORMAT_OPTIONS ('mergeSchema' = 'true')",
    "COPY_OPTIONS ('mergeSchema' = 'true')",
  ].join('\n');
  return {
    table,
    latest,
    source,
    create: `CREATE TABLE IF NOT EXISTS ${table} (${definition})\nCOMMENT ${literal(`Mixpeek collection ${notice.collectionId}: one row per exported document version or tombstone (mixpeek-export)`)}`,
    copy,
    createLatest: `CREATE TABLE IF NOT EXISTS ${latest} (${definition})\nCOMMENT ${literal(`Mixpeek collection ${notice.collectionId}: the latest version of each live document (mixpeek-export)`)}`,
    merge: mergeSql(table, latest, notice.runId),
  };
}

/** The timestamp text of the NDJSON files (as ddl's Auto Loader options spell it). */
const JSON_TIMESTAMP_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX";

/**
 * NDJSON is read as TEXT (one `value` per line) and each column parsed out of it with its
 * table type: Spark's JSON reader would infer a schema from the run's own lines instead, and
 * then a column absent from every line of a small run cannot be selected, and a JSON column
 * comes back re-serialized from an inferred struct (keys reordered). `from_json` with a STRING
 * field keeps a nested value's raw text, as the Parquet files hold it; a missing key is NULL.
 * Found by running these statements on Spark 4 + Delta 4 (test/consumers/databricks-sink.consumers.test.ts).
 */
function textSourceExpr(spec: ColumnSpec): string {
  const schema = `${quote(spec.name)} ${sparkColumnType(spec)}`;
  return `from_json(value, ${literal(schema)}, map('timestampFormat', ${literal(JSON_TIMESTAMP_FORMAT)})).${quote(spec.name)} AS ${quote(spec.name)}`;
}

/** The MERGE of `ddl --target databricks` (mergePy) in SQL, over this run's rows only. */
function mergeSql(table: string, latest: string, runId: string): string {
  const newer = 's.updated_at > t.updated_at OR t.updated_at IS NULL OR (s.updated_at = t.updated_at AND s._exported_at > t._exported_at)';
  const deleted = 'coalesce(s._deleted, false)';
  return [
    `MERGE WITH SCHEMA EVOLUTION INTO ${latest} AS t`,
    'USING (',
    '  SELECT * EXCEPT (_rank) FROM (',
    `    SELECT *, row_number() OVER (PARTITION BY document_id ORDER BY updated_at DESC NULLS LAST, _exported_at DESC, ${FILE_NAME_COLUMN} DESC) AS _rank`,
    `    FROM ${table} WHERE _run_id = ${literal(runId)}`,
    '  ) AS ranked WHERE _rank = 1',
    ') AS s',
    'ON t.document_id = s.document_id',
    `WHEN MATCHED AND ${deleted} AND (${newer}) THEN DELETE`,
    `WHEN MATCHED AND NOT ${deleted} AND (${newer}) THEN UPDATE SET *`,
    `WHEN NOT MATCHED AND NOT ${deleted} THEN INSERT *`,
  ].join('\n');
}

/** Where Databricks reads the collection's `data/` folder: `source` ({collection} filled in), else the destination as ddl spells it. */
function sourceOf(spec: DatabricksSqlSpec, notice: RunNotice, ref: SinkRef): string {
  let source: string;
  if (spec.source) source = spec.source.replaceAll('{collection}', notice.collectionId);
  else {
    try {
      source = consumerLocation(notice.destination, notice.dest, 'databricks').sparkData(notice.collectionId);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      throw new SinkError(ref.name, ref.endpoint, `Databricks cannot read --dest ${notice.dest} (a local folder other than a /Volumes/<catalog>/<schema>/<volume> path): set DATABRICKS_SOURCE (or source in the sinks entry) to where Databricks reads the files, e.g. s3://bucket/prefix/{collection}/data/`, { cause: error, code: 'ERR_SINK_CONFIG' });
    }
  }
  return source.endsWith('/') ? source : `${source}/`;
}

const TRANSIENT_CODES = ['TEMPORARILY_UNAVAILABLE', 'SERVICE_UNDER_MAINTENANCE', 'WORKSPACE_TEMPORARILY_UNAVAILABLE', 'RESOURCE_EXHAUSTED', 'DEADLINE_EXCEEDED', 'ABORTED', 'INTERNAL_ERROR', 'IO_ERROR'];
const STEP_LABEL: Record<Step, string> = { create: 'CREATE TABLE', copy: 'COPY INTO', createLatest: 'CREATE TABLE (_latest)', merge: 'MERGE INTO (_latest)' };

/** The SinkError of a FAILED or CANCELED statement: the step, the statement id, Databricks' words and the fix. */
function failure(ref: SinkRef, step: Step, response: StatementResponse, plan: LoadPlan, spec: DatabricksSqlSpec): SinkError {
  const { state, error, sql_state: sqlState } = response.status;
  const head = `${STEP_LABEL[step]} ${state === 'FAILED' ? 'failed' : 'was cancelled'} (statement ${response.statement_id}${error?.error_code ? `, ${error.error_code}` : ''}${sqlState ? `, SQLSTATE ${sqlState}` : ''})`;
  if (state === 'CANCELED') return new SinkError(ref.name, ref.endpoint, `${head}: someone cancelled it or SQL warehouse ${spec.warehouseId} stopped; the notification stays pending and is delivered again by the next run`, { transient: true });
  const message = error?.message ?? '';
  const transient = TRANSIENT_CODES.includes(error?.error_code ?? '') || /CONCURRENT|ConcurrentAppend/i.test(message);
  return new SinkError(ref.name, ref.endpoint, `${head}: ${excerpt(message) || 'no message'}; ${fixFor(step, message, sqlState, plan, spec)}`, { transient, code: 'ERR_SINK_STATEMENT' });
}

const PRIVILEGE = /\b(USE CATALOG|USE SCHEMA|CREATE TABLE|MODIFY|SELECT|READ FILES|READ VOLUME|WRITE FILES)\b/i;

/** What to do about a failed statement, from its message and SQLSTATE. */
export function fixFor(step: Step, message: string, sqlState: string | undefined, plan: LoadPlan, spec: DatabricksSqlSpec): string {
  const schema = `${spec.catalog}.${spec.schema}`;
  if (sqlState === '42501' || /PERMISSION_DENIED|INSUFFICIENT_PERMISSIONS|does not have .*(privilege|permission)|not authorized/i.test(message)) {
    const named = PRIVILEGE.exec(message)?.[1]?.toUpperCase();
    const needed: Record<Step, string> = {
      create: `USE CATALOG on ${spec.catalog}, USE SCHEMA and CREATE TABLE on ${schema}`,
      copy: `MODIFY on ${plan.table} and READ FILES on the external location covering ${plan.source} (READ VOLUME for a volume)`,
      createLatest: `USE SCHEMA and CREATE TABLE on ${schema}`,
      merge: `SELECT on ${plan.table} and MODIFY on ${plan.latest}`,
    };
    return `the token's principal lacks a privilege: grant it ${named ? `${named} (named above); this step needs ${needed[step]}` : needed[step]}, e.g. GRANT USE SCHEMA ON SCHEMA ${schema} TO \`<principal>\``;
  }
  if (/SCHEMA_NOT_FOUND|NO_SUCH_SCHEMA/i.test(message) || sqlState === '3F000') return `create the schema (CREATE SCHEMA ${schema}) or set DATABRICKS_SCHEMA to an existing one`;
  if (/CATALOG_NOT_FOUND|NO_SUCH_CATALOG/i.test(message)) return `set DATABRICKS_CATALOG to an existing catalog (default main)`;
  if (/TABLE_OR_VIEW_NOT_FOUND/i.test(message) || sqlState === '42P01') return `the table was dropped while in use; it is created again when the notification is delivered again (next run)`;
  if (/warehouse/i.test(message)) return `check DATABRICKS_WAREHOUSE_ID (${spec.warehouseId}) and that the warehouse is running`;
  if (/PATH_NOT_FOUND|FileNotFound|does not exist/i.test(message)) return `Databricks cannot find ${plan.source}: set DATABRICKS_SOURCE (or source) to where Databricks sees the collection's data/ folder`;
  if (/external location|UNAUTHORIZED|AccessDenied|credential/i.test(message)) return `Databricks may not read ${plan.source}: create an external location (with a storage credential) covering it and grant READ FILES on it, or set DATABRICKS_SOURCE to a path it covers`;
  if (/MERGE_INCOMPATIBLE|FAILED_TO_MERGE_FIELDS|incompatible|CANNOT_(CAST|MERGE)/i.test(message)) return `a column's type in ${step === 'merge' ? plan.latest : plan.table} differs from the files': ALTER the column, or set DATABRICKS_TABLE to a new table`;
  return `open the statement (its id above) in the warehouse's Query History for the whole error`;
}
