import { CheckpointStore } from '../commit/checkpoint.js';
import { Committer } from '../commit/committer.js';
import { newRunId } from '../commit/layout.js';
import { Lease } from '../commit/lease.js';
import type { ActiveRun, Checkpoint, FileRecord } from '../commit/schema.js';
import { type ReconcileOutcome, reconcileCollection } from '../reconcile/run.js';
import { activeRun, beginRun } from '../commit/transitions.js';
import { typedByField } from '../rows/map.js';
import { canonicalFromDate } from '../rows/time.js';
import { listDocumentPages } from '../source/pages.js';
import { planRunColumns } from './columns.js';
import { FileRoller, type RollSettings } from './files.js';
import { Intake } from './intake.js';
import { PositionTracker } from './position.js';
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
  // One id for this invocation: the lease names it and a new window's run uses it.
  const runId = newRunId(started, Math.random, shard);
  const lease = new Lease(ctx.driver, collectionId, { ttlSeconds: ctx.settings.leaseTtlSeconds, runId, logger: ctx.logger, shard });
  await lease.acquire();
  try {
    const store = await CheckpointStore.load(ctx.driver, collectionId, shard);
    const runs: RunOutcome[] = [];
    const reconciles: ReconcileOutcome[] = [];
    const interrupted = store.value.active;
    if (interrupted?.kind === 'reconcile') {
      reconciles.push(await reconcileCollection(ctx, store, lease, interrupted.runId));
    } else if (interrupted) {
      ctx.logger.info('RunResumed', { collection_id: collectionId, ...shardField, run_id: interrupted.runId, next_seq: interrupted.nextSeq, position: interrupted.position?.updatedAt ?? null });
      runs.push(await runWindow(ctx, store, lease, true));
    }
    const window = plan.window ? planWindow(ctx.settings, store.value, started, interrupted?.kind === 'reconcile' ? undefined : (interrupted?.window.lo ?? undefined)) : null;
    if (window) {
      const { format, vectors } = ctx.settings;
      const columns = await planRunColumns(ctx, store.value);
      // Staged only: a run is first written with its first file's intent, so one that fails before that leaves the checkpoint as it was.
      store.stage((cp) => beginRun(cp, { runId, startedAt: canonicalFromDate(started), window, format, compression: ctx.compression, vectors, ...columns }));
      ctx.logger.info('RunStarted', { collection_id: collectionId, ...shardField, run_id: runId, lo: window.lo, hi: window.hi, format });
      runs.push(await runWindow(ctx, store, lease, false));
    } else if (!interrupted && plan.window) {
      ctx.logger.info('NothingNew', { collection_id: collectionId, ...shardField, last_hi: store.value.lastHi });
    }
    if (!shard && reconcileDue(ctx.settings, store.value, started, plan)) {
      let id = newRunId(ctx.now());
      while (id === runId || reconciles.some((r) => r.runId === id)) id = newRunId(ctx.now());
      reconciles.push(await reconcileCollection(ctx, store, lease, id));
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

/** Pages the active run's window from its position, writes files through the roller, and the committer commits them and the run. */
async function runWindow(ctx: ExportContext, store: CheckpointStore, lease: Lease, resumed: boolean): Promise<RunOutcome> {
  const collectionId = store.value.collectionId;
  const start = activeRun(store.value); // counters and vector dims; resolving the pending file below changes neither
  const typed = start.typedColumns ? { typed: typedByField(start.typedColumns) } : {};
  const context = { runId: start.runId, exportedAt: canonicalFromDate(ctx.now()), namespace: ctx.settings.namespace, vectors: start.vectors, ...typed };
  const intake = new Intake(ctx.logger, collectionId, context, start);
  const published = (record: FileRecord) => ctx.progress.filePublished(record, collectionId);
  const committer = new Committer(store, { driver: ctx.driver, logger: ctx.logger, onStep: ctx.onStep, lease, counts: intake, published, now: ctx.now });
  await committer.recoverPending();
  const run = committer.run;
  const tracker = new PositionTracker(run.position);
  const roller = new FileRoller(ctx.driver, collectionId, run.runId, rollSettings(ctx, run), committer, ctx.signal);
  const window = { lo: run.position?.updatedAt ?? run.window.lo, hi: run.window.hi };
  try {
    const pages = listDocumentPages(ctx.http, { collectionId, window, pageSize: ctx.settings.pageSize, vectors: run.vectors, signal: ctx.signal });
    for await (const page of pages) {
      ctx.progress.pageFetched(page.documents.length, collectionId);
      ctx.onStep('page', page.index + 1);
      await writeDocuments(page.documents, { intake, tracker, roller, window: run.window, progress: ctx.progress });
      ctx.signal?.throwIfAborted();
    }
    await roller.close(tracker.snapshot());
  } catch (error) {
    await roller.abort(error as Error);
    throw error;
  } finally {
    intake.finish(run.runId);
  }
  const { run: done, manifest, manifestKey } = await committer.finish(intake.counts);
  const { rows, bytes } = manifest.totals;
  return { runId: done.runId, window: done.window, resumed, files: manifest.files, rows, bytes, rejected: done.rejected, untyped: done.untyped, ...(done.typedColumns ? { rescued: done.rescued ?? 0 } : {}), manifestKey };
}

/**
 * Writes a page's documents in order: each admitted one that was not exported before the
 * position (a resume re-reads from it) and lies inside the run's window.
 */
async function writeDocuments(
  documents: unknown[],
  { intake, tracker, roller, window, progress }: { intake: Intake; tracker: PositionTracker; roller: FileRoller; window: ActiveRun['window']; progress: ExportContext['progress'] },
): Promise<void> {
  for (const doc of documents) {
    const admitted = intake.admit(doc);
    if (!admitted || tracker.alreadyExported(admitted.row)) continue;
    if (outside(admitted.row.updated_at, window)) {
      intake.outside(admitted.row, window);
      continue;
    }
    await roller.write(admitted.row, () => tracker.snapshot());
    tracker.advance(admitted.row);
    intake.written(admitted);
    progress.rowWritten(admitted.row.collection_id);
  }
}

/** A row outside the run's window (an API that ignored the filter) belongs to another run. */
function outside(updatedAt: string, window: { lo: string | null; hi: string }): boolean {
  return updatedAt >= window.hi || (window.lo !== null && updatedAt < window.lo);
}

function rollSettings(ctx: ExportContext, run: ActiveRun): RollSettings {
  const { targetFileMb, maxRowsPerFile, rowGroupRows } = ctx.settings;
  return { format: run.format, compression: run.compression, targetFileBytes: Math.round(targetFileMb * 1024 * 1024), maxRowsPerFile, rowGroupRows, typedColumns: run.typedColumns ?? [] };
}
