/**
 * Zstandard decompression as a Node Transform, for `verify` to count the lines of
 * `.json.zst` files in bounded memory.
 *
 * Node 22.15+ has `zlib.createZstdDecompress`; it is used when present. On Node 20 the
 * decoder is `@hpcc-js/wasm-zstd`, whose streaming call `decompressChunk(input, outputSize)`
 * silently drops whatever does not fit `outputSize` (the input it did not consume is not
 * kept). So the compressed stream is cut here at zstd block boundaries (RFC 8878 §3.1.1:
 * frame header, 3-byte block headers, optional checksum; skippable frames §3.1.2) and
 * each call gets exactly one block, whose output is at most Block_Maximum_Size (128 KiB).
 *
 * The wasm module has one shared streaming context (see src/encode/zstd.ts), and a file's
 * decoder state must live across `await`s; each decoder therefore gets its own context on
 * the shared module, or, if the library's internals change, waits for the shared one.
 * Memory per decoder: one block of input plus 128 KiB of output.
 */
import { Transform, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import { Zstd } from '@hpcc-js/wasm-zstd';

type ZlibWithZstd = typeof zlib & { createZstdDecompress?: () => Transform };

/** Largest output of one zstd block (RFC 8878 §3.1.1.2.4). */
const MAX_BLOCK_OUTPUT = 128 * 1024;
const FRAME_MAGIC = 0xfd2fb528;

/** A Transform that decompresses a zstd stream (one or more frames). */
export function createZstdDecompress(options: { native?: boolean } = {}): Transform {
  const native = (zlib as ZlibWithZstd).createZstdDecompress;
  return native && options.native !== false ? native() : new WasmZstdDecompress();
}

interface Context {
  decompress(input: Uint8Array): Uint8Array;
  release(): void;
}

interface HeapBlock {
  ptr: number;
  size: number;
}

/** The parts of @hpcc-js/wasm-zstd 1.12.5 a private context needs (checked before use). */
interface Internals {
  _zstdClass?: new () => { reset(): void; decompressChunk(out: number, outSize: number, input: number, inSize: number): number; delete(): void };
  _mainModule?: { dataToHeap(data: Uint8Array): HeapBlock; malloc(size: number): HeapBlock; free(block: HeapBlock): void; heapView(block: HeapBlock): Uint8Array };
}

let shared: Promise<void> = Promise.resolve();

/**
 * A private streaming context on the shared wasm module; else the shared context, taken in
 * turn (slower: the library copies output byte by byte). Output is copied out of wasm
 * memory with one `slice()`.
 */
async function openContext(): Promise<Context> {
  const zstd = await Zstd.load();
  const { _zstdClass: Ctor, _mainModule: heap } = zstd as unknown as Internals;
  if (typeof Ctor === 'function' && heap && typeof heap.heapView === 'function' && typeof heap.dataToHeap === 'function') {
    const own = new Ctor();
    own.reset();
    return {
      decompress(input) {
        const source = heap.dataToHeap(input);
        const target = heap.malloc(MAX_BLOCK_OUTPUT);
        try {
          const size = own.decompressChunk(target.ptr, MAX_BLOCK_OUTPUT, source.ptr, source.size);
          if (size > MAX_BLOCK_OUTPUT) throw new Error('corrupt zstd block');
          return heap.heapView({ ptr: target.ptr, size }).slice();
        } finally {
          heap.free(target);
          heap.free(source);
        }
      },
      release: () => own.delete(),
    };
  }
  const previous = shared;
  let done!: () => void;
  shared = new Promise<void>((resolve) => (done = resolve));
  await previous;
  zstd.reset();
  return { decompress: (input) => zstd.decompressChunk(input, MAX_BLOCK_OUTPUT), release: done };
}

type State = { at: 'frame' } | { at: 'block'; checksum: boolean } | { at: 'skip'; left: number };

class WasmZstdDecompress extends Transform {
  #context: Promise<Context> | undefined;
  /** Input not yet fed to the decoder; its first `#parsed` bytes are already parsed into `#state`. */
  #pending: Buffer = Buffer.alloc(0);
  #parsed = 0;
  #state: State = { at: 'frame' };

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#context ??= openContext();
    this.#context.then(
      (context) => {
        try {
          this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
          this.#drain(context);
          callback();
        } catch (error) {
          callback(error as Error);
        }
      },
      (error: unknown) => callback(error as Error),
    );
  }

  override _flush(callback: TransformCallback): void {
    const complete = this.#state.at === 'frame' && this.#pending.length === 0;
    callback(complete ? null : new Error('zstd stream ends in the middle of a frame (the file is truncated)'));
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    const context = this.#context;
    this.#context = undefined;
    if (!context) return callback(error);
    context.then((c) => c.release(), () => {}).finally(() => callback(error));
  }

  /** Feeds every complete unit (frame header + one block, plus the checksum after the last) to the decoder. */
  #drain(context: Context): void {
    const buf = this.#pending;
    let start = 0; // first byte not yet fed to the decoder
    let pos = this.#parsed; // first byte not yet parsed
    for (;;) {
      const state = this.#state;
      const available = buf.length - pos;
      if (state.at === 'skip') {
        const n = Math.min(state.left, available);
        pos += n;
        start = pos;
        state.left -= n;
        if (state.left > 0) break;
        this.#state = { at: 'frame' };
      } else if (state.at === 'frame') {
        if (available < 8) break;
        const magic = buf.readUInt32LE(pos);
        if ((magic & 0xfffffff0) === 0x184d2a50) {
          this.#state = { at: 'skip', left: buf.readUInt32LE(pos + 4) };
          start = pos += 8;
          continue;
        }
        if (magic !== FRAME_MAGIC) throw new Error(`not a zstd stream: bad frame magic 0x${magic.toString(16)}`);
        const descriptor = buf[pos + 4]!;
        const singleSegment = (descriptor >> 5) & 1;
        const headerSize = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][descriptor & 3]! + [singleSegment, 2, 4, 8][descriptor >> 6]!;
        if (available < headerSize) break;
        pos += headerSize;
        this.#state = { at: 'block', checksum: ((descriptor >> 2) & 1) === 1 };
      } else {
        if (available < 3) break;
        const header = buf.readUIntLE(pos, 3);
        const type = (header >> 1) & 3;
        if (type === 3) throw new Error('not a zstd stream: reserved block type');
        const last = (header & 1) === 1;
        const size = 3 + (type === 1 ? 1 : header >> 3) + (last && state.checksum ? 4 : 0);
        if (available < size) break;
        pos += size;
        const out = context.decompress(buf.subarray(start, pos));
        if (out.length > MAX_BLOCK_OUTPUT) throw new Error('corrupt zstd block');
        if (out.length > 0) this.push(Buffer.from(out.buffer, out.byteOffset, out.length));
        start = pos;
        if (last) this.#state = { at: 'frame' };
      }
    }
    this.#pending = start >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(start));
    this.#parsed = pos - start;
  }
}
