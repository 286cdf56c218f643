/**
 * `verify` for one collection: every manifest against the objects it lists, the checkpoint
 * against the manifests, orphans and gaps. Reads only; returns a report (never throws for
 * an inconsistency; a storage failure throws its StorageError).
 *
 * Order matters when an export runs meanwhile: data files are listed first, then the
 * checkpoint is read, then the manifests. A file published before the listing is, by the
 * commit protocol, in the checkpoint's interrupted run (its intent is recorded before it
 * becomes visible) or in a manifest written before the checkpoint moved on, so it is never
 * a false orphan. The checkpoints are the scheduled runs' one and each backfill shard's own
 * (`_state/shards/`, listed after the data files too); shard runs are backfills, so they do
 * not count for the scheduled checkpoint's `lastHi`, but their windows count for gaps.
 * A reconciliation's manifest (`kind: "reconcile"`) has the empty window `[T, T)`: it covers
 * nothing, so it is neither a gap nor an overlap; its files are read for their tombstones
 * (tombstones.ts).
 */
import type { ActiveRun, Checkpoint } from '../commit/checkpoint.js';
import { layout, parseShardStateKey, type ShardRef, shardOfRunId, shardTag } from '../commit/layout.js';
import { type Manifest, readManifest } from '../commit/manifest.js';
import { CorruptStateError } from '../errors.js';
import { shardBounds } from '../run/window.js';
import type { StorageDriver } from '../storage/types.js';
import { checkCheckpoint, checkLease, loadCheckpoint, type ManifestSummary } from './checkpoint.js';
import { checkFiles, checkListing, checkTotals, type RunFiles } from './files.js';
import { bound, type CollectionReport, Findings, megabytes, type VerifyOptions } from './findings.js';
import { checkLastReconcile, checkReconcileManifest, type ReconcileSummary } from './tombstones.js';
import { analyseWindows } from './windows.js';

const DEFAULT_CONCURRENCY = 4;

export async function verifyCollection(driver: StorageDriver, collectionId: string, options: VerifyOptions = {}): Promise<CollectionReport> {
  const findings = new Findings();
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  const now = (options.now ?? (() => new Date()))();
  const dataFiles = new Map<string, number>();
  for await (const info of driver.list(layout.dataPrefix(collectionId))) dataFiles.set(info.key, info.size);
  const shardState = await listShardState(driver, collectionId);
  for (const shard of [null, ...shardState.leases]) await checkLease(driver, layout.lease(collectionId, shard), now, findings);
  const loaded = await loadCheckpoint(driver, collectionId, findings);
  const shards: ShardCheckpoint[] = [];
  for (const shard of shardState.checkpoints) shards.push({ shard, loaded: await loadCheckpoint(driver, collectionId, findings, shard) });
  const actives = [loaded, ...shards.map((s) => s.loaded)].map((l) => l.checkpoint?.active ?? null).filter((a): a is ActiveRun => a !== null);
  const accounted = new Set<string>();
  const manifests: ManifestSummary[] = [];
  const reconciles: ReconcileSummary[] = [];
  for await (const info of driver.list(layout.manifestPrefix(collectionId))) {
    if (!info.key.endsWith('.json')) continue;
    const manifest = await checkManifest(driver, collectionId, info.key, findings, concurrency);
    if (!manifest) continue;
    for (const file of manifest.files) accounted.add(file.key);
    manifests.push({ key: info.key, runId: manifest.runId, window: manifest.window, totals: manifest.totals });
    if (manifest.kind === 'reconcile') reconciles.push({ key: info.key, runId: manifest.runId, listedAt: manifest.listedAt, tombstones: manifest.tombstones });
  }
  manifests.sort((a, b) => (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0));
  const url = driver.url(collectionId).replace(/\/?$/, '/');
  if (!loaded.present && shards.length === 0 && manifests.length === 0 && dataFiles.size === 0 && findings.problems === 0) {
    findings.ok('collection', `${url}: nothing exported yet`);
    return report(collectionId, url, findings, true, null);
  }
  const lastReconcile = await checkLastReconcile(driver, loaded.checkpoint, reconciles, findings);
  for (const active of actives) await checkActiveRun(driver, collectionId, active, manifests, accounted, findings, concurrency);
  const completed = manifests.filter((m) => !actives.some((a) => a.runId === m.runId));
  // Shard runs are backfills: the scheduled checkpoint's lastHi never counts them; each shard's own checkpoint does.
  checkCheckpoint(driver, layout.checkpoint(collectionId), loaded, completed.filter((m) => shardOfRunId(m.runId) === null), findings);
  for (const { shard, loaded: own } of shards) checkCheckpoint(driver, layout.checkpoint(collectionId, shard), own, completed.filter((m) => isShardRun(m, shard)), findings);
  checkOrphans(driver, dataFiles, accounted, actives.length > 0, findings);
  checkWindows(completed, actives, findings);
  return report(collectionId, url, findings, false, lastReconcile);
}

interface ShardCheckpoint {
  shard: ShardRef;
  loaded: { checkpoint: Checkpoint | null; present: boolean };
}

/** The shards that have a checkpoint or a lease under `_state/shards/` (other keys there are not the exporter's and are ignored). */
async function listShardState(driver: StorageDriver, collectionId: string): Promise<{ checkpoints: ShardRef[]; leases: ShardRef[] }> {
  const found = { checkpoints: [] as ShardRef[], leases: [] as ShardRef[] };
  for await (const info of driver.list(layout.shardStatePrefix(collectionId))) {
    const parsed = parseShardStateKey(collectionId, info.key);
    if (parsed) found[parsed.file === 'checkpoint' ? 'checkpoints' : 'leases'].push(parsed.shard);
  }
  return found;
}

/** A manifest of a run of this shard: its run id names the shard and its window lies in the shard's slice. */
function isShardRun(manifest: ManifestSummary, shard: ShardRef): boolean {
  const { lo, hi } = shardBounds(shard.since, shard.until, shard.index, shard.count);
  return shardOfRunId(manifest.runId)?.tag === shardTag(shard) && manifest.window.lo !== null && manifest.window.lo >= lo && manifest.window.hi <= hi;
}

function report(collectionId: string, url: string, findings: Findings, nothingExported: boolean, lastReconcile: CollectionReport['lastReconcile']): CollectionReport {
  const problems = findings.problems;
  const { checked, tombstones, list } = findings;
  return { collectionId, url, consistent: problems === 0, nothingExported, checked, tombstones, lastReconcile, problems, findings: list };
}

/** Parses one manifest and checks its structure and every file it lists. `null` when it cannot be read as a manifest. */
async function checkManifest(driver: StorageDriver, collectionId: string, key: string, findings: Findings, concurrency: number): Promise<Manifest | null> {
  const url = driver.url(key);
  const runId = key.slice(layout.manifestPrefix(collectionId).length, -'.json'.length);
  let manifest: Manifest | null;
  try {
    manifest = await readManifest(driver, key);
  } catch (error) {
    if (!(error instanceof CorruptStateError)) throw error;
    findings.problem('manifest', `${error.message.replace(/^\[manifest\] /, '')} (until then its data files are listed as orphans)`, url);
    return null;
  }
  if (!manifest) return null; // removed since the listing
  if (manifest.collectionId !== collectionId || manifest.runId !== runId) {
    findings.problem(
      'manifest',
      `${url} is not the manifest of run ${runId} of ${collectionId} (it says run ${manifest.runId}, collection ${manifest.collectionId}); restore it from a backup (until then its data files are listed as orphans)`,
      url,
    );
    return null;
  }
  findings.checked.manifests++;
  const run: RunFiles = { runId, label: `manifest ${url}`, window: manifest.window, format: manifest.format, compression: manifest.compression, files: manifest.files, unusedSeqs: manifest.unusedSeqs };
  let problems = checkTotals(manifest, run.label, findings) + checkListing(driver, collectionId, run, findings) + (await checkFiles(driver, run, findings, concurrency));
  // Only intact files are read for their _deleted column; a damaged one is already a problem.
  if (problems === 0 && manifest.kind === 'reconcile') problems += await checkReconcileManifest(driver, key, manifest, findings, concurrency);
  if (problems === 0) {
    const { files, rows, bytes } = manifest.totals;
    findings.ok('manifest', `${url}: run ${runId} [${bound(manifest.window.lo)}, ${manifest.window.hi}): ${files} files, ${rows} rows, ${megabytes(bytes)}; every file present with its size, sha256 and row count`, url);
  }
  return manifest;
}

/** An interrupted run: reported, its published files checked (unless its manifest did), its pending file accounted for. */
async function checkActiveRun(driver: StorageDriver, collectionId: string, active: ActiveRun, manifests: ManifestSummary[], accounted: Set<string>, findings: Findings, concurrency: number): Promise<void> {
  const manifest = manifests.find((m) => m.runId === active.runId);
  const intents = [...(active.pending ? [active.pending] : []), ...(active.slices ?? []).flatMap((s) => (s.pending ? [s.pending] : []))];
  const pending = intents.length > 0 ? intents.map((f) => driver.url(f.key)).join(', ') : 'none';
  const slices = active.slices ? `, ${active.slices.filter((s) => s.done).length} of ${active.slices.length} slices done` : '';
  findings.info(
    'run',
    `interrupted run in progress: ${active.runId} [${bound(active.window.lo)}, ${active.window.hi}), started ${active.startedAt}, ${active.files.length} files published${slices}, pending ${pending}; the next export resumes it${manifest ? ` (its manifest ${driver.url(manifest.key)} is written; only the checkpoint has to move on)` : ''}`,
  );
  for (const file of active.files) accounted.add(file.key);
  if (manifest) return;
  const run: RunFiles = { runId: active.runId, label: `interrupted run ${active.runId} in the checkpoint`, window: active.window, format: active.format, compression: active.compression, files: active.files, inProgress: !!active.slices };
  checkListing(driver, collectionId, run, findings);
  await checkFiles(driver, run, findings, concurrency);
  for (const intent of intents) {
    const url = driver.url(intent.key);
    if (await driver.head(intent.key)) {
      accounted.add(intent.key);
      await checkFiles(driver, { ...run, label: `the pending intent of run ${active.runId}`, files: [intent] }, findings, 1);
    } else {
      findings.info('run', `${url} (pending intent of run ${active.runId}) was never published; the next export writes its ${intent.rows} rows again`, url);
    }
  }
}

function checkOrphans(driver: StorageDriver, dataFiles: Map<string, number>, accounted: Set<string>, interrupted: boolean, findings: Findings): void {
  let orphans = 0;
  for (const [key, size] of dataFiles) {
    if (accounted.has(key)) continue;
    orphans++;
    findings.problem(
      'orphans',
      `${driver.url(key)} (${size} bytes) is in no manifest and not in the checkpoint's interrupted run, and consumers load it; if its manifest was lost, restore the manifest; if something else wrote it, move it out of data/`,
      driver.url(key),
    );
  }
  if (orphans === 0) findings.ok('orphans', `no orphans: all ${dataFiles.size} data files are listed by a manifest${interrupted ? ' or the interrupted run' : ''}`);
}

/** Windows of every run, scheduled and shard, completed and interrupted: together they must leave no gap. */
function checkWindows(completed: ManifestSummary[], actives: ActiveRun[], findings: Findings): void {
  // A reconciliation's empty window [T, T) covers nothing: not a run window.
  const all = [...completed.map((m) => ({ runId: m.runId, ...m.window })), ...actives.map((a) => ({ runId: a.runId, ...a.window }))];
  const runs = all.filter((w) => w.lo === null || w.lo < w.hi);
  const empty = all.length - runs.length;
  runs.sort((a, b) => (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0));
  const { gaps, overlaps, span } = analyseWindows(runs);
  for (const o of overlaps) {
    findings.info('windows', `overlap (re-export): run ${o.runId} starts before the end of earlier runs and exported [${bound(o.from)}, ${o.to}) again (a --since re-export); those versions are staged twice, keep the latest per document_id downstream`);
  }
  for (const g of gaps) {
    findings.problem('windows', `gap: no run covers updated_at [${g.from}, ${g.to}) (run ${g.endedBy} ends there, run ${g.resumedBy} starts later); documents updated then were never exported: run export --since ${g.from} --until ${g.to}`);
  }
  if (span && gaps.length === 0) {
    const note = empty > 0 ? `; ${empty} empty window(s) [T, T) of reconciliations cover nothing and are no gap` : '';
    findings.ok('windows', `no gaps: ${runs.length} run window(s) cover [${bound(span.lo)}, ${span.hi}) without a hole${note}`);
  }
}
