import { AlreadyExistsError, IntegrityError } from '../errors.js';
import type { StorageDriver } from '../storage/types.js';
import { layout } from './layout.js';
import { type ActiveRun, type Manifest, manifestSchema, parseStored } from './schema.js';

export type { Manifest } from './schema.js';

/** What a refused manifest's message tells the user to do. */
const MANIFEST_FIX = 'restore it from a backup';

/** Parses a manifest's bytes (`url` names it in errors); throws CorruptStateError (exit 6) naming the field when it is not one. */
export function parseManifest(body: Buffer, url: string): Manifest {
  return parseStored(manifestSchema, body, url, { name: 'manifest', fix: MANIFEST_FIX });
}

/**
 * The one reader of `_manifests/<run_id>.json` (status, verify and the consumer simulation
 * use it): the manifest at `key`, schema-checked, or null when there is none. A corrupt one
 * throws CorruptStateError; a storage failure throws its StorageError.
 */
export async function readManifest(driver: StorageDriver, key: string): Promise<Manifest | null> {
  const found = await driver.read(key);
  return found ? parseManifest(found.body, driver.url(key)) : null;
}

export function buildManifest(collectionId: string, run: ActiveRun, finishedAt: string): Manifest {
  const files = run.files.map(({ endPosition: _drop, ...file }) => file);
  const columns = [...new Set(files.flatMap((f) => f.columns))];
  const mins = files.map((f) => f.minUpdatedAt).filter((v): v is string => v !== null).sort();
  const maxs = files.map((f) => f.maxUpdatedAt).filter((v): v is string => v !== null).sort();
  return {
    manifestVersion: 1,
    collectionId,
    runId: run.runId,
    startedAt: run.startedAt,
    finishedAt,
    window: run.window,
    format: run.format,
    compression: run.compression,
    vectors: run.vectors,
    files,
    totals: {
      files: files.length,
      rows: files.reduce((n, f) => n + f.rows, 0),
      bytes: files.reduce((n, f) => n + f.bytes, 0),
      rejected: run.rejected,
      untyped: run.untyped,
      ...(run.typedColumns ? { rescued: run.rescued ?? 0 } : {}),
    },
    minUpdatedAt: mins[0] ?? null,
    maxUpdatedAt: maxs[maxs.length - 1] ?? null,
    columns,
    ...(run.typedColumns
      ? { typedColumns: run.typedColumns, rescuedFields: run.rescuedFields ?? {}, ...(run.columnDrift?.length ? { columnDrift: run.columnDrift } : {}) }
      : {}),
    ...(run.slices ? { slices: run.slices.length } : {}),
    ...unusedSeqs(files),
    ...(run.kind === 'reconcile' && run.reconcile
      ? { kind: 'reconcile' as const, listedAt: run.reconcile.listedAt, idsListed: run.reconcile.idsListed, tombstones: files.reduce((n, f) => n + f.rows, 0) }
      : {}),
  };
}

/** Seq numbers below the highest that no file has (a sliced run killed mid-file, its rows gone by the resume); absent when none. */
function unusedSeqs(files: readonly { seq: number }[]): Pick<Manifest, 'unusedSeqs'> {
  const seqs = new Set(files.map((f) => f.seq));
  const top = Math.max(-1, ...seqs);
  const unused: number[] = [];
  for (let seq = 0; seq < top; seq++) if (!seqs.has(seq)) unused.push(seq);
  return unused.length > 0 ? { unusedSeqs: unused } : {};
}

/**
 * Writes the manifest create-only. If a previous attempt of the same run already wrote it
 * (killed before the checkpoint caught up), the existing one is accepted when it lists the
 * same files; anything else is an integrity error.
 */
export async function writeManifest(driver: StorageDriver, manifest: Manifest): Promise<string> {
  const key = layout.manifest(manifest.collectionId, manifest.runId);
  try {
    await driver.writeIf(key, Buffer.from(JSON.stringify(manifest, null, 1)), { ifNoneMatch: '*' });
  } catch (error) {
    if (!(error instanceof AlreadyExistsError)) throw error;
    const prior = await readManifest(driver, key);
    const same = prior && JSON.stringify(prior.files.map((f) => f.key)) === JSON.stringify(manifest.files.map((f) => f.key));
    if (!same) {
      throw new IntegrityError(`[manifest] ${driver.url(key)} exists and lists other files than run ${manifest.runId} published; inspect it before re-running`);
    }
  }
  return key;
}
