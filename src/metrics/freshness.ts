import type { Checkpoint } from '../commit/checkpoint.js';
import { readManifest } from '../commit/manifest.js';
import { CorruptStateError } from '../errors.js';
import type { StorageDriver } from '../storage/types.js';

/**
 * The newest `updated_at` in a published data file of a collection, or null when nothing was
 * exported. `status` and the freshness metric both use it, so they always agree.
 *
 * Why the checkpoint and not the manifests: each history entry carries a running max
 * (`newestUpdatedAt`, written by the run that finished), so one read of the checkpoint answers
 * however many runs since found nothing new; a quiet collection scheduled every few minutes
 * fills the 20-entry history with empty runs within the hour, and their manifests say nothing.
 * The files an interrupted run has published so far count too: they are visible to consumers.
 * History written before the running max existed falls back to those runs' manifests, newest
 * first, reading only a run whose window could hold something newer than what is known.
 */
export async function newestExported(driver: StorageDriver, checkpoint: Checkpoint): Promise<string | null> {
  let newest = latest((checkpoint.active?.files ?? []).map((f) => f.maxUpdatedAt));
  for (const entry of [...checkpoint.history].reverse()) {
    if (entry.newestUpdatedAt) return latest([newest, entry.newestUpdatedAt]);
    if (entry.newestUpdatedAt === undefined && (newest === null || entry.window.hi > newest)) {
      newest = latest([newest, await manifestMaxUpdatedAt(driver, entry.manifest)]);
    }
  }
  return newest;
}

/** Seconds from `updatedAt` to `now`, or null when nothing was exported. */
export function lagSeconds(now: Date, updatedAt: string | null): number | null {
  return updatedAt === null ? null : Math.max(0, Math.round((now.getTime() - Date.parse(updatedAt)) / 1000));
}

/** The latest of canonical timestamps (they sort lexically in time order). */
function latest(values: (string | null | undefined)[]): string | null {
  return values.filter((v): v is string => !!v).sort().at(-1) ?? null;
}

/** A manifest that is missing or unreadable contributes nothing here; `verify` is the command that reports it. */
async function manifestMaxUpdatedAt(driver: StorageDriver, key: string): Promise<string | null> {
  try {
    return (await readManifest(driver, key))?.maxUpdatedAt ?? null;
  } catch (error) {
    if (error instanceof CorruptStateError) return null;
    throw error;
  }
}
