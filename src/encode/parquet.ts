/**
 * Parquet encoder: rows → Arrow record batches (one per row group) → parquet-wasm
 * `transformParquetStream` → footer guard → `output`.
 *
 * Route (see reference/parquet-writers.md): columns are built directly as Arrow `Data` from
 * flat typed arrays (no per-value builders), one batch is serialised with arrow-js
 * `tableToIPC(…, 'stream')` and read into wasm memory with `parquet.Table.fromIPCStream`;
 * its `RecordBatch` is enqueued into the web `ReadableStream` that parquet-wasm consumes
 * (which takes ownership of it). JS → wasm has no zero-copy path in parquet-wasm 0.8.0 (its
 * FFI exports go wasm → JS only), so one IPC copy per row group is the cheapest correct route.
 *
 * Memory bound per open encoder: one row group of rows in the column builders (at most
 * `rowGroupRows` rows or about `rowGroupBytes`), plus a few encoded row groups in flight: one
 * being written and one queued inside parquet-wasm, one or two in the Node stream buffers
 * (measured: with nobody reading `output`, the fifth row group's `write()` waits). WASM memory
 * grows to the largest row group seen and is not returned to the OS. `bytesOut` advances one
 * row group at a time, so rolling on size overshoots by at most a row group.
 *
 * Feed it with one `await write()` at a time and consume `output` concurrently: `end()`
 * resolves only once the footer check has run, i.e. when `output` has been read to its end
 * (less the last stream buffer).
 */
import { Readable, pipeline } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import * as arrow from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import { InternalError } from '../errors.js';
import { columnsFor, VECTOR_PREFIX, type ColumnSpec } from '../rows/columns.js';
import { toEpochMicros } from '../rows/time.js';
import type { Row } from '../rows/types.js';
import { FooterGuard } from './footer.js';
import type { EncoderOptions, FileEncoder } from './types.js';

export const DEFAULT_ROW_GROUP_ROWS = 10_000;
export const DEFAULT_ROW_GROUP_BYTES = 64 * 1024 * 1024;

const CODECS: Record<string, parquet.Compression> = {
  zstd: parquet.Compression.ZSTD,
  snappy: parquet.Compression.SNAPPY,
  none: parquet.Compression.UNCOMPRESSED,
};

/** The batch stream parquet-wasm pulls from; `push` waits until it asks for the next batch. */
class BatchSource {
  readonly stream: ReadableStream<parquet.RecordBatch>;
  #controller!: ReadableStreamDefaultController<parquet.RecordBatch>;
  #demand = deferred();
  #failed: Error | undefined;

  constructor() {
    // highWaterMark 0: nothing is queued ahead; `pull` is called only when the writer reads.
    this.stream = new ReadableStream<parquet.RecordBatch>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        pull: () => this.#demand.resolve(),
        cancel: (reason) => this.fail(reason instanceof Error ? reason : new Error(String(reason))),
      },
      { highWaterMark: 0 },
    );
  }

  /** Resolves when parquet-wasm wants another batch (i.e. its output is not backed up). */
  async ready(): Promise<void> {
    await this.#demand.promise;
    if (this.#failed) throw this.#failed;
  }

  push(batch: parquet.RecordBatch): void {
    this.#demand = deferred();
    this.#controller.enqueue(batch);
  }

  close(): void {
    this.#controller.close();
  }

  fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = error;
    this.#demand.reject(error);
    try {
      this.#controller.error(error);
    } catch {
      // already closed or errored
    }
  }
}

export class ParquetEncoder implements FileEncoder {
  readonly extension = '.parquet';
  readonly output: FooterGuard;

  readonly #schema: arrow.Schema;
  readonly #builders: ColumnBuilder[];
  readonly #rowGroupRows: number;
  readonly #rowGroupBytes: number;
  readonly #source = new BatchSource();
  readonly #finished = deferred();
  #rows = 0;
  #buffered = 0;
  #bufferedBytes = 0;
  #batchesSent = 0;
  #flushing: Promise<void> | undefined;
  #ended = false;
  #failed: Error | undefined;
  #verified = false;

  constructor(options: EncoderOptions) {
    this.#rowGroupRows = options.rowGroupRows ?? DEFAULT_ROW_GROUP_ROWS;
    this.#rowGroupBytes = options.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES;
    const { schema, builders } = buildersFor(options.vectorKeys);
    this.#schema = schema;
    this.#builders = builders;
    this.#finished.promise.catch(() => {}); // observed through end(); never an unhandled rejection

    this.output = new FooterGuard(
      () => this.#rows,
      () => {
        this.#verified = true;
        this.#finished.resolve();
      },
    );
    this.output.on('error', (error) => this.#fail(error));
    this.output.on('close', () => {
      if (!this.#verified) this.#fail(new InternalError('[parquet] output closed before the file was complete'));
    });

    const properties = new parquet.WriterPropertiesBuilder()
      .setCompression(CODECS[options.compression] ?? parquet.Compression.ZSTD)
      .setWriterVersion(parquet.WriterVersion.V1) // V1 data pages: Snowflake does not fully read V2
      .setMaxRowGroupSize(this.#rowGroupRows)
      // Flush the row group after every batch: this encoder decides the boundaries (by rows and
      // by bytes), so one batch is exactly one row group and its bytes leave wasm right away.
      // (With a large limit instead, arrow-rs would merge batches and emit nothing until close.)
      .setMaxRowGroupBytes(1)
      .build();
    // Resolves only once the first batch has arrived (parquet-wasm peeks it for the schema).
    parquet.transformParquetStream(this.#source.stream, properties).then(
      (bytes: ReadableStream<Uint8Array>) => {
        // Readable.fromWeb + pipeline keeps backpressure; Writable.toWeb + pipeTo does not on Node 20.
        pipeline(Readable.fromWeb(bytes as NodeReadableStream<Uint8Array>), this.output, (error) => {
          if (error) this.#fail(error);
        });
      },
      (error: unknown) => this.#fail(new InternalError('[parquet] parquet-wasm could not start the file', { cause: error })),
    );
  }

  get rows(): number {
    return this.#rows;
  }

  get bytesOut(): number {
    return this.output.bytesOut;
  }

  async write(row: Row): Promise<void> {
    while (this.#flushing) await this.#flushing;
    this.#assertWritable('write');
    this.#append(row);
    if (this.#buffered >= this.#rowGroupRows || this.#bufferedBytes >= this.#rowGroupBytes) {
      await this.#flush();
    }
  }

  async end(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    this.#assertWritable('end');
    this.#ended = true;
    // A file with no rows still needs one (empty) batch: parquet-wasm takes the schema from it.
    if (this.#buffered > 0 || this.#batchesSent === 0) await this.#flush();
    this.#source.close();
    await this.#finished.promise;
  }

  abort(error: Error): void {
    this.#fail(error);
  }

  #append(row: Row): void {
    let bytes = 0;
    let done = 0;
    try {
      for (const builder of this.#builders) {
        bytes += builder.append(row);
        done++;
      }
    } catch (error) {
      // Keep the columns aligned: undo this row in the builders that took it.
      for (let i = 0; i < done; i++) this.#builders[i]!.truncate(this.#buffered);
      throw error;
    }
    this.#buffered++;
    this.#bufferedBytes += bytes;
    this.#rows++;
  }

  #flush(): Promise<void> {
    this.#flushing = this.#sendBatch().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #sendBatch(): Promise<void> {
    await this.#source.ready();
    try {
      this.#encodeBatch();
    } catch (cause) {
      // The buffered rows are gone: the file cannot be completed (the guard would fail it anyway).
      const error = new InternalError('[parquet] could not hand a row group to parquet-wasm', { cause });
      this.#fail(error);
      throw error;
    }
    this.#batchesSent++;
  }

  #encodeBatch(): void {
    const length = this.#buffered;
    const children = this.#builders.map((builder) => builder.finish(length));
    const data = arrow.makeData({ type: new arrow.Struct(this.#schema.fields), length, nullCount: 0, children });
    const ipc = arrow.tableToIPC(new arrow.Table(this.#schema, new arrow.RecordBatch(this.#schema, data)), 'stream');
    for (const builder of this.#builders) builder.truncate(0);
    this.#buffered = 0;
    this.#bufferedBytes = 0;

    const table = parquet.Table.fromIPCStream(ipc);
    try {
      for (const batch of table.recordBatches()) this.#source.push(batch); // ownership moves to parquet-wasm
    } finally {
      table.free();
    }
  }

  #assertWritable(what: string): void {
    if (this.#failed) throw this.#failed;
    if (this.#ended) throw new InternalError(`[parquet] ${what}() after end()`);
  }

  #fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = error;
    this.#source.fail(error);
    this.#finished.reject(error);
    if (!this.output.destroyed) this.output.destroy(error);
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
export function buildersFor(vectorKeys: readonly string[]): { schema: arrow.Schema; builders: ColumnBuilder[] } {
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

class Utf8Builder implements ColumnBuilder {
  #bytes = Buffer.allocUnsafe(64 * 1024);
  #offsets = new Int32Array(1024);
  #validity: Validity | undefined;
  #length = 0;

  constructor(
    private readonly spec: ColumnSpec,
    private readonly get: (row: Row) => unknown,
  ) {
    if (spec.nullable) this.#validity = new Validity();
  }

  append(row: Row): number {
    const value = this.get(row);
    const index = this.#length;
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
    this.#length = index + 1;
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

  truncate(length: number): void {
    this.#length = length;
  }
}

const CANONICAL_TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

class TimestampBuilder implements ColumnBuilder {
  #values = new BigInt64Array(1024);
  #validity: Validity | undefined;
  #length = 0;

  constructor(
    private readonly spec: ColumnSpec,
    private readonly type: arrow.TimestampMicrosecond,
  ) {
    if (spec.nullable) this.#validity = new Validity();
  }

  append(row: Row): number {
    const value = field(row, this.spec.name);
    const index = this.#length;
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
    this.#length = index + 1;
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

  truncate(length: number): void {
    this.#length = length;
  }
}

class VectorBuilder implements ColumnBuilder {
  #values = new Float32Array(64 * 1024);
  #offsets = new Int32Array(1024);
  readonly #validity = new Validity();
  readonly #key: string;
  #length = 0;

  constructor(
    private readonly spec: ColumnSpec,
    private readonly type: arrow.List<arrow.Float32>,
  ) {
    this.#key = spec.name.slice(VECTOR_PREFIX.length);
  }

  append(row: Row): number {
    const value: unknown = row.vectors?.[this.#key];
    const index = this.#length;
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
    this.#length = index + 1;
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

  truncate(length: number): void {
    this.#length = length;
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

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}
