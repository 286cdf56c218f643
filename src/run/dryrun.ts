import { CheckpointStore } from '../commit/checkpoint.js';
import { canonicalFromDate, partitionDate } from '../rows/time.js';
import { listDocumentPages } from '../source/pages.js';
import { Intake } from './intake.js';
import type { DryRunReport, ExportContext } from './types.js';
import { planWindow } from './window.js';

/** `--dry-run`: pages the window a real run would export and reports what it would write. Writes nothing, takes no lease. */
export async function dryRunCollection(ctx: ExportContext, collectionId: string): Promise<DryRunReport> {
  const store = await CheckpointStore.load(ctx.driver, collectionId, ctx.settings.range.shard);
  const active = store.value.active;
  const window = active ? { lo: active.position?.updatedAt ?? active.window.lo, hi: active.window.hi } : planWindow(ctx.settings, store.value, ctx.now());
  const report: DryRunReport = { collectionId, window, documents: 0, rejected: 0, partitions: {}, jsonBytes: 0 };
  if (!window) return report;
  // The same admission rule as a real run (no readable updated_at or too deep: rejected), so the counts match.
  const intake = new Intake(ctx.logger, collectionId, { runId: 'dry-run', exportedAt: canonicalFromDate(ctx.now()), namespace: ctx.settings.namespace, vectors: ctx.settings.vectors }, { rejected: 0, untyped: 0 });
  const pages = listDocumentPages(ctx.http, { collectionId, window, pageSize: ctx.settings.pageSize, vectors: ctx.settings.vectors, signal: ctx.signal });
  for await (const page of pages) {
    ctx.progress.pageFetched(page.documents.length, collectionId);
    for (const doc of page.documents) {
      const admitted = intake.admit(doc);
      if (!admitted) continue;
      intake.written(admitted);
      report.documents++;
      const dt = partitionDate(admitted.row.updated_at);
      report.partitions[dt] = (report.partitions[dt] ?? 0) + 1;
      report.jsonBytes += Buffer.byteLength(JSON.stringify(doc));
    }
  }
  intake.finish('dry-run');
  report.rejected = intake.counts.rejected;
  return report;
}
