/**
 * `serve`: a long-running HTTP server that turns Mixpeek's `collection.documents.written`
 * webhook into an export of that collection (authenticated, coalesced per collection, under
 * the collection's lease like every export), with a timer as the safety net and health and
 * Prometheus endpoints. A library: it never reads the environment, installs no signal handler
 * and never exits; the CLI (src/cli/commands/serve.ts) wires those.
 *
 * @example
 * const server = await startServe(settings, { logger });
 * // ... SIGTERM:
 * const { clean } = await server.stop();
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CheckpointStore } from '../commit/checkpoint.js';
import type { ResolvedSettings } from '../config/resolve.js';
import { ConfigError } from '../errors.js';
import { newestExported } from '../metrics/freshness.js';
import type { ExportDeps } from '../run/export.js';
import { MixpeekHttp } from '../source/http.js';
import { openDestination } from '../storage/index.js';
import type { Logger } from '../util/log.js';
import { ConfiguredCollections } from './collections.js';
import { intervalMs, RecentEventIds } from './event.js';
import { handleRequest, WEBHOOK_PATH } from './http.js';
import { ServeMetrics } from './metrics.js';
import { ExportRunner } from './runs.js';
import { RunScheduler } from './scheduler.js';

export { WEBHOOK_PATH } from './http.js';

export interface ServeDeps {
  logger: Logger;
  /** Passed to every run (tests inject a fetch; the CLI its crash hook). */
  exportDeps?: Omit<ExportDeps, 'logger' | 'signal'>;
  now?: () => number;
}

/** A running server. */
export interface ServeHandle {
  /** The port listened on (the real one with `port: 0`). */
  port: number;
  /**
   * Stops: answers 503 from then on, drops waiting runs, aborts running exports (each stops at
   * its next commit point, the checkpoint valid), and closes the server once they have ended. `clean` is false when the
   * runs had not stopped within `shutdownTimeoutSeconds` (they are left running; exit then).
   */
  stop(reason?: string): Promise<{ clean: boolean; seconds: number }>;
}

/** Starts the server; resolves once it listens. `settings` from `loadServeSettings` (the inbound secret is required). */
export async function startServe(settings: ResolvedSettings, deps: ServeDeps): Promise<ServeHandle> {
  const { logger } = deps;
  const now = deps.now ?? Date.now;
  const secret = settings.inboundWebhookSecret;
  if (!secret) throw new ConfigError('serve needs MIXPEEK_INBOUND_WEBHOOK_SECRET (docs/serve.md)');
  const every = intervalMs(settings.interval);
  const abort = new AbortController();
  let stopping = false;
  let ready = false;
  const http = settings.collections === 'all' ? apiClient(settings, logger, deps.exportDeps?.fetch) : null;
  const collections = new ConfiguredCollections(settings, http, logger, now);
  let scheduler: RunScheduler;
  const metrics = new ServeMetrics({ queued: () => scheduler.queued, running: () => scheduler.running, now });
  const runner = new ExportRunner({ settings, logger, metrics, signal: abort.signal, deps: deps.exportDeps, now, retry: (collectionId, dueAt) => scheduler.request({ collectionId, trigger: 'retry', dueAt }) });
  scheduler = new RunScheduler({ concurrentRuns: settings.concurrentRuns, maxDeferMs: settings.safetyLagSeconds * 1000, run: (pending) => runner.run(pending), now });
  const seen = new RecentEventIds();
  const server = createServer((req, res) =>
    handleRequest(
      {
        secret,
        secretHeader: settings.inboundSecretHeader.toLowerCase(),
        dueDelayMs: settings.safetyLagSeconds * 1000,
        collections,
        request: (r) => scheduler.request(r),
        metrics,
        logger,
        state: () => ({ ready, stopping, healthy: runner.healthy }),
        now,
      },
      seen,
      req,
      res,
    ),
  );
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(new ConfigError(`serve cannot listen on ${settings.host}:${settings.port}: ${error.code ?? error.message}; choose another --port or --host`)));
    server.listen(settings.port, settings.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  ready = true;
  logger.info('ServeListening', { host: settings.host, port, webhook_path: WEBHOOK_PATH, secret_header: settings.inboundSecretHeader, collections: settings.collections, interval_ms: every, concurrent_runs: settings.concurrentRuns, dest: settings.dest });
  void readFreshness(settings, metrics, logger);

  const tick = async () => {
    try {
      for (const collectionId of await collections.all(abort.signal)) scheduler.request({ collectionId, trigger: 'interval', dueAt: now() });
    } catch (error) {
      if (!stopping) logger.warn('ServeTickFailed', { message: (error as Error).message, note: 'the next tick tries again' });
    }
  };
  const timer = every > 0 ? setInterval(() => void tick(), every) : null;
  if (every > 0) void tick(); // and once at start: a restarted server catches up at once

  return {
    port,
    stop: async (reason = 'stop') => {
      const started = performance.now();
      stopping = true;
      if (timer) clearInterval(timer);
      logger.info('ServeStopping', { reason, runs_in_flight: scheduler.running, runs_dropped: scheduler.queued, timeout_seconds: settings.shutdownTimeoutSeconds });
      abort.abort({ signal: reason === 'SIGINT' ? 'SIGINT' : 'SIGTERM' });
      // Still listening while the runs stop: a delivery gets 503 (Mixpeek retries it), the probes see 503.
      let timeout: NodeJS.Timeout | undefined;
      const clean = await Promise.race([
        scheduler.stop().then(() => true),
        new Promise<boolean>((resolve) => (timeout = setTimeout(() => resolve(false), settings.shutdownTimeoutSeconds * 1000))),
      ]);
      clearTimeout(timeout);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      const seconds = (performance.now() - started) / 1000;
      if (clean) logger.info('ServeStopped', { reason, seconds: Math.round(seconds * 1000) / 1000 });
      else logger.error('ShutdownTimedOut', { reason, timeout_seconds: settings.shutdownTimeoutSeconds, runs_in_flight: scheduler.running, note: 'exiting with exports still running; their checkpoints are valid and the next run resumes them' });
      return { clean, seconds };
    },
  };
}

/** The API client for listing the namespace (`collections: all`), as runExport builds it. */
function apiClient(settings: ResolvedSettings, logger: Logger, fetchImpl?: typeof fetch): MixpeekHttp {
  return new MixpeekHttp({
    baseUrl: settings.baseUrl,
    apiKey: settings.apiKey,
    namespace: settings.namespace,
    requestsPerMinute: settings.requestsPerMinute,
    requestTimeoutMs: settings.requestTimeoutMs,
    retry: { maxRetries: settings.maxRetries, baseDelayMs: settings.retryBaseDelayMs, maxDelayMs: settings.retryMaxDelayMs },
    fetch: fetchImpl,
    logger,
  });
}

/** The freshness gauges' starting values: each listed collection's checkpoint, read once (best effort). */
async function readFreshness(settings: ResolvedSettings, metrics: ServeMetrics, logger: Logger): Promise<void> {
  if (settings.collections === 'all') return; // known after the first run of each
  try {
    const driver = await openDestination(settings.destination, settings);
    try {
      for (const id of settings.collections) metrics.setNewest(id, await newestExported(driver, (await CheckpointStore.load(driver, id)).value));
    } finally {
      await driver.close?.();
    }
  } catch (error) {
    logger.warn('FreshnessUnread', { message: (error as Error).message, note: 'the freshness gauges start with the first run of each collection' });
  }
}
