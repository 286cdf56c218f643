import type { CollectionReport, Severity, VerifyReport } from './findings.js';
import { megabytes } from './findings.js';

const LABEL: Record<Severity, string> = { ok: 'ok     ', info: 'info   ', problem: 'PROBLEM' };

/**
 * The human report: per collection a heading, one line per check or problem, and a
 * summary line; then one overall line (the last line on stdout, as for `export`).
 */
export function formatVerifyReport(report: VerifyReport): string {
  const blocks = report.collections.map(formatCollection);
  const failed = report.collections.filter((c) => !c.consistent).length;
  const last = report.consistent
    ? `verify ok: ${report.collections.length} collection(s) consistent`
    : `verify failed: ${report.problems} problem(s) in ${failed} of ${report.collections.length} collection(s) (exit 6)`;
  return [...blocks, last].join('\n');
}

function formatCollection(c: CollectionReport): string {
  const lines = [`${c.collectionId} (${c.url})`, ...c.findings.map((f) => `  ${LABEL[f.severity]} ${f.check}: ${f.message}`)];
  const { manifests, files, rows, bytes } = c.checked;
  const verdict = c.nothingExported ? 'nothing exported yet' : c.consistent ? 'consistent' : `INCONSISTENT, ${c.problems} problem(s)`;
  const tombstones = c.lastReconcile || c.tombstones > 0 ? `; ${c.tombstones} tombstone(s) in reconcile runs` : '';
  lines.push(`  ${c.collectionId}: ${verdict}; checked ${manifests} manifest(s), ${files} file(s), ${rows} rows, ${megabytes(bytes)}${tombstones}`);
  return lines.join('\n');
}
