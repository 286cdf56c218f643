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
import type { Slice } from '../commit/schema.js';
import { type RunCounts, sumCounts } from '../commit/transitions.js';
import type { RowContext } from '../rows/map.js';
import { fromEpochMicros, toEpochMicros } from '../rows/time.js';
import type { RollSettings } from './files.js';
import { type Intake, type IntakeShared, sharedIntake } from './intake.js';
import { MIN_SPLIT_PAGES, SliceWorker } from './slice-worker.js';
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
