/**
 * Streams one data file once and computes what `verify` compares with the manifest: the
 * bytes read, their sha256, and the row count: for Parquet the footer's `num_rows` (only the
 * stream's tail is kept), for NDJSON the lines after decompression (gzip, zstd or none).
 *
 * Memory per file: one read chunk, plus the Parquet tail (at most `FOOTER_TAIL_BYTES`) or
 * the decompressor's window. Never the whole file.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { type Readable, type Transform, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { readParquetFooter, TailBuffer } from '../encode/footer.js';
import { ExportError, StorageError } from '../errors.js';
import type { StorageDriver } from '../storage/types.js';
import { createZstdDecompress } from './zstd.js';

export interface ObjectDigest {
  bytes: number;
  sha256: string;
  /** Rows read from the footer or counted as lines; `null` when they could not be read (see `rowError`). */
  rows: number | null;
  rowError: string | null;
}

/** How a data file's rows are counted, from its name's suffix (the suffix names the codec). */
export type FileKind = 'parquet' | 'ndjson-gzip' | 'ndjson-zstd' | 'ndjson';

export function fileKind(key: string): FileKind | null {
  if (key.endsWith('.parquet')) return 'parquet';
  if (key.endsWith('.json.gz')) return 'ndjson-gzip';
  if (key.endsWith('.json.zst')) return 'ndjson-zstd';
  if (key.endsWith('.json')) return 'ndjson';
  return null;
}

/** Reads `key` once. A failed read is a StorageError (exit 4); an unreadable file body is `rowError`. */
export async function digestObject(driver: StorageDriver, key: string): Promise<ObjectDigest> {
  const kind = fileKind(key);
  const counter = kind === null ? null : kind === 'parquet' ? new FooterRows() : new LineRows(kind);
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    const source: Readable = await driver.readStream(key);
    for await (const raw of source) {
      const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw as Uint8Array);
      hash.update(chunk);
      bytes += chunk.length;
      await counter?.write(chunk);
    }
  } catch (error) {
    counter?.abort();
    if (error instanceof ExportError) throw error;
    throw new StorageError(`[verify] reading ${driver.url(key)} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error, code: 'ERR_VERIFY_READ' });
  }
  let rows: number | null = null;
  let rowError: string | null = kind === null ? 'the name has no known data file suffix (.parquet, .json.gz, .json.zst, .json)' : null;
  if (counter) {
    try {
      rows = await counter.end();
    } catch (error) {
      rowError = (error as Error)?.message ?? String(error);
    }
  }
  return { bytes, sha256: hash.digest('hex'), rows, rowError };
}

interface RowCounter {
  /** Never throws: a body that cannot be decoded is reported by `end()`. */
  write(chunk: Buffer): Promise<void>;
  end(): Promise<number>;
  abort(): void;
}

/** Keeps the stream's tail and reads `num_rows` from the Parquet footer. */
class FooterRows implements RowCounter {
  readonly #tail = new TailBuffer();

  async write(chunk: Buffer): Promise<void> {
    this.#tail.push(chunk);
  }

  async end(): Promise<number> {
    const footer = readParquetFooter(this.#tail.take());
    const groups = footer.rowGroupRows.reduce((a, b) => a + b, 0);
    if (groups !== footer.numRows) throw new Error(`the Parquet footer's row groups add up to ${groups} rows but num_rows is ${footer.numRows}`);
    return footer.numRows;
  }

  abort(): void {
    this.#tail.take();
  }
}

/** Counts lines of the decompressed text; a last line without a newline counts too. */
class LineRows implements RowCounter {
  #lines = 0;
  #last = 0x0a;
  #failure: Error | null = null;
  readonly #input: Writable;
  readonly #done: Promise<void>;

  constructor(kind: Exclude<FileKind, 'parquet'>) {
    const sink = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) this.#lines++;
        if (chunk.length > 0) this.#last = chunk[chunk.length - 1]!;
        callback();
      },
    });
    const decoder: Transform | null = kind === 'ndjson-gzip' ? createGunzip() : kind === 'ndjson-zstd' ? createZstdDecompress() : null;
    this.#input = decoder ?? sink;
    this.#done = decoder ? pipeline(decoder, sink) : finished(sink);
    this.#done.catch((error: Error) => (this.#failure ??= error));
    this.#input.on('error', () => {}); // reported through #done
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.#failure || this.#input.write(chunk)) return;
    await Promise.race([once(this.#input, 'drain'), this.#done]).catch(() => {});
  }

  async end(): Promise<number> {
    if (!this.#failure) this.#input.end();
    await this.#done.catch(() => {});
    if (this.#failure) throw new Error(`cannot be decompressed: ${this.#failure.message}`);
    return this.#lines + (this.#last === 0x0a ? 0 : 1);
  }

  abort(): void {
    this.#input.destroy();
  }
}
