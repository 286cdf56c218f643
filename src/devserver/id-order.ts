/**
 * The store's documents in `document_id` order without sorting (or holding) the collection.
 *
 * Ids are `doc_` + hex8(mix32(index ^ salt)) + 16 hex, and mix32 is a bijection, so the
 * order of ids is the numeric order of y = mix32(index ^ salt) and no two documents share a
 * y. A pass walks every index once, keeps the `batch` smallest (or largest) y beyond the last
 * one yielded in a buffer of at most 2 × batch, and yields them in order: O(documents) time
 * and O(batch) memory per pass, O(limit) memory per page. String bounds (a cursor, or
 * `gt`/`lt` filters on document_id) become y bounds by binary search.
 */
import { mix32, hex8 } from './prng.js';
import type { DocVersion } from './order.js';
import type { CollectionStore } from './store.js';

/** What to walk: direction, exclusive cursor id and inclusive bounds, all optional. */
export interface IdScanOptions {
  /** 1 = ascending document_id, -1 = descending. */
  direction: 1 | -1;
  /** Yield only ids strictly after this one in `direction`. */
  after?: string;
  /** Inclusive id bounds used for pruning only (a superset of what the filter accepts). */
  lo?: string;
  hi?: string;
  /** Candidates per pass. Default 1024. */
  batch?: number;
}

const Y_END = 2 ** 32;
const SUFFIX_MAX = 'f'.repeat(16);
const SUFFIX_MIN = '0'.repeat(16);

/** Smallest y whose id could be >= `bound` (Y_END when none can). */
function yAtLeast(bound: string): number {
  let lo = 0;
  let hi = Y_END;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (`doc_${hex8(mid)}${SUFFIX_MAX}` >= bound) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Largest y whose id could be <= `bound` (-1 when none can). */
function yAtMost(bound: string): number {
  let lo = -1;
  let hi = Y_END - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (`doc_${hex8(mid)}${SUFFIX_MIN}` <= bound) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Live versions of the store in document_id order, per the options. */
export function* scanById(store: CollectionStore, options: IdScanOptions): Generator<DocVersion> {
  const dir = options.direction;
  const batch = Math.max(1, options.batch ?? 1024);
  let yLo = options.lo !== undefined ? yAtLeast(options.lo) : 0;
  let yHi = options.hi !== undefined ? yAtMost(options.hi) : Y_END - 1;
  if (options.after !== undefined && dir === 1) yLo = Math.max(yLo, yAtLeast(options.after));
  if (options.after !== undefined && dir === -1) yHi = Math.min(yHi, yAtMost(options.after));
  while (yLo <= yHi) {
    const picked = pass(store, yLo, yHi, dir, batch);
    for (const [y, index] of picked) {
      if (dir === 1) yLo = y + 1;
      else yHi = y - 1;
      const v = store.current(index);
      if (options.after !== undefined && (dir === 1 ? v.id <= options.after : v.id >= options.after)) continue;
      yield v;
    }
    if (picked.length < batch) return;
  }
}

/** One walk over every index: the `batch` live (y, index) pairs nearest the start of [yLo, yHi] in `dir`. */
function pass(store: CollectionStore, yLo: number, yHi: number, dir: 1 | -1, batch: number): Array<[number, number]> {
  const salt = store.idSalt;
  const total = store.total;
  const checkDeleted = store.liveCount < total;
  const buf: Array<[number, number]> = [];
  const keep = () => {
    buf.sort((a, b) => dir * (a[0] - b[0]));
    buf.length = Math.min(buf.length, batch);
    // Nothing beyond the batch-th candidate can make this pass's cut any more.
    if (buf.length === batch) [yLo, yHi] = dir === 1 ? [yLo, (buf[batch - 1] as [number, number])[0]] : [(buf[batch - 1] as [number, number])[0], yHi];
  };
  for (let i = 0; i < total; i++) {
    const y = mix32((i ^ salt) >>> 0);
    if (y < yLo || y > yHi) continue;
    if (checkDeleted && store.isDeleted(i)) continue;
    buf.push([y, i]);
    if (buf.length >= 2 * batch) keep();
  }
  keep();
  return buf;
}
