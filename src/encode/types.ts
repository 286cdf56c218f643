import type { Readable } from 'node:stream';
import type { TypedColumn } from '../rows/columns.js';
import type { Row } from '../rows/types.js';

export type Format = 'parquet' | 'ndjson';
/** Parquet: zstd | snappy | none. NDJSON: gzip | zstd | none. */
export type Compression = 'zstd' | 'snappy' | 'gzip' | 'none';

export interface EncoderOptions {
  format: Format;
  compression: Compression;
  /** Vector keys of this file (columns `vec_<key>`); fixed for the file's life. */
  vectorKeys: readonly string[];
  /** The run's typed columns (after `internal`, before `vec_*`; values in `row.typed`). Default none. */
  typedColumns?: readonly TypedColumn[];
  /**
   * Parquet: rows buffered before a row group is encoded. Memory cost: about this many
   * rows as Arrow data (with 1024-dim vectors about 4 KB a row). Default 10,000.
   */
  rowGroupRows?: number;
  /**
   * Parquet: also close a row group once the buffered rows pass about this many bytes (text as
   * UTF-8, vectors at 4 bytes a float, fixed-width values at their width). Default 64 MB.
   */
  rowGroupBytes?: number;
  /**
   * Parquet: run parquet-wasm in an encoder thread (`parquet-worker.ts`), so encoding a row
   * group overlaps with building the next. Same bytes. Costs: one more row group in memory,
   * and `bytesOut` lags by two row groups instead of one (a file can end two row groups past
   * its target). Default false.
   */
  worker?: boolean;
  /**
   * Parquet: dictionary-encode columns (parquet-wasm's default: every column chunk starts with a
   * dictionary page). Off, measured in docs/performance.md: with vectors 20-30 % less CPU and
   * 9-27 % smaller files; without vectors 10 % less CPU and files 0.3 % larger. parquet-wasm 0.8
   * cannot turn it off for the list columns alone (`setColumnDictionaryEnabled` takes a one-part
   * path). Default true.
   */
  dictionary?: boolean;
}

/**
 * Encodes rows into one file's bytes. Rows go in through `write`; bytes come out of
 * `output`, which the storage driver consumes (with backpressure). `end()` flushes; a
 * Parquet encoder checks the footer's row count against the rows written and errors the
 * output stream (so no publish completes) on a mismatch.
 */
export interface FileEncoder {
  /** File name suffix, naming the codec: `.parquet`, `.json.gz`, `.json.zst`, `.json`. */
  readonly extension: string;
  readonly output: Readable;
  /** Rows accepted so far. */
  readonly rows: number;
  /**
   * Compressed bytes of the file so far, up to date whenever `write()` has resolved: NDJSON,
   * every chunk written; Parquet, every row group parquet-wasm has written out (all but the
   * newest, which it holds until the next arrives; with `worker`, all but the newest two).
   * It moves only in the `write()` that cuts a row group (or chunk). Equals the file's size
   * after `end()`.
   * Used to roll files on target size.
   */
  readonly bytesOut: number;
  /** Resolves once the row is accepted; waits when the output is backed up. */
  write(row: Row): Promise<void>;
  /** Flushes everything; `output` ends after this resolves (or errors). */
  end(): Promise<void>;
  /** Drops the file: `output` is destroyed with `error`. */
  abort(error: Error): void;
}
