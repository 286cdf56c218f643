/**
 * The state of one collection without holding its documents: base document i is a pure
 * function of (seed, collection, i); only changed documents are remembered: mutated, created
 * and re-created ones in a map and a small array sorted by (updated_at, document_id), deleted
 * ones in a map by index. Memory is O(mutations + creations + deletions), whatever the size.
 *
 * Indices below the base count are the seeded documents; created documents take the next
 * indices, so every id (`doc_` + a bijection of the index) stays unique and maps back to
 * its index ({@link CollectionStore.indexOf}).
 */
import { hex8, mix32, seedOf, unmix32, Rng } from './prng.js';
import { compareVersions, mergeSorted, type DocVersion, type KeysetPosition, type ScanOptions } from './order.js';
import { BaseTimeline, formatMicros, type TimeFormat } from './time.js';

const DAY_MICROS = 86_400_000_000;

export { compareVersions, mergeSorted, type DocVersion, type KeysetPosition, type ScanOptions } from './order.js';

export class CollectionStore {
  private readonly salt: number;
  private readonly mutatedByIndex = new Map<number, DocVersion>();
  /** Mutated versions sorted by (updatedMicros, id) ascending. */
  private readonly mutatedSorted: DocVersion[] = [];
  private lastGroup: { group: number; micros: number; format: TimeFormat; text: string } | null = null;
  private createdGroup: { group: number; micros: number; format: TimeFormat } | null = null;
  /** Versions replaced by a mutation or removed by a deletion (id and updated_at only), so tests can tell an old version from an unknown one. */
  private readonly superseded: Array<{ id: string; updated: string }> = [];
  /** Deleted documents by index: the last version each had, so a re-creation gets the next. */
  private readonly deletedByIndex = new Map<number, DocVersion>();
  /** Documents created after start; they take indices from the base count upwards. */
  private created = 0;

  constructor(
    readonly collectionId: string,
    collectionSalt: number,
    readonly timeline: BaseTimeline,
  ) {
    this.salt = collectionSalt;
  }

  /** Number of base (seeded) documents. */
  get count(): number { return this.timeline.docCount; }

  /** Every index ever used: base documents plus created ones (deleted ones included). */
  get total(): number { return this.timeline.docCount + this.created; }

  /** Number of documents that exist now. */
  get liveCount(): number { return this.total - this.deletedByIndex.size; }

  /** The collection's salt: ids of index i start with `doc_` + hex8(mix32(i ^ salt)). */
  get idSalt(): number { return this.salt; }

  isDeleted(index: number): boolean { return this.deletedByIndex.has(index); }

  /** The index of a document id ever issued (live or deleted), or null for any other string. */
  indexOf(id: string): number | null {
    const m = /^doc_([0-9a-f]{8})[0-9a-f]{16}$/.exec(id);
    if (!m) return null;
    const index = (unmix32(parseInt(m[1] as string, 16)) ^ this.salt) >>> 0;
    return index < this.total && this.documentId(index) === id ? index : null;
  }

  /** `doc_` + 24 hex; the first 8 are a bijection of the index, so ids never collide. */
  documentId(index: number): string {
    return `doc_${hex8(mix32((index ^ this.salt) >>> 0))}${hex8(seedOf(this.salt, index, 1))}${hex8(seedOf(this.salt, index, 2))}`;
  }

  /** The base (version 1) identity of document i. */
  baseVersion(index: number): DocVersion {
    const group = this.groupInfo(Math.floor(index / this.timeline.groupSize));
    return {
      index, version: 1, id: this.documentId(index),
      updatedMicros: group.micros, updated: group.text,
      createdMicros: this.baseCreated(index), createdFormat: group.format,
    };
  }

  /** `created_at` micros of live document i, without building its version (order scans call it per index). */
  createdOf(index: number): number {
    return this.mutatedByIndex.get(index)?.createdMicros ?? this.baseCreated(index);
  }

  private baseCreated(index: number): number {
    const g = Math.floor(index / this.timeline.groupSize);
    // Not groupInfo: formatting the group's text was most of a created_at order scan's time.
    if (this.createdGroup?.group !== g) this.createdGroup = { group: g, micros: this.timeline.micros(g), format: this.timeline.format(g) };
    const group = this.createdGroup;
    // created_at lies up to a week before updated_at; 30% of documents were never updated.
    const h = seedOf(this.salt, index, 3);
    let createdMicros = group.micros;
    if (h % 10 >= 3) createdMicros -= (h % 7) * DAY_MICROS + (h % 86_400_000) * 1000 + (h % 997);
    return group.format === 'ms' ? Math.floor(createdMicros / 1000) * 1000 : createdMicros;
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

  /** The current identity of live document i (mutated, created or base). */
  current(index: number): DocVersion {
    return this.mutatedByIndex.get(index) ?? this.baseVersion(index);
  }

  /** Up to `n` distinct seeded-random live indices (fewer when fewer documents are live). */
  private pickLive(n: number, rng: Rng): number[] {
    const picked = new Set<number>();
    const want = Math.min(Math.max(0, Math.floor(n)), this.liveCount);
    while (picked.size < want) {
      const i = rng.int(this.total);
      if (!this.deletedByIndex.has(i)) picked.add(i);
    }
    return [...picked];
  }

  /**
   * Give `n` distinct seeded-random documents a new version stamped `nowMicros`
   * (microsecond `Z` form, like a fresh write). Returns their ids.
   */
  mutate(n: number, rng: Rng, nowMicros: number): string[] {
    const fresh: DocVersion[] = [];
    for (const index of this.pickLive(n, rng)) {
      const prev = this.current(index);
      this.superseded.push({ id: prev.id, updated: prev.updated });
      if (this.mutatedByIndex.has(index)) this.removeSorted(prev);
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

  /**
   * Delete documents: `n` seeded-random live ones, or the given live indices. A deleted
   * document is gone from every scan and count; its last version joins the superseded list.
   * Returns the deleted ids.
   */
  delete(which: number | readonly number[], rng: Rng): string[] {
    const indices = typeof which === 'number' ? this.pickLive(which, rng) : which;
    const ids: string[] = [];
    for (const index of indices) {
      if (this.deletedByIndex.has(index) || index < 0 || index >= this.total) continue;
      const prev = this.current(index);
      if (this.mutatedByIndex.delete(index)) this.removeSorted(prev);
      this.superseded.push({ id: prev.id, updated: prev.updated });
      this.deletedByIndex.set(index, prev);
      ids.push(prev.id);
    }
    return ids;
  }

  /**
   * Bring a deleted document back under its old id: the next version number, with
   * `created_at` = `updated_at` = `nowMicros`. Returns the new version, or null when the
   * index is not deleted.
   */
  recreate(index: number, nowMicros: number): DocVersion | null {
    const prev = this.deletedByIndex.get(index);
    if (!prev) return null;
    this.deletedByIndex.delete(index);
    return this.insertChanged({ ...prev, version: prev.version + 1, ...stamp(nowMicros) });
  }

  /** Create `n` new documents (new ids, version 1) stamped `nowMicros`. Returns their ids. */
  create(n: number, nowMicros: number): string[] {
    const ids: string[] = [];
    for (let k = 0; k < Math.max(0, Math.floor(n)); k++) {
      const index = this.total;
      this.created++;
      ids.push(this.insertChanged({ index, version: 1, id: this.documentId(index), ...stamp(nowMicros) }).id);
    }
    return ids;
  }

  private insertChanged(v: DocVersion): DocVersion {
    this.mutatedByIndex.set(v.index, v);
    this.insertSorted(v);
    return v;
  }

  /** Ids deleted and not re-created, ascending. */
  deletedIds(): string[] { return [...this.deletedByIndex.values()].map((v) => v.id).sort(); }

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
    const baseIn = (index: number) => {
      if (index >= t.docCount) return false;
      const baseMicros = t.micros(Math.floor(index / t.groupSize));
      return baseMicros >= loMicros && baseMicros <= hiMicros;
    };
    for (const v of this.mutatedByIndex.values()) {
      if (baseIn(v.index)) total--;
      if (v.updatedMicros >= loMicros && v.updatedMicros <= hiMicros) total++;
    }
    for (const index of this.deletedByIndex.keys()) if (baseIn(index)) total--;
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

  /** The unchanged, live members of a group, sorted by id (they share one instant). */
  private groupMembers(group: number): DocVersion[] {
    const [first, end] = this.timeline.members(group);
    const out: DocVersion[] = [];
    for (let i = first; i < end; i++) if (!this.mutatedByIndex.has(i) && !this.deletedByIndex.has(i)) out.push(this.baseVersion(i));
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
  *versions(): Generator<DocVersion> { yield* this.scan({ direction: 1 }); }

  /** Every version that was ever current and has since been replaced by a mutation or removed by a deletion, oldest first. */
  *supersededVersions(): Generator<{ id: string; updated: string }> {
    yield* this.superseded;
  }
}

/** The timestamps of a fresh write: `created_at` = `updated_at` = now, microsecond `Z` form. */
function stamp(nowMicros: number): Pick<DocVersion, 'updatedMicros' | 'updated' | 'createdMicros' | 'createdFormat'> {
  return { updatedMicros: nowMicros, updated: formatMicros(nowMicros, 'us'), createdMicros: nowMicros, createdFormat: 'us' };
}
