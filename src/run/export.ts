import { isSafeCollectionId } from '../commit/layout.js';
import type { ResolvedSettings } from '../config/resolve.js';
import { AbortedError, ConfigError, ExportError, InternalError } from '../errors.js';
import { resolveCollectionIds } from '../source/collections.js';
import { MixpeekHttp } from '../source/http.js';
import { openDestination } from '../storage/index.js';
import type { StorageDriver } from '../storage/types.js';
import { createSink } from '../sinks/index.js';
import type { Sink } from '../sinks/types.js';
import { type Logger, silentLogger } from '../util/log.js';
import { sleep } from '../util/retry.js';
import { type CollectionPlan, exportCollection } from './collection.js';
import { dryRunCollection } from './dryrun.js';
import { type ExportContext, type ExportResult, noProgress, type ProgressSink, type StepHook } from './types.js';

export interface ExportDeps {
  logger?: Logger;
  progress?: ProgressSink;
  /** Cancels the run (the CLI wires SIGINT/SIGTERM here). The checkpoint stays valid. */
  signal?: AbortSignal;
  /** Injects a driver (tests); otherwise opened from `settings.dest`. */
  driver?: StorageDriver;
  fetch?: typeof fetch;
  now?: () => Date;
  /** Test hook called at each commit-protocol step (see StepHook). */
  onStep?: StepHook;
  /** Injects the sinks (tests); otherwise built from `settings.sinks`. */
  sinks?: Sink[];
  /** The wait between a sink's polls and retries; default a timer. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * Runs one export: every collection in turn, each under its own lease. Never throws for
 * an expected failure and never exits: the outcome, including the first error, is data.
 * `settings` come from `loadSettings` (or `resolveSettings`): validated and resolved.
 * With `collections: all` the namespace is listed first (sorted by id, without
 * `excludeCollections`): a collection created later is picked up by the next invocation,
 * and an empty namespace is a success with nothing done (`collectionIds` empty).
 */
export async function runExport(settings: ResolvedSettings, deps: ExportDeps = {}): Promise<ExportResult> {
  return runCollections(settings, deps, { window: true, reconcile: 'auto' });
}

/**
 * Runs one reconciliation per collection (the `reconcile` command), each under its lease:
 * an interrupted run is finished first, no new window is exported. The outcome is data, as
 * for {@link runExport}; each collection's `reconciles` holds what it did.
 */
export async function runReconcile(settings: ResolvedSettings, deps: ExportDeps = {}): Promise<ExportResult> {
  if (settings.range.shard) return { collections: [], error: new ConfigError('reconcile does not run on a shard: a reconciliation lists the whole collection; drop --shard (and MIXPEEK_EXPORT_SHARD)') };
  return runCollections(settings, { ...deps }, { window: false, reconcile: 'always' });
}

async function runCollections(settings: ResolvedSettings, deps: ExportDeps, plan: CollectionPlan): Promise<ExportResult> {
  const logger = deps.logger ?? silentLogger;
  const result: ExportResult = { collections: [] };
  let driver: StorageDriver | undefined;
  try {
    const ctx = await buildContext(settings, deps, logger);
    driver = ctx.driver;
    if (ctx.sinks.length > 0) result.notifications = ctx.notifications;
    const ids = await resolveCollectionIds(settings, ctx.http, logger, deps.signal);
    result.collectionIds = ids;
    if (settings.dryRun && plan.window) {
      result.dryRun = [];
      for (const id of ids) result.dryRun.push(await dryRunCollection(ctx, id));
      return result;
    }
    for (const id of ids) {
      const started = performance.now();
      const seconds = () => (performance.now() - started) / 1000;
      ctx.progress.collectionStarted?.(id);
      try {
        result.collections.push({ ...(await exportCollection(ctx, id, plan)), seconds: seconds() });
      } catch (error) {
        result.failed = { collectionId: id, seconds: seconds() };
        throw error;
      } finally {
        ctx.progress.collectionFinished?.(id);
      }
    }
  } catch (error) {
    result.error = toExportError(error, deps.signal);
    logger.error('RunFailed', { error_type: result.error.code, message: result.error.message, transient: result.error.transient });
  } finally {
    if (!deps.driver) await driver?.close?.();
  }
  return result;
}

async function buildContext(settings: ResolvedSettings, deps: ExportDeps, logger: Logger): Promise<ExportContext> {
  if (settings.reconcile && settings.noReconcile) throw new ConfigError('--reconcile and --no-reconcile contradict each other; give one');
  if (settings.reconcile && settings.range.shard) throw new ConfigError('--reconcile does not run on a shard (--shard): a reconciliation lists the whole collection; run mixpeek-export reconcile without --shard');
  for (const id of settings.collections === 'all' ? [] : settings.collections) {
    if (!isSafeCollectionId(id)) {
      throw new ConfigError(`collection id ${JSON.stringify(id)} is not a plain id (letters, digits, _ . -; no / or ..); check --collection`);
    }
  }
  // Built before the destination opens: a sink that cannot be used (an unreadable key) is exit 2 with nothing touched.
  const sinks = deps.sinks ?? (settings.dryRun ? [] : settings.sinks.map(createSink));
  const retry = { maxRetries: settings.maxRetries, baseDelayMs: settings.retryBaseDelayMs, maxDelayMs: settings.retryMaxDelayMs };
  const now = deps.now ?? (() => new Date());
  return {
    settings,
    compression: settings.compression,
    driver: deps.driver ?? (await openDestination(settings.destination, settings)),
    http: new MixpeekHttp({
      baseUrl: settings.baseUrl,
      apiKey: settings.apiKey,
      namespace: settings.namespace,
      requestsPerMinute: processBudget(settings),
      requestTimeoutMs: settings.requestTimeoutMs,
      retry,
      fetch: deps.fetch,
      logger,
    }),
    logger,
    progress: deps.progress ?? noProgress,
    signal: deps.signal,
    now,
    onStep: deps.onStep ?? (() => {}),
    sinks,
    sinkEnv: { fetch: deps.fetch ?? fetch, logger, signal: deps.signal, retry, now, sleep: deps.sleep ?? sleep },
    notifications: [],
    runIds: new Set(),
  };
}

/**
 * This process's request budget: `requestsPerMinute`, shared by every slice of its runs. A
 * shard of a backfill (`--shard i/n`) takes 1/n of it (at least one request a minute): the n
 * shards run at once on the same API key, whose limit is the account's, not the process's.
 */
export function processBudget(settings: Pick<ResolvedSettings, 'requestsPerMinute' | 'range'>): number {
  const { requestsPerMinute, range } = settings;
  if (!range.shard || requestsPerMinute === 0) return requestsPerMinute;
  return Math.max(1, Math.floor(requestsPerMinute / range.shard.count));
}

function toExportError(error: unknown, signal?: AbortSignal): ExportError {
  if (signal?.aborted) {
    const reason = signal.reason as { signal?: 'SIGINT' | 'SIGTERM' } | undefined;
    return error instanceof AbortedError ? error : new AbortedError('the run was interrupted; the checkpoint is valid and the next run resumes from it', reason?.signal ?? 'SIGTERM');
  }
  if (error instanceof ExportError) return error;
  return new InternalError(`unexpected failure: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}
