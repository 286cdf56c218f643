/**
 * Small, fast, seeded randomness for the dev server.
 *
 * Every document, fault and mutation is a pure function of the seed, so a run can be replayed
 * and a test can ask for "the same data again". `Math.random` is never used.
 */

/** FNV-1a of a string: turns collection ids and names into 32-bit salts. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * murmur3's 32-bit finaliser. It is a bijection on uint32, which is why document ids built
 * from it can never collide for indices below 2^32.
 */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The inverse of {@link mix32}: `unmix32(mix32(x)) === x >>> 0`. Lets a document id be mapped back to its index. */
export function unmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7ed1b41d);
  x ^= (x >>> 13) ^ (x >>> 26);
  x = Math.imul(x, 0xa5cb9243);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Combine several integers into one well-mixed 32-bit seed. */
export function seedOf(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) h = mix32((h ^ mix32(p >>> 0)) + 0x7f4a7c15);
  return h >>> 0;
}

/** Two hex digits per byte value; `toString(16).padStart` was a tenth of page time. */
const BYTE_HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** 8 lowercase hex digits of a uint32. */
export function hex8(x: number): string {
  return (BYTE_HEX[x >>> 24] as string) + (BYTE_HEX[(x >>> 16) & 255] as string)
    + (BYTE_HEX[(x >>> 8) & 255] as string) + (BYTE_HEX[x & 255] as string);
}

/** A mulberry32 stream: one multiply-xorshift per draw, good enough for fixtures. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Next uint32. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  /** k distinct items (k clamped to the list length), in random order. */
  sample<T>(items: readonly T[], k: number): T[] {
    const pool = items.slice();
    const out: T[] = [];
    for (let i = 0; i < k && pool.length > 0; i++) out.push(pool.splice(this.int(pool.length), 1)[0] as T);
    return out;
  }

  /** A float rounded to `digits` decimals, in [lo, hi). */
  decimal(lo: number, hi: number, digits: number): number {
    const scale = 10 ** digits;
    return Math.round((lo + this.float() * (hi - lo)) * scale) / scale;
  }

  /** `n` hex digits. */
  hex(n: number): string {
    let out = '';
    while (out.length < n) out += hex8(this.nextU32());
    return out.length === n ? out : out.slice(0, n);
  }
}
