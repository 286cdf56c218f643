/**
 * Arrow column builders: one row group of rows, kept column by column in flat typed arrays and
 * handed out as one Arrow `RecordBatch` (no per-value builders; reference/parquet-writers.md).
 * Schema and column order come from `columnsFor`, the column list NDJSON and the DDL share.
 * Memory: the arrays grow (doubling) to the largest row group seen and are reused, so at most
 * one row group of rows (`rowGroupRows` rows or about `rowGroupBytes`) is held here.
 */
import * as arrow from 'apache-arrow';
import { columnsFor, VECTOR_PREFIX, type ColumnSpec } from '../rows/columns.js';
import { toEpochMicros } from '../rows/time.js';
import type { Row } from '../rows/types.js';

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

/** Accumulates one column of the current row group in flat typed arrays. */
interface ColumnBuilder {
  /** Appends the row's value; returns its size estimate in bytes. Throws on a value the column cannot hold. */
  append(row: Row): number;
  /** The first `length` values as Arrow data (views of the builder's arrays, valid until the next append). */
  finish(length: number): arrow.Data;
  /** Forgets every value from index `length` on. */
  truncate(length: number): void;
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
  }
}

function field(row: Row, name: string): unknown {
  return (row as unknown as Record<string, unknown>)[name];
}

function jsonText(value: unknown): string | null {
  return value === null || value === undefined ? null : (JSON.stringify(value) ?? null);
}

function nullError(spec: ColumnSpec): Error {
  return new TypeError(`[parquet] column ${spec.name} is not nullable but the row has no value for it`);
}

/** What every builder shares: the count of values kept; `truncate` forgets the rest (the arrays are reused). */
abstract class Column {
  protected length = 0;

  truncate(length: number): void {
    this.length = length;
  }
}

/** Arrow validity bitmap (LSB first); only kept for nullable columns. */
class Validity {
  bits = new Uint8Array(128);

  set(index: number, valid: boolean): void {
    const byte = index >> 3;
    if (byte >= this.bits.length) this.bits = grow(this.bits, byte + 1);
    if (valid) this.bits[byte]! |= 1 << (index & 7);
    else this.bits[byte]! &= ~(1 << (index & 7));
  }

  finish(length: number): { nullBitmap: Uint8Array; nullCount: number } {
    let valid = 0;
    for (let i = 0; i < length; i++) valid += (this.bits[i >> 3]! >> (i & 7)) & 1;
    return { nullBitmap: this.bits.subarray(0, (length + 7) >> 3), nullCount: length - valid };
  }
}

class Utf8Builder extends Column implements ColumnBuilder {
  #bytes = Buffer.allocUnsafe(64 * 1024);
  #offsets = new Int32Array(1024);
  #validity: Validity | undefined;

  constructor(
    private readonly spec: ColumnSpec,
    private readonly get: (row: Row) => unknown,
  ) {
    super();
    if (spec.nullable) this.#validity = new Validity();
  }

  append(row: Row): number {
    const value = this.get(row);
    const index = this.length;
    let pos = this.#offsets[index]!;
    const start = pos;
    if (value === null || value === undefined) {
      if (!this.#validity) throw nullError(this.spec);
      this.#validity.set(index, false);
    } else {
      if (typeof value !== 'string') throw new TypeError(`[parquet] column ${this.spec.name} holds a ${typeof value}, not a string`);
      if (pos + value.length * 3 > this.#bytes.length) {
        const needed = pos + Buffer.byteLength(value);
        if (needed > 0x7fffffff) throw new RangeError(`[parquet] column ${this.spec.name}: a row group passed 2 GiB of text`);
        if (needed > this.#bytes.length) this.#bytes = grow(this.#bytes, needed);
      }
      pos += this.#bytes.write(value, pos);
      this.#validity?.set(index, true);
    }
    if (index + 2 > this.#offsets.length) this.#offsets = grow(this.#offsets, index + 2);
    this.#offsets[index + 1] = pos;
    this.length = index + 1;
    return pos - start;
  }

  finish(length: number): arrow.Data {
    const end = this.#offsets[length]!;
    return arrow.makeData({
      type: new arrow.Utf8(),
      length,
      ...(this.#validity?.finish(length) ?? { nullCount: 0 }),
      valueOffsets: this.#offsets.subarray(0, length + 1),
      data: this.#bytes.subarray(0, end),
    });
  }
}

const CANONICAL_TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

class TimestampBuilder extends Column implements ColumnBuilder {
  #values = new BigInt64Array(1024);
  #validity: Validity | undefined;

  constructor(
    private readonly spec: ColumnSpec,
    private readonly type: arrow.TimestampMicrosecond,
  ) {
    super();
    if (spec.nullable) this.#validity = new Validity();
  }

  append(row: Row): number {
    const value = field(row, this.spec.name);
    const index = this.length;
    if (index >= this.#values.length) this.#values = grow(this.#values, index + 1);
    if (value === null || value === undefined) {
      if (!this.#validity) throw nullError(this.spec);
      this.#validity.set(index, false);
      this.#values[index] = 0n;
    } else {
      if (typeof value !== 'string' || !CANONICAL_TS.test(value)) {
        throw new TypeError(`[parquet] column ${this.spec.name}: ${JSON.stringify(value)} is not a canonical UTC timestamp`);
      }
      this.#values[index] = toEpochMicros(value);
      this.#validity?.set(index, true);
    }
    this.length = index + 1;
    return 8;
  }

  finish(length: number): arrow.Data {
    return arrow.makeData({
      type: this.type,
      length,
      ...(this.#validity?.finish(length) ?? { nullCount: 0 }),
      data: this.#values.subarray(0, length),
    });
  }
}

class VectorBuilder extends Column implements ColumnBuilder {
  #values = new Float32Array(64 * 1024);
  #offsets = new Int32Array(1024);
  readonly #validity = new Validity();
  readonly #key: string;

  constructor(
    private readonly spec: ColumnSpec,
    private readonly type: arrow.List<arrow.Float32>,
  ) {
    super();
    this.#key = spec.name.slice(VECTOR_PREFIX.length);
  }

  append(row: Row): number {
    const value: unknown = row.vectors?.[this.#key];
    const index = this.length;
    let pos = this.#offsets[index]!;
    const start = pos;
    if (value === null || value === undefined) {
      this.#validity.set(index, false);
    } else {
      if (!(value instanceof Float32Array) && !Array.isArray(value)) {
        throw new TypeError(`[parquet] column ${this.spec.name} holds a ${typeof value}, not a vector`);
      }
      if (pos + value.length > this.#values.length) this.#values = grow(this.#values, pos + value.length);
      this.#values.set(value, pos);
      pos += value.length;
      this.#validity.set(index, true);
    }
    if (index + 2 > this.#offsets.length) this.#offsets = grow(this.#offsets, index + 2);
    this.#offsets[index + 1] = pos;
    this.length = index + 1;
    return (pos - start) * 4;
  }

  finish(length: number): arrow.Data {
    const end = this.#offsets[length]!;
    const child = arrow.makeData({ type: this.type.children[0]!.type, length: end, nullCount: 0, data: this.#values.subarray(0, end) });
    return arrow.makeData({
      type: this.type,
      length,
      ...this.#validity.finish(length),
      valueOffsets: this.#offsets.subarray(0, length + 1),
      child,
    });
  }
}

type Growable = Uint8Array | Int32Array | Float32Array | BigInt64Array;

/** A copy of `array` with room for at least `needed` elements (doubling, so appends stay amortised O(1)). */
function grow<T extends Growable>(array: T, needed: number): T {
  const size = Math.max(needed, array.length * 2);
  const next = Buffer.isBuffer(array) ? Buffer.allocUnsafe(size) : new (array.constructor as new (n: number) => T)(size);
  (next as { set(source: T): void }).set(array);
  return next as T;
}
