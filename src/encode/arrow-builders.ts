/**
 * The column builders behind `RowGroupColumns` (arrow-columns.ts): each keeps one column of the
 * row group being built in flat typed arrays, grown by doubling and reused across row groups,
 * and hands it out as Arrow data without copying. A builder throws on a value its column cannot
 * hold (a null in a required column, a wrong type), naming the column.
 */
import * as arrow from 'apache-arrow';
import { VECTOR_PREFIX, type ColumnSpec } from '../rows/columns.js';
import { isCanonicalTimestamp, toEpochMicros } from '../rows/time.js';
import type { Row } from '../rows/types.js';

/** Accumulates one column of the current row group in flat typed arrays. */
export interface ColumnBuilder {
  /** Appends the row's value; returns its size estimate in bytes. Throws on a value the column cannot hold. */
  append(row: Row): number;
  /** The first `length` values as Arrow data (views of the builder's arrays, valid until the next append). */
  finish(length: number): arrow.Data;
  /** Forgets every value from index `length` on. */
  truncate(length: number): void;
}

export function field(row: Row, name: string): unknown {
  return (row as unknown as Record<string, unknown>)[name];
}

export function jsonText(value: unknown): string | null {
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

export class Utf8Builder extends Column implements ColumnBuilder {
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

export class TimestampBuilder extends Column implements ColumnBuilder {
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
      if (!isCanonicalTimestamp(value)) {
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

export class VectorBuilder extends Column implements ColumnBuilder {
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

/** BOOLEAN values, bit-packed LSB first as Arrow stores them; a validity bitmap only when the column is nullable. */
export class BoolBuilder extends Column implements ColumnBuilder {
  #bits = new Uint8Array(128);
  #validity: Validity | undefined;

  constructor(private readonly spec: ColumnSpec) {
    super();
    if (spec.nullable) this.#validity = new Validity();
  }

  /** Size estimate 0: one bit a row is not worth counting against `rowGroupBytes`. */
  append(row: Row): number {
    const value = field(row, this.spec.name);
    const index = this.length;
    const byte = index >> 3;
    if (byte >= this.#bits.length) this.#bits = grow(this.#bits, byte + 1);
    if (value === null || value === undefined) {
      if (!this.#validity) throw nullError(this.spec);
      this.#validity.set(index, false);
    } else {
      if (typeof value !== 'boolean') throw new TypeError(`[parquet] column ${this.spec.name} holds a ${typeof value}, not a boolean`);
      this.#validity?.set(index, true);
    }
    // Reused arrays hold old bits: every bit is written, true or false.
    if (value === true) this.#bits[byte]! |= 1 << (index & 7);
    else this.#bits[byte]! &= ~(1 << (index & 7));
    this.length = index + 1;
    return 0;
  }

  finish(length: number): arrow.Data {
    return arrow.makeData({
      type: new arrow.Bool(),
      length,
      ...(this.#validity?.finish(length) ?? { nullCount: 0 }),
      data: this.#bits.subarray(0, (length + 7) >> 3),
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
