import { type ActiveRun, CheckpointStore, type FileRecord, HISTORY_LIMIT } from '../commit/checkpoint.js';
import { newRunId } from '../commit/layout.js';
import { Lease } from '../commit/lease.js';
import { buildManifest, writeManifest } from '../commit/manifest.js';
import { IntegrityError } from '../errors.js';
import { canonicalFromDate } from '../rows/time.js';
import { listDocumentPages } from '../source/pages.js';
import type { StorageDriver } from '../storage/types.js';
import { FileRoller } from './files.js';
import { Intake } from './intake.js';
import { PositionTracker } from './position.js';
import type { CollectionResult, ExportContext, RunOutcome } from './types.js';
import { planWindow } from './window.js';

/**
 * Exports one collection under its lease: first finishes an interrupted run (same run id,
 * window and numbering), then runs the new window, if there is one.
 */
export async function exportCollection(ctx: ExportContext, collectionId: string): Promise<Omit<CollectionResult, 'seconds'>> {
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
    const interrupted = store.value.active;
    if (interrupted) {
      ctx.logger.info('RunResumed', { collection_id: collectionId, ...shardField, run_id: interrupted.runId, next_seq: interrupted.nextSeq, position: interrupted.position?.updatedAt ?? null });
      runs.push(await runWindow(ctx, store, lease, true));
    }
    const window = planWindow(ctx.settings, store.value, started, interrupted?.window.lo ?? undefined);
    if (window) {
      store.stage((d) => {
        d.active = newActiveRun(ctx, runId, canonicalFromDate(started), window);
      });
      ctx.logger.info('RunStarted', { collection_id: collectionId, ...shardField, run_id: runId, lo: window.lo, hi: window.hi, format: ctx.settings.format });
      runs.push(await runWindow(ctx, store, lease, false));
    } else if (!interrupted) {
      ctx.logger.info('NothingNew', { collection_id: collectionId, ...shardField, last_hi: store.value.lastHi });
    }
    return { collectionId, runs };
  } finally {
    await lease.release();
  }
}

function newActiveRun(ctx: ExportContext, runId: string, startedAt: string, window: { lo: string | null; hi: string }): ActiveRun {
  return {
    runId,
    startedAt,
    window,
    format: ctx.settings.format,
    compression: ctx.compression,
    vectors: ctx.settings.vectors,
    nextSeq: 0,
    position: null,
    files: [],
    pending: null,
    rejected: 0,
    untyped: 0,
  };
}

/** Pages the active run's window from its position, writes and commits files, then the manifest. */
async function runWindow(ctx: ExportContext, store: CheckpointStore, lease: Lease, resumed: boolean): Promise<RunOutcome> {
  await recoverPending(ctx.driver, store, ctx);
  const run = store.value.active as ActiveRun;
  const collectionId = store.value.collectionId;
  const tracker = new PositionTracker(run.position);
  const exportedAt = canonicalFromDate(ctx.now());
  const intake = new Intake(ctx.logger, collectionId, { runId: run.runId, exportedAt, namespace: ctx.settings.namespace, vectors: run.vectors }, run);
  const roller = new FileRoller(ctx.driver, collectionId, run.runId, rollSettings(ctx, run), {
    nextSeq: () => (store.value.active as ActiveRun).nextSeq,
    beforeCommit: async (record) => {
      lease.assertHeld();
      await store.update((d) => {
        (d.active as ActiveRun).pending = record;
      });
      ctx.onStep('intent-recorded', record.seq);
    },
    committed: async (record, info) => {
      if (info.size !== record.bytes) {
        throw new IntegrityError(`[commit] ${ctx.driver.url(record.key)} has ${info.size} bytes, ${record.bytes} were written; not recording it`);
      }
      ctx.onStep('file-visible', record.seq);
      const counts = intake.committed;
      await store.update((d) => {
        const active = d.active as ActiveRun;
        active.files.push(record);
        active.position = record.endPosition;
        active.nextSeq = record.seq + 1;
        active.pending = null;
        active.rejected = counts.rejected;
        active.untyped = counts.untyped;
        if (run.vectors) active.vectorDims = intake.vectorDims;
      });
      ctx.onStep('checkpoint-advanced', record.seq);
      ctx.progress.filePublished(record, collectionId);
      ctx.logger.info('FilePublished', { collection_id: collectionId, run_id: run.runId, key: record.key, rows: record.rows, bytes: record.bytes, seq: record.seq });
    },
  });

  const window = { lo: run.position?.updatedAt ?? run.window.lo, hi: run.window.hi };
  try {
    const pages = listDocumentPages(ctx.http, { collectionId, window, pageSize: ctx.settings.pageSize, vectors: run.vectors, signal: ctx.signal });
    for await (const page of pages) {
      ctx.progress.pageFetched(page.documents.length);
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
  await store.update((d) => {
    const active = d.active as ActiveRun;
    active.rejected = intake.counts.rejected;
    active.untyped = intake.counts.untyped;
  });
  return finishRun(ctx, store, resumed);
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
    progress.rowWritten();
  }
}

/** A row outside the run's window (an API that ignored the filter) belongs to another run. */
function outside(updatedAt: string, window: { lo: string | null; hi: string }): boolean {
  return updatedAt >= window.hi || (window.lo !== null && updatedAt < window.lo);
}

/** Manifest, then the checkpoint moves on: the run is complete. */
async function finishRun(ctx: ExportContext, store: CheckpointStore, resumed: boolean): Promise<RunOutcome> {
  const run = store.value.active as ActiveRun;
  const collectionId = store.value.collectionId;
  const manifest = buildManifest(collectionId, run, canonicalFromDate(ctx.now()));
  const manifestKey = await writeManifest(ctx.driver, manifest);
  ctx.onStep('manifest-written', 0);
  await store.update((d) => {
    // A backfill of an older window (--since/--until in the past) must not move the next run's lo back.
    if (d.lastHi === null || run.window.hi > d.lastHi) d.lastHi = run.window.hi;
    d.active = null;
    d.history = [
      ...d.history,
      {
        runId: run.runId,
        window: run.window,
        files: manifest.totals.files,
        rows: manifest.totals.rows,
        bytes: manifest.totals.bytes,
        finishedAt: manifest.finishedAt,
        manifest: manifestKey,
        // A running max: canonical timestamps sort lexically in time order.
        newestUpdatedAt: [manifest.maxUpdatedAt, d.history.at(-1)?.newestUpdatedAt].filter((t): t is string => !!t).sort().at(-1) ?? null,
      },
    ].slice(-HISTORY_LIMIT);
  });
  ctx.logger.info('RunCompleted', { collection_id: collectionId, run_id: run.runId, files: manifest.totals.files, rows: manifest.totals.rows, bytes: manifest.totals.bytes, rejected: run.rejected, untyped: run.untyped, manifest: manifestKey });
  return { runId: run.runId, window: run.window, resumed, files: manifest.files, rows: manifest.totals.rows, bytes: manifest.totals.bytes, rejected: run.rejected, untyped: run.untyped, manifestKey };
}

/**
 * A kill between "intent recorded" and "checkpoint advanced" leaves `pending`. If the file
 * is there, it was committed: adopt it. If not, it never became visible: forget it, and
 * its rows are exported again from the position.
 */
async function recoverPending(driver: StorageDriver, store: CheckpointStore, ctx: ExportContext): Promise<void> {
  const pending = store.value.active?.pending;
  if (!pending) return;
  const info = await driver.head(pending.key);
  if (info && info.size !== pending.bytes) {
    throw new IntegrityError(`[commit] ${driver.url(pending.key)} exists with ${info.size} bytes but the checkpoint's intent says ${pending.bytes}; inspect it before re-running`);
  }
  await store.update((d) => {
    const active = d.active as ActiveRun;
    if (info) {
      active.files.push(pending as FileRecord);
      active.position = pending.endPosition;
      active.nextSeq = pending.seq + 1;
    }
    active.pending = null;
  });
  ctx.logger.info(info ? 'PendingFileAdopted' : 'PendingFileDiscarded', { key: pending.key, rows: pending.rows });
}

function rollSettings(ctx: ExportContext, run: ActiveRun) {
  return {
    format: run.format as 'parquet' | 'ndjson',
    compression: run.compression as 'zstd' | 'snappy' | 'gzip' | 'none',
    targetFileBytes: Math.round(ctx.settings.targetFileMb * 1024 * 1024),
    maxRowsPerFile: ctx.settings.maxRowsPerFile,
    rowGroupRows: ctx.settings.rowGroupRows,
  };
}
