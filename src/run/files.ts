import { pipeline } from 'node:stream';
import type { FileRecord, Position } from '../commit/checkpoint.js';
import { layout } from '../commit/layout.js';
import { createEncoder, DEFAULT_ROW_GROUP_BYTES } from '../encode/index.js';
import type { Compression, FileEncoder, Format } from '../encode/types.js';
import { columnsFor, type TypedColumn } from '../rows/columns.js';
import { partitionDate } from '../rows/time.js';
import type { Row } from '../rows/types.js';
import type { ObjectInfo, StorageDriver } from '../storage/types.js';
import { DigestStream } from './digest.js';

export interface RollSettings {
  format: Format;
  compression: Compression;
  /** Close a file once its compressed bytes reach this, at a row-group or chunk boundary (bound: see `full`). */
  targetFileBytes: number;
  /** Close a file at this many rows. */
  maxRowsPerFile: number;
  /** Parquet row group size in rows (memory: this many rows of Arrow data). */
  rowGroupRows: number;
  /** The run's typed columns (every file of the run has all of them). Default none. */
  typedColumns?: readonly TypedColumn[];
  /** Record each file's last `document_id` as `lastId` (a reconciliation writes tombstones in id order: its position). */
  recordLastId?: boolean;
  /** Parquet: close a row group once its values reach this many bytes (default DEFAULT_ROW_GROUP_BYTES); never above the file target. */
  rowGroupBytes?: number;
  /** The slice of the run's window whose files these are (recorded with each file). */
  slice?: number;
}

/** Hooks into the commit protocol: record the intent, then record the published file. */
export interface FileCommitter {
  /** Called with the file's final record after all bytes are staged, before it becomes visible. */
  beforeCommit(record: FileRecord): Promise<void>;
  /** Called once the file is visible at its final name. */
  committed(record: FileRecord, info: ObjectInfo): Promise<void>;
  nextSeq(): number;
}

interface OpenFile {
  seq: number;
  dt: string;
  key: string;
  encoder: FileEncoder;
  digest: DigestStream;
  published: Promise<ObjectInfo>;
  record: FileRecord | null;
  minUpdatedAt: string | null;
  maxUpdatedAt: string | null;
  lastId: string | null;
  /** Vector keys of this file's schema. */
  vectorKeys: string[];
}

/**
 * Writes rows into files and rolls them: when the `dt=` date changes, when the compressed
 * size reaches the target (how far past it: see `full`), at the row cap, and when a new
 * vector name appears (a Parquet file has one schema). Each file streams into storage while
 * it is encoded; closing it runs the commit protocol through the committer, strictly one file
 * after another.
 */
export class FileRoller {
  private current: OpenFile | null = null;
  private vectorKeys: string[] = [];

  constructor(
    private readonly driver: StorageDriver,
    private readonly collectionId: string,
    private readonly runId: string,
    private readonly settings: RollSettings,
    private readonly committer: FileCommitter,
    /** The run's cancellation: an upload in flight stops (nothing published; its rows are re-exported on resume). */
    private readonly signal?: AbortSignal,
  ) {}

  /** Writes a row; `position` is the position before this row (where a roll would cut). */
  async write(row: Row, position: () => Position | null): Promise<void> {
    const dt = partitionDate(row.updated_at);
    const newKeys = Object.keys(row.vectors).filter((k) => !this.vectorKeys.includes(k));
    const file = this.current;
    if (file && (file.dt !== dt || newKeys.length > 0 || this.full(file))) await this.close(position());
    if (newKeys.length > 0) this.vectorKeys = [...this.vectorKeys, ...newKeys].sort();
    const target = this.current ?? this.open(dt);
    await target.encoder.write(row);
    target.lastId = row.document_id;
    if (row.updated_at !== null) {
      if (target.minUpdatedAt === null || row.updated_at < target.minUpdatedAt) target.minUpdatedAt = row.updated_at;
      if (target.maxUpdatedAt === null || row.updated_at > target.maxUpdatedAt) target.maxUpdatedAt = row.updated_at;
    }
  }

  /** Closes and commits the open file, if any. `position` is the position after its last row. */
  async close(position: Position | null): Promise<FileRecord | null> {
    const file = this.current;
    if (!file) return null;
    this.current = null;
    file.record = {
      key: file.key,
      seq: file.seq,
      dt: file.dt,
      rows: file.encoder.rows,
      bytes: 0,
      sha256: '',
      minUpdatedAt: file.minUpdatedAt,
      maxUpdatedAt: file.maxUpdatedAt,
      columns: columnsFor(file.vectorKeys, this.settings.typedColumns).map((c) => c.name),
      endPosition: position,
      ...(this.settings.recordLastId && file.lastId !== null ? { lastId: file.lastId } : {}),
      ...(this.settings.slice === undefined ? {} : { slice: this.settings.slice }),
    };
    const [, info] = await Promise.all([file.encoder.end(), file.published]);
    await this.committer.committed(file.record, info);
    return file.record;
  }

  /** Drops the open file (nothing of it is published) and waits until its upload has stopped. */
  async abort(error: Error): Promise<void> {
    const file = this.current;
    this.current = null;
    if (!file) return;
    file.encoder.abort(error);
    await file.published.catch(() => {});
  }

  /**
   * Checked before each row. `bytesOut` moves only when the encoder cuts a row group (NDJSON:
   * a chunk), and the `write()` that cut it resolves only once the bytes that came out are
   * counted, so a roll happens at a boundary. The bound, held by test/unit/encode-rotation.test.ts:
   * - NDJSON closes at the first chunk boundary where the bytes out of the compressor reach
   *   the target: at most one compressed chunk (1 MiB of lines) past it, plus what gzip still
   *   holds in its window and 16 KiB stream buffers when the boundary is checked.
   * - Parquet closes at the first row-group boundary where the row groups written out reach
   *   the target. parquet-wasm (arrow-rs 59) writes a row group out only when the next one
   *   arrives, so the newest one is not counted yet: a file ends exactly one row group after
   *   the row group in which it reached the target (at most one row group past the target),
   *   plus its page index and footer. Its size is below target + those two row groups.
   */
  private full(file: OpenFile): boolean {
    return file.encoder.rows >= this.settings.maxRowsPerFile || file.encoder.bytesOut >= this.settings.targetFileBytes;
  }

  private open(dt: string): OpenFile {
    const seq = this.committer.nextSeq();
    const encoder = createEncoder({
      format: this.settings.format,
      compression: this.settings.compression,
      vectorKeys: this.vectorKeys,
      typedColumns: this.settings.typedColumns,
      rowGroupRows: this.settings.rowGroupRows,
      // parquet-wasm tries a dictionary on every column chunk: with float vectors (which do not
      // repeat) that costs 20-30 % of the CPU and makes the file larger, without them 10 % of the
      // CPU for files 0.3 % smaller (docs/performance.md). zstd finds the repeats anyway.
      dictionary: false,
      // A row group is only counted in bytesOut once written out: cut it by the file target too,
      // so a few huge documents (5 MB fields) still roll the file near its target.
      rowGroupBytes: Math.max(1, Math.min(this.settings.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES, this.settings.targetFileBytes)),
    });
    const key = layout.dataFile(this.collectionId, dt, this.runId, seq, encoder.extension);
    const digest = new DigestStream();
    const body = pipeline(encoder.output, digest, () => {});
    const file: OpenFile = {
      seq, dt, key, encoder, digest, record: null, minUpdatedAt: null, maxUpdatedAt: null, lastId: null, vectorKeys: this.vectorKeys,
      published: Promise.resolve(null as unknown as ObjectInfo),
    };
    file.published = this.driver.publish(key, body, {
      contentType: this.settings.format === 'parquet' ? 'application/vnd.apache.parquet' : 'application/x-ndjson',
      signal: this.signal,
      beforeCommit: async () => {
        if (!file.record) throw new Error(`internal: ${key} reached commit before it was closed`);
        file.record.bytes = digest.bytes;
        file.record.sha256 = digest.sha256 ?? '';
        await this.committer.beforeCommit(file.record);
      },
    });
    // If storage fails mid-file, stop the encoder so a waiting write() rejects instead of hanging.
    file.published.catch((error) => encoder.abort(error as Error));
    this.current = file;
    return file;
  }
}
