/**
 * Which settings each command takes: every command loads through the same loader
 * (config/load.ts) with its own subset of the one schema, so a flag a command does not
 * take is refused (exit 2) instead of silently ignored.
 */
import { SERVE_KEYS, SETTING_KEYS, type SettingKey } from './schema.js';

export type Command = 'export' | 'reconcile' | 'status' | 'verify' | 'ddl' | 'serve';
export const COMMANDS: readonly Command[] = ['export', 'reconcile', 'status', 'verify', 'ddl', 'serve'];

/** The export's settings: every one but the server's. */
const EXPORT_KEYS: readonly SettingKey[] = SETTING_KEYS.filter((k) => !SERVE_KEYS.includes(k));

/**
 * `serve` runs exports of the new window only, again and again: a fixed window (`since`,
 * `until`, `shard`) would export the same documents each time, a dry run nothing, `--reconcile`
 * would list every id on every event; the Pushgateway is for the batch command (serve has /metrics).
 */
const NOT_SERVE: readonly SettingKey[] = ['since', 'until', 'shard', 'dryRun', 'reconcile', 'noReconcile', 'metricsPushgateway'];

/** `reconcile` takes export's settings except those that choose a window or whether to reconcile. */
const NOT_RECONCILE: readonly SettingKey[] = ['since', 'until', 'shard', 'dryRun', 'reconcile', 'noReconcile', 'reconcileEveryHours'];

/**
 * How a reading command reaches the API, which it needs only to list the namespace
 * (`collections: all`): always accepted, required only then (config/load.ts checks it).
 */
export const NAMESPACE_API_KEYS = ['apiKey', 'namespace', 'baseUrl', 'allowInsecureHttp'] as const;

/** What `status` and `verify` read: where, which collections, how to reach the store, and the API for `collections: all`. */
const STORAGE_READ_KEYS = ['dest', 'collections', 'excludeCollections', ...NAMESPACE_API_KEYS, 's3Region', 's3Endpoint', 's3ForcePathStyle', 'azureConnectionString', 'azureAccountKey', 'azureSasToken'] as const;

/** `ddl`: what decides the files' names and columns, and how to read the typed columns from the destination's manifests or the API (both optional). */
const DDL_KEYS = ['format', 'compression', 'vectors', 'columns', ...STORAGE_READ_KEYS] as const;

/** The settings each command takes. */
export const COMMAND_SETTINGS: Record<Command, readonly SettingKey[]> = {
  export: EXPORT_KEYS,
  reconcile: EXPORT_KEYS.filter((k) => !NOT_RECONCILE.includes(k)),
  status: [...STORAGE_READ_KEYS, 'reconcileEveryHours'],
  verify: STORAGE_READ_KEYS,
  ddl: DDL_KEYS,
  serve: SETTING_KEYS.filter((k) => !NOT_SERVE.includes(k)),
};

export type StorageReadKey = (typeof STORAGE_READ_KEYS)[number];
export type DdlKey = (typeof DDL_KEYS)[number];

/** Flags that are not settings, per command: `--config` for all, `--json` where there is a report to print. */
export const COMMAND_EXTRA_FLAGS: Record<Command, readonly string[]> = {
  export: ['config', 'help'],
  reconcile: ['config', 'help'],
  status: ['config', 'help', 'json'],
  verify: ['config', 'help', 'json'],
  ddl: ['config', 'help'],
  serve: ['config', 'help'],
};
