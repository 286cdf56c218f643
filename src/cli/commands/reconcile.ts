/**
 * `mixpeek-export reconcile`: one reconciliation per collection (list every id, tombstone the
 * staged ids that are gone), under the collection's lease; an interrupted run is finished
 * first. Prints a one-line summary and maps the result to an exit code.
 */
import type { ExitCode } from '../../errors.js';
import { runReconcile } from '../../run/export.js';
import type { ExportResult } from '../../run/types.js';
import type { ParsedFlags } from '../flags.js';
import { runCommand } from './export.js';
import type { CommandIo } from './types.js';

export function reconcileCommand(flags: ParsedFlags, io: CommandIo): Promise<ExitCode> {
  return runCommand(flags, io, runReconcile, (settings, result) => reconcileSummary(settings.dest, result));
}

/** `reconcile ok; 1 collection(s): col_a 10000 ids listed, 12 tombstones; to <dest>`. */
export function reconcileSummary(dest: string, result: ExportResult): string {
  const parts = result.collections.flatMap((c) => (c.reconciles ?? []).map((r) => `${c.collectionId} ${r.idsListed} ids listed at ${r.listedAt}, ${r.tombstones} tombstones${r.resumed ? ' (resumed)' : ''}`));
  const status = result.error ? `failed (exit ${result.error.exitCode}): ${result.error.message}` : 'ok';
  return `reconcile ${status}; ${result.collections.length} collection(s)${parts.length ? `: ${parts.join('; ')}` : ''}; to ${dest}`;
}
