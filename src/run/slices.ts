/**
 * A run's window paged as slices in flight at once (DESIGN.md section 10, "Throughput"):
 * each slice a contiguous `[lo, hi)` of `updated_at` with its own listing, position, file
 * roller, intent and counters; all of them share the run's file numbering, the process's
 * request budget (one MixpeekHttp) and the checkpoint (one write at a time).
 *
 * When: only while a slice waits on the API more than twice as long as it takes to write a page (setting
 * `splitSlices: when-waiting`, the default; `always` splits whenever fewer are in flight).
 * Against a fast API one listing, reading a page ahead, keeps this process busy, and more
 * slices would only cost. Balance: whenever fewer than `parallelSlices` are in flight (at
 * the start, and each time one finishes), the slice with the most documents left by its estimate (the density in time
 * it has seen, times the time it has left) is split at the midpoint between how far its
 * listing got and its `hi`, unless it has under two pages left. Documents that cluster in
 * time are bisected further as the emptier halves finish. A split is exact whenever it lands: the slice stops writing at the
 * new bound at once (in memory, before the checkpoint says so), the split point lies after
 * every row it has written, and the new slice's files become visible only after a checkpoint
 * write that carries the split. So a resume after a kill at any instant continues every slice
 * of the checkpoint from its own position, with no row in two slices and none in none.
 */
import type { Committer } from '../commit/committer.js';
import type { ActiveRun, Slice } from '../commit/schema.js';
import { type RunCounts, sumCounts } from '../commit/transitions.js';
import type { RowContext } from '../rows/map.js';
import { canonicalTimestamp, fromEpochMicros, toEpochMicros } from '../rows/time.js';
import { listDocumentPages } from '../source/pages.js';
import { FileRoller, type RollSettings } from './files.js';
import { Intake, type IntakeShared, sharedIntake } from './intake.js';
import { PositionTracker } from './position.js';
import type { ExportContext } from './types.js';

/** A split leaves each part at least this much time (microseconds): below it a slice is not split. */
const MIN_SPLIT_MICROS = 2n;

/** What every slice of one run shares. */
export interface SliceRunDeps {
  ctx: ExportContext;
  committer: Committer;
  /** The row mapping's context, without the per-run state the intakes share. */
  context: Omit<RowContext, 'vectorDims' | 'collectionId'>;
  roll: RollSettings;
}

/**
 * Pages every slice of the active run that is not done, `parallelSlices` at a time, splitting
 * as slices finish, until all are done. Returns the run's counters (the sums of its slices').
 * On the first failure the other slices are stopped (their open files dropped, nothing of
 * them published) and that failure is thrown; the checkpoint stays valid for a resume.
 */
export async function pageSlices(deps: SliceRunDeps): Promise<RunCounts> {
  const scheduler = new SliceScheduler(deps);
  await scheduler.run();
  return sumCounts(deps.committer.run.slices ?? []);
}

class SliceScheduler {
  private readonly limit: number;
  private readonly shared: IntakeShared;
  private readonly controller = new AbortController();
  private readonly signal: AbortSignal;
  private readonly active = new Map<number, { worker: SliceWorker; done: Promise<{ id: number; error?: unknown }> }>();
  private readonly queued: Slice[];
  private readonly pages = { fetched: 0 };
  private failure: { error: unknown } | null = null;
  private filling: Promise<void> | null = null;
  private refill = false;
  /** The density a slice split off inherits from its parent (by the parent's id, set as the split is chosen). */
  private readonly inherited = new Map<number, number | null>();
  /** Slices the run starts with ask for their listing's total (progress); a split-off part would count documents twice. */
  private readonly counted: Set<number>;

  constructor(private readonly deps: SliceRunDeps) {
    const run = deps.committer.run;
    this.limit = Math.max(1, deps.ctx.settings.parallelSlices);
    this.shared = sharedIntake(run);
    this.queued = (run.slices ?? []).filter((s) => !s.done);
    this.counted = new Set(this.queued.map((s) => s.id));
    this.signal = deps.ctx.signal ? AbortSignal.any([deps.ctx.signal, this.controller.signal]) : this.controller.signal;
  }

  async run(): Promise<void> {
    await this.fill();
    while (this.active.size > 0) {
      const { id, error } = await Promise.race([...this.active.values()].map((a) => a.done));
      const worker = this.active.get(id)!.worker;
      this.active.delete(id);
      if (error !== undefined) {
        this.fail(error);
        continue;
      }
      if (this.failure) continue;
      this.anyIntake = worker.intake;
      try {
        await this.deps.committer.finishSlice(id, worker.intake.counts);
        await this.fill();
      } catch (failed) {
        this.fail(failed);
      }
    }
    await this.filling;
    this.anyIntake?.finish(this.deps.committer.run.runId); // the slices share the warning counts: logged once
    if (this.failure) throw this.failure.error;
  }

  /** An intake of this run (they share what `finish` reports). */
  private anyIntake: Intake | null = null;

  private fail(error: unknown): void {
    if (this.failure) return;
    this.failure = { error };
    this.controller.abort(error);
  }

  /** Starts queued slices, then splits, until `limit` are in flight or nothing can be split. One fill at a time. */
  private fill(): Promise<void> {
    if (this.filling) {
      this.refill = true;
      return this.filling;
    }
    const filled = (async () => {
      await Promise.resolve(); // `filling` is set before the body runs
      try {
        do {
          this.refill = false;
          while (!this.failure && this.active.size < this.limit) {
            const next = this.queued.shift();
            if (next) {
              this.start(next);
              continue;
            }
            const split = this.pickSplit();
            if (!split) break;
            split.worker.bound(split.at); // first, in memory: from here the slice writes nothing at or after `at`
            this.start(await this.deps.committer.split(split.worker.id, split.at));
          }
        } while (this.refill && !this.failure);
      } catch (error) {
        this.fail(error);
      } finally {
        this.filling = null;
      }
    })();
    this.filling = filled;
    return filled;
  }

  private start(slice: Slice): void {
    const density = slice.splitFrom === undefined ? null : (this.inherited.get(slice.splitFrom) ?? null);
    const worker = new SliceWorker(slice, this.deps, this.shared, this.counted.has(slice.id), this.pages, () => void this.fill(), density, this.signal);
    this.anyIntake ??= worker.intake;
    const done = worker.run().then(
      () => ({ id: slice.id }),
      (error: unknown) => ({ id: slice.id, error: error ?? new Error('slice failed') }),
    );
    this.active.set(slice.id, { worker, done });
  }

  /**
   * The slice in flight with the most documents left by its estimate, and its midpoint in
   * time; null when none is worth splitting (fewer than MIN_SPLIT_PAGES pages left by the
   * estimate, or no estimate yet). The estimate is the density of documents in time the slice
   * has seen (a new slice starts with its parent's), times the time it has left; a wrong
   * estimate costs a slice that finishes early and is split again, never a row.
   */
  private pickSplit(): { worker: SliceWorker; at: string } | null {
    if (this.deps.ctx.settings.splitSlices === 'when-waiting' && ![...this.active.values()].some(({ worker }) => worker.waiting)) return null;
    const minimum = MIN_SPLIT_PAGES * this.deps.ctx.settings.pageSize;
    let best: { worker: SliceWorker; from: bigint; span: bigint; left: number } | null = null;
    for (const { worker } of this.active.values()) {
      const from = worker.splitFrom();
      const density = worker.density;
      if (from === null || density === null) continue;
      const span = toEpochMicros(worker.hi) - from;
      const left = density * Number(span);
      if (span >= 2n * MIN_SPLIT_MICROS && left >= minimum && (!best || left > best.left)) best = { worker, from, span, left };
    }
    if (!best) return null;
    const at = fromEpochMicros(best.from + best.span / 2n);
    if (!at || at >= best.worker.hi) return null;
    this.inherited.set(best.worker.id, best.worker.density);
    return { worker: best.worker, at };
  }
}

/** A listing waits on the API when its wait for a page is more than this many times the time the page took to write. */
const WAITING_FACTOR = 2;

/** Split only a slice with at least this many pages left by its estimate: a smaller one would make small files and cost requests for little. */
const MIN_SPLIT_PAGES = 2;

/** One slice being paged: its listing, intake, position and roller. */
class SliceWorker {
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
