/**
 * Every change the commit protocol makes to the checkpoint, as pure functions: each takes a
 * checkpoint value and returns the next one (the input is never modified). The committer
 * (committer.ts) decides when each is written; these decide what is written, so they can be
 * tested without storage.
 *
 * The order of a run (DESIGN.md section 6): begin → for each file: intent, then published →
 * counts → manifest written → complete. A resume first resolves the pending intent.
 */
import { IntegrityError, InternalError } from '../errors.js';
import { HISTORY_LIMIT } from './checkpoint.js';
import type { ActiveRun, Checkpoint, FileRecord, Manifest, Slice, SliceCounts } from './schema.js';

/** A checkpoint with a run in progress. */
export type ActiveCheckpoint = Checkpoint & { active: ActiveRun };

/** The counters a run reports (rejected documents, values left untyped). */
export interface RunCounts {
  rejected: number;
  untyped: number;
  /** Values rescued into `fields`, in all and per field: recorded only on a typed run. */
  rescued?: number;
  rescuedFields?: Record<string, number>;
}

/** What starts a run; numbering, position, files and counts start empty. `typedColumns`: a typed run. */
export type NewRun = Pick<ActiveRun, 'runId' | 'startedAt' | 'window' | 'format' | 'compression' | 'vectors' | 'typedColumns' | 'columnDrift'>;

/** The checkpoint's run in progress; InternalError when there is none (a step out of order is a bug, not a user error). */
export function activeRun(checkpoint: Checkpoint): ActiveRun {
  if (!checkpoint.active) throw new InternalError(`[commit] the checkpoint of ${checkpoint.collectionId} has no run in progress; a commit step ran out of order`);
  return checkpoint.active;
}

/** Replaces the active run with `change` applied to a copy of it. */
function withActive(checkpoint: Checkpoint, change: (run: ActiveRun) => ActiveRun): ActiveCheckpoint {
  const run = activeRun(checkpoint);
  return { ...checkpoint, active: change(structuredClone(run)) };
}

/** Begins a new run. Refused while another run is in progress: it must be finished first (same id, window, numbering). */
export function beginRun(checkpoint: Checkpoint, run: NewRun): ActiveCheckpoint {
  if (checkpoint.active) throw new InternalError(`[commit] cannot begin run ${run.runId}: run ${checkpoint.active.runId} of ${checkpoint.collectionId} is still in progress`);
  const typed = run.typedColumns ? { rescued: 0, rescuedFields: {} } : {};
  return { ...checkpoint, active: { ...structuredClone(run), nextSeq: 0, position: null, files: [], pending: null, rejected: 0, untyped: 0, ...typed } };
}

/** The counters as the run records them: the rescue counts only on a typed run. */
function counters(run: ActiveRun, counts: RunCounts): Pick<ActiveRun, 'rejected' | 'untyped' | 'rescued' | 'rescuedFields'> {
  const typed = run.typedColumns ? { rescued: counts.rescued ?? 0, rescuedFields: { ...counts.rescuedFields } } : {};
  return { rejected: counts.rejected, untyped: counts.untyped, ...typed };
}

/**
 * Records the intent to commit `record`: a resume adopts the file if it exists, else writes
 * its rows again. A file of a slice (`record.slice`) is that slice's intent.
 */
export function recordIntent(checkpoint: Checkpoint, record: FileRecord): ActiveCheckpoint {
  if (record.slice !== undefined) return withSlice(checkpoint, record.slice, (slice) => ({ ...slice, pending: structuredClone(record) }));
  return withActive(checkpoint, (run) => ({ ...run, pending: structuredClone(record) }));
}

/**
 * Records a file that is visible at its final name: listed, the position and numbering move
 * past it, the intent is cleared. `counts` are the run's counters as of the file's last row;
 * `vectorDims` (runs with vectors) the dims fixed so far.
 */
export function recordPublished(checkpoint: Checkpoint, record: FileRecord, counts: RunCounts, vectorDims?: Record<string, number>): ActiveCheckpoint {
  return withActive(checkpoint, (run) => {
    const dims = run.vectors && vectorDims ? { vectorDims: { ...vectorDims } } : {};
    if (record.slice === undefined) return { ...addFile(run, record), ...counters(run, counts), ...dims };
    const next = setSlice(addFile(run, record), record.slice, (slice) => ({ ...slice, counts: counters(run, counts) }));
    return { ...next, ...counters(run, sumCounts(next.slices ?? [])), ...dims };
  });
}

/**
 * The file recorded: listed in seq order, numbering past it, no intent left; the position
 * moves past it (its slice's, for a slice's file; a reconciliation's: the file's last id).
 * Slices commit their files in any order, so `nextSeq` is the highest seq recorded + 1.
 */
function addFile(run: ActiveRun, record: FileRecord): ActiveRun {
  const files = [...run.files, structuredClone(record)].sort((a, b) => a.seq - b.seq);
  const nextSeq = Math.max(run.nextSeq, record.seq + 1);
  if (record.slice !== undefined) return setSlice({ ...run, files, nextSeq }, record.slice, (slice) => ({ ...slice, position: record.endPosition, pending: null }));
  const next = { ...run, files, position: record.endPosition, nextSeq, pending: null };
  if (run.kind === 'reconcile' && run.reconcile && record.lastId !== undefined) next.reconcile = { ...run.reconcile, position: record.lastId };
  return next;
}

/** Counters with no document counted, in the run's shape (the rescue counts only on a typed run). */
function zeroCounts(run: ActiveRun): SliceCounts {
  return counters(run, { rejected: 0, untyped: 0 });
}

/** The run's counters: the sums of its slices'. */
export function sumCounts(slices: readonly Pick<Slice, 'counts'>[]): RunCounts {
  const sum: Required<RunCounts> = { rejected: 0, untyped: 0, rescued: 0, rescuedFields: {} };
  for (const { counts } of slices) {
    sum.rejected += counts.rejected;
    sum.untyped += counts.untyped;
    sum.rescued += counts.rescued ?? 0;
    for (const [field, n] of Object.entries(counts.rescuedFields ?? {})) sum.rescuedFields[field] = (sum.rescuedFields[field] ?? 0) + n;
  }
  return sum;
}

/**
 * The export run in progress as slices. A run begun without them (before slices existed)
 * becomes one slice over its window carrying its position, intent and counters, so a resume
 * continues it exactly where it stopped; a run that has slices is returned as it is.
 */
export function withSlices(checkpoint: Checkpoint): ActiveCheckpoint {
  return withActive(checkpoint, (run) => {
    if (run.slices) return run;
    if (run.kind === 'reconcile') throw new InternalError(`[commit] reconciliation ${run.runId} of ${checkpoint.collectionId} is not paged as slices`);
    const slice: Slice = { id: 0, lo: run.window.lo, hi: run.window.hi, position: run.position, pending: run.pending ? { ...run.pending, slice: 0 } : null, counts: counters(run, run), done: false };
    return { ...run, slices: [slice], position: null, pending: null };
  });
}

/**
 * Splits slice `id` at `at`: it keeps `[lo, at)` and a new slice takes `[at, hi)`, written in
 * one checkpoint. `at` must lie after everything the slice has written (the caller's in-memory
 * bound) and before its `hi`; here it is checked against what is recorded.
 */
export function splitSlice(checkpoint: Checkpoint, id: number, at: string): { checkpoint: ActiveCheckpoint; slice: Slice } {
  const run = activeRun(checkpoint);
  const parent = sliceOf(run, id, checkpoint.collectionId);
  const after = parent.position?.updatedAt ?? parent.lo;
  if (parent.done || at >= parent.hi || (after !== null && at <= after)) {
    throw new InternalError(`[commit] cannot split slice ${id} [${parent.lo}, ${parent.hi}) of run ${run.runId} at ${at} (position ${after}, done ${parent.done})`);
  }
  const slice: Slice = { id: run.slices!.length, lo: at, hi: parent.hi, position: null, pending: null, counts: zeroCounts(run), done: false, splitFrom: id };
  const next = withActive(checkpoint, (r) => {
    const shortened = setSlice(r, id, (s) => ({ ...s, hi: at }));
    return { ...shortened, slices: [...shortened.slices!, slice] };
  });
  return { checkpoint: next, slice };
}

/** Slice `id` has committed every row of its range; `counts` are its final counters (documents after its last file count too). */
export function finishSlice(checkpoint: Checkpoint, id: number, counts: RunCounts): ActiveCheckpoint {
  return withActive(checkpoint, (run) => {
    const next = setSlice(run, id, (slice) => {
      if (slice.pending) throw new InternalError(`[commit] slice ${id} of run ${run.runId} cannot finish with a file pending`);
      return { ...slice, done: true, counts: counters(run, counts) };
    });
    return { ...next, ...counters(run, sumCounts(next.slices ?? [])) };
  });
}

function sliceOf(run: ActiveRun, id: number, collectionId: string): Slice {
  const slice = run.slices?.[id];
  if (!slice || slice.id !== id) throw new InternalError(`[commit] run ${run.runId} of ${collectionId} has no slice ${id}`);
  return slice;
}

function setSlice(run: ActiveRun, id: number, change: (slice: Slice) => Slice): ActiveRun {
  const slices = [...(run.slices ?? [])];
  const slice = slices[id];
  if (!slice || slice.id !== id) throw new InternalError(`[commit] run ${run.runId} has no slice ${id}`);
  slices[id] = change(structuredClone(slice));
  return { ...run, slices };
}

function withSlice(checkpoint: Checkpoint, id: number, change: (slice: Slice) => Slice): ActiveCheckpoint {
  return withActive(checkpoint, (run) => setSlice(run, id, change));
}

/**
 * Sequence numbers below `nextSeq` that no file recorded or pending holds: a file that was
 * being written when the process died (its rows are exported again, into a new file).
 * A resume gives these out first, so a finished run's files are numbered 0..n-1.
 */
export function freeSeqs(run: ActiveRun): number[] {
  const used = new Set([...run.files.map((f) => f.seq), ...(run.pending ? [run.pending.seq] : []), ...(run.slices ?? []).flatMap((s) => (s.pending ? [s.pending.seq] : []))]);
  const free: number[] = [];
  for (let seq = 0; seq < run.nextSeq; seq++) if (!used.has(seq)) free.push(seq);
  return free;
}

/** What starts a reconciliation: T is fixed here, and a resume keeps it. */
export type NewReconcile = Pick<ActiveRun, 'runId' | 'startedAt' | 'format' | 'compression'> & { listedAt: string };

/**
 * Begins a reconciliation: kind `reconcile`, the empty window `[T, T)` (it exports no
 * versions, so it neither covers nor leaves a gap for verify, and never moves `lastHi`).
 */
export function beginReconcile(checkpoint: Checkpoint, run: NewReconcile): ActiveCheckpoint {
  const { listedAt, ...rest } = run;
  const begun = beginRun(checkpoint, { ...rest, window: { lo: listedAt, hi: listedAt }, vectors: false });
  return { ...begun, active: { ...begun.active, kind: 'reconcile', reconcile: { listedAt, position: null, idsListed: 0 } } };
}

/**
 * A reconciliation's tombstones are all committed: record its listing's count and the last
 * export run its staged state held, before its snapshot is published (a resume that finds
 * the snapshot adopts these).
 */
export function recordListing(checkpoint: Checkpoint, includedThrough: { runId: string; finishedAt: string } | null, idsListed: number): ActiveCheckpoint {
  return withReconcile(checkpoint, (progress) => ({ ...progress, includedThrough, idsListed }));
}

/** The reconciliation's snapshot is published at `key`: next come its manifest and completion. */
export function recordSnapshot(checkpoint: Checkpoint, key: string): ActiveCheckpoint {
  return withReconcile(checkpoint, (progress) => ({ ...progress, snapshot: key }));
}

function withReconcile(checkpoint: Checkpoint, change: (progress: NonNullable<ActiveRun['reconcile']>) => NonNullable<ActiveRun['reconcile']>): ActiveCheckpoint {
  return withActive(checkpoint, (run) => {
    if (run.kind !== 'reconcile' || !run.reconcile) throw new InternalError(`[commit] run ${run.runId} of ${checkpoint.collectionId} is not a reconciliation`);
    return { ...run, reconcile: change(run.reconcile) };
  });
}

/** How a pending intent was resolved on resume. */
export type PendingOutcome = 'adopted' | 'discarded';

/**
 * Resolves the intent a killed run left (killed between "intent recorded" and "checkpoint
 * advanced"). `found` is the object at the intent's key, or null. There with the recorded
 * size: it was committed, adopt it. Absent: it never became visible, discard the intent (its
 * rows are exported again from the position). There with another size: IntegrityError, since
 * neither choice is safe. `url` names the object in that error.
 */
export function resolvePending(checkpoint: Checkpoint, found: { size: number } | null, url: string, slice?: number): { checkpoint: ActiveCheckpoint; outcome: PendingOutcome } {
  const run = activeRun(checkpoint);
  const pending = slice === undefined ? run.pending : sliceOf(run, slice, checkpoint.collectionId).pending;
  if (!pending) throw new InternalError(`[commit] the run in progress of ${checkpoint.collectionId} has no pending file to resolve${slice === undefined ? '' : ` in slice ${slice}`}`);
  if (found && found.size !== pending.bytes) {
    throw new IntegrityError(`[commit] ${url} exists with ${found.size} bytes but the checkpoint's intent says ${pending.bytes}; inspect it before re-running`);
  }
  const drop = (r: ActiveRun): ActiveRun => (slice === undefined ? { ...r, pending: null } : setSlice(r, slice, (s) => ({ ...s, pending: null })));
  const next = withActive(checkpoint, (r) => (found ? addFile(r, { ...pending, ...(slice === undefined ? {} : { slice }) }) : drop(r)));
  return { checkpoint: next, outcome: found ? 'adopted' : 'discarded' };
}

/** Records the run's final counters (documents after the last file count too). */
export function recordCounts(checkpoint: Checkpoint, counts: RunCounts): ActiveCheckpoint {
  return withActive(checkpoint, (run) => ({ ...run, ...counters(run, counts) }));
}

/**
 * Completes the run once its manifest (at `manifestKey`) is written: no run in progress, the
 * run appended to the history (the newest `HISTORY_LIMIT` kept) with the running max of
 * `updated_at`, and `lastHi` moved to the run's `hi`, never back: a backfill of an older
 * window (`--since`/`--until` in the past) must not move the next run's `lo` back.
 */
export function completeRun(checkpoint: Checkpoint, manifest: Manifest, manifestKey: string): Checkpoint {
  const run = activeRun(checkpoint);
  if (manifest.runId !== run.runId) throw new InternalError(`[commit] manifest of run ${manifest.runId} cannot complete run ${run.runId}`);
  if (run.kind === 'reconcile') return completeReconcile(checkpoint, run, manifest, manifestKey);
  const summary = {
    runId: run.runId,
    window: run.window,
    files: manifest.totals.files,
    rows: manifest.totals.rows,
    bytes: manifest.totals.bytes,
    finishedAt: manifest.finishedAt,
    manifest: manifestKey,
    newestUpdatedAt: latest(manifest.maxUpdatedAt, checkpoint.history.at(-1)?.newestUpdatedAt),
  };
  const lastHi = checkpoint.lastHi === null || run.window.hi > checkpoint.lastHi ? run.window.hi : checkpoint.lastHi;
  return { ...checkpoint, ...stagedColumns(checkpoint, run), lastHi, active: null, history: [...checkpoint.history, summary].slice(-HISTORY_LIMIT) };
}

/**
 * The destination's typed columns after a typed run: the run's (every column staged before,
 * then the new ones; rows/typed.ts planColumns), and the drift it found. A run without typed
 * columns (`columns: json`) leaves both as they were, so a later typed run keeps the types.
 */
function stagedColumns(checkpoint: Checkpoint, run: ActiveRun): Pick<Checkpoint, 'typedColumns' | 'columnDrift'> {
  if (!run.typedColumns) return { typedColumns: checkpoint.typedColumns, columnDrift: checkpoint.columnDrift };
  return { typedColumns: structuredClone(run.typedColumns), columnDrift: structuredClone(run.columnDrift ?? []) };
}

/** The later of two canonical timestamps (they sort lexically in time order), null when neither is known. */
function latest(a: string | null | undefined, b: string | null | undefined): string | null {
  return [a, b].filter((t): t is string => !!t).sort().at(-1) ?? null;
}

/**
 * Completes a reconciliation (its snapshot and manifest written): no run in progress and
 * `lastReconcile` set. `lastHi` and the export history are untouched: T is not an export
 * window's end, and moving `lastHi` to it would skip versions.
 */
function completeReconcile(checkpoint: Checkpoint, run: ActiveRun, manifest: Manifest, manifestKey: string): Checkpoint {
  const progress = run.reconcile;
  if (!progress?.snapshot) throw new InternalError(`[commit] reconciliation ${run.runId} of ${checkpoint.collectionId} cannot complete before its snapshot is written`);
  const lastReconcile = {
    runId: run.runId,
    listedAt: progress.listedAt,
    snapshot: progress.snapshot,
    includedThrough: progress.includedThrough ?? null,
    idsListed: progress.idsListed,
    tombstones: manifest.totals.rows,
    finishedAt: manifest.finishedAt,
    manifest: manifestKey,
  };
  return { ...checkpoint, active: null, lastReconcile };
}
