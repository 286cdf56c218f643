/**
 * The state of one collection without holding its documents: base document i is a pure
 * function of (seed, collection, i); only mutated documents are remembered, in a map and a
 * small array sorted by (updated_at, document_id). Memory is O(mutations), whatever the size.
 */
import { hex8, mix32, seedOf, Rng } from './prng.js';
import { BaseTimeline, formatMicros, type TimeFormat } from './time.js';

/** The identity and timestamps of one current document version (no content). */
export interface DocVersion {
  index: number;
  /** 1 for a base document, +1 per mutation. */
  version: number;
  id: string;
  updatedMicros: number;
  /** Exactly the string the API returns in `_internal.updated_at`. */
  updated: string;
  createdMicros: number;
  /** Form of `_internal.created_at` (rendered only when the document is; scans skip it). */
  createdFormat: TimeFormat;
}

/** A keyset position: the last (updated_at, document_id) a page returned. */
export interface KeysetPosition {
  updatedMicros: number;
  id: string;
}

/** What to scan: order and an optional inclusive `updated_at` window used for pruning only. */
export interface ScanOptions {
  /** 1 = updated_at ascending, -1 = descending; ties are always document_id ascending. */
  direction: 1 | -1;
  after?: KeysetPosition;
  loMicros?: number;
  hiMicros?: number;
}

const DAY_MICROS = 86_400_000_000;

/** Total order of the list endpoint for a direction. */
export function compareVersions(direction: 1 | -1, a: KeysetPosition, b: KeysetPosition): number {
  if (a.updatedMicros !== b.updatedMicros) return direction * (a.updatedMicros - b.updatedMicros);
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Merge two sequences sorted by `cmp` (ties: `a` first), lazily. */
export function* mergeSorted<T>(cmp: (x: T, y: T) => number, first: Iterable<T>, second: Iterable<T>): Generator<T> {
  const a = first[Symbol.iterator]();
  const b = second[Symbol.iterator]();
  let x = a.next();
  let y = b.next();
  while (!x.done || !y.done) {
    if (y.done || (!x.done && cmp(x.value, y.value) <= 0)) {
      yield x.value as T;
      x = a.next();
    } else {
      yield y.value;
      y = b.next();
    }
  }
}

export class CollectionStore {
  private readonly salt: number;
  private readonly mutatedByIndex = new Map<number, DocVersion>();
  /** Mutated versions sorted by (updatedMicros, id) ascending. */
  private readonly mutatedSorted: DocVersion[] = [];
  private lastGroup: { group: number; micros: number; format: TimeFormat; text: string } | null = null;
  /** Versions replaced by a mutation (id and updated_at only), so tests can tell an old version from an unknown one. */
  private readonly superseded: Array<{ id: string; updated: string }> = [];

  constructor(
    readonly collectionId: string,
    collectionSalt: number,
    readonly timeline: BaseTimeline,
  ) {
    this.salt = collectionSalt;
  }

  get count(): number {
    return this.timeline.docCount;
  }

  /** `doc_` + 24 hex; the first 8 are a bijection of the index, so ids never collide. */
  documentId(index: number): string {
    return `doc_${hex8(mix32((index ^ this.salt) >>> 0))}${hex8(seedOf(this.salt, index, 1))}${hex8(seedOf(this.salt, index, 2))}`;
  }

  /** The base (version 1) identity of document i. */
  baseVersion(index: number): DocVersion {
    const group = this.groupInfo(Math.floor(index / this.timeline.groupSize));
    const updatedMicros = group.micros;
    // created_at lies up to a week before updated_at; 30% of documents were never updated.
    const h = seedOf(this.salt, index, 3);
    let createdMicros = updatedMicros;
    if (h % 10 >= 3) createdMicros -= (h % 7) * DAY_MICROS + (h % 86_400_000) * 1000 + (h % 997);
    if (group.format === 'ms') createdMicros = Math.floor(createdMicros / 1000) * 1000;
    return {
      index, version: 1, id: this.documentId(index),
      updatedMicros, updated: group.text,
      createdMicros, createdFormat: group.format,
    };
  }

  /** Instant, format and text of a group; consecutive documents share a group, so cache one. */
  private groupInfo(group: number): { group: number; micros: number; format: TimeFormat; text: string } {
    const cached = this.lastGroup;
    if (cached && cached.group === group) return cached;
    const format = this.timeline.format(group);
    const micros = this.timeline.micros(group);
    this.lastGroup = { group, micros, format, text: formatMicros(micros, format) };
    return this.lastGroup;
  }

  /** The current identity of document i (mutated or base). */
  current(index: number): DocVersion {
    return this.mutatedByIndex.get(index) ?? this.baseVersion(index);
  }

  /**
   * Give `n` distinct seeded-random documents a new version stamped `nowMicros`
   * (microsecond `Z` form, like a fresh write). Returns their ids.
   */
  mutate(n: number, rng: Rng, nowMicros: number): string[] {
    const picked = new Set<number>();
    const want = Math.min(Math.max(0, Math.floor(n)), this.count);
    while (picked.size < want) picked.add(rng.int(this.count));
    const fresh: DocVersion[] = [];
    for (const index of picked) {
      const prev = this.current(index);
      this.superseded.push({ id: prev.id, updated: prev.updated });
      if (prev.version > 1) this.removeSorted(prev);
      const next: DocVersion = {
        ...prev, version: prev.version + 1,
        updatedMicros: nowMicros, updated: formatMicros(nowMicros, 'us'),
      };
      this.mutatedByIndex.set(index, next);
      fresh.push(next);
    }
    for (const v of fresh) this.insertSorted(v);
    return fresh.map((v) => v.id);
  }

  /** Current versions in list order from a keyset position, pruned to an inclusive window. */
  scan(options: ScanOptions): Generator<DocVersion> {
    return mergeSorted<DocVersion>((a, b) => compareVersions(options.direction, a, b), this.scanBase(options), this.scanMutated(options));
  }

  /** Number of current versions with lo <= updated_at <= hi, without scanning. */
  countInWindow(loMicros = -Infinity, hiMicros = Infinity): number {
    const t = this.timeline;
    const g0 = t.firstAtOrAfter(loMicros);
    const g1 = t.lastAtOrBefore(hiMicros);
    let total = g1 < g0 ? 0 : t.members(g1)[1] - t.members(g0)[0];
    for (const v of this.mutatedByIndex.values()) {
      const baseMicros = t.micros(Math.floor(v.index / t.groupSize));
      if (baseMicros >= loMicros && baseMicros <= hiMicros) total--;
      if (v.updatedMicros >= loMicros && v.updatedMicros <= hiMicros) total++;
    }
    return total;
  }

  private *scanBase(options: ScanOptions): Generator<DocVersion> {
    const t = this.timeline;
    const { direction, after } = options;
    let lo = options.loMicros ?? -Infinity;
    let hi = options.hiMicros ?? Infinity;
    if (after && direction === 1) lo = Math.max(lo, after.updatedMicros);
    if (after && direction === -1) hi = Math.min(hi, after.updatedMicros);
    const first = t.firstAtOrAfter(lo);
    const last = t.lastAtOrBefore(hi);
    for (let k = 0; k <= last - first; k++) {
      const group = direction === 1 ? first + k : last - k;
      for (const v of this.groupMembers(group)) {
        if (after && compareVersions(direction, v, after) <= 0) continue;
        yield v;
      }
    }
  }

  /** The unmutated members of a group, sorted by id (they share one instant). */
  private groupMembers(group: number): DocVersion[] {
    const [first, end] = this.timeline.members(group);
    const out: DocVersion[] = [];
    for (let i = first; i < end; i++) if (!this.mutatedByIndex.has(i)) out.push(this.baseVersion(i));
    return out.sort((x, y) => (x.id < y.id ? -1 : 1));
  }

  private *scanMutated(options: ScanOptions): Generator<DocVersion> {
    const lo = options.loMicros ?? -Infinity;
    const hi = options.hiMicros ?? Infinity;
    const inWindow = (v: DocVersion) => v.updatedMicros >= lo && v.updatedMicros <= hi;
    const after = options.after;
    if (options.direction === 1) {
      const start = after ? this.upperBound(after) : this.lowerBoundMicros(lo);
      for (let i = start; i < this.mutatedSorted.length; i++) {
        const v = this.mutatedSorted[i] as DocVersion;
        if (v.updatedMicros > hi) return;
        if (inWindow(v)) yield v;
      }
      return;
    }
    // Descending by time but ascending ids within a tie: small, so sort a filtered copy.
    const picked = this.mutatedSorted.filter((v) => inWindow(v) && (!after || compareVersions(-1, v, after) > 0));
    yield* picked.sort((x, y) => compareVersions(-1, x, y));
  }

  /** First position in mutatedSorted strictly after `pos` in ascending order. */
  private upperBound(pos: KeysetPosition): number {
    let lo = 0;
    let hi = this.mutatedSorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareVersions(1, this.mutatedSorted[mid] as DocVersion, pos) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private lowerBoundMicros(micros: number): number {
    return this.upperBound({ updatedMicros: micros - 1, id: '\uffff' });
  }

  private insertSorted(v: DocVersion): void {
    this.mutatedSorted.splice(this.upperBound(v), 0, v);
  }

  private removeSorted(v: DocVersion): void {
    const at = this.upperBound(v) - 1;
    if (this.mutatedSorted[at] === v) this.mutatedSorted.splice(at, 1);
  }

  /** Every current version in ascending list order (streams; base documents are not stored). */
  *versions(): Generator<DocVersion> {
    yield* this.scan({ direction: 1 });
  }

  /** Every version that was ever current and has since been replaced by a mutation, oldest first. */
  *supersededVersions(): Generator<{ id: string; updated: string }> {
    yield* this.superseded;
  }
}
