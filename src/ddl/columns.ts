/**
 * The consumer types of each column, derived from the exporter's one column list
 * (`columnsFor` in rows/columns.ts), so a column added there appears in every DDL. Each map is
 * exhaustive over `ColumnType`: a new column type does not compile until every target maps it.
 *
 * The types follow what the files hold (encode/parquet.ts, encode/ndjson.ts):
 *
 * | column type | Parquet file               | NDJSON file       | Snowflake table (parquet / ndjson) | Snowflake `_latest` view | Spark schema hint |
 * |-------------|----------------------------|-------------------|------------------------------------|--------------------------|-------------------|
 * | string      | UTF8                       | string            | VARCHAR / VARCHAR                  | VARCHAR                  | STRING            |
 * | timestamp   | INT64 TIMESTAMP(MICROS, UTC)| ISO-8601 string, Z | TIMESTAMP_LTZ / TIMESTAMP_LTZ     | TIMESTAMP_LTZ            | TIMESTAMP         |
 * | json        | UTF8 holding JSON text     | nested object     | VARCHAR / VARIANT                  | VARIANT                  | STRING            |
 * | vector      | LIST<FLOAT>                | array of numbers  | ARRAY / ARRAY                      | VECTOR(FLOAT, n) or ARRAY| ARRAY<FLOAT>      |
 * | boolean     | BOOLEAN                    | true / false      | BOOLEAN / BOOLEAN                  | BOOLEAN                  | BOOLEAN           |
 */
import type { Format } from '../encode/types.js';
import { columnsFor, type ColumnSpec, type ColumnType, VECTOR_PREFIX } from '../rows/columns.js';
import { ConfigError } from '../errors.js';

/** A vector column the DDL declares: its column key (`vec_<key>`) and its length when known. */
export interface VectorColumn {
  key: string;
  dims: number | null;
}

/** Snowflake's largest VECTOR dimension; a longer vector stays an ARRAY. */
export const SNOWFLAKE_MAX_VECTOR_DIMS = 4096;

/** The columns of the files, in file order: exactly what the encoders write for these vector keys. */
export function fileColumns(vectors: readonly VectorColumn[]): ColumnSpec[] {
  return columnsFor(vectors.map((v) => v.key));
}

/** Column added by the consumer: the data file a row came from (Snowflake METADATA$FILENAME, Databricks _metadata.file_path). */
export const FILE_NAME_COLUMN = '_file_name';

/**
 * Snowflake column type of the landing table. Loaded with MATCH_BY_COLUMN_NAME and the
 * vectorized Parquet scanner: UTC-adjusted micros arrive as TIMESTAMP_LTZ; a Parquet JSON
 * text column stays text (MBCN cannot PARSE_JSON; the view does), an NDJSON object is a
 * VARIANT; vectors load as ARRAY because Snowflake does not load VECTOR columns directly.
 */
export function snowflakeType(type: ColumnType, format: Format): string {
  const types: Record<ColumnType, string> = {
    string: 'VARCHAR',
    timestamp: 'TIMESTAMP_LTZ',
    json: format === 'parquet' ? 'VARCHAR' : 'VARIANT',
    vector: 'ARRAY',
    boolean: 'BOOLEAN',
    int64: 'NUMBER(38,0)',
    double: 'FLOAT',
    date: 'DATE',
  };
  return types[type];
}

/** The expression of a column in the `_latest` view: JSON text parsed, vectors cast to VECTOR when their length is known. */
export function snowflakeViewExpr(spec: ColumnSpec, format: Format, vectors: readonly VectorColumn[]): string {
  if (spec.type === 'json' && format === 'parquet') return `PARSE_JSON(${spec.name}) AS ${spec.name}`;
  if (spec.type !== 'vector') return spec.name;
  const dims = vectorOf(spec, vectors).dims;
  return dims !== null && dims <= SNOWFLAKE_MAX_VECTOR_DIMS ? `${spec.name}::VECTOR(FLOAT, ${dims}) AS ${spec.name}` : spec.name;
}

/** Spark SQL type of a column, as written in `cloudFiles.schemaHints` / `schemaHints`. JSON stays text: `col:path` or `parse_json`. */
export function sparkType(type: ColumnType): string {
  const types: Record<ColumnType, string> = {
    string: 'STRING',
    timestamp: 'TIMESTAMP',
    json: 'STRING',
    vector: 'ARRAY<FLOAT>',
    boolean: 'BOOLEAN',
    int64: 'BIGINT',
    double: 'DOUBLE',
    date: 'DATE',
  };
  return types[type];
}

/** `cloudFiles.schemaHints` pinning every file column (the same for Parquet and NDJSON). */
export function sparkSchemaHints(vectors: readonly VectorColumn[]): string {
  return fileColumns(vectors)
    .map((spec) => `${spec.name} ${sparkType(spec.type)}`)
    .join(', ');
}

export function vectorOf(spec: ColumnSpec, vectors: readonly VectorColumn[]): VectorColumn {
  const key = spec.name.slice(VECTOR_PREFIX.length);
  return vectors.find((v) => v.key === key) ?? { key, dims: null };
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;

/** Refuses a name that would need quoting (or could inject SQL): exit 2 naming the flag. */
export function checkIdentifier(flag: string, value: string): string {
  if (!IDENTIFIER.test(value)) throw new ConfigError(`--${flag} ${JSON.stringify(value)}: use a plain identifier (letters, digits and _, not starting with a digit)`);
  return value;
}

/** A table name from a collection id: lower case, `.` and `-` become `_`, a leading digit gets `c_`. */
export function tableNameFor(collectionId: string): string {
  const name = collectionId.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return /^[0-9]/.test(name) ? `c_${name}` : name;
}
