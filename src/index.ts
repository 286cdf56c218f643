/**
 * The library's public API: what `import ... from 'mixpeek-export'` resolves to (the
 * `exports` field of package.json points here). Everything else under `src/` is internal
 * and may move between releases; the dev server is not part of the package at all.
 *
 * ```ts
 * import { loadSettings, runExport } from 'mixpeek-export';
 *
 * const settings = loadSettings({ flags: { collections: ['col_abc'], dest: 's3://bucket/mixpeek' }, env: process.env });
 * const result = await runExport(settings, { signal: AbortSignal.timeout(3_600_000) });
 * if (result.error) throw result.error; // result.error.exitCode is what the CLI would exit with
 * ```
 *
 * The library never reads `process.argv`, never exits and never installs signal handlers:
 * the caller passes the environment to `loadSettings` and an `AbortSignal` to `runExport`.
 */

// Run an export.
export { runExport, runReconcile, type ExportDeps } from './run/export.js';
export { startServe, type ServeDeps, type ServeHandle } from './serve/index.js';
export type { ReconcileOutcome } from './reconcile/run.js';
export type { CollectionResult, DryRunReport, ExportResult, ProgressSink, RunOutcome, StepHook } from './run/types.js';
export type { FileRecord, Position } from './commit/checkpoint.js';
export { createLogger, silentLogger, type Level, type Logger, type LogSink } from './util/log.js';

// Sinks: what each completed run notifies (docs/sinks.md).
export { createSink, type Delivered, type RunNotice, type Sink, type SinkEnv, type SinkSpec, type SinkType } from './sinks/index.js';
export { resolveSinks } from './sinks/config.js';
export type { NotificationOutcome } from './sinks/deliver.js';
export { runPayload, type RunPayload } from './sinks/payload.js';

// Settings: one schema, validated before any I/O.
export { loadDdlSettings, loadServeSettings, loadSettings, loadStorageSettings, ENV_VARS, type SettingSources } from './config/load.js';
export { resolveSettings, type ResolvedSettings } from './config/resolve.js';
export { parseDestination, type Destination } from './storage/destination.js';
export { settingsSchema, SECRET_KEYS, SETTING_KEYS, type SettingKey, type Settings } from './config/schema.js';

// Read what an export left: status (checkpoint, interrupted run, freshness) and verify.
export { formatStatus, statusReport, type CollectionStatus, type RunStatus } from './cli/status.js';
export { formatVerifyReport, verifyCollections } from './verify/index.js';
export type { Check, CollectionReport, Finding, Severity, VerifyOptions, VerifyReport } from './verify/index.js';

// Consumer setup (Snowflake, Databricks), generated without network or credentials.
export { DDL_DEFAULTS, generateDdl, type DdlRequest, type DdlTarget, type SnowflakeLoad, type VectorColumn } from './ddl/index.js';

// Storage: the driver interface and the destinations it opens. The SDK-free drivers are
// exported as factories; the S3 and Azure drivers are reached through `openDestination`,
// which loads their SDKs only when a destination of that scheme is opened.
export { openDestination, type DestinationOptions } from './storage/index.js';
export type { ObjectInfo, PublishOptions, StorageDriver, WriteCondition } from './storage/types.js';
export { fsDriver } from './storage/drivers/fs.js';
export { memoryDriver } from './storage/drivers/memory.js';
export type { S3DriverOptions } from './storage/drivers/s3/index.js';
export type { AzureDriverOptions } from './storage/drivers/azure/index.js';

// Errors: one base class with a stable `code`, `exitCode` and `transient` flag.
export {
  AbortedError,
  AlreadyExistsError,
  ConfigError,
  ExportError,
  IntegrityError,
  InternalError,
  LeaseHeldError,
  PreconditionFailedError,
  SinkError,
  SourceError,
  StorageError,
  type ErrorContext,
  type ExitCode,
} from './errors.js';
