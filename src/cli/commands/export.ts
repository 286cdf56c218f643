/** `mixpeek-export export`: one export run; prints a one-line summary and maps the result to an exit code. */
import { loadSettings } from '../../config/load.js';
import type { ResolvedSettings } from '../../config/resolve.js';
import type { ExitCode } from '../../errors.js';
import { runMetrics } from '../../metrics/index.js';
import { type ExportDeps, runExport } from '../../run/export.js';
import type { ExportResult, StepHook } from '../../run/types.js';
import type { ParsedFlags } from '../flags.js';
import { sinkSecrets } from '../../sinks/config.js';
import { makeRedactor } from '../../util/log.js';
import { cliLogger, TtyProgress } from '../output.js';
import type { CommandIo } from './types.js';

export function exportCommand(flags: ParsedFlags, io: CommandIo): Promise<ExitCode> {
  return runCommand(flags, io, runExport, (settings, result, progress) => summary(settings, result, progress));
}

/**
 * What `export` and `reconcile` share: settings loaded and resolved, the logger and progress
 * line, SIGINT/SIGTERM wired to the run's AbortSignal, the test crash hook, the one-line
 * summary, and the metrics push (success or failure; a failed push only warns).
 */
export async function runCommand(
  flags: ParsedFlags,
  io: CommandIo,
  run: (settings: ResolvedSettings, deps: ExportDeps) => Promise<ExportResult>,
  describe: (settings: ResolvedSettings, result: ExportResult, progress: TtyProgress) => string,
): Promise<ExitCode> {
  const settings = loadSettings({ flags: flags.settings, env: io.env, configFile: flags.config });
  // Secrets read from files (a token file) are known only now: scrub them too.
  const fileSecrets = makeRedactor(sinkSecrets(settings.sinks));
  const redact = (text: string) => fileSecrets(io.redact(text));
  const progress = new TtyProgress(process.stderr);
  const logger = cliLogger(process.stderr, settings.logLevel, redact, progress);
  const interrupts = io.interrupts();
  interrupts.onInterrupt((signal) => logger.warn('InterruptReceived', { signal, note: 'stopping; the file in progress is dropped, the checkpoint stays valid' }));
  const metrics = runMetrics(settings, logger, progress);
  const result = await run(settings, { logger, progress: metrics.progress, signal: interrupts.signal, onStep: crashHook(io.env.MIXPEEK_EXPORT_TEST_CRASH_AT) });
  progress.clear();
  io.stdout(redact([describe(settings, result, progress), notificationLine(result)].filter(Boolean).join('\n')) + '\n');
  await metrics.push(result);
  return exitCodeOf(result);
}

/** The export's own error decides; else 7 when a notification failed (or waits behind a failure): exported, a sink will be retried. */
export function exitCodeOf(result: ExportResult): ExitCode {
  if (result.error) return result.error.exitCode;
  return (result.notifications ?? []).some((n) => n.status === 'failed' || n.status === 'postponed') ? 7 : 0;
}

/** `notifications: 2 delivered, 1 failed (pending; the next run delivers it again): <first error>`; empty without sinks. */
export function notificationLine(result: ExportResult): string {
  const outcomes = result.notifications ?? [];
  if (outcomes.length === 0) return '';
  const count = (status: string) => outcomes.filter((n) => n.status === status).length;
  const parts = [`${count('delivered')} delivered`];
  if (count('failed')) parts.push(`${count('failed')} failed`);
  if (count('postponed')) parts.push(`${count('postponed')} postponed behind a failure`);
  if (count('unconfigured')) parts.push(`${count('unconfigured')} waiting for a sink not configured in this run`);
  const failed = outcomes.find((n) => n.status === 'failed');
  const pending = count('failed') + count('postponed') + count('unconfigured');
  return `notifications: ${parts.join(', ')}${pending ? `; ${pending} pending in the checkpoint, the next run delivers them again (exit 7 while one fails)` : ''}${failed?.error ? `\n  first failure: ${failed.error.message}` : ''}`;
}

/**
 * Test-only: `MIXPEEK_EXPORT_TEST_CRASH_AT=<step>:<n>` SIGKILLs this process the n-th time
 * (1-based) it reaches that commit-protocol step (see StepHook), so the kill-and-resume
 * tests hit exact points.
 */
export function crashHook(spec: string | undefined): StepHook | undefined {
  if (!spec) return undefined;
  const [step, n] = spec.split(':');
  let seen = 0;
  return (s) => {
    if (s === step && ++seen === Number(n ?? '1')) process.kill(process.pid, 'SIGKILL');
  };
}

/**
 * The one-line summary. Files, rows and bytes are what this process published (counted from
 * the progress sink's `filePublished` events), so an interrupted or failed run reports the
 * files it did publish, not only those of the runs that completed.
 */
export function summary(settings: Pick<ResolvedSettings, 'collections' | 'dest'>, result: ExportResult, progress: TtyProgress): string {
  const chosen = result.collectionIds ?? (settings.collections === 'all' ? [] : settings.collections);
  if (result.collectionIds?.length === 0 && !result.error) return `export ok, nothing to do: no collections${settings.collections === 'all' ? ' in the namespace (after exclusions)' : ' left after exclusions'}; nothing written to ${settings.dest}`;
  if (result.dryRun) {
    return result.dryRun
      .map((r) => `dry run ${r.collectionId}: window ${r.window ? `[${r.window.lo ?? 'beginning'}, ${r.window.hi})` : 'none (nothing new)'}: ${r.documents} documents in ${Object.keys(r.partitions).length} dt partitions, ${r.rejected} rejected, ~${(r.jsonBytes / 1e6).toFixed(1)} MB of JSON; nothing written`)
      .join('\n');
  }
  const runs = result.collections.flatMap((c) => c.runs);
  const { files, rows, bytes } = progress.published;
  const rejected = runs.reduce((n, r) => n + r.rejected, 0);
  const untyped = runs.reduce((n, r) => n + r.untyped, 0);
  const rescued = runs.reduce((n, r) => n + (r.rescued ?? 0), 0);
  const status = result.error ? `failed (exit ${result.error.exitCode}): ${result.error.message}` : runs.length === 0 ? 'ok, nothing new' : 'ok';
  const reconciles = result.collections.flatMap((c) => c.reconciles ?? []);
  const reconciled = reconciles.length ? `, ${reconciles.length} reconciliation(s): ${reconciles.reduce((n, r) => n + r.idsListed, 0)} ids listed, ${reconciles.reduce((n, r) => n + r.tombstones, 0)} tombstones` : '';
  return `export ${status}; ${chosen.length} collection(s), ${runs.length} run(s), ${files} files, ${rows} rows, ${(bytes / 1e6).toFixed(1)} MB, ${rejected} rejected, ${untyped} values left untyped${rescued ? `, ${rescued} values rescued into fields` : ''}${reconciled}, ${progress.seconds.toFixed(1)} s (${Math.round(rows / Math.max(progress.seconds, 0.001))} docs/s) to ${settings.dest}`;
}
