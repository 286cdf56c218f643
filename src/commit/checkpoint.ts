import { CorruptStateError, InternalError, LeaseHeldError, PreconditionFailedError, type StorageError } from '../errors.js';
import type { StorageDriver } from '../storage/types.js';
import { layout, type ShardRef } from './layout.js';
import { type Checkpoint, checkpointSchema, fieldPath, parseStored } from './schema.js';

export type { ActiveRun, Checkpoint, FileRecord, Position, RunSummary } from './schema.js';

export const HISTORY_LIMIT = 20;

/** What a refused checkpoint's message tells the user to do. */
const CORRUPT_FIX = 'restore it from a backup, or move it aside to export again from the beginning; the exporter never overwrites it';

export function emptyCheckpoint(collectionId: string): Checkpoint {
  return { version: 1, collectionId, lastHi: null, active: null, history: [] };
}

/**
 * The checkpoint object with its version (etag). Every change is a compare-and-swap on
 * that etag (S3 If-Match, Azure ifMatch, fs lock + rename): a writer whose view is stale
 * fails instead of overwriting.
 */
export class CheckpointStore {
  private etag: string | null = null;
  private current: Checkpoint;
  private queue: Promise<unknown> = Promise.resolve();
  private storedRunId: string | null = null;

  private constructor(private readonly driver: StorageDriver, private readonly key: string, initial: Checkpoint) {
    this.current = initial;
  }

  /** The scheduled runs' checkpoint, or with `shard` that shard's own (see layout). */
  static async load(driver: StorageDriver, collectionId: string, shard?: ShardRef | null): Promise<CheckpointStore> {
    const key = layout.checkpoint(collectionId, shard);
    const found = await driver.read(key);
    if (!found) return new CheckpointStore(driver, key, emptyCheckpoint(collectionId));
    const url = driver.url(key);
    const parsed = parseStored(checkpointSchema, found.body, url, { name: 'checkpoint', fix: CORRUPT_FIX });
    if (parsed.collectionId !== collectionId) {
      throw new CorruptStateError(`[checkpoint] ${url} is not a valid checkpoint: collectionId: it says ${parsed.collectionId}, not ${collectionId}; ${CORRUPT_FIX}`, {
        context: { url, field: 'collectionId' },
      });
    }
    const store = new CheckpointStore(driver, key, parsed);
    store.etag = found.etag;
    store.storedRunId = parsed.active?.runId ?? null;
    return store;
  }

  get value(): Checkpoint {
    return this.current;
  }

  /**
   * Applies `change` in memory only; the next `update` writes it. A new run is staged so,
   * and first written with its first file's intent: a run that fails before publishing
   * anything leaves the checkpoint untouched.
   */
  stage(change: (draft: Checkpoint) => Checkpoint | void): void {
    const copy = structuredClone(this.current);
    this.current = change(copy) ?? copy;
  }

  /**
   * Applies `change` to a copy (it edits the copy, or returns the next checkpoint, as the
   * transitions in transitions.ts do) and swaps it in; throws if someone else wrote in between.
   * What it writes must pass the schema: a checkpoint the next run would refuse is never written.
   */
  update(change: (draft: Checkpoint) => Checkpoint | void): Promise<Checkpoint> {
    // One write at a time, each applied to the one before it: a run's slices commit concurrently.
    const next = this.queue.then(() => this.write(change));
    this.queue = next.catch(() => {});
    return next;
  }

  /**
   * Applies `change` after the writes queued before it: written when the stored checkpoint
   * already holds run `runId` in progress, else staged (a run not written yet goes out whole
   * with its first update, this change included). Unlike `stage`, safe while writes are in
   * flight: a write that started before it cannot overwrite it.
   */
  updateOrStage(runId: string, change: (draft: Checkpoint) => Checkpoint | void): Promise<Checkpoint> {
    const next = this.queue.then(() => {
      if (this.storedRunId === runId) return this.write(change);
      this.stage(change);
      return this.current;
    });
    this.queue = next.catch(() => {});
    return next;
  }

  private async write(change: (draft: Checkpoint) => Checkpoint | void): Promise<Checkpoint> {
    const copy = structuredClone(this.current);
    const draft = change(copy) ?? copy;
    const checked = checkpointSchema.safeParse(draft);
    if (!checked.success) {
      const issue = checked.error.issues[0];
      throw new InternalError(`[checkpoint] refusing to write ${this.driver.url(this.key)}: ${fieldPath(issue?.path ?? [])}: ${issue?.message}; this is a bug in the exporter, the stored checkpoint is unchanged`);
    }
    const body = Buffer.from(JSON.stringify(draft, null, 1));
    const key = this.key;
    try {
      const { etag } = await this.driver.writeIf(key, body, this.etag ? { ifMatch: this.etag } : { ifNoneMatch: '*' });
      this.etag = etag;
      this.current = draft;
      this.storedRunId = draft.active?.runId ?? null;
      return draft;
    } catch (error) {
      if (error instanceof PreconditionFailedError || (error as StorageError)?.code === 'ERR_ALREADY_EXISTS') {
        throw new LeaseHeldError(
          `[checkpoint] ${this.driver.url(key)} was changed by another writer while this run held the lease; stopping without writing. Check for a second exporter on this destination`,
          { cause: error },
        );
      }
      throw error;
    }
  }
}
