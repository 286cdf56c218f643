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
import { CompactReader, T_I64, T_LIST, T_STRUCT } from './thrift.js';

/** Where one row group sits in the file, from its `RowGroup` struct. */
export interface RowGroupLayout {
  /** `RowGroup.num_rows`. */
  rows: number;
  /** `RowGroup.file_offset` (field 5): where its first column chunk starts; null when the writer left it out. */
  fileOffset: number | null;
  /** `RowGroup.total_compressed_size` (field 6): its bytes in the file, page headers included; null when left out. */
  compressedBytes: number | null;
}

/** What the guard (and `verify`) read from a Parquet footer. */
export interface ParquetFooter {
  /** `FileMetaData.num_rows`. */
  numRows: number;
  /** `num_rows` of each row group, in file order. */
  rowGroupRows: number[];
  /** Each row group's rows, offset and compressed size, in file order. */
  rowGroups: RowGroupLayout[];
  /** Bytes of the Thrift `FileMetaData` (the file ends with it, its 4-byte length and `PAR1`). */
  metadataBytes: number;
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
 * Read `num_rows` and the row groups' layout from the end of a Parquet file.
 * `tail` must hold at least the footer, its 4-byte length and the closing magic.
 * Throws when the bytes are not a Parquet footer.
 */
export function readParquetFooter(tail: Uint8Array): ParquetFooter {
  const n = tail.length;
  if (n < 12 || Buffer.from(tail.buffer, tail.byteOffset + n - 4, 4).toString('latin1') !== MAGIC) {
    throw new Error('not a Parquet file: the closing "PAR1" magic is missing');
  }
  const metadataBytes = new DataView(tail.buffer, tail.byteOffset + n - 8, 4).getUint32(0, true);
  if (metadataBytes + 8 > n) {
    throw new Error(`Parquet footer is ${metadataBytes} bytes but only ${n - 8} bytes of the file's end were kept`);
  }
  const reader = new CompactReader(tail.subarray(n - 8 - metadataBytes, n - 8));
  let numRows: number | undefined;
  const rowGroups: RowGroupLayout[] = [];
  reader.readStruct((id, type) => {
    if (id === 3 && type === T_I64) {
      numRows = reader.i64();
      return true;
    }
    if (id === 4 && type === T_LIST) {
      reader.readList(T_STRUCT, () => rowGroups.push(readRowGroup(reader)));
      return true;
    }
    return false;
  });
  if (numRows === undefined) throw new Error('Parquet footer has no num_rows field');
  return { numRows, rowGroupRows: rowGroups.map((g) => g.rows), rowGroups, metadataBytes };
}

/** `RowGroup` fields 3 (num_rows), 5 (file_offset) and 6 (total_compressed_size); the rest is skipped. */
function readRowGroup(reader: CompactReader): RowGroupLayout {
  const values = new Map<number, number>();
  reader.readStruct((id, type) => {
    if ((id === 3 || id === 5 || id === 6) && type === T_I64) {
      values.set(id, reader.i64());
      return true;
    }
    return false;
  });
  const rows = values.get(3);
  if (rows === undefined) throw new Error('Parquet row group has no num_rows field');
  return { rows, fileOffset: values.get(5) ?? null, compressedBytes: values.get(6) ?? null };
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
