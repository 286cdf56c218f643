/**
 * The column builders behind `RowGroupColumns` (arrow-columns.ts): each keeps one column of the
 * row group being built in flat typed arrays, grown by doubling and reused across row groups,
 * and hands it out as Arrow data without copying. A builder throws on a value its column cannot
 * hold (a null in a required column, a wrong type), naming the column.
 *
 * Each builder takes values (`appendValue`); `append(row)` reads the row's value with the
 * builder's getter. A LIST column (`ListBuilder`) feeds its elements to a child builder.
 */
import * as arrow from 'apache-arrow';
import type { ColumnSpec } from '../rows/columns.js';
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

/** Reads a column's value from a row. */
export type Getter = (row: Row) => unknown;

export function field(row: Row, name: string): unknown {
  return (row as unknown as Record<string, unknown>)[name];
}

export function jsonText(value: unknown): string | null {
  return value === null || value === undefined ? null : (JSON.stringify(value) ?? null);
}

function nullError(spec: ColumnSpec): Error {
  return new TypeError(`[parquet] column ${spec.name} is not nullable but the row has no value for it`);
}

export function typeError(spec: ColumnSpec, value: unknown, expected: string): Error {
  return new TypeError(`[parquet] column ${spec.name} holds a ${typeof value}, not ${expected}`);
}

/**
 * What every builder shares: the count of values kept (`truncate` forgets the rest; the
 * arrays are reused), the getter, and the validity bitmap of a nullable column.
 */
export abstract class Column implements ColumnBuilder {
  protected length = 0;
  protected readonly validity: Validity | undefined;

  constructor(
    protected readonly spec: ColumnSpec,
    private readonly get: Getter,
  ) {
    if (spec.nullable) this.validity = new Validity();
  }

  append(row: Row): number {
    return this.appendValue(this.get(row));
  }

  /** Appends one value (a list's element, or a row's value); returns its size estimate in bytes. */
  abstract appendValue(value: unknown): number;
  abstract finish(length: number): arrow.Data;

  truncate(length: number): void {
    this.length = length;
  }

  /** Marks index as null (throws for a required column); the caller writes a placeholder value. */
  protected setNull(index: number): void {
    if (!this.validity) throw nullError(this.spec);
    this.validity.set(index, false);
  }

  protected nulls(length: number): { nullBitmap?: Uint8Array; nullCount: number } {
    return this.validity?.finish(length) ?? { nullCount: 0 };
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

/** UTF8 text (strings, and JSON text: the getter stringifies). */
export class Utf8Builder extends Column {
  #bytes = Buffer.allocUnsafe(64 * 1024);
  #offsets = new Int32Array(1024);

  appendValue(value: unknown): number {
    const index = this.length;
    let pos = this.#offsets[index]!;
    const start = pos;
    if (value === null || value === undefined) this.setNull(index);
    else {
      if (typeof value !== 'string') throw typeError(this.spec, value, 'a string');
      if (pos + value.length * 3 > this.#bytes.length) {
        const needed = pos + Buffer.byteLength(value);
        if (needed > 0x7fffffff) throw new RangeError(`[parquet] column ${this.spec.name}: a row group passed 2 GiB of text`);
        if (needed > this.#bytes.length) this.#bytes = grow(this.#bytes, needed);
      }
      pos += this.#bytes.write(value, pos);
      this.validity?.set(index, true);
    }
    if (index + 2 > this.#offsets.length) this.#offsets = grow(this.#offsets, index + 2);
    this.#offsets[index + 1] = pos;
    this.length = index + 1;
    return pos - start;
  }

  finish(length: number): arrow.Data {
    const end = this.#offsets[length]!;
    return arrow.makeData({ type: new arrow.Utf8(), length, ...this.nulls(length), valueOffsets: this.#offsets.subarray(0, length + 1), data: this.#bytes.subarray(0, end) });
  }
}

/** BOOLEAN values, bit-packed LSB first as Arrow stores them; a validity bitmap only when the column is nullable. */
export class BoolBuilder extends Column {
  #bits = new Uint8Array(128);

  /** Size estimate 0: one bit a row is not worth counting against `rowGroupBytes`. */
  appendValue(value: unknown): number {
    const index = this.length;
    const byte = index >> 3;
    if (byte >= this.#bits.length) this.#bits = grow(this.#bits, byte + 1);
    if (value === null || value === undefined) this.setNull(index);
    else {
      if (typeof value !== 'boolean') throw typeError(this.spec, value, 'a boolean');
      this.validity?.set(index, true);
    }
    // Reused arrays hold old bits: every bit is written, true or false.
    if (value === true) this.#bits[byte]! |= 1 << (index & 7);
    else this.#bits[byte]! &= ~(1 << (index & 7));
    this.length = index + 1;
    return 0;
  }

  finish(length: number): arrow.Data {
    return arrow.makeData({ type: new arrow.Bool(), length, ...this.nulls(length), data: this.#bits.subarray(0, (length + 7) >> 3) });
  }
}

/** A dense float32 vector per row (`vec_<key>`): LIST<FLOAT>, elements copied straight into one Float32Array. */
export class VectorBuilder extends Column {
  #values = new Float32Array(64 * 1024);
  #offsets = new Int32Array(1024);

  constructor(
    spec: ColumnSpec,
    get: Getter,
    private readonly type: arrow.List<arrow.Float32>,
  ) {
    super({ ...spec, nullable: true }, get);
  }

  appendValue(value: unknown): number {
    const index = this.length;
    let pos = this.#offsets[index]!;
    const start = pos;
    if (value === null || value === undefined) this.setNull(index);
    else {
      if (!(value instanceof Float32Array) && !Array.isArray(value)) throw typeError(this.spec, value, 'a vector');
      if (pos + value.length > this.#values.length) this.#values = grow(this.#values, pos + value.length);
      this.#values.set(value, pos);
      pos += value.length;
      this.validity!.set(index, true);
    }
    if (index + 2 > this.#offsets.length) this.#offsets = grow(this.#offsets, index + 2);
    this.#offsets[index + 1] = pos;
    this.length = index + 1;
    return (pos - start) * 4;
  }

  finish(length: number): arrow.Data {
    const end = this.#offsets[length]!;
    const child = arrow.makeData({ type: this.type.children[0]!.type, length: end, nullCount: 0, data: this.#values.subarray(0, end) });
    return arrow.makeData({ type: this.type, length, ...this.nulls(length), valueOffsets: this.#offsets.subarray(0, length + 1), child });
  }
}

/** A LIST of scalars (a typed column of a declared array): the elements go to `child`, nullable elements. */
export class ListBuilder extends Column {
  #offsets = new Int32Array(1024);

  constructor(
    spec: ColumnSpec,
    get: Getter,
    private readonly type: arrow.List,
    private readonly child: Column,
  ) {
    super(spec, get);
  }

  appendValue(value: unknown): number {
    const index = this.length;
    let pos = this.#offsets[index]!;
    let bytes = 0;
    if (value === null || value === undefined) this.setNull(index);
    else {
      if (!Array.isArray(value)) throw typeError(this.spec, value, 'a list');
      try {
        for (const element of value) bytes += this.child.appendValue(element);
      } catch (error) {
        this.child.truncate(pos);
        throw error;
      }
      pos += value.length;
      this.validity?.set(index, true);
    }
    if (index + 2 > this.#offsets.length) this.#offsets = grow(this.#offsets, index + 2);
    this.#offsets[index + 1] = pos;
    this.length = index + 1;
    return bytes + 4;
  }

  override truncate(length: number): void {
    super.truncate(length);
    this.child.truncate(this.#offsets[length]!);
  }

  finish(length: number): arrow.Data {
    const child = this.child.finish(this.#offsets[length]!);
    return arrow.makeData({ type: this.type, length, ...this.nulls(length), valueOffsets: this.#offsets.subarray(0, length + 1), child });
  }
}

type Growable = Uint8Array | Int32Array | Float32Array | Float64Array | BigInt64Array;

/** A copy of `array` with room for at least `needed` elements (doubling, so appends stay amortised O(1)). */
export function grow<T extends Growable>(array: T, needed: number): T {
  const size = Math.max(needed, array.length * 2);
  const next = Buffer.isBuffer(array) ? Buffer.allocUnsafe(size) : new (array.constructor as new (n: number) => T)(size);
  (next as { set(source: T): void }).set(array);
  return next as T;
}
