/**
 * The staged state K of a reconciliation, as one stream sorted by `document_id` with the
 * newest staged row of each id: the previous reconciliation's snapshot
 * (`_state/reconcile/snapshot-<runId>.json.gz`) merged with the rows of every data file
 * staged since (the files of the manifests finished after the snapshot's last included run,
 * plus files the caller adds: a resumed reconciliation's own tombstones). The first
 * reconciliation has no snapshot and reads every manifest's files, so deletions from before
 * this feature are found too.
 *
 * Memory: one data file at a time (a Parquet file is read whole, so up to `targetFileMb` of
 * its bytes plus the four projected columns; NDJSON streams by line), the external sort's
 * chunk (`reconcileSortChunkRows` records), and the list of files to read (metadata only).
 */
import { Readable } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { createInterface } from 'node:readline';
import type { FileRecord, Manifest } from '../commit/schema.js';
import { layout } from '../commit/layout.js';
import { readManifest } from '../commit/manifest.js';
import { readParquetFooter } from '../encode/footer.js';
import { CorruptStateError } from '../errors.js';
import { canonicalTimestamp, fromEpochMicros } from '../rows/time.js';
import type { StorageDriver } from '../storage/types.js';
import { fileKind } from '../verify/object.js';
import { createZstdDecompress } from '../verify/zstd.js';
import { compareKeys, externalSort, mergeSorted, newestPerId } from './sorted.js';

/** One document's newest staged row: the snapshot's line format. */
export interface StagedRecord {
  /** `document_id`. */
  id: string;
  /** `updated_at` of the row (for a tombstone: when the deletion was observed). */
  u: string;
  /** `_exported_at` of the row. */
  e: string;
  /** `_deleted` of the row (false for files staged before tombstones existed). */
  d: boolean;
}

/** A data file to read: its key and the columns its record lists (decides whether `_deleted` is there). */
export type StagedFile = Pick<FileRecord, 'key' | 'columns'>;

/** Where the staged state comes from. */
export interface StagedSources {
  /** The previous snapshot's key, or null on a first reconciliation. */
  snapshotKey: string | null;
  /** Data files staged after the snapshot, in the order their runs finished. */
  files: StagedFile[];
  /** The newest run (by `finishedAt`) whose files are in the state: the next snapshot's marker. */
  includedThrough: { runId: string; finishedAt: string } | null;
}

/** The consumer's rule: the greater `(updated_at, _exported_at)` wins; on a full tie the tombstone. */
export function isNewer(a: StagedRecord, b: StagedRecord): boolean {
  if (a.u !== b.u) return a.u > b.u;
  if (a.e !== b.e) return a.e > b.e;
  return a.d && !b.d;
}

/**
 * Lists the manifests and keeps those finished after `after` (every one when null) except
 * the manifest of `skipRunId` (the reconciliation that wrote the snapshot: its tombstones
 * are in it). Manifests are read one at a time; only their file lists are kept.
 */
export async function planStaged(driver: StorageDriver, collectionId: string, previous: { snapshotKey: string; includedThrough: { runId: string; finishedAt: string } | null; runId: string } | null): Promise<StagedSources> {
  const manifests: Pick<Manifest, 'runId' | 'finishedAt' | 'files'>[] = [];
  for await (const info of driver.list(layout.manifestPrefix(collectionId))) {
    if (!info.key.endsWith('.json')) continue;
    const manifest = await readManifest(driver, info.key);
    if (!manifest || manifest.runId === previous?.runId) continue;
    const mark = previous?.includedThrough;
    if (mark && (manifest.finishedAt < mark.finishedAt || (manifest.finishedAt === mark.finishedAt && manifest.runId <= mark.runId))) continue;
    manifests.push({ runId: manifest.runId, finishedAt: manifest.finishedAt, files: manifest.files });
  }
  manifests.sort((a, b) => compareKeys(a.finishedAt + a.runId, b.finishedAt + b.runId));
  const last = manifests.at(-1);
  return {
    snapshotKey: previous?.snapshotKey ?? null,
    files: manifests.flatMap((m) => m.files.map((f) => ({ key: f.key, columns: f.columns }))),
    includedThrough: last ? { runId: last.runId, finishedAt: last.finishedAt } : (previous?.includedThrough ?? null),
  };
}

/**
 * The staged state: the snapshot merged with the files' rows (external-sorted), reduced to
 * the newest record per id by {@link isNewer}. Sorted strictly ascending by id.
 */
export async function* stagedState(driver: StorageDriver, sources: StagedSources, extraFiles: StagedFile[], chunkRows: number): AsyncGenerator<StagedRecord> {
  const rows = externalSort(filesRecords(driver, [...sources.files, ...extraFiles]), (r) => r.id, { chunkRows });
  const streams: AsyncIterable<StagedRecord>[] = sources.snapshotKey ? [readSnapshot(driver, sources.snapshotKey), rows] : [rows];
  yield* newestPerId(mergeSorted(streams, (r) => r.id), (r) => r.id, isNewer);
}

async function* filesRecords(driver: StorageDriver, files: StagedFile[]): AsyncGenerator<StagedRecord> {
  for (const file of files) yield* fileRecords(driver, file);
}

/** The `{id,u,e,d}` of each row of one data file (Parquet or NDJSON, any codec). */
export async function* fileRecords(driver: StorageDriver, file: StagedFile): AsyncGenerator<StagedRecord> {
  const kind = fileKind(file.key);
  if (kind === 'parquet') {
    yield* parquetRecords(driver, file);
    return;
  }
  const body = await driver.readStream(file.key);
  const decoded = kind === 'ndjson-gzip' ? body.pipe(createGunzip()) : kind === 'ndjson-zstd' ? body.pipe(createZstdDecompress()) : body;
  for await (const line of createInterface({ input: decoded, crlfDelay: Infinity })) {
    if (!line) continue;
    yield recordOf(JSON.parse(line) as Record<string, unknown>, driver.url(file.key));
  }
}

function recordOf(row: Record<string, unknown>, url: string): StagedRecord {
  const id = row.document_id;
  const u = canonicalTimestamp(row.updated_at);
  const e = canonicalTimestamp(row._exported_at);
  if (typeof id !== 'string' || u === null || e === null) {
    throw new CorruptStateError(`[reconcile] ${url} has a row without document_id, updated_at or _exported_at; restore the file, or verify the destination (mixpeek-export verify)`);
  }
  return { id, u, e, d: row._deleted === true };
}

/**
 * Reads one Parquet file (its bytes: bounded by targetFileMb), decoding one row group at a
 * time: parquet-wasm 0.8 decodes every column of what it reads (the `columns` option does
 * not cut it down), so reading a whole file at once would grow WebAssembly memory, which is
 * never returned, with the file's row count; one row group is bounded by rowGroupRows.
 */
async function* parquetRecords(driver: StorageDriver, file: StagedFile): AsyncGenerator<StagedRecord> {
  const bytes = await readAll(await driver.readStream(file.key));
  const groups = readParquetFooter(bytes).rowGroups.length;
  for (let group = 0; group < groups; group++) yield* rowGroupRecords(driver, file, bytes, group);
}

async function* rowGroupRecords(driver: StorageDriver, file: StagedFile, bytes: Uint8Array, group: number): AsyncGenerator<StagedRecord> {
  const [parquet, arrow] = await Promise.all([import('parquet-wasm'), import('apache-arrow')]);
  const hasDeleted = file.columns.includes('_deleted');
  const columns = ['document_id', 'updated_at', '_exported_at', ...(hasDeleted ? ['_deleted'] : [])];
  const table = arrow.tableFromIPC(parquet.readParquet(bytes, { columns, rowGroups: [group] }).intoIPCStream());
  const ids = table.getChild('document_id');
  const updated = micros(table.getChild('updated_at'));
  const exported = micros(table.getChild('_exported_at'));
  const deleted = hasDeleted ? table.getChild('_deleted') : null;
  for (let i = 0; i < table.numRows; i++) {
    const row = { document_id: ids?.get(i), updated_at: fromMicros(updated[i]), _exported_at: fromMicros(exported[i]), _deleted: deleted?.get(i) === true };
    yield recordOf(row, driver.url(file.key));
  }
}

/** A timestamp column's raw INT64 microseconds (null where the value is null). */
function micros(vector: { data: readonly { values: unknown; offset: number; length: number; getValid(i: number): boolean }[] } | null): (bigint | null)[] {
  const out: (bigint | null)[] = [];
  for (const data of vector?.data ?? []) {
    const values = data.values as BigInt64Array;
    for (let i = 0; i < data.length; i++) out.push(data.getValid(i) ? (values[data.offset + i] as bigint) : null);
  }
  return out;
}

function fromMicros(us: bigint | null | undefined): string | null {
  return typeof us === 'bigint' ? fromEpochMicros(us) : null;
}

async function readAll(stream: Readable): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

/** The snapshot's records, in its (sorted) order: one gzip NDJSON line `{"id","u","e","d"}` each. */
export async function* readSnapshot(driver: StorageDriver, key: string): AsyncGenerator<StagedRecord> {
  const lines = createInterface({ input: (await driver.readStream(key)).pipe(createGunzip()), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line) continue;
    const r = JSON.parse(line) as StagedRecord;
    if (typeof r.id !== 'string' || typeof r.u !== 'string' || typeof r.e !== 'string' || typeof r.d !== 'boolean') {
      throw new CorruptStateError(`[reconcile] ${driver.url(key)} is not a valid snapshot (line ${JSON.stringify(line.slice(0, 80))}); move it aside and clear lastReconcile to reconcile from the data files`);
    }
    yield r;
  }
}

/** The snapshot's body: gzip of one JSON line per record, streamed (the records must come sorted). */
export function snapshotBody(records: AsyncIterable<StagedRecord>): Readable {
  async function* lines() {
    for await (const r of records) yield `${JSON.stringify({ id: r.id, u: r.u, e: r.e, d: r.d })}\n`;
  }
  return Readable.from(lines()).pipe(createGzip());
}
