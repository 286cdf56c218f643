import { CheckpointStore } from '../commit/checkpoint.js';
import { type DestinationOptions, openDestination } from '../storage/index.js';

/** `status`: per collection, the checkpoint, an interrupted run if any, the last runs and the lag. */
export async function statusReport(dest: string, collections: string[], now: Date, options: DestinationOptions = {}): Promise<Record<string, unknown>[]> {
  const driver = await openDestination(dest, options);
  const out: Record<string, unknown>[] = [];
  for (const collectionId of collections) {
    const cp = (await CheckpointStore.load(driver, collectionId)).value;
    const lagSeconds = cp.lastHi ? Math.round((now.getTime() - Date.parse(cp.lastHi)) / 1000) : null;
    out.push({
      collection_id: collectionId,
      exported_up_to: cp.lastHi,
      lag_seconds: lagSeconds,
      interrupted_run: cp.active
        ? { run_id: cp.active.runId, window: cp.active.window, files: cp.active.files.length, position: cp.active.position?.updatedAt ?? null, pending: cp.active.pending?.key ?? null }
        : null,
      last_runs: cp.history.slice(-5).reverse(),
    });
  }
  await driver.close?.();
  return out;
}

export function formatStatus(rows: Record<string, unknown>[]): string {
  return rows
    .map((r) => {
      const runs = (r.last_runs as { runId: string; files: number; rows: number; finishedAt: string }[])
        .map((run) => `    ${run.runId}: ${run.files} files, ${run.rows} rows, finished ${run.finishedAt}`)
        .join('\n');
      const interrupted = r.interrupted_run ? `  interrupted run: ${JSON.stringify(r.interrupted_run)} (the next export resumes it)\n` : '';
      return `${r.collection_id}: exported up to ${r.exported_up_to ?? 'nothing yet'}${r.lag_seconds !== null ? ` (lag ${r.lag_seconds} s)` : ''}\n${interrupted}${runs ? `  last runs:\n${runs}` : '  no runs yet'}`;
    })
    .join('\n');
}
