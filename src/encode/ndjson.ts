/**
 * NDJSON encoder: one JSON object per line, UTF-8, keys in `columnsFor` order; timestamps as
 * canonical ISO strings, typed columns as JSON values (dates `YYYY-MM-DD`, JSON columns nested;
 * a null typed value is left out of its line), `fields`/`internal` as nested objects (null in a tombstone), vectors as
 * `vec_<key>` arrays of numbers (null when absent), `_deleted` as `true`/`false`. Compressed with gzip, zstd or nothing.
 *
 * Lines are joined into ~1 MiB chunks before they are written to the compressor (few stream
 * writes, few wasm calls for zstd). Memory bound per open encoder: one chunk being built plus
 * the compressor's and `output`'s stream buffers (16 KiB each); `write()` waits while the
 * consumer of `output` is behind.
 */
import { Transform, pipeline, type TransformCallback, type Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { columnsFor, type TypedColumn, VECTOR_PREFIX } from '../rows/columns.js';
import { extensionFor } from './codecs.js';
import type { Row } from '../rows/types.js';
import { WriteGuard } from './guard.js';
import type { EncoderOptions, FileEncoder } from './types.js';
import { createZstdCompress } from './zstd.js';

/** Characters of lines collected before they go to the compressor as one chunk. */
export const NDJSON_CHUNK_CHARS = 1024 * 1024;

/** Serialises a row as one JSON line (without the newline), keys in column order. */
export function lineSerializer(vectorKeys: readonly string[], typed: readonly TypedColumn[] = []): (row: Row) => string {
  const typedNames = new Set(typed.map((c) => c.name));
  const parts = columnsFor(vectorKeys, typed).map((spec) => {
    const key = JSON.stringify(spec.name) + ':';
    if (spec.type === 'vector') {
      const vector = spec.name.slice(VECTOR_PREFIX.length);
      return (row: Row) => key + vectorJson(row.vectors?.[vector]);
    }
    // Typed values are already in their column's form (rows/typed.ts fitValue); JSON columns nest like `fields`.
    // A null one is left out of the line: every reader takes a missing key as NULL, while a JSON
    // null would load into a Snowflake VARIANT column as a JSON null, which IS NULL does not match.
    if (typedNames.has(spec.name)) {
      return (row: Row) => {
        const value = row.typed?.[spec.name];
        return value === null || value === undefined ? '' : key + JSON.stringify(value);
      };
    }
    const name = spec.name;
    return (row: Row) => {
      const value = (row as unknown as Record<string, unknown>)[name];
      if (value === null || value === undefined) {
        if (!spec.nullable) throw new TypeError(`[ndjson] column ${name} is not nullable but the row has no value for it`);
        return key + 'null';
      }
      // As strict as the Parquet builder: `_deleted: "false"` would read as a tombstone somewhere.
      if (spec.type === 'boolean' && typeof value !== 'boolean') throw new TypeError(`[ndjson] column ${name} holds a ${typeof value}, not a boolean`);
      return key + JSON.stringify(value);
    };
  });
  return (row) => {
    let line = '{';
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!(row);
      if (part) line += (i ? ',' : '') + part; // the first column, document_id, is never left out
    }
    return line + '}';
  };
}

/**
 * A float32 vector as a JSON array. Each value is written as the shortest double that equals
 * it exactly (JS number formatting), so a reader parsing FLOAT gets the same bits back.
 * (The shortest float32 form would be ~40% shorter but is ~5× slower to produce in JS.)
 */
function vectorJson(vector: Float32Array | number[] | null | undefined): string {
  if (vector === null || vector === undefined) return 'null';
  return JSON.stringify(Array.isArray(vector) ? vector : Array.from(vector));
}

/** Counts the bytes that reach `output`. */
class ByteCounter extends Transform {
  bytes = 0;
  constructor(private readonly onFlush: () => void) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    callback(null, chunk);
  }
  override _flush(callback: TransformCallback): void {
    this.onFlush();
    callback();
  }
}

export class NdjsonEncoder implements FileEncoder {
  readonly extension: string;
  readonly output: Transform;

  readonly #serialize: (row: Row) => string;
  readonly #sink: Writable;
  readonly #counter: ByteCounter;
  readonly #guard: WriteGuard;
  #lines: string[] = [];
  #chars = 0;
  #rows = 0;

  constructor(options: EncoderOptions) {
    this.extension = extensionFor('ndjson', options.compression);
    this.#serialize = lineSerializer(options.vectorKeys, options.typedColumns);
    this.#guard = new WriteGuard('ndjson', (error) => {
      if (!this.#sink.destroyed) this.#sink.destroy(error);
      if (!this.#counter.destroyed) this.#counter.destroy(error);
    });
    this.#counter = new ByteCounter(() => this.#guard.done.resolve());
    this.output = this.#counter;
    if (options.compression === 'none') {
      this.#sink = this.#counter;
    } else {
      const compressor = options.compression === 'gzip' ? createGzip() : createZstdCompress();
      this.#sink = compressor;
      pipeline(compressor, this.#counter, (error) => error && this.#guard.fail(error));
    }
    this.#guard.watch(this.#counter, () => this.#counter.writableFinished);
  }

  get rows(): number {
    return this.#rows;
  }

  get bytesOut(): number {
    return this.#counter.bytes;
  }

  async write(row: Row): Promise<void> {
    await this.#guard.turn('write');
    const line = this.#serialize(row) + '\n';
    this.#lines.push(line);
    this.#chars += line.length;
    this.#rows++;
    if (this.#chars >= NDJSON_CHUNK_CHARS) await this.#writeChunk();
  }

  async end(): Promise<void> {
    await this.#guard.turn('end');
    if (this.#chars > 0) await this.#writeChunk();
    this.#sink.end();
    await this.#guard.done.promise;
  }

  abort(error: Error): void {
    this.#guard.fail(error);
  }

  /** Hands the collected lines on as one chunk; the next `write` waits until the sink has taken it. */
  #writeChunk(): Promise<void> {
    const chunk = Buffer.from(this.#lines.join(''), 'utf8');
    this.#lines = [];
    this.#chars = 0;
    return this.#guard.run(() => this.#writeWithBackpressure(chunk));
  }

  async #writeWithBackpressure(chunk: Buffer): Promise<void> {
    if (this.#sink.destroyed) throw this.#guard.closedEarly();
    if (this.#sink.write(chunk)) return;
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error) => {
        this.#sink.off('drain', onDrain);
        this.#sink.off('close', onClose);
        if (error) reject(error);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(this.#guard.closedEarly());
      this.#sink.on('drain', onDrain);
      this.#sink.on('close', onClose);
    });
  }
}
