import type { FileRecord } from '../commit/checkpoint.js';
import type { StepHook } from '../commit/committer.js';
import type { ResolvedSettings } from '../config/resolve.js';
import type { ExportError } from '../errors.js';
import type { ReconcileOutcome } from '../reconcile/run.js';
import type { MixpeekHttp } from '../source/http.js';
import type { StorageDriver } from '../storage/types.js';
import type { Logger } from '../util/log.js';
import type { NotificationOutcome } from '../sinks/deliver.js';
import type { Sink, SinkEnv } from '../sinks/types.js';

/**
 * Receives progress as it happens (the CLI draws a progress bar from it; the metrics tally
 * files). Calls for several collections never interleave: an invocation exports its
 * collections one after another, each between `collectionStarted` and `collectionFinished`.
 */
export interface ProgressSink {
  /** A collection's turn begins (its interrupted run, new window and reconciliation follow). */
  collectionStarted?(collectionId: string): void;
  /**
   * The API said how many documents a slice's listing matches (`include_total` on its first
   * page): added to the collection's total. Called once per slice a run starts with (a resumed
   * slice counts from its position), never for a slice split off another, so the total is not
   * counted twice. Absent when the API does not say.
   */
  totalKnown?(collectionId: string, documents: number): void;
  /** A page of `documents` arrived for `collectionId`. */
  pageFetched(documents: number, collectionId: string): void;
  /** A row was written to a file (not yet published). */
  rowWritten(collectionId: string): void;
  /** `collectionId`: the collection the file belongs to (the metrics tally files per collection). */
  filePublished(record: FileRecord, collectionId: string): void;
  /** The collection's turn ended (also when it failed). */
  collectionFinished?(collectionId: string): void;
}

export const noProgress: ProgressSink = { pageFetched() {}, rowWritten() {}, filePublished() {} };

/** Everything a run needs, wired once by `runExport`. */
export interface ExportContext {
  settings: ResolvedSettings;
  /** The codec in force (the settings' or the format's default). */
  compression: 'zstd' | 'snappy' | 'gzip' | 'none';
  driver: StorageDriver;
  http: MixpeekHttp;
  logger: Logger;
  progress: ProgressSink;
  signal?: AbortSignal;
  now: () => Date;
  /** Called at each step of the commit protocol; tests use it to kill the process at exact points. */
  onStep: StepHook;
  /** The sinks each completed run notifies (src/sinks), in configured order; empty: none. */
  sinks: readonly Sink[];
  /** What sinks call with: the run's fetch, the retry policy, the sleep between polls. */
  sinkEnv: SinkEnv;
  /** What this invocation's deliveries did, in order (ExportResult.notifications). */
  notifications: NotificationOutcome[];
  /** Run ids given out in this invocation, over all collections: each new one differs from them. */
  runIds: Set<string>;
}

/** Commit-protocol steps (defined with the committer, which fires most of them). */
export type { StepHook } from '../commit/committer.js';

/** One run (window) of one collection. */
export interface RunOutcome {
  runId: string;
  window: { lo: string | null; hi: string };
  /** True when this finished a run an earlier process started. */
  resumed: boolean;
  files: Omit<FileRecord, 'endPosition'>[];
  rows: number;
  bytes: number;
  rejected: number;
  untyped: number;
  /** Typed runs: values that did not fit their typed column, kept in `fields`. */
  rescued?: number;
  manifestKey: string;
}

export interface CollectionResult {
  collectionId: string;
  /** Empty when there was nothing new. */
  runs: RunOutcome[];
  /** Reconciliations run (an interrupted one finished, then the one asked for or due); absent when none ran. */
  reconciles?: ReconcileOutcome[];
  /** Wall time spent on this collection (lease taken to released), in seconds. */
  seconds: number;
}

/** What `runExport` returns: the run's outcome as data (STYLE.md item 8). */
export interface ExportResult {
  collections: CollectionResult[];
  /**
   * The collections this invocation chose, in order: the ids given, or with `collections: all`
   * the namespace as listed (sorted by id), without the excluded ones. Absent when the run
   * failed before choosing them (the destination or the listing failed).
   */
  collectionIds?: string[];
  /** The first error; the CLI maps it to an exit code. Absent when everything succeeded. */
  error?: ExportError;
  /**
   * The collection being exported when `error` happened, and the seconds spent on it. Absent
   * when the run succeeded or failed before any collection started (then every collection is
   * affected). Collections after it were not attempted.
   */
  failed?: { collectionId: string; seconds: number };
  /**
   * Every delivery this invocation tried or put off, in order (absent without sinks). One that
   * `failed` (or was `postponed` behind a failure) stays pending in its checkpoint and makes the
   * CLI exit 7 when the export itself succeeded.
   */
  notifications?: NotificationOutcome[];
  dryRun?: DryRunReport[];
}

export interface DryRunReport {
  collectionId: string;
  window: { lo: string | null; hi: string } | null;
  documents: number;
  rejected: number;
  /** Documents per `dt=` partition. */
  partitions: Record<string, number>;
  /** JSON bytes of the documents, a rough upper bound of the NDJSON size before compression. */
  jsonBytes: number;
}
