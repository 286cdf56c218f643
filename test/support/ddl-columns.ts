/**
 * Reading back what `ddl` declares, and what each consumer makes of a column DuckDB reads in
 * the files: shared by the unit DDL test (files the encoders write) and the integ one (files a
 * real export wrote). The maps are independent of src/ddl: they say what Snowflake loads with
 * MATCH_BY_COLUMN_NAME and the vectorized Parquet scanner, and which Spark hint reads a column
 * without loss. DuckDB's own type detection reads NDJSON: nested JSON (an object, an array of
 * objects or of arrays) is `NESTED` here, which both targets hold as JSON.
 */
import { expect } from 'vitest';
import type { DuckDBConnection } from '@duckdb/node-api';

export type FileFormat = 'parquet' | 'ndjson';

export const SNOWFLAKE_TYPE_OF: Record<FileFormat, Record<string, string>> = {
  parquet: { VARCHAR: 'VARCHAR', BIGINT: 'NUMBER(38,0)', DOUBLE: 'FLOAT', BOOLEAN: 'BOOLEAN', 'TIMESTAMP WITH TIME ZONE': 'TIMESTAMP_LTZ', DATE: 'DATE', 'VARCHAR[]': 'ARRAY', 'DOUBLE[]': 'ARRAY', 'BIGINT[]': 'ARRAY', 'FLOAT[]': 'ARRAY', 'BOOLEAN[]': 'ARRAY' },
  ndjson: { VARCHAR: 'VARCHAR', BIGINT: 'NUMBER(38,0)', DOUBLE: 'FLOAT', BOOLEAN: 'BOOLEAN', 'TIMESTAMP WITH TIME ZONE': 'TIMESTAMP_LTZ', TIMESTAMP: 'TIMESTAMP_LTZ', DATE: 'DATE', NESTED: 'VARIANT', 'VARCHAR[]': 'ARRAY', 'DOUBLE[]': 'ARRAY', 'BIGINT[]': 'ARRAY', 'BOOLEAN[]': 'ARRAY' },
};

export const SPARK_TYPE_OF: Record<FileFormat, Record<string, string>> = {
  parquet: { VARCHAR: 'STRING', BIGINT: 'BIGINT', DOUBLE: 'DOUBLE', BOOLEAN: 'BOOLEAN', 'TIMESTAMP WITH TIME ZONE': 'TIMESTAMP', DATE: 'DATE', 'VARCHAR[]': 'ARRAY<STRING>', 'DOUBLE[]': 'ARRAY<DOUBLE>', 'BIGINT[]': 'ARRAY<BIGINT>', 'FLOAT[]': 'ARRAY<FLOAT>', 'BOOLEAN[]': 'ARRAY<BOOLEAN>' },
  ndjson: { VARCHAR: 'STRING', BIGINT: 'BIGINT', DOUBLE: 'DOUBLE', BOOLEAN: 'BOOLEAN', 'TIMESTAMP WITH TIME ZONE': 'TIMESTAMP', TIMESTAMP: 'TIMESTAMP', DATE: 'DATE', NESTED: 'STRING', 'VARCHAR[]': 'ARRAY<STRING>', 'DOUBLE[]': 'ARRAY<DOUBLE>', 'BIGINT[]': 'ARRAY<BIGINT>', 'BOOLEAN[]': 'ARRAY<BOOLEAN>' },
};

/** A DuckDB type of nested JSON: a STRUCT, JSON, or a list of those or of lists (`JSON[][]`, `STRUCT(...)[]`). */
function nested(type: string): boolean {
  return /^(STRUCT|JSON|MAP)/.test(type) || /\]\[\]$/.test(type) || /\)\[\]$/.test(type);
}

/** Name and DuckDB type of every column DuckDB reads in `paths` (one schema: union by name), in file order. */
export async function duckColumns(db: DuckDBConnection, paths: readonly string[], format: FileFormat): Promise<{ name: string; type: string }[]> {
  const list = `[${paths.map((p) => `'${p}'`).join(', ')}]`;
  const source = format === 'parquet' ? `read_parquet(${list}, union_by_name = true, hive_partitioning = false)` : `read_json(${list}, format = 'newline_delimited', union_by_name = true, hive_partitioning = false)`;
  const reader = await db.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`);
  return (reader.getRowObjectsJson() as { column_name: string; column_type: string }[]).map((r) => ({ name: r.column_name, type: nested(r.column_type) ? 'NESTED' : r.column_type }));
}

/** `name TYPE [NOT NULL]` of every CREATE TABLE of a Snowflake script, by table name, in order. */
export function snowflakeTables(text: string): Map<string, { name: string; type: string; notNull: boolean }[]> {
  const tables = new Map<string, { name: string; type: string; notNull: boolean }[]>();
  for (const [, table, body] of text.matchAll(/CREATE TABLE IF NOT EXISTS (\S+) \(\n([\s\S]*?)\n\) ENABLE_SCHEMA_EVOLUTION = TRUE\n/g)) {
    tables.set(
      table!,
      body!.split('\n').map((line) => {
        const [, name, type, notNull] = /^ {2}(\w+) (\S+)( NOT NULL)?/.exec(line)!;
        return { name: name!, type: type!, notNull: notNull !== undefined };
      }),
    );
  }
  return tables;
}

/** `name TYPE [NOT NULL]` of the first CREATE TABLE, in order. */
export function snowflakeTable(text: string): { name: string; type: string; notNull: boolean }[] {
  return [...snowflakeTables(text).values()][0]!;
}

/** Every schema hints string of a one-collection Databricks output (Python job and pipeline SQL), parsed. */
export function sparkHints(text: string): Map<string, string>[] {
  const hints = [...text.matchAll(/^ {5}"([^"]+)"\),$|schemaHints => '([^']+)'/gm)].map((m) => m[1] ?? m[2]!);
  expect(hints).toHaveLength(2);
  return hints.map((h) => new Map(h.split(', ').map((pair) => pair.split(' ') as [string, string])));
}
