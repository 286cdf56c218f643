/**
 * Fixed-width column builders (one typed-array slot a value): TIMESTAMP(MICROS, UTC), INT64,
 * DOUBLE and DATE. See arrow-builders.ts for what every builder shares.
 */
import * as arrow from 'apache-arrow';
import { isCanonicalTimestamp, toEpochMicros } from '../rows/time.js';
import { epochDays } from '../rows/typed.js';
import { Column, grow, typeError } from './arrow-builders.js';

type Fixed = BigInt64Array | Float64Array | Int32Array;

/**
 * A fixed-width column (one array slot a value): timestamps (micros), INT64, DOUBLE, DATE
 * (days). `convert` checks a non-null value and returns what the slot holds.
 */
abstract class FixedBuilder<A extends Fixed> extends Column {
  protected abstract values: A;
  protected abstract readonly width: number;
  protected abstract readonly zero: A[number];
  protected abstract convert(value: unknown): A[number];
  protected abstract readonly type: arrow.DataType;

  appendValue(value: unknown): number {
    const index = this.length;
    if (index >= this.values.length) this.values = grow(this.values, index + 1);
    if (value === null || value === undefined) {
      this.setNull(index);
      this.values[index] = this.zero;
    } else {
      this.values[index] = this.convert(value);
      this.validity?.set(index, true);
    }
    this.length = index + 1;
    return this.width;
  }

  finish(length: number): arrow.Data {
    // makeData picks the buffer type from `type` at run time; the cast only satisfies its overloads.
    return arrow.makeData({ type: this.type as arrow.Int64, length, ...this.nulls(length), data: this.values.subarray(0, length) as BigInt64Array });
  }
}

/** TIMESTAMP(MICROS, UTC) from canonical timestamp strings. */
export class TimestampBuilder extends FixedBuilder<BigInt64Array> {
  protected values = new BigInt64Array(1024);
  protected readonly width = 8;
  protected readonly zero = 0n;
  protected readonly type = new arrow.TimestampMicrosecond('UTC');
  #lastText: string | undefined;
  #lastMicros = 0n;

  protected convert(value: unknown): bigint {
    // Runs of one value are common (`_exported_at` is the run's instant in every row): convert it once.
    if (value === this.#lastText) return this.#lastMicros;
    if (!isCanonicalTimestamp(value)) throw new TypeError(`[parquet] column ${this.spec.name}: ${JSON.stringify(value)} is not a canonical UTC timestamp`);
    this.#lastMicros = toEpochMicros(value);
    this.#lastText = value;
    return this.#lastMicros;
  }
}

/** INT64 from integral JS numbers (the mapper admits only those inside INT64). */
export class Int64Builder extends FixedBuilder<BigInt64Array> {
  protected values = new BigInt64Array(1024);
  protected readonly width = 8;
  protected readonly zero = 0n;
  protected readonly type = new arrow.Int64();

  protected convert(value: unknown): bigint {
    if (typeof value !== 'number' || !Number.isInteger(value)) throw typeError(this.spec, value, 'an integer');
    return BigInt.asIntN(64, BigInt(value));
  }
}

/** DOUBLE from finite JS numbers. */
export class DoubleBuilder extends FixedBuilder<Float64Array> {
  protected values = new Float64Array(1024);
  protected readonly width = 8;
  protected readonly zero = 0;
  protected readonly type = new arrow.Float64();

  protected convert(value: unknown): number {
    if (typeof value !== 'number') throw typeError(this.spec, value, 'a number');
    return value;
  }
}

/** DATE (days since 1970-01-01) from `YYYY-MM-DD` strings. */
export class DateBuilder extends FixedBuilder<Int32Array> {
  protected values = new Int32Array(1024);
  protected readonly width = 4;
  protected readonly zero = 0;
  protected readonly type = new arrow.DateDay();

  protected convert(value: unknown): number {
    if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value)) throw new TypeError(`[parquet] column ${this.spec.name}: ${JSON.stringify(value)} is not a YYYY-MM-DD date`);
    return epochDays(value);
  }
}

