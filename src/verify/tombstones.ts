/**
 * Tombstones in `verify` (issue 10): only a reconciliation writes them, so only the files of
 * `kind: "reconcile"` manifests are read for them, and every row there must be one.
 *
 * - A reconcile manifest: its window is the empty `[T, T)` with T = `listedAt` (it exports
 *   no versions: not a gap, not an overlap, never the checkpoint's `lastHi`); `tombstones`
 *   equals its files' rows; each file's rows are all `_deleted = true`. Its tombstones are
 *   counted for the collection.
 * - The checkpoint's `lastReconcile`: its manifest is among the completed ones and agrees on
 *   T and the tombstones, and its snapshot object (the staged state the next reconciliation
 *   starts from) exists.
 *
 * Memory: one tombstone file at a time per `concurrency` slot (Parquet files are read whole,
 * as reconciliation reads them; they are bounded by `targetFileMb`).
 */
import type { Checkpoint } from '../commit/checkpoint.js';
import type { Manifest } from '../commit/manifest.js';
import { fileRecords } from '../reconcile/staged.js';
import type { StorageDriver } from '../storage/types.js';
import { mapLimit } from './files.js';
import type { CollectionReport, Findings } from './findings.js';

/** What the checks of one reconcile manifest's rows found. */
interface FileTombstones {
  url: string;
  tombstones: number;
  live: number;
  error: string | null;
}

/**
 * Checks a `kind: "reconcile"` manifest whose files already passed the size, sha256 and row
 * checks, counts its tombstones into `findings.tombstones`, and returns the problems found.
 */
export async function checkReconcileManifest(driver: StorageDriver, key: string, manifest: Manifest, findings: Findings, concurrency: number): Promise<number> {
  const label = `reconcile manifest ${driver.url(key)}`;
  let problems = 0;
  const problem = (message: string) => {
    findings.problem('tombstones', message);
    problems++;
  };
  const { listedAt, tombstones, window } = manifest;
  if (listedAt === undefined || tombstones === undefined || manifest.idsListed === undefined) {
    problem(`${label} has kind "reconcile" but lacks ${['listedAt', 'idsListed', 'tombstones'].filter((k) => manifest[k as keyof Manifest] === undefined).join(', ')}; restore it from a backup`);
  } else if (window.lo !== listedAt || window.hi !== listedAt) {
    problem(`${label}: its window is [${window.lo}, ${window.hi}) but a reconciliation's is the empty [T, T) with T = listedAt ${listedAt}; the manifest was edited: restore it from a backup`);
  }
  if (tombstones !== undefined && tombstones !== manifest.totals.rows) {
    problem(`${label}: tombstones is ${tombstones} but its files hold ${manifest.totals.rows} rows; the manifest was edited: restore it from a backup`);
  }
  const results = await mapLimit(manifest.files, concurrency, (file) => countTombstones(driver, file));
  let counted = 0;
  for (const r of results) {
    counted += r.tombstones;
    if (r.error !== null) problem(`${r.url}: its _deleted column cannot be read (${r.error}); restore it from a backup`);
    else if (r.live > 0) problem(`${r.url} is a tombstone file of ${label} but ${r.live} of its rows have _deleted = false; only reconciliation writes there, so something else changed it: restore it from a backup`);
  }
  findings.tombstones += counted;
  if (tombstones !== undefined && problems === 0 && counted !== tombstones) {
    problem(`${label}: tombstones is ${tombstones} but its files hold ${counted} rows with _deleted = true; restore the manifest or its files from a backup`);
  }
  if (problems === 0) findings.ok('tombstones', `${label}: reconciliation at ${listedAt}: ${manifest.idsListed} ids listed, ${counted} tombstones, all rows _deleted = true, its window [T, T) empty`);
  return problems;
}

async function countTombstones(driver: StorageDriver, file: Manifest['files'][number]): Promise<FileTombstones> {
  const out: FileTombstones = { url: driver.url(file.key), tombstones: 0, live: 0, error: null };
  try {
    for await (const record of fileRecords(driver, file)) {
      if (record.d) out.tombstones++;
      else out.live++;
    }
  } catch (error) {
    out.error = (error as Error).message;
  }
  return out;
}

/** A completed reconcile manifest, as the collection check keeps it. */
export interface ReconcileSummary {
  key: string;
  runId: string;
  listedAt: string | undefined;
  tombstones: number | undefined;
}

/** The checkpoint's `lastReconcile` against the manifests, and its snapshot's existence; what the report shows of it. */
export async function checkLastReconcile(driver: StorageDriver, checkpoint: Checkpoint | null, reconciles: readonly ReconcileSummary[], findings: Findings): Promise<CollectionReport['lastReconcile']> {
  const last = checkpoint?.lastReconcile;
  if (!last) {
    if (reconciles.length > 0) findings.info('tombstones', `${reconciles.length} reconcile manifest(s) but the checkpoint records no lastReconcile (an older checkpoint?); the next reconciliation reads every data file`);
    return null;
  }
  const manifest = reconciles.find((r) => r.runId === last.runId);
  if (!manifest) {
    findings.problem('tombstones', `the checkpoint's lastReconcile is run ${last.runId}, whose manifest ${driver.url(last.manifest)} is missing or not a reconcile manifest; restore it from a backup`, driver.url(last.manifest));
  } else if (manifest.listedAt !== last.listedAt || manifest.tombstones !== last.tombstones) {
    findings.problem(
      'tombstones',
      `the checkpoint's lastReconcile (T ${last.listedAt}, ${last.tombstones} tombstones) disagrees with its manifest ${driver.url(manifest.key)} (T ${manifest.listedAt}, ${manifest.tombstones} tombstones); restore the checkpoint or the manifest from a backup`,
      driver.url(manifest.key),
    );
  }
  const url = driver.url(last.snapshot);
  const snapshotExists = (await driver.head(last.snapshot)) !== null;
  if (snapshotExists) {
    findings.ok('tombstones', `last reconciliation ${last.runId} at ${last.listedAt} (finished ${last.finishedAt}): ${last.idsListed} ids listed, ${last.tombstones} tombstones; its snapshot ${url} exists`, url);
  } else {
    findings.problem(
      'tombstones',
      `${url}, the snapshot of the last reconciliation ${last.runId}, does not exist, so the next reconciliation cannot start from it; restore it from a backup or bucket versioning, or remove lastReconcile from the checkpoint so the next reconciliation reads every data file`,
      url,
    );
  }
  const { runId, listedAt, finishedAt, idsListed, tombstones } = last;
  return { runId, listedAt, finishedAt, idsListed, tombstones, snapshot: url, snapshotExists };
}
