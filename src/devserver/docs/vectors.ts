/**
 * Named embedding vectors (reference §2c), generated straight into UTF-8 JSON bytes.
 *
 * A 1000-document page of 1024-dim vectors is a million numbers. Creating JS numbers and
 * running them through JSON.stringify costs ~200 ns each, a quarter second per page. Here
 * the digits of a random integer are copied from a table into a shared slab: ~20 ns each.
 * The float array never exists, and one page allocates a handful of slabs, not a Buffer
 * per vector (allocation was half the cost).
 */

/** A vector index of a collection: Qdrant named vector `<extractor>_<version>_<output>`. */
export interface VectorSpec {
  name: string;
  dims: number;
}

/** Values are ±k / 10^7 with 0 <= k < 10^6: in (-0.1, 0.1), up to 6 significant digits. */
const K_LIMIT = 1_000_000;
/** Longest element: `-0.0123456` plus a comma. */
const MAX_ELEMENT_BYTES = 11;
/** Slab size: a page of vectors needs ~10-15 of these. */
const SLAB_BYTES = 1 << 20;

/** ASCII of "000".."999", three bytes per entry. */
const DIGITS3 = Buffer.alloc(3000);
for (let i = 0; i < 1000; i++) DIGITS3.write(String(i).padStart(3, '0'), i * 3, 'latin1');

/**
 * Bump allocator for the vectors of one response. Slices stay valid as long as they are
 * referenced; a slab is garbage once its page is written.
 */
export class ByteArena {
  private slab = Buffer.allocUnsafe(0);
  private used = 0;

  /** A buffer with at least n free bytes from `offset`. */
  reserve(n: number): { buf: Buffer; offset: number } {
    if (this.slab.length - this.used < n) {
      this.slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, n));
      this.used = 0;
    }
    return { buf: this.slab, offset: this.used };
  }

  /** Mark bytes up to `end` as taken and return them. */
  commit(start: number, end: number): Buffer {
    this.used = end;
    return this.slab.subarray(start, end);
  }
}

/** JSON array of one vector as UTF-8 bytes; a pure function of the seed. */
export function vectorBytes(seed: number, dims: number, arena: ByteArena = new ByteArena()): Buffer {
  const { buf: out, offset } = arena.reserve(2 + dims * MAX_ELEMENT_BYTES);
  let p = offset;
  let state = seed | 0;
  out[p++] = 0x5b; // [
  for (let i = 0; i < dims; i++) {
    if (i > 0) out[p++] = 0x2c; // ,
    // The mulberry32 step of prng.ts, inlined: a method call per element was measurable.
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    t ^= t >>> 14;
    if (t < 0) out[p++] = 0x2d; // -
    out[p++] = 0x30; // 0
    out[p++] = 0x2e; // .
    out[p++] = 0x30; // 0
    const k = (t & 0x7fffffff) % K_LIMIT;
    const hi = ((k / 1000) | 0) * 3;
    const lo = (k % 1000) * 3;
    out[p] = DIGITS3[hi] as number;
    out[p + 1] = DIGITS3[hi + 1] as number;
    out[p + 2] = DIGITS3[hi + 2] as number;
    out[p + 3] = DIGITS3[lo] as number;
    out[p + 4] = DIGITS3[lo + 1] as number;
    out[p + 5] = DIGITS3[lo + 2] as number;
    p += 6;
  }
  out[p++] = 0x5d; // ]
  return arena.commit(offset, p);
}

/** The same vector as numbers, for tests and callers that want values rather than bytes. */
export function vectorValues(seed: number, dims: number): number[] {
  return JSON.parse(vectorBytes(seed, dims).toString('utf8')) as number[];
}
