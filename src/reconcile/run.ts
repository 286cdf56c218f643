/**
 * One reconciliation of one collection, run under the collection's lease (issue 10,
 * "Semantics"): at T, the instant the listing starts, K = the ids whose newest staged row is
 * live with `updated_at` < T − safetyLagSeconds; A = every id listed now; a tombstone for each
 * id of K not in A that a re-check does not find either. Tombstones go through the file
 * roller and the committer (intent → visible → checkpoint), in document_id order, so the
 * run's position is the last id committed. Then the snapshot of the new staged state is
 * written, then the manifest (`kind: "reconcile"`), then the checkpoint's `lastReconcile`.
 *
 * Resume (same run id, T and numbering): the run's own committed tombstone files are read
 * into K (their ids are deleted there, so never tombstoned again), the listing runs again,
 * and ids up to the position are skipped. Once the snapshot exists, the tombstoning was
 * complete: a resume adopts it and only writes the manifest and the checkpoint.
 */
import type { CheckpointStore } from '../commit/checkpoint.js';
import { Committer } from '../commit/committer.js';
import { layout } from '../commit/layout.js';
import type { Lease } from '../commit/lease.js';
import { readManifest } from '../commit/manifest.js';
import type { ActiveRun, Checkpoint, FileRecord } from '../commit/schema.js';
import { activeRun, beginReconcile, recordListing, recordSnapshot } from '../commit/transitions.js';
import { AlreadyExistsError, IntegrityError, InternalError, SourceError } from '../errors.js';
import { tombstoneRow } from '../rows/tombstone.js';
import { canonicalFromDate } from '../rows/time.js';
import { FileRoller, type RollSettings } from '../run/files.js';
import type { ExportContext } from '../run/types.js';
import { existingIds, type ListingCount, type ListingOptions, listIds, RECHECK_BATCH } from './listing.js';
import { mergeJoin, mergeSorted, newestPerId, Spool } from './sorted.js';
import { isNewer, planStaged, type StagedRecord, snapshotBody, stagedState } from './staged.js';

/** What one reconciliation did. */
export interface ReconcileOutcome {
  runId: string;
  /** T: the start of the listing, every tombstone's `updated_at`. */
  listedAt: string;
  /** True when this finished a reconciliation an earlier process started. */
  resumed: boolean;
  idsListed: number;
  tombstones: number;
  /** API requests of the listing and the re-checks (this process). */
  requests: number;
  files: Omit<FileRecord, 'endPosition'>[];
  manifestKey: string;
  snapshotKey: string;
}

/**
 * The format and codec of the tombstone files: those of the newest export run at the
 * destination (its manifest), so the consumers that load its files by name pattern
 * (`*.json.gz`, `*.parquet`) load the tombstones too, whatever `--format` this invocation was
 * given; the settings' when nothing is staged yet. A mismatch with the settings is logged.
 */
async function tombstoneCodec(ctx: ExportContext, checkpoint: Checkpoint): Promise<Pick<ActiveRun, 'format' | 'compression'>> {
  const wanted = { format: ctx.settings.format, compression: ctx.compression };
  const last = checkpoint.history.at(-1);
  const manifest = last ? await readManifest(ctx.driver, last.manifest) : null;
  if (!manifest || (manifest.format === wanted.format && manifest.compression === wanted.compression)) return wanted;
  ctx.logger.warn('TombstoneFormat', {
    collection_id: checkpoint.collectionId,
    format: manifest.format,
    compression: manifest.compression,
    note: `the staged files are ${manifest.format} (${manifest.compression}) as of run ${manifest.runId}: tombstones are written the same way, not as ${wanted.format} (${wanted.compression}), so the consumers that load those files load them too`,
  });
  return { format: manifest.format, compression: manifest.compression };
}

/**
 * Runs (or, when the checkpoint holds an interrupted one, resumes) a reconciliation of the
 * store's collection. The caller holds `lease` and has no export run in progress.
 */
export async function reconcileCollection(ctx: ExportContext, store: CheckpointStore, lease: Lease, runId: string): Promise<ReconcileOutcome> {
  const collectionId = store.value.collectionId;
  const resumed = store.value.active?.kind === 'reconcile';
  if (!resumed) {
    const listedAt = canonicalFromDate(ctx.now());
    const codec = await tombstoneCodec(ctx, store.value);
    // Staged only: first written with the first tombstone's intent (or the listing's record).
    store.stage((cp) => beginReconcile(cp, { runId, startedAt: listedAt, listedAt, ...codec }));
  }
  const start = activeRun(store.value);
  ctx.logger.info(resumed ? 'ReconcileResumed' : 'ReconcileStarted', { collection_id: collectionId, run_id: start.runId, listed_at: start.reconcile?.listedAt, position: start.reconcile?.position ?? null });
  const counts = { committed: { rejected: 0, untyped: 0 }, vectorDims: {} };
  const published = (record: FileRecord) => ctx.progress.filePublished(record, collectionId);
  const committer = new Committer(store, { driver: ctx.driver, logger: ctx.logger, onStep: ctx.onStep, lease, counts, published, now: ctx.now, notify: ctx.sinks });
  await committer.recoverPending();
  const count: ListingCount = { ids: 0, requests: 0 };
  const snapshotKey = layout.reconcileSnapshot(collectionId, start.runId);
  if (!committer.run.reconcile?.snapshot) {
    // The snapshot is published only after the last tombstone is committed: if it is there, the pass was complete.
    const found = resumed && committer.run.reconcile?.includedThrough !== undefined && (await ctx.driver.head(snapshotKey)) !== null;
    if (found) ctx.logger.info('SnapshotAdopted', { collection_id: collectionId, run_id: start.runId, key: snapshotKey });
    else await tombstonePass(ctx, store, committer, count, snapshotKey);
    await store.update((cp) => recordSnapshot(cp, snapshotKey));
  }
  const { run, manifest, manifestKey } = await committer.finish(counts.committed);
  return {
    runId: run.runId, listedAt: run.reconcile?.listedAt ?? '', resumed, idsListed: run.reconcile?.idsListed ?? 0, tombstones: manifest.totals.rows,
    requests: count.requests, files: manifest.files, manifestKey, snapshotKey,
  };
}

/**
 * Lists, joins, re-checks and writes the tombstones, then publishes the snapshot. The staged
 * records and the tombstones are spooled to temp files on the way, so the snapshot is their
 * merge and no data file is read twice.
 */
async function tombstonePass(ctx: ExportContext, store: CheckpointStore, committer: Committer, count: ListingCount, snapshotKey: string): Promise<void> {
  const run = committer.run;
  const collectionId = store.value.collectionId;
  const progress = run.reconcile as NonNullable<ActiveRun['reconcile']>;
  const last = store.value.lastReconcile;
  const sources = await planStaged(ctx.driver, collectionId, last ? { snapshotKey: last.snapshot, includedThrough: last.includedThrough, runId: last.runId } : null);
  ctx.logger.info('StagedStatePlanned', { collection_id: collectionId, run_id: run.runId, snapshot: sources.snapshotKey, files: sources.files.length + run.files.length });
  const base = new Spool<StagedRecord>();
  const tombs = new Spool<StagedRecord>();
  try {
    const staged = tap(stagedState(ctx.driver, sources, run.files, ctx.settings.reconcileSortChunkRows), (r) => base.write(r));
    ctx.onStep('listing-started', run.files.length > 0 || progress.position !== null ? 1 : 0);
    await writeTombstones(ctx, committer, collectionId, staged, count, tombs);
    await store.update((cp) => recordListing(cp, sources.includedThrough, count.ids));
    const records = newestPerId(mergeSorted([base.read(), tombs.read()], (r) => r.id), (r) => r.id, isNewer);
    try {
      await ctx.driver.publish(snapshotKey, snapshotBody(records), { contentType: 'application/gzip', signal: ctx.signal });
    } catch (error) {
      if (!(error instanceof AlreadyExistsError)) throw error;
      // Only a pass that added no tombstone may adopt a snapshot it did not write: else the snapshot would miss them.
      if (tombs.size > 0) throw new IntegrityError(`[reconcile] ${ctx.driver.url(snapshotKey)} exists, but run ${run.runId} just wrote ${tombs.size} tombstones it does not hold; inspect the checkpoint (was it restored from an old copy?) before re-running`);
      ctx.logger.info('SnapshotAdopted', { collection_id: collectionId, run_id: run.runId, key: snapshotKey });
    }
    ctx.onStep('snapshot-written', 0);
  } finally {
    await Promise.all([base.dispose(), tombs.dispose()]);
  }
}

/** Merge-joins K with the listing and writes a tombstone for each re-checked candidate, in id order, through the roller. */
async function writeTombstones(ctx: ExportContext, committer: Committer, collectionId: string, staged: AsyncIterable<StagedRecord>, count: ListingCount, tombs: Spool<StagedRecord>): Promise<void> {
  const run = committer.run;
  const { listedAt, position } = run.reconcile as NonNullable<ActiveRun['reconcile']>;
  const cutoff = canonicalFromDate(new Date(Date.parse(listedAt) - ctx.settings.safetyLagSeconds * 1000));
  const exportedAt = canonicalFromDate(ctx.now());
  const roller = new FileRoller(ctx.driver, collectionId, run.runId, rollSettings(ctx, run), committer, ctx.signal);
  let pages = 0;
  let batches = 0;
  const listing: ListingOptions = { collectionId, signal: ctx.signal, logger: ctx.logger, chunkRows: ctx.settings.reconcileSortChunkRows, onPage: () => ctx.onStep('listing-page', ++pages) };
  const flush = async (batch: string[]) => {
    const existing = await existingIds(ctx.http, listing, batch, count);
    ctx.onStep('candidates-checked', ++batches);
    for (const id of batch) {
      if (existing.has(id)) continue; // created, updated or re-created during the listing
      await roller.write(tombstoneRow({ documentId: id, collectionId, namespaceId: ctx.settings.namespace, runId: run.runId, exportedAt, observedAt: listedAt }), () => null);
      await tombs.write({ id, u: listedAt, e: exportedAt, d: true });
    }
  };
  try {
    let batch: string[] = [];
    for await (const j of mergeJoin(staged, listIds(ctx.http, listing, count), { left: (r) => r.id, right: (id) => id }, refuseUnsorted(ctx, collectionId))) {
      const k = j.left;
      if (!k || j.right !== undefined || k.d || k.u >= cutoff || (position !== null && j.key <= position)) continue;
      batch.push(j.key);
      if (batch.length < RECHECK_BATCH) continue;
      await flush(batch);
      batch = [];
      ctx.signal?.throwIfAborted();
    }
    if (batch.length > 0) await flush(batch);
    await roller.close(null);
  } catch (error) {
    await roller.abort(error as Error);
    throw error;
  }
}

function rollSettings(ctx: ExportContext, run: ActiveRun): RollSettings {
  const { targetFileMb, maxRowsPerFile, rowGroupRows } = ctx.settings;
  return { format: run.format, compression: run.compression, targetFileBytes: Math.round(targetFileMb * 1024 * 1024), maxRowsPerFile, rowGroupRows, recordLastId: true };
}

/** The listing's own order is checked in listIds; the staged side is sorted here, so a disorder there is a bug. */
function refuseUnsorted(ctx: ExportContext, collectionId: string) {
  return (side: 'left' | 'right', previous: string, next: string): Error =>
    side === 'right'
      ? new SourceError(`[mixpeek] collection ${collectionId}: the id listing returned ${JSON.stringify(next)} after ${JSON.stringify(previous)}; nothing was tombstoned, report it to Mixpeek`, { code: 'ERR_SOURCE_UNSORTED' })
      : new InternalError(`[reconcile] ${ctx.driver.url(layout.dataPrefix(collectionId))}: the staged state came out of order (${JSON.stringify(next)} after ${JSON.stringify(previous)}); this is a bug in the exporter`);
}

/** Passes records through, awaiting `each` on every one (the snapshot's spool). */
async function* tap<T>(input: AsyncIterable<T>, each: (record: T) => Promise<void>): AsyncGenerator<T> {
  for await (const record of input) {
    await each(record);
    yield record;
  }
}
