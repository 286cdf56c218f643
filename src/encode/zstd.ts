/**
 * Zstandard compression as a Node Transform, for NDJSON files (`.json.zst`).
 *
 * Node 20 has no zstd in node:zlib (`zlib.createZstdCompress` arrived in Node 22.15), so this
 * uses it when present and otherwise `@hpcc-js/wasm-zstd`.
 *
 * Concurrency: `Zstd.load()` returns one process-wide instance with ONE streaming context, so
 * two files cannot each keep a zstd frame open across `await`s. Each input chunk is therefore
 * compressed as one complete, independent frame in a single synchronous sequence
 * (`reset` → `compressChunk` → `compressEnd`); no other JS can run in between, so any number
 * of encoders can share the instance safely. The file is a concatenation of frames, which the
 * zstd format defines as the concatenation of their contents (RFC 8878 §3.1) and which zstd,
 * DuckDB, Snowflake and Spark read as one stream. The caller feeds ~1 MiB chunks, so the cost
 * is a few wasm calls per MiB and a slightly lower ratio than one long frame.
 */
import { Transform, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import { Zstd } from '@hpcc-js/wasm-zstd';

type ZlibWithZstd = typeof zlib & { createZstdCompress?: () => Transform };

/** A Transform that zstd-compresses what is written to it (level 3, the zstd default). */
export function createZstdCompress(): Transform {
  const native = (zlib as ZlibWithZstd).createZstdCompress;
  return native ? native() : new WasmZstdCompress();
}

class WasmZstdCompress extends Transform {
  #frames = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (chunk.length === 0) return callback();
    Zstd.load().then(
      (zstd) => {
        try {
          this.#push(compressFrame(zstd, chunk));
          callback();
        } catch (error) {
          callback(error as Error);
        }
      },
      (error: unknown) => callback(error as Error),
    );
  }

  override _flush(callback: TransformCallback): void {
    if (this.#frames > 0) return callback();
    // No input: still emit one empty frame, so the file is a valid .zst rather than 0 bytes.
    Zstd.load().then(
      (zstd) => {
        try {
          this.#push(compressFrame(zstd, new Uint8Array(0)));
          callback();
        } catch (error) {
          callback(error as Error);
        }
      },
      (error: unknown) => callback(error as Error),
    );
  }

  #push(frame: Buffer): void {
    this.#frames++;
    this.push(frame);
  }
}

/** One complete zstd frame. Synchronous on purpose: the shared context must not be interleaved. */
function compressFrame(zstd: Zstd, data: Uint8Array): Buffer {
  zstd.reset();
  const body = data.length > 0 ? zstd.compressChunk(data) : new Uint8Array(0);
  const end = zstd.compressEnd();
  return Buffer.concat([body, end]);
}
