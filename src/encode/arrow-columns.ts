/**
 * Arrow column builders: one row group of rows, kept column by column in flat typed arrays and
 * handed out as one Arrow `RecordBatch` (no per-value builders; reference/parquet-writers.md).
 * Schema and column order come from `columnsFor`, the column list NDJSON and the DDL share.
 * Memory: the arrays grow (doubling) to the largest row group seen and are reused, so at most
 * one row group of rows (`rowGroupRows` rows or about `rowGroupBytes`) is held here.
 */
import * as arrow from 'apache-arrow';
import { columnsFor, type ColumnSpec } from '../rows/columns.js';
import type { Row } from '../rows/types.js';
import { BoolBuilder, type ColumnBuilder, field, jsonText, TimestampBuilder, Utf8Builder, VectorBuilder } from './arrow-builders.js';

/**
 * The rows of the row group being built. `append` takes a row into every column or, when one
 * column refuses it, into none (so a bad row leaves the columns aligned and the encoder usable).
 */
export class RowGroupColumns {
  readonly schema: arrow.Schema;
  readonly #builders: ColumnBuilder[];
  #rows = 0;
  #bytes = 0;

  constructor(vectorKeys: readonly string[]) {
    const { schema, builders } = buildersFor(vectorKeys);
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
function buildersFor(vectorKeys: readonly string[]): { schema: arrow.Schema; builders: ColumnBuilder[] } {
  const specs = columnsFor(vectorKeys);
  const fields = specs.map(arrowField);
  const builders = specs.map((spec, i): ColumnBuilder => {
    const type = fields[i]!.type;
    switch (spec.type) {
      case 'string':
        return new Utf8Builder(spec, (row) => field(row, spec.name));
      case 'json':
        return new Utf8Builder(spec, (row) => jsonText(field(row, spec.name)));
      case 'timestamp':
        return new TimestampBuilder(spec, type as arrow.TimestampMicrosecond);
      case 'vector':
        return new VectorBuilder(spec, type as arrow.List<arrow.Float32>);
      case 'boolean':
        return new BoolBuilder(spec);
      default:
        throw new TypeError(`[parquet] column ${spec.name}: type ${spec.type} is not built yet`);
    }
  });
  return { schema: new arrow.Schema(fields), builders };
}

function arrowField(spec: ColumnSpec): arrow.Field {
  switch (spec.type) {
    case 'string':
    case 'json': // JSON text: Snowflake PARSE_JSON, Databricks parse_json/from_json
      return new arrow.Field(spec.name, new arrow.Utf8(), spec.nullable);
    case 'timestamp': // INT64 TIMESTAMP(MICROS, isAdjustedToUTC=true) in Parquet
      return new arrow.Field(spec.name, new arrow.TimestampMicrosecond('UTC'), spec.nullable);
    case 'vector': // standard 3-level LIST<FLOAT>; a missing vector is null, not []
      return new arrow.Field(spec.name, new arrow.List(new arrow.Field('element', new arrow.Float32(), true)), spec.nullable);
    case 'boolean': // BOOLEAN (bit-packed); `_deleted` is REQUIRED
      return new arrow.Field(spec.name, new arrow.Bool(), spec.nullable);
    default:
      throw new TypeError(`[parquet] column ${spec.name}: type ${spec.type} is not built yet`);
  }
}
