import { type Checkpoint, CheckpointStore, type RunSummary } from '../commit/checkpoint.js';
import { layout } from '../commit/layout.js';
import { lagSeconds, newestExported } from '../metrics/freshness.js';
import { type ColumnDrift, columnTypeText, driftAdvice } from '../rows/typed.js';
import { reconcileDue } from '../run/collection.js';
import { canonicalFromDate } from '../rows/time.js';
import { type Destination, type DestinationOptions, openDestination } from '../storage/index.js';
import type { StorageDriver } from '../storage/types.js';

/** A completed run, as `status` reports it. */
export interface RunStatus {
  run_id: string;
  finished_at: string;
  /** `[lo, hi)` of `updated_at`; `lo` null = from the beginning. */
  window: { lo: string | null; hi: string };
  files: number;
  rows: number;
  bytes: number;
  /** Key of the run's manifest, relative to the destination root. */
  manifest: string;
}

/**
 * One collection in `status --json` (printed as an array, one per `--collection`, in the
 * order given). Stable: fields are only ever added; every field is always present (null
 * when unknown). Timestamps are canonical UTC strings (`2026-11-21T15:30:00.000000Z`).
 */
export interface CollectionStatus {
  collection_id: string;
  /** When the report was made; `lag_seconds` is measured to it. */
  as_of: string;
  /** Where the checkpoint is (or would be): a printable URL, never with credentials. */
  checkpoint_url: string;
  /** The checkpoint position: `hi` of the last completed run, where the next run starts. Null: no run completed yet. */
  last_hi: string | null;
  /** The newest `updated_at` in a published data file (completed runs and an interrupted run's files so far). */
  newest_updated_at: string | null;
  /** Freshness lag: `as_of` minus `newest_updated_at`, in seconds. Null: nothing exported yet. */
  lag_seconds: number | null;
  /** A run that was killed or failed; the next export finishes it first (same run id, window and numbering). */
  interrupted_run: {
    /** `export` (a window of versions) or `reconcile` (tombstones; its window is the empty `[T, T)`). */
    kind: 'export' | 'reconcile';
    run_id: string;
    started_at: string;
    window: { lo: string | null; hi: string };
    /** `updated_at` of the last row in a published file: the run resumes after it. Null: no file published yet. */
    position: string | null;
    files: number;
    rows: number;
    bytes: number;
    /** A file whose intent was recorded but not confirmed; the resume adopts it if it exists, else writes its rows again. With slices: the first of `slices`' pending files. */
    pending_file: string | null;
    /** A run paged as slices (`position` is then null): each slice's range, its own position and whether it is done. */
    slices?: { id: number; lo: string | null; hi: string; position: string | null; done: boolean; pending_file: string | null }[];
  } | null;
  /** The newest completed run (the first of `last_runs`). */
  last_run: RunStatus | null;
  /** Up to 5 completed runs, newest first. */
  last_runs: RunStatus[];
  /** The last completed reconciliation (deletes found by listing every id); null before the first. */
  last_reconcile: ReconcileStatus | null;
  /**
   * Whether the next scheduled `export` reconciles: `reconcile_every_hours` > 0 and the last
   * reconciliation finished at least that long before `as_of` (or there was none). False when
   * it is 0 (only `--reconcile` or the `reconcile` command do). Shard runs never reconcile.
   */
  reconcile_due: boolean;
  /** The `reconcileEveryHours` setting the answer used (default 24; set it as the exports do). */
  reconcile_every_hours: number;
  /** Typed columns staged at this destination (name → type, e.g. `list<string>`), in first-staged order; empty before the first typed run. */
  typed_columns: Record<string, string>;
  /** Staged columns whose field's declared type changed (as the last typed run found), with what to do. */
  column_drift: Array<ColumnDrift & { advice: string }>;
  /** Notifications of completed runs a sink has not taken yet (oldest first); the next export delivers them again. */
  pending_notifications: { sink: string; type: string; run_id: string; kind: 'export' | 'reconcile'; queued_at: string; attempts: number; last_attempt_at: string | null; last_error: string | null }[];
}

/** A completed reconciliation, as `status` reports it. */
export interface ReconcileStatus {
  run_id: string;
  /** When it finished. */
  finished_at: string;
  /** T: the instant its listing started; every tombstone's `updated_at`. A deletion after T shows up in the next reconciliation. */
  listed_at: string;
  /** Ids the listing returned (the collection's live documents at T). */
  ids_listed: number;
  /** Tombstones it wrote (rows with `_deleted = true`). */
  tombstones: number;
  /** Key of its manifest, relative to the destination root. */
  manifest: string;
}

/** What `status` reads besides the destination's driver options. */
export interface StatusOptions extends DestinationOptions {
  /** As the exports are scheduled with; decides `reconcile_due`. Default 24 (the setting's default). */
  reconcileEveryHours?: number;
}

const DEFAULT_RECONCILE_EVERY_HOURS = 24;

/** `status`: per collection, the checkpoint position, an interrupted run, the last runs and the freshness lag. Reads only. */
export async function statusReport(dest: string | Destination, collections: string[], now: Date, options: StatusOptions = {}): Promise<CollectionStatus[]> {
  const { reconcileEveryHours = DEFAULT_RECONCILE_EVERY_HOURS, ...driverOptions } = options;
  const driver = await openDestination(dest, driverOptions);
  try {
    const out: CollectionStatus[] = [];
    for (const collectionId of collections) out.push(await collectionStatus(driver, collectionId, now, reconcileEveryHours));
    return out;
  } finally {
    await driver.close?.();
  }
}

async function collectionStatus(driver: StorageDriver, collectionId: string, now: Date, reconcileEveryHours: number): Promise<CollectionStatus> {
  const cp = (await CheckpointStore.load(driver, collectionId)).value;
  const newest = await newestExported(driver, cp);
  const lastRuns = cp.history.slice(-5).reverse().map(runStatus);
  return {
    collection_id: collectionId,
    as_of: canonicalFromDate(now),
    checkpoint_url: driver.url(layout.checkpoint(collectionId)),
    last_hi: cp.lastHi,
    newest_updated_at: newest,
    lag_seconds: lagSeconds(now, newest),
    interrupted_run: interruptedRun(cp),
    last_run: lastRuns[0] ?? null,
    last_runs: lastRuns,
    last_reconcile: reconcileStatus(cp),
    reconcile_due: reconcileDue({ reconcile: false, noReconcile: false, reconcileEveryHours }, cp, now, { window: true, reconcile: 'auto' }),
    reconcile_every_hours: reconcileEveryHours,
    typed_columns: Object.fromEntries((cp.typedColumns ?? []).map((c) => [c.name, columnTypeText(c)])),
    column_drift: (cp.columnDrift ?? []).map((d) => ({ ...d, advice: driftAdvice(d) })),
    pending_notifications: (cp.notifications ?? []).map((n) => ({ sink: n.sink, type: n.type, run_id: n.runId, kind: n.kind, queued_at: n.queuedAt, attempts: n.attempts, last_attempt_at: n.lastAttemptAt ?? null, last_error: n.lastError ?? null })),
  };
}

function reconcileStatus(cp: Checkpoint): ReconcileStatus | null {
  const r = cp.lastReconcile;
  return r ? { run_id: r.runId, finished_at: r.finishedAt, listed_at: r.listedAt, ids_listed: r.idsListed, tombstones: r.tombstones, manifest: r.manifest } : null;
}

function runStatus(run: RunSummary): RunStatus {
  return { run_id: run.runId, finished_at: run.finishedAt, window: run.window, files: run.files, rows: run.rows, bytes: run.bytes, manifest: run.manifest };
}

function interruptedRun(cp: Checkpoint): CollectionStatus['interrupted_run'] {
  const active = cp.active;
  if (!active) return null;
  return {
    kind: active.kind ?? 'export',
    run_id: active.runId,
    started_at: active.startedAt,
    window: active.window,
    // One slice is one sequence: its position is the run's.
    position: (active.slices?.length === 1 ? active.slices[0]!.position : active.position)?.updatedAt ?? null,
    files: active.files.length,
    rows: active.files.reduce((n, f) => n + f.rows, 0),
    bytes: active.files.reduce((n, f) => n + f.bytes, 0),
    pending_file: active.pending?.key ?? active.slices?.find((s) => s.pending)?.pending?.key ?? null,
    ...(active.slices && active.slices.length > 1
      ? { slices: active.slices.map((s) => ({ id: s.id, lo: s.lo, hi: s.hi, position: s.position?.updatedAt ?? null, done: s.done, pending_file: s.pending?.key ?? null })) }
      : {}),
  };
}

/** The human form: one block per collection, a label column, sizes and ages rounded for reading. */
export function formatStatus(report: CollectionStatus[]): string {
  return report.map(formatCollection).join('\n\n');
}

function formatCollection(c: CollectionStatus): string {
  const now = Date.parse(c.as_of);
  const lines = [c.collection_id];
  const row = (label: string, text: string) => lines.push(`  ${label.padEnd(15)}${text}`);
  if (!c.last_hi && !c.interrupted_run && !c.last_run) {
    row('never exported', `no checkpoint at ${c.checkpoint_url}`);
    return lines.join('\n');
  }
  row('checkpoint', c.last_hi ? `exported up to ${c.last_hi}; the next run starts there` : 'no run completed yet');
  row('freshness', c.newest_updated_at ? `newest updated_at exported ${c.newest_updated_at}, lag ${duration(c.lag_seconds ?? 0)}` : 'nothing exported yet');
  if (c.last_run) {
    const r = c.last_run;
    row('last run', `${r.run_id} finished ${r.finished_at} (${duration((now - Date.parse(r.finished_at)) / 1000)} ago)`);
    row('', `${count(r.rows)} rows in ${count(r.files)} files, ${size(r.bytes)}, window ${windowText(r.window)}`);
  }
  const i = c.interrupted_run;
  if (i?.kind === 'reconcile') {
    row('interrupted', `reconciliation ${i.run_id} started ${i.started_at}, listing at T = ${i.window.hi}`);
    row('', `${count(i.rows)} tombstones in ${count(i.files)} files published so far; the next export or reconcile finishes it`);
  } else if (i) {
    row('interrupted', `${i.run_id} started ${i.started_at}, window ${windowText(i.window)}`);
    if (i.slices && i.slices.length > 1) {
      row('', `${count(i.rows)} rows in ${count(i.files)} files (${size(i.bytes)}) published so far; ${i.slices.filter((s) => s.done).length} of ${i.slices.length} slices done`);
      for (const sl of i.slices.filter((x) => !x.done)) row('', `slice ${sl.id} ${windowText(sl)}: up to updated_at ${sl.position ?? '(none yet)'}`);
      for (const sl of i.slices.filter((x) => x.pending_file)) row('', `unconfirmed file ${sl.pending_file} (adopted if it exists)`);
    } else {
      row('', `${count(i.rows)} rows in ${count(i.files)} files (${size(i.bytes)}) published so far, up to updated_at ${i.position ?? '(none yet)'}`);
      if (i.pending_file) row('', `unconfirmed file ${i.pending_file} (adopted if it exists)`);
    }
    row('', 'the next export resumes this run before starting a new window');
  }
  for (const [n, r] of c.last_runs.slice(1).entries()) {
    row(n === 0 ? 'earlier runs' : '', `${r.run_id}  ${count(r.rows).padStart(9)} rows  ${count(r.files).padStart(5)} files  ${size(r.bytes).padStart(9)}  finished ${r.finished_at}`);
  }
  formatReconcile(c, now, row);
  const typed = Object.keys(c.typed_columns);
  row('columns', typed.length > 0 ? `${typed.length} typed columns staged (${typed.slice(0, 8).join(', ')}${typed.length > 8 ? ', ...' : ''}); other fields in fields` : 'every field in fields (no typed columns staged)');
  for (const d of c.column_drift) row('type drift', d.advice);
  formatNotifications(c, row);
  return lines.join('\n');
}

/** `sinks`: the notifications still pending, each with its last error (nothing when every run was delivered). */
function formatNotifications(c: CollectionStatus, row: (label: string, text: string) => void): void {
  const pending = c.pending_notifications;
  if (pending.length === 0) return;
  row('sinks', `${pending.length} notification(s) pending; the next export delivers them again, oldest first`);
  for (const n of pending.slice(0, 10)) {
    row('', `${n.sink}: run ${n.run_id} (${n.kind}), ${n.attempts === 0 ? 'not tried yet' : `${n.attempts} failed attempt(s), last ${n.last_attempt_at}`}`);
    if (n.last_error) row('', `  ${n.last_error}`);
  }
  if (pending.length > 10) row('', `... and ${pending.length - 10} more (status --json lists all)`);
}

/** `last reconcile` and whether one is due. */
function formatReconcile(c: CollectionStatus, now: number, row: (label: string, text: string) => void): void {
  const r = c.last_reconcile;
  const every = c.reconcile_every_hours === 0 ? 'reconcileEveryHours is 0: only --reconcile or the reconcile command reconcile' : `every ${c.reconcile_every_hours}h`;
  if (r) {
    row('last reconcile', `${r.run_id} finished ${r.finished_at} (${duration((now - Date.parse(r.finished_at)) / 1000)} ago), listing at T = ${r.listed_at}`);
    row('', `${count(r.ids_listed)} ids listed, ${count(r.tombstones)} tombstones`);
  } else {
    row('last reconcile', 'none yet');
  }
  row('', c.reconcile_due ? `a reconciliation is due (${every}): the next export runs one` : `no reconciliation due (${every})`);
}

function windowText(w: { lo: string | null; hi: string }): string {
  return `[${w.lo ?? 'beginning'}, ${w.hi})`;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** `812 B`, `22.7 kB`, `503.1 MB`, `1.2 GB` (decimal units, as the export summary). */
function size(bytes: number): string {
  const units: [string, number][] = [['GB', 1e9], ['MB', 1e6], ['kB', 1e3]];
  const [unit, scale] = units.find(([, scale]) => bytes >= scale) ?? ['B', 1];
  return scale === 1 ? `${bytes} B` : `${(bytes / scale).toFixed(1)} ${unit}`;
}

/** `42s`, `11m 19s`, `3h 05m`, `2d 4h`. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}
