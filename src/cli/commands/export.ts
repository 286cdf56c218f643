/** `mixpeek-export export`: one export run; prints a one-line summary and maps the result to an exit code. */
import { loadSettings } from '../../config/load.js';
import type { ResolvedSettings } from '../../config/resolve.js';
import type { ExitCode } from '../../errors.js';
import { runMetrics } from '../../metrics/index.js';
import { type ExportDeps, runExport } from '../../run/export.js';
import type { ExportResult, StepHook } from '../../run/types.js';
import type { ParsedFlags } from '../flags.js';
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
  const progress = new TtyProgress(process.stderr);
  const logger = cliLogger(process.stderr, settings.logLevel, io.redact, progress);
  const interrupts = io.interrupts();
  interrupts.onInterrupt((signal) => logger.warn('InterruptReceived', { signal, note: 'stopping; the file in progress is dropped, the checkpoint stays valid' }));
  const metrics = runMetrics(settings, logger, progress);
  const result = await run(settings, { logger, progress: metrics.progress, signal: interrupts.signal, onStep: crashHook(io.env.MIXPEEK_EXPORT_TEST_CRASH_AT) });
  progress.clear();
  io.stdout(io.redact(describe(settings, result, progress)) + '\n');
  await metrics.push(result);
  return result.error?.exitCode ?? 0;
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
