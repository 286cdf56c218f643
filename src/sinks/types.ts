/**
 * What every sink is: a name, what it calls (for messages) and `deliver`, which tells one
 * downstream system about one completed run. Sinks fire after a run's manifest is written
 * and the checkpoint has completed the run (src/sinks/deliver.ts); a delivery that fails is
 * kept pending in the checkpoint and made again by the next run with the same `runId`,
 * which every sink passes on as its idempotency key.
 */
import type { Manifest } from '../commit/schema.js';
import type { Destination } from '../storage/destination.js';
import type { Logger } from '../util/log.js';
import type { RetryPolicy } from '../util/retry.js';

export const SINK_TYPES = ['databricks-sql', 'snowpipe', 'databricks-job', 'webhook', 'command'] as const;
export type SinkType = (typeof SINK_TYPES)[number];

/** One completed run, as every (re)delivery sees it: read back from its manifest, so a redelivery sends the same files. */
export interface RunNotice {
  collectionId: string;
  runId: string;
  /** `export` (documents) or `reconcile` (tombstones); both are ordinary data files. */
  kind: 'export' | 'reconcile';
  manifest: Manifest;
  /** `<collection>/_manifests/<run_id>.json`. */
  manifestKey: string;
  /** The URL of a key at the destination, as the exporter's storage driver spells it (`s3://…`, `https://…blob…`, `file://…`). */
  url(key: string): string;
  /** The destination root as given (`--dest`, no query string) and parsed. */
  dest: string;
  destination: Destination;
}

/** What a sink needs from the run around it. */
export interface SinkEnv {
  fetch: typeof fetch;
  logger: Logger;
  /** Aborts a delivery (SIGTERM); it is then pending, as if it had failed. */
  signal?: AbortSignal;
  /** The project's retry policy, for transient failures (util/retry.ts). */
  retry: RetryPolicy;
  now(): Date;
  /** Waits between polls and retries (injectable so tests need not sleep). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** A delivery that succeeded: a short human summary and fields for the `NotificationDelivered` log line. */
export interface Delivered {
  summary: string;
  details: Record<string, unknown>;
}

export interface Sink {
  /** Unique among the configured sinks: its `name`, else its `type`. The checkpoint keys pending notifications by it. */
  readonly name: string;
  readonly type: SinkType;
  /** What it calls, for messages and logs: a URL without query string or credentials, or a command line. Never a secret. */
  readonly endpoint: string;
  /** Tells the downstream system about `notice`. Throws SinkError (exit 7) naming the sink, the endpoint and the fix. */
  deliver(notice: RunNotice, env: SinkEnv): Promise<Delivered>;
}
