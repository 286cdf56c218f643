/**
 * The commit protocol of one run, in a fixed order (STYLE.md item 6; DESIGN.md section 6):
 * for each file, its intent is recorded, then it becomes visible, then the checkpoint moves
 * past it; at the end the manifest is written, then the checkpoint completes the run. What
 * each checkpoint write holds is a pure function in transitions.ts; this object does the I/O,
 * the steps tests kill on, and the log lines.
 */
import { IntegrityError, InternalError } from '../errors.js';
import { canonicalFromDate } from '../rows/time.js';
import type { ObjectInfo, StorageDriver } from '../storage/types.js';
import type { Logger } from '../util/log.js';
import type { CheckpointStore } from './checkpoint.js';
import { buildManifest, writeManifest } from './manifest.js';
import { queueNotifications, type SinkRef } from './notifications.js';
import type { ActiveRun, Checkpoint, FileRecord, Manifest, Slice } from './schema.js';
import { activeRun, completeRun, finishSlice, freeSeqs, recordCounts, recordIntent, recordPublished, resolvePending, type RunCounts, splitSlice } from './transitions.js';

/**
 * Commit-protocol steps, in order: `page` (n = pages so far, all slices), `intent-recorded`, `file-visible`, `checkpoint-advanced` (n = seq), `manifest-written`.
 * An export run's slices add `slice-splitting` (n = the id of the slice being split: its new end is set in memory, the
 * checkpoint does not have it yet), `slice-split` (n = the new slice's id, once the split is recorded) and `slice-done` (n = the slice's id).
 * A reconciliation adds `listing-started` (n = 1 when the run is resumed, else 0), `listing-page` (n = pages so far),
 * `candidates-checked` (n = batches so far), before its files, and `snapshot-written` (n = 0) after them, before the manifest.
 * Sinks (src/sinks/deliver.ts), after a run is complete or for what an earlier run left pending: `sink-delivering` (the
 * notification is about to go out) and `sink-delivered` (the sink took it; the checkpoint still holds it), n = deliveries so far.
 */
export type ProtocolStep =
  | 'page'
  | 'intent-recorded'
  | 'file-visible'
  | 'checkpoint-advanced'
  | 'manifest-written'
  | 'slice-splitting'
  | 'slice-split'
  | 'slice-done'
  | 'listing-started'
  | 'listing-page'
  | 'candidates-checked'
  | 'snapshot-written'
  | 'sink-delivering'
  | 'sink-delivered';
export type StepHook = (step: ProtocolStep, n: number) => void;

/** Where the counters recorded with each file come from (the run's intake). */
export interface CountSource {
  /** Counters as of the last row written: what a file's checkpoint records. */
  readonly committed: RunCounts;
  /** Dims fixed so far per vector column (recorded for runs with vectors). */
  readonly vectorDims: Record<string, number>;
}

/** What the committer needs from the run. */
export interface CommitterDeps {
  driver: StorageDriver;
  logger: Logger;
  /** Called at each step; tests kill the process at exact points. */
  onStep: StepHook;
  /** Throws when the run no longer holds its lease; checked before every intent. */
  lease: { assertHeld(): void };
  /** The run's counters, read when a file is recorded (a slice's file: its slice's, see `forSlice`). */
  counts?: CountSource;
  /** Called once a file is recorded in the checkpoint (the progress line and metrics). */
  published?: (record: FileRecord) => void;
  now: () => Date;
  /** The sinks to notify once the run is complete: queued in the checkpoint write that completes it (commit/notifications.ts). */
  notify?: readonly SinkRef[];
}

/** A completed run: its manifest, where it was written, and the run as the checkpoint last held it. */
export interface FinishedRun {
  run: ActiveRun;
  manifest: Manifest;
  manifestKey: string;
}

/**
 * Implements the file roller's hooks (run/files.ts `FileCommitter`) for the checkpoint's run
 * in progress, plus the resume of a pending intent and the end of the run. One per window.
 */
export class Committer {
  constructor(private readonly store: CheckpointStore, private readonly deps: CommitterDeps) {}

  /** The run in progress, as last written (InternalError when there is none). */
  get run(): ActiveRun {
    return activeRun(this.store.value);
  }

  /** The collection whose run this is. */
  get collection(): string {
    return this.store.value.collectionId;
  }

  private get collectionId(): string {
    return this.store.value.collectionId;
  }

  /**
   * A kill between "intent recorded" and "checkpoint advanced" leaves `pending`. If the file
   * is there, it was committed: adopt it. If not, it never became visible: forget it, and
   * its rows are exported again from the position. Call before the run's position is read.
   */
  async recoverPending(): Promise<void> {
    const run = this.run;
    const intents = [...(run.pending ? [{ pending: run.pending, slice: undefined }] : []), ...(run.slices ?? []).flatMap((s) => (s.pending ? [{ pending: s.pending, slice: s.id }] : []))];
    const { driver } = this.deps;
    for (const { pending, slice } of intents) {
      const found = await driver.head(pending.key);
      const { checkpoint, outcome } = resolvePending(this.store.value, found, driver.url(pending.key), slice);
      await this.store.update(() => checkpoint);
      this.deps.logger.info(outcome === 'adopted' ? 'PendingFileAdopted' : 'PendingFileDiscarded', { key: pending.key, rows: pending.rows, ...(slice === undefined ? {} : { slice }) });
    }
  }

  /**
   * The sequence number of the next file: a number a file that never became visible left free
   * (a resume after a kill mid-file), else the next after every one given out. Slices share it,
   * so every file of the run has its own number. Read once the pending intents are resolved.
   */
  nextSeq(): number {
    this.seqs ??= { free: freeSeqs(this.run), next: this.run.nextSeq };
    return this.seqs.free.shift() ?? this.seqs.next++;
  }

  private seqs: { free: number[]; next: number } | null = null;

  /** All bytes staged, not yet visible: record the intent (under the lease). */
  async beforeCommit(record: FileRecord): Promise<void> {
    this.deps.lease.assertHeld();
    await this.store.update((cp) => recordIntent(cp, record));
    this.deps.onStep('intent-recorded', record.seq);
  }

  /** The file is visible: check its size, then move the checkpoint past it. `counts`: its slice's counters (default the run's). */
  async committed(record: FileRecord, info: ObjectInfo, counts: CountSource | undefined = this.deps.counts): Promise<void> {
    const { driver, logger } = this.deps;
    if (!counts) throw new InternalError(`[commit] ${driver.url(record.key)}: no counters to record it with`);
    if (info.size !== record.bytes) {
      throw new IntegrityError(`[commit] ${driver.url(record.key)} has ${info.size} bytes, ${record.bytes} were written; not recording it`);
    }
    this.deps.onStep('file-visible', record.seq);
    await this.store.update((cp) => recordPublished(cp, record, counts.committed, counts.vectorDims));
    this.deps.onStep('checkpoint-advanced', record.seq);
    this.deps.published?.(record);
    const slice = record.slice === undefined ? {} : { slice: record.slice };
    logger.info('FilePublished', { collection_id: this.collectionId, run_id: this.run.runId, key: record.key, rows: record.rows, bytes: record.bytes, seq: record.seq, ...slice });
  }

  /** The roller's hooks for one slice: its files are numbered with the run's, recorded with its counters. */
  forSlice(counts: CountSource): { nextSeq(): number; beforeCommit(record: FileRecord): Promise<void>; committed(record: FileRecord, info: ObjectInfo): Promise<void> } {
    return {
      nextSeq: () => this.nextSeq(),
      beforeCommit: (record) => this.beforeCommit(record),
      committed: (record, info) => this.committed(record, info, counts),
    };
  }

  /**
   * Splits slice `id` at `at` (see transitions `splitSlice`), after the checkpoint writes in
   * flight. Once the run is in the stored checkpoint the split is written; before that (nothing
   * committed yet) it is staged and goes out with the run's first write, which comes before any
   * file of the new slice is visible.
   */
  async split(id: number, at: string): Promise<Slice> {
    let made: Slice | null = null;
    const change = (cp: Checkpoint) => {
      const { checkpoint, slice } = splitSlice(cp, id, at);
      made = slice;
      return checkpoint;
    };
    this.deps.onStep('slice-splitting', id);
    await this.store.updateOrStage(this.run.runId, change);
    const slice = made as Slice | null;
    if (!slice) throw new InternalError('[commit] split made no slice');
    this.deps.onStep('slice-split', slice.id);
    this.deps.logger.info('SliceSplit', { collection_id: this.collectionId, run_id: this.run.runId, slice: id, new_slice: slice.id, at, hi: slice.hi });
    return slice;
  }

  /** Slice `id` has committed all its rows: mark it done with its final counters. */
  async finishSlice(id: number, counts: RunCounts): Promise<void> {
    await this.store.updateOrStage(this.run.runId, (cp) => finishSlice(cp, id, counts));
    this.deps.onStep('slice-done', id);
  }

  /** Ends the run: final counters, then the manifest, then the checkpoint completes it. */
  async finish(counts: RunCounts): Promise<FinishedRun> {
    const { driver, logger } = this.deps;
    await this.store.update((cp) => recordCounts(cp, counts));
    const run = this.run;
    const manifest = buildManifest(this.collectionId, run, canonicalFromDate(this.deps.now()));
    const manifestKey = await writeManifest(driver, manifest);
    this.deps.onStep('manifest-written', 0);
    // The run's completion and its notifications are one write: a kill after it leaves them pending, before it the resume queues them.
    // A run that published no file (a reconciliation that found no deletion) notifies nobody.
    await this.store.update((cp) => queueNotifications(completeRun(cp, manifest, manifestKey), manifest, manifestKey, manifest.files.length > 0 ? (this.deps.notify ?? []) : [], manifest.finishedAt));
    const { files, rows, bytes } = manifest.totals;
    if (run.kind === 'reconcile') logger.info('ReconcileCompleted', { collection_id: this.collectionId, run_id: run.runId, listed_at: run.reconcile?.listedAt, ids_listed: run.reconcile?.idsListed, tombstones: rows, files, manifest: manifestKey });
    else logger.info('RunCompleted', { collection_id: this.collectionId, run_id: run.runId, files, rows, bytes, rejected: run.rejected, untyped: run.untyped, ...(run.typedColumns ? { rescued: run.rescued ?? 0 } : {}), manifest: manifestKey });
    return { run, manifest, manifestKey };
  }
}
