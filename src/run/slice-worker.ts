/**
 * One slice of a run's window being paged (run/slices.ts schedules them): its listing from its
 * own position, its intake, position tracker and file roller, its new end when it is split,
 * and what the scheduler reads to decide a split (how far it got, how dense its documents are,
 * whether it waits on the API).
 */
import type { ActiveRun, Slice } from '../commit/schema.js';
import { canonicalTimestamp, toEpochMicros } from '../rows/time.js';
import { listDocumentPages } from '../source/pages.js';
import { FileRoller } from './files.js';
import { Intake, type IntakeShared } from './intake.js';
import { PositionTracker } from './position.js';
import type { SliceRunDeps } from './slices.js';

/** A listing waits on the API when its wait for a page is more than this many times the time the page took to write. */
const WAITING_FACTOR = 2;

/** Split only a slice with at least this many pages left by its estimate: a smaller one would make small files and cost requests for little. */
export const MIN_SPLIT_PAGES = 2;

/** One slice being paged: its listing, intake, position and roller. */
export class SliceWorker {
  readonly id: number;
  readonly intake: Intake;
  /** The slice's end: lowered by a split while it runs. */
  hi: string;
  private readonly lo: string | null;
  private readonly tracker: PositionTracker;
  private readonly roller: FileRoller;
  /** `updated_at` of the last document of the newest page received, and whether that page was the last. */
  private fetchedTo: string | null = null;
  private listingEnded = false;
  /** Documents received by this slice in this process, and the instant they start from. */
  private received = 0;
  private receivedFrom: string | null;

  constructor(
    private readonly slice: Slice,
    private readonly deps: SliceRunDeps,
    shared: IntakeShared,
    private readonly askTotal: boolean,
    private readonly pages: { fetched: number },
    private readonly pageArrived: () => void,
    /** Documents per microsecond until this slice has seen some (its parent's estimate). */
    private readonly inheritedDensity: number | null,
    /** The run's and the scheduler's: aborted when the run is cancelled or another slice failed. */
    private readonly signal: AbortSignal,
  ) {
    const { ctx, committer, context, roll } = deps;
    this.id = slice.id;
    this.lo = slice.lo;
    this.hi = slice.hi;
    this.receivedFrom = slice.position?.updatedAt ?? slice.lo;
    this.intake = new Intake(ctx.logger, deps.committer.collection, context, slice.counts, shared);
    this.tracker = new PositionTracker(slice.position);
    this.roller = new FileRoller(ctx.driver, deps.committer.collection, committer.run.runId, { ...roll, slice: slice.id }, committer.forSlice(this.intake), signal);
  }

  /**
   * The slice has waited for its pages (after the first) more than twice as long as it took to
   * write the pages before them: the API's latency, not this process, is what it waits on, so another listing in
   * flight would help. (A listing reads one page ahead, so against a fast API the next page is
   * there when it is wanted and more slices would only cost; an API that is merely a little
   * slower than the writing, a dev server sharing the machine's cores, does not gain from more
   * listings either.) False before the second page.
   */
  get waiting(): boolean {
    return this.busyMs > 0 && this.waitedMs > WAITING_FACTOR * this.busyMs;
  }

  /** Time waited for pages after the first (whose wait is the listing's start), and spent writing the pages before them. */
  private waitedMs = 0;
  private busyMs = 0;
  private pagesSeen = 0;

  /** Documents per microsecond of `updated_at` this slice has received (null before it knows, and no parent's estimate). */
  get density(): number | null {
    if (this.received === 0 || this.fetchedTo === null || this.receivedFrom === null) return this.inheritedDensity;
    const span = Number(toEpochMicros(this.fetchedTo) - toEpochMicros(this.receivedFrom));
    return span > 0 ? this.received / span : Number.POSITIVE_INFINITY;
  }

  /** From here on this slice writes nothing at or after `at` (a split gave that part to a new slice). */
  bound(at: string): void {
    if (at < this.hi) this.hi = at;
  }

  /**
   * Where a split of this slice may start counting from (microseconds): after every row it
   * has written and, to spare refetching, after the pages it has received. Null when it
   * cannot be split now: its listing is on its last page, or it has an open start (`lo` null)
   * and no page yet.
   */
  splitFrom(): bigint | null {
    if (this.listingEnded) return null;
    const written = this.tracker.snapshot()?.updatedAt ?? null;
    const candidates = [written, this.fetchedTo, this.lo].filter((t): t is string => t !== null);
    if (candidates.length === 0) return null;
    const from = candidates.sort().at(-1)!;
    return from < this.hi ? toEpochMicros(from) + 1n : null;
  }

  async run(): Promise<void> {
    const { signal } = this;
    const { ctx, committer } = this.deps;
    const run: ActiveRun = committer.run;
    const collectionId = committer.collection;
    const listedTo = this.hi;
    const lo = this.slice.position?.updatedAt ?? this.lo;
    try {
      const pages = listDocumentPages(ctx.http, { collectionId, window: { lo, hi: listedTo }, pageSize: ctx.settings.pageSize, pageBytes: Math.round(ctx.settings.pageMb * 1024 * 1024), vectors: run.vectors, signal, includeTotal: this.askTotal && !!ctx.progress.totalKnown });
      let asked = performance.now();
      for await (const page of pages) {
        const arrived = performance.now();
        if (this.pagesSeen++ > 0) this.waitedMs += arrived - asked;
        if (page.total !== undefined) ctx.progress.totalKnown?.(collectionId, page.total);
        ctx.progress.pageFetched(page.documents.length, collectionId);
        ctx.onStep('page', ++this.pages.fetched);
        this.receivedFrom ??= firstUpdatedAt(page.documents);
        this.fetchedTo = lastUpdatedAt(page.documents) ?? this.fetchedTo;
        this.received += page.documents.length;
        this.listingEnded = page.last;
        if (!page.last) this.pageArrived();
        const ended = await this.write(page.documents, run.window, listedTo);
        asked = performance.now();
        if (!page.last) this.busyMs += asked - arrived;
        signal.throwIfAborted();
        if (ended) break;
      }
      this.listingEnded = true;
      await this.roller.close(this.tracker.snapshot());
    } catch (error) {
      await this.roller.abort(error as Error);
      throw error;
    }
  }

  /**
   * Writes a page's documents in order: each admitted one that was not exported before the
   * position (a resume re-reads from it) and lies in this slice. True once a row at or after
   * the slice's (lowered) end shows up below where the listing was asked to end: in
   * `updated_at` order everything after it belongs to the slice split off, so this one is done.
   */
  private async write(documents: unknown[], window: ActiveRun['window'], listedTo: string): Promise<boolean> {
    const { ctx } = this.deps;
    const collectionId = this.deps.committer.collection;
    for (const doc of documents) {
      const admitted = this.intake.admit(doc);
      if (!admitted || this.tracker.alreadyExported(admitted.row)) continue;
      const at = admitted.row.updated_at;
      if (at >= window.hi || (window.lo !== null && at < window.lo)) {
        this.intake.outside(admitted.row, window);
        continue;
      }
      if (at >= this.hi) {
        if (at < listedTo) return true;
        continue; // an API that ignored the filter: another slice's row
      }
      if (this.lo !== null && at < this.lo) continue; // likewise
      await this.roller.write(admitted.row, () => this.tracker.snapshot());
      this.tracker.advance(admitted.row);
      this.intake.written(admitted);
      ctx.progress.rowWritten(collectionId);
    }
    return false;
  }
}

/** The canonical `updated_at` of a page's last document (the listing is in that order), if it has one. */
function lastUpdatedAt(documents: unknown[]): string | null {
  return updatedAtOf(documents.at(-1));
}

function firstUpdatedAt(documents: unknown[]): string | null {
  return updatedAtOf(documents[0]);
}

function updatedAtOf(doc: unknown): string | null {
  const d = doc as Record<string, any> | undefined;
  return canonicalTimestamp(d?._internal?.updated_at ?? d?.updated_at);
}
