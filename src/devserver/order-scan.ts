/**
 * The store's documents in `document_id` or `created_at` order without sorting (or holding)
 * the collection.
 *
 * Ids are `doc_` + hex8(mix32(index ^ salt)) + 16 hex, and mix32 is a bijection, so the
 * order of ids is the numeric order of y = mix32(index ^ salt) and no two documents share a
 * y. The created_at order is (created micros, then y ascending), as the list endpoint breaks
 * ties by document_id ascending. A pass walks every index once, keeps the `batch` first
 * positions after the last one yielded in a buffer of at most 2 × batch, and yields them in
 * order: O(documents) time and O(batch) memory per pass, O(limit) memory per page. String
 * bounds on document_id (a cursor, or `gt`/`lt` filters) become y bounds by binary search.
 */
import { mix32, hex8 } from './prng.js';
import type { DocVersion } from './order.js';
import type { CollectionStore } from './store.js';

/** What to walk: order, direction, exclusive cursor and inclusive id bounds, all optional. */
export interface OrderScanOptions {
  /** `id` = document_id, `created` = created_at then document_id ascending. */
  kind: 'id' | 'created';
  /** 1 = ascending, -1 = descending. */
  direction: 1 | -1;
  /** Yield only what comes strictly after this position (`key` is the created micros in `created` order). */
  after?: { key: unknown; id: string };
  /** Inclusive id bounds used for pruning only (a superset of what the filter accepts). */
  lo?: string;
  hi?: string;
  /** Candidates per pass. Default 1024. */
  batch?: number;
}

/** A position in the order: sort key (0 in id order), y, index. */
type Entry = [key: number, y: number, index: number];

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

/** Live versions of the store in the requested order, per the options. */
export function* scanOrdered(store: CollectionStore, options: OrderScanOptions): Generator<DocVersion> {
  const dir = options.direction;
  const batch = Math.max(1, options.batch ?? 1024);
  const created = options.kind === 'created';
  const range = { lo: options.lo !== undefined ? yAtLeast(options.lo) : 0, hi: options.hi !== undefined ? yAtMost(options.hi) : Y_END - 1 };
  let after = startAfter(options);
  // In id order a cursor is an id bound (it need not be an id the store issued).
  const afterId = !created ? options.after?.id : undefined;
  if (afterId !== undefined && dir === 1) range.lo = Math.max(range.lo, yAtLeast(afterId));
  if (afterId !== undefined && dir === -1) range.hi = Math.min(range.hi, yAtMost(afterId));
  while (range.lo <= range.hi) {
    const picked = created ? passByCreated(store, dir, after, range, batch) : passById(store, dir, range, batch);
    for (const entry of picked) {
      after = entry;
      if (!created && dir === 1) range.lo = entry[1] + 1;
      if (!created && dir === -1) range.hi = entry[1] - 1;
      const v = store.current(entry[2]);
      if (afterId !== undefined && (dir === 1 ? v.id <= afterId : v.id >= afterId)) continue;
      yield v;
    }
    if (picked.length < batch) return;
  }
}

/** The created-order cursor as an entry; id-order cursors are handled as id bounds. */
function startAfter(options: OrderScanOptions): Entry | null {
  if (options.kind !== 'created' || !options.after) return null;
  const m = /^doc_([0-9a-f]{8})/.exec(options.after.id);
  if (!m || typeof options.after.key !== 'number') throw new RangeError('cursor position is not one this order issued');
  return [options.after.key, parseInt(m[1] as string, 16), -1];
}

/** Inclusive y range still to walk. */
interface Range { lo: number; hi: number }

/** One walk over every index: the `batch` live entries nearest the start of the y range in `dir`. */
function passById(store: CollectionStore, dir: 1 | -1, range: Range, batch: number): Entry[] {
  const { idSalt: salt, total } = store;
  const checkDeleted = store.liveCount < total;
  let { lo, hi } = range;
  const buf: Entry[] = [];
  const keep = () => {
    buf.sort((a, b) => dir * (a[1] - b[1]));
    buf.length = Math.min(buf.length, batch);
    // Nothing beyond the batch-th candidate can make this pass's cut any more.
    if (buf.length === batch && dir === 1) hi = (buf[batch - 1] as Entry)[1];
    if (buf.length === batch && dir === -1) lo = (buf[batch - 1] as Entry)[1];
  };
  for (let i = 0; i < total; i++) {
    const y = mix32((i ^ salt) >>> 0);
    if (y < lo || y > hi) continue;
    if (checkDeleted && store.isDeleted(i)) continue;
    buf.push([0, y, i]);
    if (buf.length >= 2 * batch) keep();
  }
  keep();
  return buf;
}

/** One walk over every index: the `batch` live entries that come first after `after` in (created, y ascending) order. */
function passByCreated(store: CollectionStore, dir: 1 | -1, after: Entry | null, range: Range, batch: number): Entry[] {
  const { idSalt: salt, total } = store;
  const checkDeleted = store.liveCount < total;
  /** Sign of (k, y) against an entry in the order; scalars, so rejected indices allocate nothing. */
  const vs = (k: number, y: number, e: Entry) => dir * (k - e[0]) || y - e[1];
  const buf: Entry[] = [];
  let cut: Entry | null = null;
  const keep = () => {
    buf.sort((a, b) => vs(a[0], a[1], b));
    buf.length = Math.min(buf.length, batch);
    if (buf.length === batch) cut = buf[batch - 1] as Entry;
  };
  for (let i = 0; i < total; i++) {
    const y = mix32((i ^ salt) >>> 0);
    if (y < range.lo || y > range.hi) continue;
    if (checkDeleted && store.isDeleted(i)) continue;
    const k = store.createdOf(i);
    if (after && vs(k, y, after) <= 0) continue;
    if (cut && vs(k, y, cut) > 0) continue;
    buf.push([k, y, i]);
    if (buf.length >= 2 * batch) keep();
  }
  keep();
  return buf;
}
