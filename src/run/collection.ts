import { CheckpointStore } from '../commit/checkpoint.js';
import { Committer } from '../commit/committer.js';
import { newRunId } from '../commit/layout.js';
import { Lease } from '../commit/lease.js';
import type { ActiveRun, Checkpoint, FileRecord } from '../commit/schema.js';
import { type ReconcileOutcome, reconcileCollection } from '../reconcile/run.js';
import { beginRun, withSlices } from '../commit/transitions.js';
import { typedByField } from '../rows/map.js';
import { deliverPending } from '../sinks/deliver.js';
import { canonicalFromDate } from '../rows/time.js';
import { planRunColumns } from './columns.js';
import type { RollSettings } from './files.js';
import { pageSlices } from './slices.js';
import type { CollectionResult, ExportContext, RunOutcome } from './types.js';
import { planWindow } from './window.js';

/** What a collection's turn does besides finishing an interrupted run: the new window (default), and whether to reconcile. */
export interface CollectionPlan {
  /** Export the new window. False for the `reconcile` command. */
  window: boolean;
  /** `auto`: when due (settings `reconcile`, `noReconcile`, `reconcileEveryHours`); `always`: the `reconcile` command. */
  reconcile: 'auto' | 'always';
}

/**
 * Exports one collection under its lease: first finishes an interrupted run (same run id,
 * window and numbering; an export or a reconciliation), then runs the new window, if there
 * is one, then a reconciliation when one is asked for or due (never on a shard).
 */
export async function exportCollection(ctx: ExportContext, collectionId: string, plan: CollectionPlan = { window: true, reconcile: 'auto' }): Promise<Omit<CollectionResult, 'seconds'>> {
  const started = ctx.now();
  // A shard of a backfill works under its own lease and checkpoint (layout.statePrefix): never the scheduled runs'.
  const shard = ctx.settings.range.shard;
  const shardField = shard ? { shard: `${shard.index}/${shard.count}` } : {};
  // One id for this invocation: the lease names it and a new window's run uses it. Distinct from the ids this
  // invocation gave other collections, so a sink keyed on the run id alone (a webhook-id) never confuses two.
  let runId = newRunId(started, Math.random, shard);
  while (ctx.runIds.has(runId)) runId = newRunId(started, Math.random, shard);
  ctx.runIds.add(runId);
  const lease = new Lease(ctx.driver, collectionId, { ttlSeconds: ctx.settings.leaseTtlSeconds, runId, logger: ctx.logger, shard });
  await lease.acquire();
  try {
    const store = await CheckpointStore.load(ctx.driver, collectionId, shard);
    const runs: RunOutcome[] = [];
    const reconciles: ReconcileOutcome[] = [];
    // What earlier runs left pending goes out first, before new work; each run's own right after it completes.
    const notify = () => deliverPending(ctx, store, lease);
    await notify();
    const interrupted = store.value.active;
    if (interrupted?.kind === 'reconcile') {
      reconciles.push(await reconcileCollection(ctx, store, lease, interrupted.runId));
      await notify();
    } else if (interrupted) {
      ctx.logger.info('RunResumed', { collection_id: collectionId, ...shardField, run_id: interrupted.runId, next_seq: interrupted.nextSeq, position: interrupted.position?.updatedAt ?? null, ...(interrupted.slices ? { slices: interrupted.slices.length, slices_done: interrupted.slices.filter((s) => s.done).length } : {}) });
      runs.push(await runWindow(ctx, store, lease, true));
      await notify();
    }
    const window = plan.window ? planWindow(ctx.settings, store.value, started, interrupted?.kind === 'reconcile' ? undefined : (interrupted?.window.lo ?? undefined)) : null;
    if (window) {
      const { format, vectors } = ctx.settings;
      const columns = await planRunColumns(ctx, store.value);
      // Staged only: a run is first written with its first file's intent, so one that fails before that leaves the checkpoint as it was.
      store.stage((cp) => beginRun(cp, { runId, startedAt: canonicalFromDate(started), window, format, compression: ctx.compression, vectors, ...columns }));
      ctx.logger.info('RunStarted', { collection_id: collectionId, ...shardField, run_id: runId, lo: window.lo, hi: window.hi, format });
      runs.push(await runWindow(ctx, store, lease, false));
      await notify();
    } else if (!interrupted && plan.window) {
      ctx.logger.info('NothingNew', { collection_id: collectionId, ...shardField, last_hi: store.value.lastHi });
    }
    if (!shard && reconcileDue(ctx.settings, store.value, started, plan)) {
      let id = newRunId(ctx.now());
      while (ctx.runIds.has(id) || reconciles.some((r) => r.runId === id)) id = newRunId(ctx.now());
      ctx.runIds.add(id);
      reconciles.push(await reconcileCollection(ctx, store, lease, id));
      await notify();
    }
    return { collectionId, runs, ...(reconciles.length > 0 ? { reconciles } : {}) };
  } finally {
    await lease.release();
  }
}

/**
 * Whether this turn reconciles: always for the `reconcile` command; else `--reconcile`, or
 * (unless `--no-reconcile`) when `reconcileEveryHours` > 0 and the last reconciliation
 * finished longer ago than that (or there was none).
 */
export function reconcileDue(settings: Pick<ExportContext['settings'], 'reconcile' | 'noReconcile' | 'reconcileEveryHours'>, checkpoint: Checkpoint, now: Date, plan: CollectionPlan): boolean {
  if (plan.reconcile === 'always' || settings.reconcile) return true;
  if (settings.noReconcile || settings.reconcileEveryHours === 0) return false;
  const last = checkpoint.lastReconcile;
  return !last || now.getTime() - Date.parse(last.finishedAt) >= settings.reconcileEveryHours * 3_600_000;
}

/**
 * Pages the active run's window as slices (run/slices.ts), each from its own position, and
 * the committer commits their files and then the run. A run begun before slices existed is
 * continued as one slice.
 */
async function runWindow(ctx: ExportContext, store: CheckpointStore, lease: Lease, resumed: boolean): Promise<RunOutcome> {
  const collectionId = store.value.collectionId;
  const committer = new Committer(store, { driver: ctx.driver, logger: ctx.logger, onStep: ctx.onStep, lease, published: (record: FileRecord) => ctx.progress.filePublished(record, collectionId), now: ctx.now, notify: ctx.sinks });
  await committer.recoverPending();
  store.stage(withSlices);
  const run = committer.run;
  const typed = run.typedColumns ? { typed: typedByField(run.typedColumns) } : {};
  const context = { runId: run.runId, exportedAt: canonicalFromDate(ctx.now()), namespace: ctx.settings.namespace, vectors: run.vectors, ...typed };
  const counts = await pageSlices({ ctx, committer, context, roll: rollSettings(ctx, run) });
  const { run: done, manifest, manifestKey } = await committer.finish(counts);
  const { rows, bytes } = manifest.totals;
  return { runId: done.runId, window: done.window, resumed, files: manifest.files, rows, bytes, rejected: done.rejected, untyped: done.untyped, ...(done.typedColumns ? { rescued: done.rescued ?? 0 } : {}), manifestKey };
}

function rollSettings(ctx: ExportContext, run: ActiveRun): RollSettings {
  const { targetFileMb, maxRowsPerFile, rowGroupRows, rowGroupMb } = ctx.settings;
  const mb = (n: number) => Math.round(n * 1024 * 1024);
  return { format: run.format, compression: run.compression, targetFileBytes: mb(targetFileMb), maxRowsPerFile, rowGroupRows, rowGroupBytes: mb(rowGroupMb), typedColumns: run.typedColumns ?? [] };
}
