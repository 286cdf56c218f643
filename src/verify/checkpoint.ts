/**
 * The checkpoint against the manifests: its `lastHi` is the newest completed run's `hi`
 * (the next run starts there), each run in its history has its manifest, and an
 * interrupted run is reported (not a problem: the next export resumes it). Also the lease,
 * so a report taken while an export runs says so.
 */
import { type Checkpoint, CheckpointStore } from '../commit/checkpoint.js';
import { layout, type ShardRef } from '../commit/layout.js';
import { readLease } from '../commit/lease.js';
import type { LeaseBody } from '../commit/schema.js';
import { CorruptStateError } from '../errors.js';
import type { StorageDriver } from '../storage/types.js';
import { bound, type Findings } from './findings.js';

/** What `verify` keeps of a manifest once its files are checked. */
export interface ManifestSummary {
  key: string;
  runId: string;
  window: { lo: string | null; hi: string };
  totals: { files: number; rows: number; bytes: number };
}

/** The checkpoint (with `shard`, that shard's own), `null` when absent; one the schema refuses is a problem and also `null`. */
export async function loadCheckpoint(driver: StorageDriver, collectionId: string, findings: Findings, shard?: ShardRef): Promise<{ checkpoint: Checkpoint | null; present: boolean }> {
  const url = driver.url(layout.checkpoint(collectionId, shard));
  try {
    if (!(await driver.head(layout.checkpoint(collectionId, shard)))) return { checkpoint: null, present: false };
    return { checkpoint: (await CheckpointStore.load(driver, collectionId, shard)).value, present: true };
  } catch (error) {
    if (!(error instanceof CorruptStateError)) throw error;
    findings.problem('checkpoint', error.message.replace(/^\[checkpoint\] /, ''), url);
    return { checkpoint: null, present: true };
  }
}

/**
 * `lastHi` against the completed manifest that reaches furthest, and the history against the manifests.
 * `completed` are the runs this checkpoint keeps (the scheduled runs, or one shard's) and
 * exclude the interrupted run's manifest (written just before a kill, when the checkpoint
 * had not moved on yet). `key` is the checkpoint's key.
 */
export function checkCheckpoint(driver: StorageDriver, key: string, loaded: { checkpoint: Checkpoint | null; present: boolean }, completed: ManifestSummary[], findings: Findings): void {
  const url = driver.url(key);
  // A backfill (--since/--until in the past) completes after later runs without moving lastHi
  // back, so lastHi is the furthest end of any completed run, not the newest run's end.
  // A reconciliation's window is the empty [T, T): it exports no versions, so it never moves lastHi.
  const newest = completed.filter((m) => m.window.lo === null || m.window.lo < m.window.hi).reduce<ManifestSummary | undefined>((far, m) => (!far || m.window.hi > far.window.hi ? m : far), undefined);
  const { checkpoint } = loaded;
  if (!checkpoint) {
    if (!loaded.present && newest) {
      findings.problem(
        'checkpoint',
        `${url} is missing but ${completed.length} manifest(s) exist; the next export would stage everything again from the beginning. Restore it, or run the next export with --since ${newest.window.hi} (the end of the furthest run, ${newest.runId})`,
        url,
      );
    }
    return;
  }
  const lastHi = checkpoint.lastHi;
  const expected = newest?.window.hi ?? null;
  if (lastHi === expected) {
    findings.ok('checkpoint', newest ? `${url}: lastHi ${lastHi} is the end of the furthest run ${newest.runId}` : `${url}: no run completed yet`, url);
  } else if (!newest) {
    findings.problem('checkpoint', `${url}: lastHi is ${lastHi} but no completed run has a manifest; restore the manifests from a backup, or move the checkpoint aside to export again from the beginning`, url);
  } else if (lastHi === null || lastHi < newest.window.hi) {
    findings.problem(
      'checkpoint',
      `${url}: lastHi is ${bound(lastHi)} but run ${newest.runId} ended at ${newest.window.hi}; the next export would stage [${bound(lastHi)}, ${newest.window.hi}) again. If the checkpoint was restored from an old copy, run the next export with --since ${newest.window.hi}`,
      url,
    );
  } else {
    findings.problem(
      'checkpoint',
      `${url}: lastHi is ${lastHi} but the furthest-reaching manifest (run ${newest.runId}) ends at ${newest.window.hi}; no manifest covers [${newest.window.hi}, ${lastHi}): restore the missing manifest, or re-export with export --since ${newest.window.hi} --until ${lastHi}`,
      url,
    );
  }
  const byKey = new Map(completed.map((m) => [m.key, m]));
  for (const entry of checkpoint.history) {
    const manifestUrl = driver.url(entry.manifest);
    const found = byKey.get(entry.manifest);
    if (!found) {
      findings.problem('checkpoint', `${url}: history lists run ${entry.runId} (${entry.files} files, ${entry.rows} rows) but its manifest ${manifestUrl} is missing or unreadable; restore it from a backup (its data files are listed as orphans)`, manifestUrl);
    } else if (found.totals.files !== entry.files || found.totals.rows !== entry.rows || found.totals.bytes !== entry.bytes) {
      findings.problem(
        'checkpoint',
        `${url}: history records run ${entry.runId} as ${entry.files} files, ${entry.rows} rows, ${entry.bytes} bytes but ${manifestUrl} totals ${found.totals.files} files, ${found.totals.rows} rows, ${found.totals.bytes} bytes; restore the edited one from a backup`,
        manifestUrl,
      );
    }
  }
}

/** An export holding the lease (`key`: the scheduled runs' or a shard's) may change things while `verify` reads: say so (info, never a problem). */
export async function checkLease(driver: StorageDriver, key: string, now: Date, findings: Findings): Promise<void> {
  const found = await driver.read(key);
  if (!found) return;
  // An unreadable lease is the exporter's business (it takes it over); reported as held by someone unknown.
  const lease: Partial<LeaseBody> = readLease(found.body, driver.url(key)).lease ?? {};
  const expires = Date.parse(lease.expiresAt ?? '');
  if (expires > now.getTime()) {
    findings.info('lease', `${driver.url(key)}: an export (run ${lease.runId ?? '?'}, ${lease.holder ?? 'unknown holder'}) holds the lease until ${lease.expiresAt}; files it writes meanwhile may show up below. Verify again when it has finished`, driver.url(key));
  } else {
    findings.info('lease', `${driver.url(key)}: a lease of run ${lease.runId ?? '?'} expired at ${lease.expiresAt ?? '?'} (a killed run); the next export takes it over`, driver.url(key));
  }
}
