/**
 * `mixpeek-export reconcile`: one reconciliation per collection (list every id, tombstone the
 * staged ids that are gone), under the collection's lease; an interrupted run is finished
 * first. Prints a one-line summary and maps the result to an exit code.
 */
import { loadSettings } from '../../config/load.js';
import type { ExitCode } from '../../errors.js';
import { runMetrics } from '../../metrics/index.js';
import { runReconcile } from '../../run/export.js';
import type { ExportResult } from '../../run/types.js';
import type { ParsedFlags } from '../flags.js';
import { cliLogger, TtyProgress } from '../output.js';
import { crashHook } from './export.js';
import type { CommandIo } from './types.js';

export async function reconcileCommand(flags: ParsedFlags, io: CommandIo): Promise<ExitCode> {
  const settings = loadSettings({ flags: flags.settings, env: io.env, configFile: flags.config });
  const progress = new TtyProgress(process.stderr);
  const logger = cliLogger(process.stderr, settings.logLevel, io.redact, progress);
  const interrupts = io.interrupts();
  interrupts.onInterrupt((signal) => logger.warn('InterruptReceived', { signal, note: 'stopping; the file in progress is dropped, the checkpoint stays valid' }));
  const metrics = runMetrics(settings, logger, progress);
  const result = await runReconcile(settings, { logger, progress: metrics.progress, signal: interrupts.signal, onStep: crashHook(io.env.MIXPEEK_EXPORT_TEST_CRASH_AT) });
  progress.clear();
  io.stdout(io.redact(reconcileSummary(settings.dest, result)) + '\n');
  await metrics.push(result); // like export: success or failure; a failed push only warns
  return result.error?.exitCode ?? 0;
}

/** `reconcile ok; 1 collection(s): col_a 10000 ids listed, 12 tombstones; to <dest>`. */
export function reconcileSummary(dest: string, result: ExportResult): string {
  const parts = result.collections.flatMap((c) => (c.reconciles ?? []).map((r) => `${c.collectionId} ${r.idsListed} ids listed at ${r.listedAt}, ${r.tombstones} tombstones${r.resumed ? ' (resumed)' : ''}`));
  const status = result.error ? `failed (exit ${result.error.exitCode}): ${result.error.message}` : 'ok';
  return `reconcile ${status}; ${result.collections.length} collection(s)${parts.length ? `: ${parts.join('; ')}` : ''}; to ${dest}`;
}
