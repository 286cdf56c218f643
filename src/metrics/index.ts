import { CheckpointStore } from '../commit/checkpoint.js';
import { shardTag } from '../commit/layout.js';
import type { ResolvedSettings } from '../config/resolve.js';
import type { ExportResult, ProgressSink } from '../run/types.js';
import { openDestination } from '../storage/index.js';
import type { StorageDriver } from '../storage/types.js';
import type { Logger } from '../util/log.js';
import { newestExported } from './freshness.js';
import { type CollectionRunMetrics, errorStage, type ReconcileRunMetrics, pushRegistry, redactUrl, runRegistry, scrubber } from './push.js';
import { PublishedTally } from './tally.js';

/** Reading the checkpoints for the freshness metric gets this long; past it the lag is not pushed. */
const FRESHNESS_READ_TIMEOUT_MS = 10_000;

/** The metrics of one export invocation (see `runMetrics`). */
export interface RunMetrics {
  /** The progress sink to run with: it counts published files per collection, then passes each event on. */
  progress: ProgressSink;
  /** Pushes each attempted collection's metrics. Never throws: a failed push is a warning and changes no exit code. */
  push(result: ExportResult): Promise<void>;
}

/**
 * Metrics for `settings.metricsPushgateway`, pushed once at the end of the run, success or
 * failure, one Pushgateway group per collection. Without a gateway (or on a dry run, which
 * exports nothing) it is a pass-through.
 */
export function runMetrics(settings: ResolvedSettings, logger: Logger, progress: ProgressSink): RunMetrics {
  const gatewayUrl = settings.metricsPushgateway;
  if (!gatewayUrl || settings.dryRun) return { progress, push: async () => {} };
  const tally = new PublishedTally(progress);
  const started = performance.now();
  return {
    progress: tally,
    push: async (result) => {
      const endedAt = new Date();
      const attempted = attemptedCollections(result.collectionIds ?? (settings.collections === 'all' ? [] : settings.collections), result, (performance.now() - started) / 1000);
      const newest = await readNewest(settings, [...attempted.keys()], logger);
      const stage = result.error ? errorStage(result.error) : null;
      const target = redactUrl(gatewayUrl);
      const scrub = scrubber(gatewayUrl);
      await Promise.all(
        [...attempted].map(async ([collectionId, { seconds, failed }]) => {
          const counts = tally.of(collectionId);
          const metrics: CollectionRunMetrics = {
            documents: counts.rows,
            files: counts.files,
            bytes: counts.bytes,
            durationSeconds: seconds,
            errorStage: failed ? stage : null,
            endedAt,
            newestUpdatedAt: newest.get(collectionId)?.newest,
            reconcile: reconcileMetrics(result, collectionId, newest.get(collectionId)?.reconciled ?? null, endedAt),
            notificationsPending: newest.get(collectionId)?.pending,
            notificationsFailed: (result.notifications ?? []).filter((n) => n.collectionId === collectionId && n.status === 'failed').length,
          };
          try {
            await pushRegistry(gatewayUrl, groupingKey(settings, collectionId), runRegistry(metrics));
            logger.info('MetricsPushed', { collection_id: collectionId, pushgateway: target, error_stage: metrics.errorStage });
          } catch (error) {
            logger.warn('MetricsPushFailed', { collection_id: collectionId, pushgateway: target, message: scrub((error as Error).message), note: 'the exit code is unaffected' });
          }
        }),
      );
    },
  };
}

/**
 * The collections this invocation worked on, with their wall time and whether the run's
 * error is theirs: every completed one, and the one that failed. A failure before any
 * collection started (the destination could not be opened) is every collection's.
 * Collections after a failing one were not attempted and are not pushed.
 */
function attemptedCollections(collections: string[], result: ExportResult, totalSeconds: number): Map<string, { seconds: number; failed: boolean }> {
  const out = new Map<string, { seconds: number; failed: boolean }>();
  for (const c of result.collections) out.set(c.collectionId, { seconds: c.seconds, failed: false });
  if (result.failed) out.set(result.failed.collectionId, { seconds: result.failed.seconds, failed: true });
  else if (result.error) for (const id of collections) out.set(id, { seconds: totalSeconds, failed: true });
  return out;
}

/**
 * The collection's last reconciliation in this invocation (`export --reconcile`, a due one,
 * or the `reconcile` command), null when it ran none. Its time is the checkpoint's
 * `lastReconcile.finishedAt` when that is this reconciliation, else the push's `endedAt`.
 */
function reconcileMetrics(result: ExportResult, collectionId: string, reconciled: Reconciled | null, endedAt: Date): ReconcileRunMetrics | null {
  const last = result.collections.find((c) => c.collectionId === collectionId)?.reconciles?.at(-1);
  if (!last) return null;
  const finishedAt = reconciled?.runId === last.runId ? new Date(reconciled.finishedAt) : endedAt;
  return { tombstones: last.tombstones, idsListed: last.idsListed, finishedAt };
}

/** The checkpoint's last reconciliation: which run, and when it finished. */
interface Reconciled {
  runId: string;
  finishedAt: string;
}

/** What is read from each collection's checkpoint after the run. */
interface CheckpointRead {
  newest: string | null;
  reconciled: Reconciled | null;
  /** Notifications still pending in the checkpoint. */
  pending: number;
}

/**
 * `collection` and `dest_kind` label every series through the grouping key (Pushgateway adds
 * them), never in the pushed text: the official clients refuse a pushed label that repeats a
 * grouping label. A backfill shard pushes to its own group (`shard`, e.g. `s03of16`), so it
 * does not overwrite the scheduled runs' series.
 */
function groupingKey(settings: ResolvedSettings, collectionId: string): Record<string, string> {
  const shard = settings.range.shard;
  // dest_kind: `s3`, `azure`, `fs` or `memory`: the kind `parseDestination` gave, as openDestination opens it.
  return { collection: collectionId, dest_kind: settings.destination.kind, ...(shard ? { shard: shardTag(shard) } : {}) };
}

/**
 * The newest exported `updated_at` of each collection, and its last reconciliation's finish,
 * read from the destination after the run (one checkpoint read each; see freshness.ts). A collection whose state cannot be read
 * in time (the destination may be what failed) is left out: its lag is not pushed. A
 * backfill shard does not move the collection's freshness: none is read for it.
 */
async function readNewest(settings: ResolvedSettings, collectionIds: string[], logger: Logger): Promise<Map<string, CheckpointRead>> {
  const out = new Map<string, CheckpointRead>();
  if (settings.range.shard) return out;
  let driver: StorageDriver | undefined;
  const read = (async () => {
    driver = await openDestination(settings.destination, settings);
    for (const id of collectionIds) {
      const checkpoint = (await CheckpointStore.load(driver, id)).value;
      const last = checkpoint.lastReconcile;
      out.set(id, { newest: await newestExported(driver, checkpoint), reconciled: last ? { runId: last.runId, finishedAt: last.finishedAt } : null, pending: checkpoint.notifications?.length ?? 0 });
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${FRESHNESS_READ_TIMEOUT_MS} ms`)), FRESHNESS_READ_TIMEOUT_MS);
  });
  try {
    await Promise.race([read, timeout]);
  } catch (error) {
    read.catch(() => {}); // still running after a timeout: its outcome no longer matters
    logger.warn('FreshnessUnread', { message: (error as Error).message, note: 'the freshness metrics are not pushed for the collections not read' });
  } finally {
    clearTimeout(timer);
    await (driver as StorageDriver | undefined)?.close?.();
  }
  return new Map(out); // a copy: a read past the timeout may still add to `out`
}
