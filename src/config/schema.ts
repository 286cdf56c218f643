import { z } from 'zod';
import { isSafeCollectionId } from '../commit/layout.js';
import { sinkEntrySchema } from '../sinks/config.js';

/** A collection id: it becomes a path segment at the destination, so it is refused before any I/O unless it is plain. */
const collectionId = z.string().refine(isSafeCollectionId, {
  error: (issue) => `collection id ${JSON.stringify(issue.input)} is not a plain id (1-255 of letters, digits, _ . -, starting with a letter or digit; no / or ..)`,
});

/**
 * The one schema of every setting (STYLE.md item 9): types, defaults, docs and validation
 * come from here. Names carry units. `apiKey` is a secret: it comes only from the
 * environment (MIXPEEK_API_KEY), never from a flag (visible in `ps`) or a config file.
 */
export const settingsSchema = z
  .object({
    apiKey: z.string().min(1).describe('Mixpeek API key (env MIXPEEK_API_KEY only; secret)'),
    namespace: z.string().min(1).describe('Mixpeek namespace id or name, sent as X-Namespace (env MIXPEEK_NAMESPACE)'),
    baseUrl: z.url().default('https://api.mixpeek.com').describe('Mixpeek API root (env MIXPEEK_BASE_URL)'),
    allowInsecureHttp: z.boolean().default(false).describe('allow an http:// baseUrl that is not loopback'),
    collections: z
      .union(
        [z.array(collectionId).min(1), z.literal('all')],
        { error: 'expected a list of collection ids, or "all" for every collection of the namespace' },
      )
      .describe('collection ids to export, or all: every collection of the namespace, listed through the API at the start of each invocation and taken in collection id order (all: --all-collections; status and verify then need MIXPEEK_API_KEY too)'),
    excludeCollections: z
      .array(collectionId)
      .default([])
      .describe('collection ids to skip (mostly with collections: all); an id that is not among the collections only warns'),
    dest: z
      .string()
      .min(1)
      .describe(
        'destination root: s3://bucket/prefix, abfss://container@account.dfs.core.windows.net/prefix, https://account.blob.core.windows.net/container/prefix, file:///abs/path or a plain path; memory://name is for tests (env MIXPEEK_EXPORT_DEST)',
      ),
    format: z.enum(['parquet', 'ndjson']).default('parquet').describe('file format'),
    compression: z.enum(['zstd', 'snappy', 'gzip', 'none']).optional().describe('codec; default zstd (parquet) or gzip (ndjson)'),
    since: z.string().optional().describe('export from this updated_at (ISO-8601 or 24h, 7d); overrides the checkpoint'),
    until: z.string().optional().describe('export up to (not including) this updated_at'),
    shard: z
      .string()
      .optional()
      .describe('i/n: export only slice i (from 0) of n equal slices of [since, until), both absolute; own checkpoint and lease, for a Kubernetes Indexed Job backfill (env MIXPEEK_EXPORT_SHARD)'),
    columns: z
      .enum(['typed', 'json'])
      .default('typed')
      .describe("typed: each field the collection's output_schema declares gets its own typed column (the rest stays in fields); json: every field in the one JSON column fields"),
    vectors: z.boolean().default(false).describe('also export named vectors as vec_<name> columns'),
    targetFileMb: z.number().positive().max(4096).default(128).describe('roll a file at this compressed size, in MB'),
    maxRowsPerFile: z.number().int().positive().default(1_000_000).describe('roll a file at this many rows'),
    rowGroupRows: z.number().int().positive().max(1_000_000).default(10_000).describe('close a Parquet row group at this many rows (or at rowGroupMb, whichever comes first)'),
    rowGroupMb: z.number().positive().max(1024).default(8).describe('close a Parquet row group once its uncompressed values reach this size, in MB: memory holds about this much per slice (vectors: 768 floats are 3 KB a row)'),
    pageSize: z.number().int().min(1).max(1000).default(1000).describe('documents per API page at most (1..1000)'),
    pageMb: z.number().positive().max(256).default(4).describe('aim each API page at about this many MB of JSON: fewer documents a page when they are large (vectors); memory holds two pages per slice (one read ahead)'),
    parallelSlices: z.number().int().min(1).max(32).default(4).describe('page a run\'s window as up to this many updated_at slices at once (added while listings wait on the API, see splitSlices), each with its own files; they share requestsPerMinute. Each slice holds two pages and a row group: docs/performance.md#memory'),
    splitSlices: z
      .enum(['when-waiting', 'always'])
      .default('when-waiting')
      .describe('when-waiting: add slices (up to parallelSlices) only while a listing waits on the API more than twice as long as the exporter takes to write a page; always: whenever fewer are in flight'),
    requestsPerMinute: z.number().int().min(0).default(600).describe('client-side API request budget of the process, shared by its slices; 0 = none. A shard (--shard i/n) takes 1/n of it'),
    requestTimeoutMs: z.number().int().positive().default(60_000).describe('timeout of one API request, in ms'),
    maxRetries: z.number().int().min(0).max(50).default(8).describe('retries of one API request'),
    retryBaseDelayMs: z.number().int().min(0).default(500).describe('first retry backoff step, in ms (doubles, with jitter)'),
    retryMaxDelayMs: z.number().int().min(0).default(30_000).describe('cap of one retry backoff step, in ms'),
    safetyLagSeconds: z.number().int().min(0).default(60).describe('end each window this long before the run start; a reconciliation leaves documents updated this long before its listing for the next one'),
    reconcile: z.boolean().default(false).describe('export: after the window, reconcile (list every id, tombstone the deleted ones) under the same lease'),
    noReconcile: z.boolean().default(false).describe('export: skip a scheduled reconciliation this run (see reconcileEveryHours)'),
    reconcileEveryHours: z
      .number()
      .min(0)
      .default(24)
      .describe('export also reconciles when the last reconciliation is older than this, in hours; 0 = only with --reconcile. Deletions reach the files within this period'),
    reconcileSortChunkRows: z
      .number()
      .int()
      .min(1)
      .default(20_000)
      .describe('reconciliation: ids sorted in memory at once (external sort through a temp folder); memory is about this x 1 KB (measured: 200,000 added about 200 MB)'),
    leaseTtlSeconds: z.number().int().min(5).default(120).describe('lease lifetime without renewal, in seconds'),
    s3Region: z.string().optional().describe('S3: region (else the AWS default chain: AWS_REGION, profile)'),
    s3Endpoint: z.url().optional().describe('S3: endpoint for S3-compatible stores (LocalStack, MinIO, GCS interoperability)'),
    s3ForcePathStyle: z.boolean().default(false).describe('S3: path-style addressing (LocalStack, MinIO)'),
    s3Sse: z.enum(['AES256', 'aws:kms']).optional().describe('S3: server-side encryption (SSE-S3 or SSE-KMS)'),
    s3KmsKeyId: z.string().optional().describe('S3: KMS key id or ARN for aws:kms'),
    uploadPartMb: z.number().min(0.0625).max(5120).default(8).describe('S3 part / Azure block size in MB; memory per upload = this x (uploadQueueSize + 1)'),
    s3MinPartMb: z
      .number()
      .min(0.0625)
      .max(5120)
      .default(5)
      .describe('S3: the smallest part the store accepts, in MB (AWS S3 and MinIO: 5); uploadPartMb may not be below it. Lower it only for a store that takes smaller parts (an emulator)'),
    uploadQueueSize: z.number().int().min(1).max(64).default(4).describe('S3 parts / Azure blocks in flight per upload'),
    azureConnectionString: z.string().optional().describe('Azure: connection string (env AZURE_STORAGE_CONNECTION_STRING only; secret)'),
    azureAccountKey: z.string().optional().describe('Azure: account key (env AZURE_STORAGE_KEY only; secret)'),
    azureSasToken: z.string().optional().describe('Azure: SAS token (env AZURE_STORAGE_SAS_TOKEN only; secret)'),
    dryRun: z.boolean().default(false).describe('page the source and report; write nothing'),
    logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info').describe('log level'),
    sinks: z
      .array(sinkEntrySchema)
      .optional()
      .describe(
        'config file only: what to notify after each run, a list of {type, ...options} (databricks-sql, snowpipe, databricks-job, webhook, command); absent: chosen by environment variables (DATABRICKS_WAREHOUSE_ID, SNOWFLAKE_PIPE, DATABRICKS_JOB_ID, MIXPEEK_EXPORT_WEBHOOK_URL, MIXPEEK_EXPORT_SINK_COMMAND, or MIXPEEK_EXPORT_SINKS); [] = none. Secrets only from the environment or a file: docs/sinks.md',
      ),
    host: z.string().min(1).default('0.0.0.0').describe('serve: the address to listen on (0.0.0.0: every interface, as in a pod; 127.0.0.1: this machine only)'),
    port: z.number().int().min(0).max(65_535).default(8080).describe('serve: the HTTP port (0: a free port, named in the ServeListening log line)'),
    interval: z
      .string()
      .regex(/^(0|\d+(ms|s|m|h))$/, { error: 'expected a span such as 30s, 15m or 1h, or 0 for no timer' })
      .default('15m')
      .describe('serve: also export every configured collection this often (and once at start), so a missed webhook delays data but never loses it: 30s, 15m, 1h; 0 = webhooks only'),
    inboundSecretHeader: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/, { error: 'expected an HTTP header name (letters, digits, -)' })
      .default('X-Mixpeek-Secret')
      .describe("serve: the request header that carries the shared secret, as set in the Mixpeek webhook channel's headers"),
    inboundWebhookSecret: z
      .string()
      .min(16, { error: 'MIXPEEK_INBOUND_WEBHOOK_SECRET is shorter than 16 characters; use a long random value (openssl rand -hex 32)' })
      .optional()
      .describe('serve: the shared secret each Mixpeek webhook delivery must carry in inboundSecretHeader (env MIXPEEK_INBOUND_WEBHOOK_SECRET only; secret; required by serve)'),
    shutdownTimeoutSeconds: z.number().int().min(1).max(3600).default(30).describe('serve: on SIGTERM, how long running exports get to stop at their next commit point before the process exits anyway (143)'),
    concurrentRuns: z.number().int().min(1).max(16).default(1).describe('serve: exports of different collections run at once at most (one per collection always); memory grows with it (each export holds its own pages, row groups and uploads)'),
    metricsPushgateway: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe('Prometheus Pushgateway URL; each export run pushes its metrics there at the end (env MIXPEEK_EXPORT_METRICS_PUSHGATEWAY)'),
  })
  .strict();

export type Settings = z.infer<typeof settingsSchema>;
export type SettingKey = keyof Settings;

/**
 * `collections`: the ids given, or `'all'` (every collection of the namespace, listed at the
 * start of each invocation by `resolveCollectionIds` in source/collections.ts).
 */
export type CollectionChoice = Settings['collections'];
export const SETTING_KEYS = Object.keys(settingsSchema.shape) as SettingKey[];

/** Keys only a config file gives (no flag, no environment variable of their own): `sinks`, a list of objects. */
export const CONFIG_ONLY_KEYS: readonly SettingKey[] = ['sinks'];

/** Keys that may not appear in a config file. */
export const SECRET_KEYS: readonly SettingKey[] = ['apiKey', 'azureConnectionString', 'azureAccountKey', 'azureSasToken', 'inboundWebhookSecret'];

/** The settings only `serve` takes (a long-running server's; src/serve/). */
export const SERVE_KEYS: readonly SettingKey[] = ['host', 'port', 'interval', 'inboundSecretHeader', 'inboundWebhookSecret', 'shutdownTimeoutSeconds', 'concurrentRuns'];
