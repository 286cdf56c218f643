/**
 * The Parquet footer guard: counts the bytes of a Parquet file as they stream out, keeps the
 * tail, and at the end checks the footer's row count against the rows the encoder sent.
 *
 * Why: parquet-wasm's `transformParquetStream` ignores the result of each batch write
 * (`let _ = writer.write(&batch)` in its writer_async.rs), so a batch it fails to write is
 * silently missing from the file. Erroring the stream in `_flush` fails the upload before it
 * completes, instead of publishing a short file.
 *
 * parquet-wasm's own metadata reader cannot be used on the tail alone: `ParquetFile.fromFile`
 * also loads the page index, whose offsets point before the tail ("index data length
 * mismatch"). So the footer is read here with a minimal Thrift compact-protocol reader of
 * `FileMetaData` (https://github.com/apache/parquet-format/blob/master/src/main/thrift/parquet.thrift):
 * field 3 `num_rows` (i64) and field 4 `row_groups` (list<RowGroup>, whose field 3 is `num_rows`).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { InternalError } from '../errors.js';

/** What the guard reads from a Parquet footer. */
export interface ParquetFooter {
  /** `FileMetaData.num_rows`. */
  numRows: number;
  /** `num_rows` of each row group, in file order. */
  rowGroupRows: number[];
}

const MAGIC = 'PAR1';

/**
 * Bytes of the stream's end kept for the footer check. The footer of a file with C columns
 * and G row groups is roughly C × G × 200 bytes, so 16 MiB covers ~80k column chunks; a
 * larger footer fails the guard (loudly) rather than passing unchecked. Memory cost: at
 * most this much plus one output chunk, held by reference (no copies).
 */
export const FOOTER_TAIL_BYTES = 16 * 1024 * 1024;

/**
 * Read `num_rows` and the row groups' row counts from the end of a Parquet file.
 * `tail` must hold at least the footer, its 4-byte length and the closing magic.
 * Throws when the bytes are not a Parquet footer.
 */
export function readParquetFooter(tail: Uint8Array): ParquetFooter {
  const n = tail.length;
  if (n < 12 || Buffer.from(tail.buffer, tail.byteOffset + n - 4, 4).toString('latin1') !== MAGIC) {
    throw new Error('not a Parquet file: the closing "PAR1" magic is missing');
  }
  const metaLength = new DataView(tail.buffer, tail.byteOffset + n - 8, 4).getUint32(0, true);
  if (metaLength + 8 > n) {
    throw new Error(`Parquet footer is ${metaLength} bytes but only ${n - 8} bytes of the file's end were kept`);
  }
  const reader = new CompactReader(tail.subarray(n - 8 - metaLength, n - 8));
  let numRows: number | undefined;
  const rowGroupRows: number[] = [];
  reader.readStruct((id, type) => {
    if (id === 3 && type === T_I64) {
      numRows = reader.i64();
      return true;
    }
    if (id === 4 && type === T_LIST) {
      reader.readList(T_STRUCT, () => rowGroupRows.push(readRowGroupRows(reader)));
      return true;
    }
    return false;
  });
  if (numRows === undefined) throw new Error('Parquet footer has no num_rows field');
  return { numRows, rowGroupRows };
}

function readRowGroupRows(reader: CompactReader): number {
  let rows: number | undefined;
  reader.readStruct((id, type) => {
    if (id === 3 && type === T_I64) {
      rows = reader.i64();
      return true;
    }
    return false;
  });
  if (rows === undefined) throw new Error('Parquet row group has no num_rows field');
  return rows;
}

/**
 * The last bytes of a stream, held by reference (no copies): chunks are dropped from the
 * front once the rest still holds `limit` bytes. Memory: at most `limit` plus one chunk.
 * Used by the footer guard and by `verify` to read a Parquet footer from a streamed object.
 */
export class TailBuffer {
  #chunks: Buffer[] = [];
  #bytes = 0;

  constructor(private readonly limit: number = FOOTER_TAIL_BYTES) {}

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    while (this.#chunks.length > 1 && this.#bytes - this.#chunks[0]!.length >= this.limit) {
      this.#bytes -= this.#chunks.shift()!.length;
    }
  }

  /** The kept bytes as one buffer; the buffer is emptied. */
  take(): Buffer {
    const out = Buffer.concat(this.#chunks, this.#bytes);
    this.#chunks = [];
    this.#bytes = 0;
    return out;
  }
}

/**
 * The output stage of a Parquet encoder: passes bytes through, counts them, and in `_flush`
 * errors the stream unless the footer's `num_rows` equals `expectedRows()` (and the row
 * groups add up to it). `onVerified` runs once the check has passed.
 */
export class FooterGuard extends Transform {
  #bytesOut = 0;
  readonly #tail = new TailBuffer();

  constructor(
    private readonly expectedRows: () => number,
    private readonly onVerified: (footer: ParquetFooter) => void = () => {},
  ) {
    super();
  }

  /** Bytes passed through so far. */
  get bytesOut(): number {
    return this.#bytesOut;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytesOut += chunk.length;
    this.#tail.push(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const expected = this.expectedRows();
    let footer: ParquetFooter;
    try {
      footer = readParquetFooter(this.#tail.take());
    } catch (cause) {
      callback(new InternalError(`[parquet] the written file has no readable footer; it is not published`, { cause }));
      return;
    }
    const groupSum = footer.rowGroupRows.reduce((a, b) => a + b, 0);
    if (footer.numRows !== expected || groupSum !== expected) {
      callback(
        new InternalError(
          `[parquet] footer counts ${footer.numRows} rows (row groups: ${groupSum}) but ${expected} were written; ` +
            `the writer dropped a batch, so the file is not published`,
          { context: { expectedRows: expected, footerRows: footer.numRows, rowGroupRows: groupSum } },
        ),
      );
      return;
    }
    this.onVerified(footer);
    callback();
  }
}

// Thrift compact protocol type ids (https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md).
const T_BOOL_TRUE = 1;
const T_BOOL_FALSE = 2;
const T_BYTE = 3;
const T_I16 = 4;
const T_I32 = 5;
const T_I64 = 6;
const T_DOUBLE = 7;
const T_BINARY = 8;
const T_LIST = 9;
const T_SET = 10;
const T_MAP = 11;
const T_STRUCT = 12;

/** Just enough of a Thrift compact-protocol reader to find fields and skip the rest. */
class CompactReader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  /** Reads struct fields until STOP; `onField` returns true when it consumed the value. */
  readStruct(onField: (id: number, type: number) => boolean): void {
    let lastId = 0;
    for (;;) {
      const header = this.byte();
      if (header === 0) return;
      const type = header & 0x0f;
      const delta = header >> 4;
      const id = delta === 0 ? Number(this.zigzag()) : lastId + delta;
      lastId = id;
      if (!onField(id, type)) this.skip(type, false);
    }
  }

  /** Reads a list header and calls `onElement` once per element (which must consume it). */
  readList(expectedType: number, onElement: () => void): void {
    const { size, type } = this.listHeader();
    if (size > 0 && type !== expectedType) throw new Error(`Thrift list of type ${type}, expected ${expectedType}`);
    for (let i = 0; i < size; i++) onElement();
  }

  i64(): number {
    const value = this.zigzag();
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < 0n) throw new Error(`row count ${value} out of range`);
    return Number(value);
  }

  private byte(): number {
    if (this.pos >= this.buf.length) throw new Error('Parquet footer ends early');
    return this.buf[this.pos++]!;
  }

  private varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
    }
    throw new Error('Thrift varint too long');
  }

  private zigzag(): bigint {
    const v = this.varint();
    return (v >> 1n) ^ -(v & 1n);
  }

  private listHeader(): { size: number; type: number } {
    const header = this.byte();
    const short = header >> 4;
    return { size: short === 15 ? Number(this.varint()) : short, type: header & 0x0f };
  }

  private advance(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error('Parquet footer ends early');
    this.pos += n;
  }

  /** Skips one value. Booleans take no byte in a field header but one byte inside a container. */
  private skip(type: number, inContainer: boolean): void {
    switch (type) {
      case T_BOOL_TRUE:
      case T_BOOL_FALSE:
        if (inContainer) this.advance(1);
        return;
      case T_BYTE:
        return this.advance(1);
      case T_I16:
      case T_I32:
      case T_I64:
        this.varint();
        return;
      case T_DOUBLE:
        return this.advance(8);
      case T_BINARY:
        return this.advance(Number(this.varint()));
      case T_LIST:
      case T_SET: {
        const { size, type: elementType } = this.listHeader();
        for (let i = 0; i < size; i++) this.skip(elementType, true);
        return;
      }
      case T_MAP: {
        const size = Number(this.varint());
        if (size === 0) return;
        const types = this.byte();
        for (let i = 0; i < size; i++) {
          this.skip(types >> 4, true);
          this.skip(types & 0x0f, true);
        }
        return;
      }
      case T_STRUCT:
        return this.readStruct(() => false);
      default:
        throw new Error(`unknown Thrift compact type ${type} in the Parquet footer`);
    }
  }
}
