#!/usr/bin/env node
import { loadSettings } from '../config/load.js';
import type { Settings } from '../config/schema.js';
import { ConfigError, ExportError, type ExitCode } from '../errors.js';
import { runMetrics } from '../metrics/index.js';
import { runExport } from '../run/export.js';
import type { ExportResult, StepHook } from '../run/types.js';
import { openDestination } from '../storage/index.js';
import { makeRedactor } from '../util/log.js';
import { formatVerifyReport, verifyCollections } from '../verify/index.js';
import { flagHelp, parseFlags } from './flags.js';
import { cliLogger, TtyProgress } from './output.js';
import { formatStatus, statusReport } from './status.js';

const USAGE = `mixpeek-export: stage Mixpeek documents as Parquet/NDJSON for Auto Loader and Snowflake

Usage:
  mixpeek-export export [flags]     export new document versions (resumes an interrupted run first)
  mixpeek-export status [flags]     checkpoint, interrupted run, last runs and lag per collection
  mixpeek-export verify [flags]     check manifests against the objects (size, sha256, rows), the
                                    checkpoint against the manifests, orphans and gaps; exit 6 if not consistent
  mixpeek-export ddl --target snowflake|databricks [flags]
                                    print the consumer setup for --dest and each --collection (Snowflake
                                    stage, table, pipe, view; Databricks Auto Loader job and pipeline SQL);
                                    no network (see ddl --help)
  npm run export -- [flags]         the same as "export"

Flags (also settable in a YAML --config file, camelCase keys; flags > env > file > defaults):
${flagHelp()}
  --config <file>                 YAML config file (see config/example.yaml)
  --json                          status, verify: print JSON

Environment: MIXPEEK_API_KEY (secret, required), MIXPEEK_NAMESPACE, MIXPEEK_BASE_URL,
MIXPEEK_EXPORT_DEST, MIXPEEK_EXPORT_COLLECTIONS (comma-separated), MIXPEEK_EXPORT_METRICS_PUSHGATEWAY
(Pushgateway URL; with user:password@ in it, set it here rather than as a flag, which ps shows).

Exit codes: 0 done (also "nothing new"), 2 bad usage or config, 3 Mixpeek API failure,
4 storage failure, 5 lease held by another run, 6 verify found a problem, 130/143 interrupted
(checkpoint valid).`;

/** Every secret the process may hold, for the redactor: API key, Azure secrets and each part of a connection string, AWS keys. */
function secretValues(env: NodeJS.ProcessEnv): (string | undefined)[] {
  const connectionParts = (env.AZURE_STORAGE_CONNECTION_STRING ?? '')
    .split(';')
    .filter((part) => /^(AccountKey|SharedAccessSignature)=/i.test(part))
    .map((part) => part.slice(part.indexOf('=') + 1));
  const sasSignature = /sig=([^&]+)/.exec(env.AZURE_STORAGE_SAS_TOKEN ?? '')?.[1];
  const gateway = env.MIXPEEK_EXPORT_METRICS_PUSHGATEWAY ?? '';
  const gatewayPassword = URL.canParse(gateway) ? decodeURIComponent(new URL(gateway).password) : undefined;
  return [env.MIXPEEK_API_KEY, env.AZURE_STORAGE_CONNECTION_STRING, env.AZURE_STORAGE_KEY, env.AZURE_STORAGE_SAS_TOKEN, sasSignature, ...connectionParts, env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN, gatewayPassword];
}

/** The CLI: the only place that reads argv/env, writes to the terminal and sets the exit code. */
async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<ExitCode> {
  const redact = makeRedactor(secretValues(env));
  const [command, ...rest] = argv;
  try {
    if (!command || command === 'help' || command === '--help' || command === '-h') {
      process.stdout.write(USAGE + '\n');
      return command ? 0 : 2;
    }
    if (command === 'ddl') return await ddlCommand(rest, env);
    const flags = parseFlags(rest);
    if (flags.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (command === 'export') return await exportCommand(loadSettings({ flags: flags.settings, env, configFile: flags.config }), redact);
    if (command === 'status') return await statusCommand(flags, env, redact);
    if (command === 'verify') return await verifyCommand(flags, env, redact);
    throw new ConfigError(`unknown command "${command}"; use export, status, verify or ddl (see --help)`);
  } catch (error) {
    const e = error instanceof ExportError ? error : null;
    process.stderr.write(redact(`mixpeek-export: ${e ? e.message : (error as Error)?.stack ?? String(error)}`) + '\n');
    return e?.exitCode ?? 4;
  }
}

async function exportCommand(settings: Settings, redact: (t: string) => string): Promise<ExitCode> {
  const progress = new TtyProgress(process.stderr);
  const logger = cliLogger(process.stderr, settings.logLevel, redact, progress);
  const controller = new AbortController();
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
    if (controller.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143); // second signal: stop now
    logger.warn('InterruptReceived', { signal, note: 'stopping; the file in progress is dropped, the checkpoint stays valid' });
    controller.abort({ signal });
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  const metrics = runMetrics(settings, logger, progress);
  const result = await runExport(settings, { logger, progress: metrics.progress, signal: controller.signal, onStep: crashHook(process.env.MIXPEEK_EXPORT_TEST_CRASH_AT) });
  progress.clear();
  process.stdout.write(redact(summary(settings, result, progress)) + '\n');
  await metrics.push(result); // success or failure; a failed push only warns
  return result.error?.exitCode ?? 0;
}

async function statusCommand(flags: ReturnType<typeof parseFlags>, env: NodeJS.ProcessEnv, redact: (t: string) => string): Promise<ExitCode> {
  const { loadPartial } = await import('./partial.js');
  const { dest, collections, options } = loadPartial(flags, env);
  const report = await statusReport(dest, collections, new Date(), options);
  process.stdout.write(redact(flags.json ? JSON.stringify(report, null, 2) : formatStatus(report)) + '\n');
  return 0;
}

/** `verify`: exit 0 when every collection is consistent, 6 when a problem was found (4: storage unreadable, 2: bad flags). */
async function verifyCommand(flags: ReturnType<typeof parseFlags>, env: NodeJS.ProcessEnv, redact: (t: string) => string): Promise<ExitCode> {
  const { loadPartial } = await import('./partial.js');
  const { dest, collections, options } = loadPartial(flags, env);
  const driver = await openDestination(dest, options);
  try {
    const report = await verifyCollections(driver, collections);
    process.stdout.write(redact(flags.json ? JSON.stringify(report, null, 2) : formatVerifyReport(report)) + '\n');
    return report.consistent ? 0 : 6;
  } finally {
    await driver.close?.();
  }
}

/** `ddl`: prints the consumer setup generated from the exporter's column list; exit 0, or 2 on bad flags. */
async function ddlCommand(args: string[], env: NodeJS.ProcessEnv): Promise<ExitCode> {
  const { ddlUsage, parseDdlArgs } = await import('../ddl/flags.js');
  const request = parseDdlArgs(args, env);
  if (request === 'help') {
    process.stdout.write(ddlUsage() + '\n');
    return 0;
  }
  const { generateDdl } = await import('../ddl/index.js');
  process.stdout.write(await generateDdl(request));
  return 0;
}

/**
 * Test-only: `MIXPEEK_EXPORT_TEST_CRASH_AT=<step>:<n>` SIGKILLs this process the n-th time
 * (1-based) it reaches that commit-protocol step (see StepHook), so the kill-and-resume
 * tests hit exact points.
 */
function crashHook(spec: string | undefined): StepHook | undefined {
  if (!spec) return undefined;
  const [step, n] = spec.split(':');
  let seen = 0;
  return (s) => {
    if (s === step && ++seen === Number(n ?? '1')) process.kill(process.pid, 'SIGKILL');
  };
}

function summary(settings: Settings, result: ExportResult, progress: TtyProgress): string {
  if (result.dryRun) {
    return result.dryRun
      .map((r) => `dry run ${r.collectionId}: window ${r.window ? `[${r.window.lo ?? 'beginning'}, ${r.window.hi})` : 'none (nothing new)'}: ${r.documents} documents in ${Object.keys(r.partitions).length} dt partitions, ${r.rejected} rejected, ~${(r.jsonBytes / 1e6).toFixed(1)} MB of JSON; nothing written`)
      .join('\n');
  }
  const runs = result.collections.flatMap((c) => c.runs);
  const rows = runs.reduce((n, r) => n + r.rows, 0);
  const files = runs.reduce((n, r) => n + r.files.length, 0);
  const bytes = runs.reduce((n, r) => n + r.bytes, 0);
  const rejected = runs.reduce((n, r) => n + r.rejected, 0);
  const untyped = runs.reduce((n, r) => n + r.untyped, 0);
  const status = result.error ? `failed (exit ${result.error.exitCode}): ${result.error.message}` : runs.length === 0 ? 'ok, nothing new' : 'ok';
  return `export ${status}; ${settings.collections.length} collection(s), ${runs.length} run(s), ${files} files, ${rows} rows, ${(bytes / 1e6).toFixed(1)} MB, ${rejected} rejected, ${untyped} values left untyped, ${progress.seconds.toFixed(1)} s (${Math.round(rows / Math.max(progress.seconds, 0.001))} docs/s) to ${settings.dest}`;
}

main(process.argv.slice(2), process.env).then((code) => {
  process.exitCode = code;
});
