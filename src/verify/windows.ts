/**
 * Gaps and overlaps between the runs' windows `[lo, hi)` of `updated_at`.
 *
 * - A gap is a span between the earliest window start and the latest window end that no
 *   run's window covers (completed runs and the interrupted one). Documents updated in it
 *   were never exported: a problem. Normally each run starts at the previous run's `hi`, so
 *   the windows meet and there is none.
 * - An overlap is a run whose window starts before the end of the windows of earlier runs
 *   (by run id, i.e. start time): a `--since` re-export. Its versions are staged again, which
 *   is allowed (keep the latest per `document_id` downstream): reported as info.
 *
 * Windows are compared as canonical timestamps (they sort lexically); `lo = null` is the
 * beginning of time. Empty windows (`lo >= hi`) cover nothing and are ignored.
 */
export interface RunWindow {
  runId: string;
  lo: string | null;
  hi: string;
}

export interface WindowAnalysis {
  /** Uncovered spans `[from, to)`, with the runs that end and start there. */
  gaps: { from: string; to: string; endedBy: string; resumedBy: string }[];
  /** Runs that started before the end of the earlier runs' coverage, and the overlapping span. */
  overlaps: { runId: string; from: string | null; to: string }[];
  /** `[lo, hi)` from the earliest start to the latest end; null with no runs. */
  span: { lo: string | null; hi: string } | null;
}

/** `runs` in run-id order. */
export function analyseWindows(runs: readonly RunWindow[]): WindowAnalysis {
  const windows = runs.filter((r) => r.lo === null || r.lo < r.hi).map((r) => ({ runId: r.runId, lo: r.lo ?? BEGINNING, hi: r.hi }));
  const overlaps: WindowAnalysis['overlaps'] = [];
  let covered: Span[] = []; // union of the earlier runs' windows, sorted and disjoint
  for (const run of windows) {
    const hits = covered.filter((s) => s.lo < run.hi && run.lo < s.hi);
    if (hits.length) {
      const from = hits[0]!.lo > run.lo ? hits[0]!.lo : run.lo;
      const to = hits[hits.length - 1]!.hi < run.hi ? hits[hits.length - 1]!.hi : run.hi;
      overlaps.push({ runId: run.runId, from: from === BEGINNING ? null : from, to });
    }
    covered = insert(covered, run);
  }
  const gaps = covered.slice(1).map((next, i) => ({
    from: covered[i]!.hi,
    to: next.lo,
    endedBy: windows.find((w) => w.hi === covered[i]!.hi)!.runId,
    resumedBy: windows.find((w) => w.lo === next.lo)!.runId,
  }));
  const first = covered[0];
  const span = first ? { lo: first.lo === BEGINNING ? null : first.lo, hi: covered[covered.length - 1]!.hi } : null;
  return { gaps, overlaps, span };
}

interface Span {
  lo: string;
  hi: string;
}

/** Sorts before every timestamp: `lo = null`. */
const BEGINNING = '';

/** Adds `span` to a sorted, disjoint union; spans that meet (`hi == lo`) join. Linear in the union's length (1 without gaps). */
function insert(union: Span[], span: Span): Span[] {
  const before = union.filter((s) => s.hi < span.lo);
  const after = union.filter((s) => s.lo > span.hi);
  const joined = union.filter((s) => s.hi >= span.lo && s.lo <= span.hi);
  const lo = joined.length && joined[0]!.lo < span.lo ? joined[0]!.lo : span.lo;
  const hi = joined.length && joined[joined.length - 1]!.hi > span.hi ? joined[joined.length - 1]!.hi : span.hi;
  return [...before, { lo, hi }, ...after];
}
