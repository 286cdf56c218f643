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

let loaded: Promise<Zstd> | undefined;

/**
 * The shared wasm instance, with one fix: @hpcc-js/wasm-zstd 1.12.5 copies every compressed
 * frame out of wasm memory with `new Uint8Array([...view])`, a JS array of one element per
 * byte (~8 MB/s; it was 40% of the CPU time of a zstd NDJSON file). We replace that copy with
 * `view.slice()` (same bytes, a memcpy). If the library's internals change, the check below
 * fails and the slow but correct path stays in place.
 */
function loadZstd(): Promise<Zstd> {
  loaded ??= Zstd.load().then((zstd) => {
    const heap = (zstd as unknown as { _mainModule?: HeapHelper })._mainModule;
    if (heap && typeof heap.heapView === 'function' && typeof heap.heapToUint8Array === 'function') {
      heap.heapToUint8Array = (block) => heap.heapView(block).slice();
    }
    return zstd;
  });
  return loaded;
}

interface HeapBlock {
  ptr: number;
  size: number;
}

interface HeapHelper {
  heapView(block: HeapBlock): Uint8Array;
  heapToUint8Array(block: HeapBlock): Uint8Array;
}

class WasmZstdCompress extends Transform {
  #frames = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (chunk.length === 0) return callback();
    loadZstd().then(
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
    loadZstd().then(
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
