/**
 * One scheduled export of one collection: `runExport` with `collections: [id]`, in process,
 * under the collection's lease like any export. Its outcome is data: it is logged, counted
 * and folded into the server's health; nothing here throws.
 */
import type { ResolvedSettings } from '../config/resolve.js';
import { InternalError, LeaseHeldError } from '../errors.js';
import { type ExportDeps, runExport } from '../run/export.js';
import type { ExportResult } from '../run/types.js';
import type { Logger } from '../util/log.js';
import type { RunResultLabel, ServeMetrics } from './metrics.js';
import type { PendingRun } from './scheduler.js';

/** Runs in a row failing with an API or storage error (exit 3/4) after which /healthz answers 503. */
export const UNHEALTHY_AFTER_FAILURES = 3;

/** How long after a held lease (a CronJob's run, a second pod) the collection is tried again, in ms. */
export const LEASE_RETRY_MS = 15_000;

export interface RunnerOptions {
  settings: ResolvedSettings;
  logger: Logger;
  metrics: ServeMetrics;
  /** Aborted on shutdown: a run stops at its next commit point, the checkpoint valid. */
  signal: AbortSignal;
  /** Asks for a retry of a collection whose lease was held. */
  retry(collectionId: string, dueAt: number): void;
  /** Extra dependencies of every run (tests: a fetch; the CLI: the crash hook). */
  deps?: Omit<ExportDeps, 'logger' | 'signal'>;
  now?: () => number;
}

/** Runs exports and keeps the count of consecutive API/storage failures for /healthz. */
export class ExportRunner {
  private failuresInARow = 0;
  private runs = 0;
  private readonly now: () => number;

  constructor(private readonly options: RunnerOptions) {
    this.now = options.now ?? Date.now;
  }

  /** False after {@link UNHEALTHY_AFTER_FAILURES} runs in a row failed with exit 3 or 4; true again after a run that did not. */
  get healthy(): boolean {
    return this.failuresInARow < UNHEALTHY_AFTER_FAILURES;
  }

  /** The scheduler's `run`: one export of `pending.collectionId`. Never rejects. */
  async run(pending: PendingRun): Promise<void> {
    const { settings, metrics, signal } = this.options;
    const id = pending.collectionId;
    const serveRun = ++this.runs;
    // Every line the run logs names the serve run and the events it answers.
    const fields = { serve_run: serveRun, trigger: pending.triggers.join(','), event_ids: pending.eventIds };
    const logger = withFields(this.options.logger, fields);
    logger.info('ServeRunStarted', { collection_id: id, events: pending.events });
    const started = performance.now();
    let result: ExportResult;
    try {
      result = await runExport({ ...settings, collections: [id] }, { ...this.options.deps, logger, signal });
    } catch (error) {
      // runExport returns its failures as data; this is a bug, kept from taking the server down.
      result = { collections: [], error: new InternalError(`unexpected failure: ${(error as Error)?.message ?? String(error)}`, { cause: error }) };
    }
    const seconds = (performance.now() - started) / 1000;
    const label = resultLabel(result);
    const runs = result.collections[0]?.runs ?? [];
    const files = runs.flatMap((r) => r.files);
    metrics.runs.inc({ collection: id, result: label });
    metrics.runSeconds.observe({ collection: id }, seconds);
    metrics.setNewest(id, files.map((f) => f.maxUpdatedAt).filter((t): t is string => !!t).sort().at(-1) ?? null);
    const latency = pending.oldestReceivedAt === null ? null : (this.now() - pending.oldestReceivedAt) / 1000;
    if (latency !== null && label !== 'interrupted') metrics.eventLatency.observe({ collection: id }, latency);
    const summary = { collection_id: id, result: label, exit_code: result.error?.exitCode ?? (label === 'sink_failed' ? 7 : 0), files: files.length, rows: runs.reduce((n, r) => n + r.rows, 0), seconds: round(seconds), event_latency_seconds: latency === null ? null : round(latency) };
    if (result.error) logger.warn('ServeRunFinished', { ...summary, message: result.error.message });
    else logger.info('ServeRunFinished', summary);
    this.track(label, result, logger, id);
  }

  /** Health and retries from one outcome. */
  private track(label: RunResultLabel, result: ExportResult, logger: Logger, id: string): void {
    const code = result.error?.exitCode;
    if (code === 3 || code === 4) {
      this.failuresInARow++;
      if (this.failuresInARow === UNHEALTHY_AFTER_FAILURES) logger.error('ServeUnhealthy', { collection_id: id, failures_in_a_row: this.failuresInARow, note: '/healthz answers 503 until a run succeeds' });
    } else if (label !== 'interrupted' && label !== 'lease_held') {
      this.failuresInARow = 0;
    }
    if (label === 'lease_held' && !this.options.signal.aborted) {
      // Another writer (a CronJob run) holds the lease: the events it came after may be newer than its window.
      logger.info('ServeRunRetryScheduled', { collection_id: id, in_seconds: LEASE_RETRY_MS / 1000, reason: 'lease held by another run' });
      this.options.retry(id, this.now() + LEASE_RETRY_MS);
    }
  }
}

/** The metric's result label of an export's outcome. */
export function resultLabel(result: ExportResult): RunResultLabel {
  const error = result.error;
  if (error instanceof LeaseHeldError) return 'lease_held';
  if (error?.exitCode === 130 || error?.exitCode === 143) return 'interrupted';
  if (error) return 'failed';
  if ((result.notifications ?? []).some((n) => n.status === 'failed' || n.status === 'postponed')) return 'sink_failed';
  return (result.collections[0]?.runs.length ?? 0) === 0 ? 'nothing_new' : 'ok';
}

/** A logger that adds `fields` to every line (the run's own lines then name the serve run and its events). */
export function withFields(logger: Logger, fields: Record<string, unknown>): Logger {
  return {
    debug: (e, f) => logger.debug(e, { ...f, ...fields }),
    info: (e, f) => logger.info(e, { ...f, ...fields }),
    warn: (e, f) => logger.warn(e, { ...f, ...fields }),
    error: (e, f) => logger.error(e, { ...f, ...fields }),
  };
}

const round = (n: number) => Math.round(n * 1000) / 1000;
