import { LeaseHeldError, PreconditionFailedError, StorageError } from '../errors.js';
import type { StorageDriver } from '../storage/types.js';
import { layout, type ShardRef } from './layout.js';

/** The position reached: the last `updated_at` exported, and every id exported at exactly that instant. */
export interface Position {
  updatedAt: string;
  ids: string[];
}

/** One published data file, as the checkpoint and the manifest record it. */
export interface FileRecord {
  key: string;
  seq: number;
  dt: string;
  rows: number;
  bytes: number;
  sha256: string;
  minUpdatedAt: string | null;
  maxUpdatedAt: string | null;
  columns: string[];
  /** Position after this file's last row. */
  endPosition: Position | null;
}

/** A run in progress (or interrupted): resumed with the same id, window and numbering. */
export interface ActiveRun {
  runId: string;
  startedAt: string;
  window: { lo: string | null; hi: string };
  format: string;
  compression: string;
  vectors: boolean;
  nextSeq: number;
  position: Position | null;
  files: FileRecord[];
  /** Intent: the file about to be committed. Exists on resume → adopted; absent → re-exported. */
  pending: FileRecord | null;
  rejected: number;
  untyped: number;
  /** Length fixed for each vector column by the first vector seen in this run; a resume keeps it. */
  vectorDims?: Record<string, number>;
}

export interface RunSummary {
  runId: string;
  window: { lo: string | null; hi: string };
  files: number;
  rows: number;
  bytes: number;
  finishedAt: string;
  manifest: string;
  /**
   * The newest `updated_at` exported by this run or any run before it (a running max, so it
   * survives runs that found nothing new); `status` and the freshness metric read it. Absent
   * in checkpoints written before it existed.
   */
  newestUpdatedAt?: string | null;
}

export interface Checkpoint {
  version: 1;
  collectionId: string;
  /** `hi` of the last completed run: the next run's `lo`. */
  lastHi: string | null;
  active: ActiveRun | null;
  /** The last runs, newest last (at most 20), for `status`. */
  history: RunSummary[];
}

export const HISTORY_LIMIT = 20;

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

  private constructor(private readonly driver: StorageDriver, private readonly key: string, initial: Checkpoint) {
    this.current = initial;
  }

  /** The scheduled runs' checkpoint, or with `shard` that shard's own (see layout). */
  static async load(driver: StorageDriver, collectionId: string, shard?: ShardRef | null): Promise<CheckpointStore> {
    const key = layout.checkpoint(collectionId, shard);
    const found = await driver.read(key);
    if (!found) return new CheckpointStore(driver, key, emptyCheckpoint(collectionId));
    let parsed: Checkpoint;
    try {
      parsed = JSON.parse(found.body.toString('utf8')) as Checkpoint;
    } catch (error) {
      throw new StorageError(`[checkpoint] ${driver.url(key)} is not valid JSON; restore it from a backup or move it away to start over`, {
        cause: error,
        code: 'ERR_CHECKPOINT_CORRUPT',
      });
    }
    if (parsed.version !== 1 || parsed.collectionId !== collectionId) {
      throw new StorageError(`[checkpoint] ${driver.url(key)} is for ${parsed.collectionId} version ${parsed.version}, not ${collectionId} version 1`, {
        code: 'ERR_CHECKPOINT_MISMATCH',
      });
    }
    const store = new CheckpointStore(driver, key, parsed);
    store.etag = found.etag;
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
  stage(change: (draft: Checkpoint) => void): void {
    const draft = structuredClone(this.current);
    change(draft);
    this.current = draft;
  }

  /** Applies `change` to a copy and swaps it in; throws if someone else wrote in between. */
  async update(change: (draft: Checkpoint) => void): Promise<Checkpoint> {
    const draft = structuredClone(this.current);
    change(draft);
    const body = Buffer.from(JSON.stringify(draft, null, 1));
    const key = this.key;
    try {
      const { etag } = await this.driver.writeIf(key, body, this.etag ? { ifMatch: this.etag } : { ifNoneMatch: '*' });
      this.etag = etag;
      this.current = draft;
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
