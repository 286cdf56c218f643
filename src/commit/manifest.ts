import { AlreadyExistsError, IntegrityError } from '../errors.js';
import type { StorageDriver } from '../storage/types.js';
import type { ActiveRun, FileRecord } from './checkpoint.js';
import { layout } from './layout.js';

/** `_manifests/<run_id>.json`: what one run published. Consumers never read it; `verify`, `status` and reconciliation do. */
export interface Manifest {
  manifestVersion: 1;
  collectionId: string;
  runId: string;
  startedAt: string;
  finishedAt: string;
  window: { lo: string | null; hi: string };
  format: string;
  compression: string;
  vectors: boolean;
  files: Omit<FileRecord, 'endPosition'>[];
  totals: { files: number; rows: number; bytes: number; rejected: number; untyped: number };
  minUpdatedAt: string | null;
  maxUpdatedAt: string | null;
  /** Union of the files' columns, in order of first appearance. */
  columns: string[];
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
    },
    minUpdatedAt: mins[0] ?? null,
    maxUpdatedAt: maxs[maxs.length - 1] ?? null,
    columns,
  };
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
    const existing = await driver.read(key);
    const prior = existing ? (JSON.parse(existing.body.toString('utf8')) as Manifest) : null;
    const same = prior && JSON.stringify(prior.files.map((f) => f.key)) === JSON.stringify(manifest.files.map((f) => f.key));
    if (!same) {
      throw new IntegrityError(`[manifest] ${driver.url(key)} exists and lists other files than run ${manifest.runId} published; inspect it before re-running`);
    }
  }
  return key;
}
