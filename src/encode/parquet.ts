/**
 * Parquet encoder: rows → Arrow columns (`arrow-columns.ts`, one batch per row group) →
 * parquet-wasm's streaming writer (`parquet-stream.ts`) → footer guard (`footer.ts`) → `output`.
 * This module is the encoder's lifecycle: when a row group is cut, when the file ends, and how
 * a failure anywhere stops every part.
 *
 * Memory bound per open encoder: one row group of rows in the column builders (at most
 * `rowGroupRows` rows or about `rowGroupBytes`) and its IPC copy while it is handed over; in
 * wasm, the row group parquet-wasm holds until the next one arrives; and encoded bytes in the
 * stream buffers up to `output`: before each row group the bridge waits until the consumer of
 * `output` has room, so at most one row group's bytes above the 16 KiB buffers (with nobody
 * reading `output`, the write that completes the third row group waits). WASM memory grows to
 * the largest row group seen and is not returned to the OS.
 *
 * Size: `bytesOut` read between writes counts every row group parquet-wasm has written out,
 * i.e. all but the newest (see `parquet-stream.ts`); the file roller's bound follows from that.
 * With `worker: true` parquet-wasm runs in the encoder thread (`parquet-worker.ts`): one more
 * row group in flight, and `bytesOut` counts all but the newest two.
 *
 * Feed it with one `await write()` at a time and consume `output` concurrently: `end()`
 * resolves only once the footer check has run, i.e. when `output` has been read to its end
 * (less the last stream buffer).
 */
import { pipeline } from 'node:stream';
import type { Row } from '../rows/types.js';
import { RowGroupColumns } from './arrow-columns.js';
import { FooterGuard } from './footer.js';
import { WriteGuard } from './guard.js';
import { openParquetStream, type ParquetStream } from './parquet-stream.js';
import { openWorkerParquetStream } from './parquet-worker.js';
import type { EncoderOptions, FileEncoder } from './types.js';

export const DEFAULT_ROW_GROUP_ROWS = 10_000;
export const DEFAULT_ROW_GROUP_BYTES = 64 * 1024 * 1024;

export class ParquetEncoder implements FileEncoder {
  readonly extension = '.parquet';
  readonly output: FooterGuard;

  readonly #columns: RowGroupColumns;
  readonly #rowGroupRows: number;
  readonly #rowGroupBytes: number;
  readonly #stream: ParquetStream;
  readonly #guard: WriteGuard;
  #rows = 0;
  #batchesSent = 0;
  #verified = false;

  constructor(options: EncoderOptions) {
    this.#rowGroupRows = options.rowGroupRows ?? DEFAULT_ROW_GROUP_ROWS;
    this.#rowGroupBytes = options.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES;
    this.#columns = new RowGroupColumns(options.vectorKeys, options.typedColumns);
    this.#guard = new WriteGuard('parquet', (error) => {
      this.#stream.fail(error);
      if (!this.output.destroyed) this.output.destroy(error);
    });
    this.output = new FooterGuard(
      () => this.#rows,
      () => {
        this.#verified = true;
        this.#guard.done.resolve();
      },
    );
    this.#guard.watch(this.output, () => this.#verified);
    const open = options.worker ? openWorkerParquetStream : openParquetStream;
    this.#stream = open({ compression: options.compression, rowGroupRows: this.#rowGroupRows, dictionary: options.dictionary });
    this.#stream.output.then(
      // A hand-written Readable (not Writable.toWeb + pipeTo, which loses backpressure on Node 20).
      (bytes) => pipeline(bytes, this.output, (error) => error && this.#guard.fail(error)),
      (error: Error) => this.#guard.fail(error),
    );
  }

  get rows(): number {
    return this.#rows;
  }

  get bytesOut(): number {
    return this.#stream.bytesOut;
  }

  async write(row: Row): Promise<void> {
    await this.#guard.turn('write');
    this.#columns.append(row);
    this.#rows++;
    if (this.#columns.rows >= this.#rowGroupRows || this.#columns.bytes >= this.#rowGroupBytes) await this.#flush();
  }

  async end(): Promise<void> {
    await this.#guard.turn('end');
    // A file with no rows still needs one (empty) batch: parquet-wasm takes the schema from it.
    if (this.#columns.rows > 0 || this.#batchesSent === 0) await this.#flush();
    this.#stream.close();
    await this.#guard.done.promise;
  }

  abort(error: Error): void {
    this.#guard.fail(error);
  }

  /** Cuts the buffered rows as one row group; the next `write` waits until it is handed over. */
  #flush(): Promise<void> {
    return this.#guard.run(async () => {
      try {
        await this.#stream.writeRowGroup(() => this.#columns.take());
      } catch (error) {
        this.#guard.fail(error as Error);
        throw error;
      }
      this.#batchesSent++;
    });
  }
}
