import { Gauge, Pushgateway, Registry } from 'prom-client';
import { AbortedError, ConfigError, type ExportError, IntegrityError, LeaseHeldError, SourceError, StorageError } from '../errors.js';
import { makeRedactor } from '../util/log.js';

/** The Pushgateway job: `/metrics/job/mixpeek_export/collection/<id>/dest_kind/<kind>`. */
export const JOB_NAME = 'mixpeek_export';

/** One push gets this long (connect to response); a gateway that is down costs a run at most this. */
export const PUSH_TIMEOUT_MS = 10_000;

/** Where a run failed: the `stage` label of `mixpeek_export_last_run_errors`. Bounded. */
export const ERROR_STAGES = ['source', 'storage', 'lease', 'integrity', 'interrupted', 'config', 'internal'] as const;
export type ErrorStage = (typeof ERROR_STAGES)[number];

/** The stage of a run's error, from its class (errors.ts): exit 3 source, 4 storage or internal, 5 lease, 6 integrity, 130/143 interrupted. */
export function errorStage(error: ExportError): ErrorStage {
  if (error instanceof SourceError) return 'source';
  if (error instanceof LeaseHeldError) return 'lease';
  if (error instanceof IntegrityError) return 'integrity';
  if (error instanceof AbortedError) return 'interrupted';
  if (error instanceof ConfigError) return 'config';
  if (error instanceof StorageError) return 'storage';
  return 'internal';
}

/** What one collection's run reports. */
export interface CollectionRunMetrics {
  documents: number;
  files: number;
  bytes: number;
  durationSeconds: number;
  /** Null when the collection's run succeeded. */
  errorStage: ErrorStage | null;
  endedAt: Date;
  /** The newest `updated_at` exported (null: nothing yet); undefined when it could not be read, and then not pushed. */
  newestUpdatedAt: string | null | undefined;
  /** The last reconciliation this process ran for the collection; null when it ran none (then its gauges are not pushed and keep their values). */
  reconcile?: ReconcileRunMetrics | null;
  /** Notifications in the checkpoint no sink has taken yet, after the run; undefined when the checkpoint could not be read (not pushed). */
  notificationsPending?: number;
  /** Deliveries that failed in this run (src/sinks/deliver.ts). */
  notificationsFailed?: number;
}

/** One reconciliation's figures (ReconcileOutcome), and when it finished. */
export interface ReconcileRunMetrics {
  tombstones: number;
  idsListed: number;
  finishedAt: Date;
}

/**
 * Every metric, by name: the help text and the value it takes from a run. All are gauges
 * holding the last run's values (a batch job's pushed counters would restart at every run).
 * `mixpeek_export_last_run_errors` has one series per stage; the others have no label of
 * their own (collection and dest_kind come from the grouping key).
 */
export const METRICS: Record<string, { help: string; value: (m: CollectionRunMetrics) => number | null }> = {
  mixpeek_export_last_run_documents: { help: 'Documents written to the data files the last run published.', value: (m) => m.documents },
  mixpeek_export_last_run_files: { help: 'Data files the last run published.', value: (m) => m.files },
  mixpeek_export_last_run_bytes: { help: 'Bytes of the data files the last run published.', value: (m) => m.bytes },
  mixpeek_export_last_run_duration_seconds: { help: 'Wall time of the last run of this collection, in seconds.', value: (m) => m.durationSeconds },
  mixpeek_export_last_run_timestamp_seconds: { help: 'When the last run ended, success or failure, in Unix seconds.', value: (m) => m.endedAt.getTime() / 1000 },
  mixpeek_export_last_success_timestamp_seconds: {
    help: 'When the last successful run ended, in Unix seconds (pushed only by a successful run).',
    value: (m) => (m.errorStage ? null : m.endedAt.getTime() / 1000),
  },
  mixpeek_export_newest_exported_timestamp_seconds: {
    help: 'updated_at of the newest document version in a published data file, in Unix seconds.',
    value: (m) => (m.newestUpdatedAt ? Date.parse(m.newestUpdatedAt) / 1000 : null),
  },
  mixpeek_export_freshness_lag_seconds: {
    help: 'Freshness lag at the end of the last run: its end minus the newest exported updated_at, in seconds.',
    value: (m) => (m.newestUpdatedAt ? Math.max(0, (m.endedAt.getTime() - Date.parse(m.newestUpdatedAt)) / 1000) : null),
  },
  mixpeek_export_notifications_pending: {
    help: 'Run notifications no sink has taken yet (pending in the checkpoint; the next run delivers them again). Alert when above 0 for long.',
    value: (m) => m.notificationsPending ?? null,
  },
  mixpeek_export_last_run_notification_failures: {
    help: 'Sink deliveries that failed in the last run (it then exits 7).',
    value: (m) => m.notificationsFailed ?? 0,
  },
  mixpeek_export_last_reconcile_tombstones: {
    help: 'Tombstones (rows with _deleted = true) the last reconciliation wrote (pushed only by a run that reconciled).',
    value: (m) => m.reconcile?.tombstones ?? null,
  },
  mixpeek_export_last_reconcile_ids_listed: {
    help: 'Document ids the last reconciliation listed: the live documents when its listing started (pushed only by a run that reconciled).',
    value: (m) => m.reconcile?.idsListed ?? null,
  },
  mixpeek_export_last_reconcile_timestamp_seconds: {
    help: 'When the last reconciliation finished, in Unix seconds (pushed only by a run that reconciled).',
    value: (m) => (m.reconcile ? m.reconcile.finishedAt.getTime() / 1000 : null),
  },
};

const ERRORS_METRIC = 'mixpeek_export_last_run_errors';

/** A registry of one collection's run. A metric with no value (last success after a failure, an unknown lag) is left out, so the push leaves the gateway's value alone. */
export function runRegistry(m: CollectionRunMetrics): Registry {
  const registry = new Registry();
  for (const [name, { help, value }] of Object.entries(METRICS)) {
    const v = value(m);
    if (v !== null) new Gauge({ name, help, registers: [registry] }).set(v);
  }
  const errors = new Gauge({
    name: ERRORS_METRIC,
    help: `Whether the last run failed, by stage (1 for the stage that ended it, else 0): ${ERROR_STAGES.join(', ')}.`,
    labelNames: ['stage'],
    registers: [registry],
  });
  for (const stage of ERROR_STAGES) errors.labels({ stage }).set(stage === m.errorStage ? 1 : 0);
  return registry;
}

/**
 * Pushes with POST (`pushAdd`): only the metrics in the push replace the group's, so a failed
 * run, which does not push `mixpeek_export_last_success_timestamp_seconds`, leaves the last
 * success in place (a PUT would erase it).
 */
export async function pushRegistry(gatewayUrl: string, groupings: Record<string, string>, registry: Registry): Promise<void> {
  await new Pushgateway(gatewayUrl, { timeout: PUSH_TIMEOUT_MS }, registry).pushAdd({ jobName: JOB_NAME, groupings });
}

/** The gateway URL for logs: user and password (basic auth in the URL) replaced by `***`. */
export function redactUrl(gatewayUrl: string): string {
  const url = new URL(gatewayUrl);
  if (url.username) url.username = '***';
  if (url.password) url.password = '***';
  return url.toString();
}

/**
 * Removes the URL's password from a message (an error may quote the gateway's answer, which
 * may echo the request): plain, URL-encoded, and as the `Authorization: Basic` value.
 */
export function scrubber(gatewayUrl: string): (text: string) => string {
  const { username, password } = new URL(gatewayUrl);
  if (!password) return (text) => text;
  const basic = Buffer.from(`${decodeURIComponent(username)}:${decodeURIComponent(password)}`).toString('base64');
  return makeRedactor([password, decodeURIComponent(password), basic]);
}
