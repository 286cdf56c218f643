/**
 * Arrow column builders: one row group of rows, kept column by column in flat typed arrays and
 * handed out as one Arrow `RecordBatch` (no per-value builders; reference/parquet-writers.md).
 * Schema and column order come from `columnsFor`, the column list NDJSON and the DDL share.
 * Memory: the arrays grow (doubling) to the largest row group seen and are reused, so at most
 * one row group of rows (`rowGroupRows` rows or about `rowGroupBytes`) is held here.
 */
import * as arrow from 'apache-arrow';
import { columnsFor, type ColumnSpec, type ColumnType, type TypedColumn, VECTOR_PREFIX } from '../rows/columns.js';
import type { Row } from '../rows/types.js';
import {
  BoolBuilder,
  type Column,
  type ColumnBuilder,
  field,
  type Getter,
  jsonText,
  ListBuilder,
  Utf8Builder,
  VectorBuilder,
} from './arrow-builders.js';
import { DateBuilder, DoubleBuilder, Int64Builder, TimestampBuilder } from './arrow-fixed.js';

/**
 * The rows of the row group being built. `append` takes a row into every column or, when one
 * column refuses it, into none (so a bad row leaves the columns aligned and the encoder usable).
 */
export class RowGroupColumns {
  readonly schema: arrow.Schema;
  readonly #builders: ColumnBuilder[];
  #rows = 0;
  #bytes = 0;

  constructor(vectorKeys: readonly string[], typed: readonly TypedColumn[] = []) {
    const { schema, builders } = buildersFor(vectorKeys, typed);
    this.schema = schema;
    this.#builders = builders;
  }

  /** Rows buffered since the last `take()`. */
  get rows(): number {
    return this.#rows;
  }

  /** Estimated bytes buffered since the last `take()` (text and vector data). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Takes the row into every column. Throws (and takes it into none) on a value a column cannot hold. */
  append(row: Row): void {
    let bytes = 0;
    let done = 0;
    try {
      for (const builder of this.#builders) {
        bytes += builder.append(row);
        done++;
      }
    } catch (error) {
      // Keep the columns aligned: undo this row in the builders that took it.
      for (let i = 0; i < done; i++) this.#builders[i]!.truncate(this.#rows);
      throw error;
    }
    this.#rows++;
    this.#bytes += bytes;
  }

  /** The buffered rows as one batch (views of the arrays: serialise it before the next `append`); empties the builders. */
  take(): arrow.RecordBatch {
    const length = this.#rows;
    const children = this.#builders.map((builder) => builder.finish(length));
    const data = arrow.makeData({ type: new arrow.Struct(this.schema.fields), length, nullCount: 0, children });
    for (const builder of this.#builders) builder.truncate(0);
    this.#rows = 0;
    this.#bytes = 0;
    return new arrow.RecordBatch(this.schema, data);
  }
}

/** The Arrow schema and the column builders of a file, both from `columnsFor` (the single column list). */
function buildersFor(vectorKeys: readonly string[], typed: readonly TypedColumn[]): { schema: arrow.Schema; builders: ColumnBuilder[] } {
  const typedNames = new Set(typed.map((c) => c.name));
  const specs = columnsFor(vectorKeys, typed);
  const fields = specs.map(arrowField);
  const builders = specs.map((spec, i): ColumnBuilder => {
    const get: Getter = typedNames.has(spec.name) ? (row) => row.typed?.[spec.name] : (row) => field(row, spec.name);
    if (spec.type === 'vector') {
      const key = spec.name.slice(VECTOR_PREFIX.length);
      return new VectorBuilder(spec, (row) => row.vectors?.[key], fields[i]!.type as arrow.List<arrow.Float32>);
    }
    if (spec.list) {
      const element = { ...spec, list: false, nullable: true };
      return new ListBuilder(spec, get, fields[i]!.type as arrow.List, scalarBuilder(element, () => undefined));
    }
    return scalarBuilder(spec, get);
  });
  return { schema: new arrow.Schema(fields), builders };
}

/** The builder of a scalar column (or of a list's elements). */
function scalarBuilder(spec: ColumnSpec, get: Getter): Column {
  switch (spec.type) {
    case 'string':
      return new Utf8Builder(spec, get);
    case 'json':
      return new Utf8Builder(spec, (row) => jsonText(get(row)));
    case 'timestamp':
      return new TimestampBuilder(spec, get);
    case 'boolean':
      return new BoolBuilder(spec, get);
    case 'int64':
      return new Int64Builder(spec, get);
    case 'double':
      return new DoubleBuilder(spec, get);
    case 'date':
      return new DateBuilder(spec, get);
    case 'vector':
      throw new TypeError(`[parquet] column ${spec.name}: a vector is not a scalar`);
  }
}

/**
 * The Arrow field of a column. Parquet types: UTF8; INT64 TIMESTAMP(MICROS, isAdjustedToUTC=true);
 * INT64; DOUBLE; INT32 DATE; BOOLEAN (bit-packed; `_deleted` is REQUIRED); standard 3-level LIST
 * (vectors: LIST<FLOAT>; a missing one is null, not []). JSON is UTF8 text (Snowflake
 * PARSE_JSON, Databricks parse_json/from_json).
 */
function arrowField(spec: ColumnSpec): arrow.Field {
  if (spec.type === 'vector') return new arrow.Field(spec.name, new arrow.List(new arrow.Field('element', new arrow.Float32(), true)), spec.nullable);
  const type = scalarType(spec.type);
  return new arrow.Field(spec.name, spec.list ? new arrow.List(new arrow.Field('element', type, true)) : type, spec.nullable);
}

function scalarType(type: Exclude<ColumnType, 'vector'>): arrow.DataType {
  switch (type) {
    case 'string':
    case 'json':
      return new arrow.Utf8();
    case 'timestamp':
      return new arrow.TimestampMicrosecond('UTC');
    case 'boolean':
      return new arrow.Bool();
    case 'int64':
      return new arrow.Int64();
    case 'double':
      return new arrow.Float64();
    case 'date':
      return new arrow.DateDay();
  }
}
