/** `mixpeek-export help` / `--help`: the commands; `mixpeek-export <command> --help`: that command's flags only. */
import type { Command } from '../../config/commands.js';
import { flagHelp } from '../flags.js';
import { ddlUsage } from './ddl.js';

/** One line per command, for the top-level help. */
const SUMMARIES: Record<Command, string> = {
  export: 'export new document versions (resumes an interrupted run first); then reconcile when asked (--reconcile) or due (reconcileEveryHours)',
  reconcile: 'list every id of each collection and write tombstones (_deleted = true) for the staged documents that are gone',
  status: 'checkpoint, interrupted run, last runs and lag per collection',
  verify: 'check manifests against the objects (size, sha256, rows), the checkpoint against the manifests, orphans and gaps; exit 6 if not consistent',
  serve: 'a long-running server: each Mixpeek collection.documents.written webhook exports that collection (POST /webhooks/mixpeek), plus a timer (--interval); /healthz, /readyz, /metrics',
  ddl: 'print the consumer setup for --dest and each --collection (Snowflake stage, table, pipe, view; Databricks Auto Loader job and pipeline SQL); no network',
};

const EXIT_CODES = `Exit codes: 0 done (also "nothing new"), 2 bad usage or config, 3 Mixpeek API failure,
4 storage failure, 5 lease held by another run, 6 verify found a problem or corrupt state, 7 exported but a sink
failed (pending; the next run delivers it again), 130/143 interrupted (checkpoint valid).`;

const ENVIRONMENT = `Environment: MIXPEEK_API_KEY (secret, required by export, and by status and verify with --all-collections),
MIXPEEK_NAMESPACE, MIXPEEK_BASE_URL, MIXPEEK_EXPORT_DEST, MIXPEEK_EXPORT_COLLECTIONS (comma-separated, or all),
MIXPEEK_EXPORT_EXCLUDE_COLLECTIONS (comma-separated), MIXPEEK_EXPORT_SHARD,
MIXPEEK_EXPORT_METRICS_PUSHGATEWAY (with user:password@ in it, set it here rather than as a flag,
which ps shows); Azure secrets AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN.
Sinks (docs/sinks.md): DATABRICKS_HOST + DATABRICKS_TOKEN (secret) + DATABRICKS_WAREHOUSE_ID load each run with
COPY INTO; SNOWFLAKE_PIPE (+ SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER, SNOWFLAKE_PRIVATE_KEY_PATH), DATABRICKS_JOB_ID,
MIXPEEK_EXPORT_WEBHOOK_URL (+ MIXPEEK_EXPORT_WEBHOOK_SECRET, secret), MIXPEEK_EXPORT_SINK_COMMAND, MIXPEEK_EXPORT_SINKS.
serve: MIXPEEK_INBOUND_WEBHOOK_SECRET (secret, required: what Mixpeek's deliveries carry in X-Mixpeek-Secret; docs/serve.md).`;

/** The top-level help: the commands, the environment and the exit codes. */
export function usage(): string {
  const commands = (Object.entries(SUMMARIES) as [Command, string][]).map(([name, text]) => `  mixpeek-export ${name} [flags]`.padEnd(34) + text);
  return [
    'mixpeek-export: stage Mixpeek documents as Parquet/NDJSON for Auto Loader and Snowflake',
    '',
    'Usage:',
    ...commands,
    '  npm run export -- [flags]'.padEnd(34) + 'the same as "export"',
    '',
    'Run mixpeek-export <command> --help (or mixpeek-export help <command>) for its flags. Flags are also settable in a YAML --config file',
    '(camelCase keys); flags > env > file > defaults.',
    '',
    ENVIRONMENT,
    '',
    EXIT_CODES,
  ].join('\n');
}

/** `<command> --help`: the command's flags only, each with its allowed values and default. */
export function commandUsage(command: Command): string {
  if (command === 'ddl') return ddlUsage();
  return [`Usage: mixpeek-export ${command} [flags]`, '', SUMMARIES[command], '', 'Flags (flags > env > config file > defaults):', flagHelp(command), '', EXIT_CODES].join('\n');
}
