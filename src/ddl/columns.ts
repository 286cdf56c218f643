/**
 * The consumer types of each column, derived from the exporter's one column list
 * (`columnsFor` in rows/columns.ts, envelope, typed, vec_*, run columns), so a column added
 * there appears in every DDL. Each map is exhaustive over `ColumnType`: a new column type does
 * not compile until every target maps it. A typed column with `list: true` is a LIST of its type.
 *
 * The types follow what the files hold (encode/parquet.ts, encode/ndjson.ts):
 *
 * | column type | Parquet file                 | NDJSON file         | Snowflake table (parquet / ndjson) | Snowflake `_latest` view | Spark schema hint |
 * |-------------|------------------------------|---------------------|------------------------------------|--------------------------|-------------------|
 * | string      | UTF8                         | string              | VARCHAR / VARCHAR                  | VARCHAR                  | STRING            |
 * | timestamp   | INT64 TIMESTAMP(MICROS, UTC) | ISO-8601 string, Z  | TIMESTAMP_LTZ / TIMESTAMP_LTZ      | TIMESTAMP_LTZ            | TIMESTAMP         |
 * | json        | UTF8 holding JSON text       | nested JSON value   | VARCHAR / VARIANT                  | VARIANT                  | STRING            |
 * | vector      | LIST<FLOAT>                  | array of numbers    | ARRAY / ARRAY                      | VECTOR(FLOAT, n) or ARRAY| ARRAY<FLOAT>      |
 * | boolean     | BOOLEAN                      | true / false        | BOOLEAN / BOOLEAN                  | BOOLEAN                  | BOOLEAN           |
 * | int64       | INT64                        | integer number      | NUMBER(38,0) / NUMBER(38,0)        | NUMBER(38,0)             | BIGINT            |
 * | double      | DOUBLE                       | number              | FLOAT / FLOAT                      | FLOAT                    | DOUBLE            |
 * | date        | INT32 DATE                   | `YYYY-MM-DD` string | DATE / DATE                        | DATE                     | DATE              |
 * | list of T   | LIST<T> (3-level)            | array of T          | ARRAY / ARRAY                      | ARRAY                    | ARRAY<hint of T>  |
 *
 * Snowflake (COPY with MATCH_BY_COLUMN_NAME, file format USE_VECTORIZED_SCANNER = TRUE, which
 * forces Parquet logical types): TIMESTAMP(UTC=true) loads as TIMESTAMP_LTZ and a 3-level LIST
 * as an ARRAY (the vector columns already rely on this); INT64 is what Snowflake's schema
 * detection reports as NUMBER(38, 0), its integer type, so the table declares that; DATE
 * loads as DATE; FLOAT is Snowflake's double-precision type. Sources: the COPY INTO <table>
 * TYPE = PARQUET options (USE_VECTORIZED_SCANNER, USE_LOGICAL_TYPE), INFER_SCHEMA, table schema
 * evolution (https://docs.snowflake.com/en/user-guide/data-load-schema-evolution). Not run
 * against a live account here: the tests check the DDL against what DuckDB reads in the files.
 * A JSON typed column (objects, arrays of objects, file references) is text in Parquet (the
 * `_latest` view parses it, as for `fields`) and a nested value in NDJSON (VARIANT).
 */
import type { Format } from '../encode/types.js';
import { columnsFor, type ColumnSpec, type ColumnType, type TypedColumn, VECTOR_PREFIX } from '../rows/columns.js';
import { ConfigError } from '../errors.js';

/** A vector column the DDL declares: its column key (`vec_<key>`) and its length when known. */
export interface VectorColumn {
  key: string;
  dims: number | null;
}

/** Snowflake's largest VECTOR dimension; a longer vector stays an ARRAY. */
export const SNOWFLAKE_MAX_VECTOR_DIMS = 4096;

/** The columns of the files, in file order: exactly what the encoders write for these vector keys and typed columns. */
export function fileColumns(vectors: readonly VectorColumn[], typed: readonly TypedColumn[] = []): ColumnSpec[] {
  return columnsFor(
    vectors.map((v) => v.key),
    typed,
  );
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

/** Snowflake column type of a file column: a list is an ARRAY (whatever its element type), else {@link snowflakeType}. */
export function snowflakeColumnType(spec: ColumnSpec, format: Format): string {
  return spec.list ? 'ARRAY' : snowflakeType(spec.type, format);
}

/** The expression of a column in the `_latest` view: JSON text parsed, vectors cast to VECTOR when their length is known. */
export function snowflakeViewExpr(spec: ColumnSpec, format: Format, vectors: readonly VectorColumn[]): string {
  if (spec.type === 'json' && !spec.list && format === 'parquet') return `PARSE_JSON(${spec.name}) AS ${spec.name}`;
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

/** Spark SQL type of a file column: a list is `ARRAY<element>`, else {@link sparkType}. */
export function sparkColumnType(spec: ColumnSpec): string {
  return spec.list ? `ARRAY<${sparkType(spec.type)}>` : sparkType(spec.type);
}

/** `cloudFiles.schemaHints` pinning every file column of one collection (the same for Parquet and NDJSON). */
export function sparkSchemaHints(vectors: readonly VectorColumn[], typed: readonly TypedColumn[] = []): string {
  return fileColumns(vectors, typed)
    .map((spec) => `${spec.name} ${sparkColumnType(spec)}`)
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
