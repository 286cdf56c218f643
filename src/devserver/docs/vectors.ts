/**
 * Named embedding vectors (reference §2c), generated straight into JSON text.
 *
 * A 1000-document page of 1024-dim vectors is a million numbers; building arrays of JS
 * numbers and running them through JSON.stringify costs several times more than writing the
 * digits directly from integers, so this module never creates the float array.
 */
import { Rng } from '../prng.js';

/** A vector index of a collection: Qdrant named vector `<extractor>_<version>_<output>`. */
export interface VectorSpec {
  name: string;
  dims: number;
}

/** Values are k / 10^7 with 0 <= k < 10^6, i.e. in (-0.1, 0.1) with up to 6 significant digits. */
const MAX_K = 999_999;

/** Digit tables for the two halves of k: one table of a million strings would cost ~40 MB. */
const PAD4: string[] = Array.from({ length: 1_000 }, (_, i) => String(i).padStart(4, '0'));
const PAD3: string[] = Array.from({ length: 1_000 }, (_, i) => String(i).padStart(3, '0'));

/** `0.0xxxxxx` text for k in [0, 10^6): 7 fraction digits, so the value is exact in decimal. */
function fraction(k: number): string {
  const hi = Math.floor(k / 1000); // 0..999
  return `0.${PAD4[hi] as string}${PAD3[k - hi * 1000] as string}`;
}

/** JSON array text of one vector; a pure function of the seed. */
export function vectorJson(seed: number, dims: number): string {
  const rng = new Rng(seed);
  const parts = new Array<string>(dims);
  for (let i = 0; i < dims; i++) {
    const u = rng.nextU32();
    const k = u % (MAX_K + 1);
    parts[i] = u & 0x80000000 ? `-${fraction(k)}` : fraction(k);
  }
  return `[${parts.join(',')}]`;
}

/** The same vector as numbers, for tests and callers that want values rather than text. */
export function vectorValues(seed: number, dims: number): number[] {
  return JSON.parse(vectorJson(seed, dims)) as number[];
}
