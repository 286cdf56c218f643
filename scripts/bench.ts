/**
 * `npm run bench [-- --docs 100000 --vectors both|on|off --columns typed|json|both --format parquet|ndjson --row-group-rows 10000 --max-rows-per-file 1000000]`
 * `npm run bench -- --reconcile [--docs 1000000 --delete-percent 1]`
 *
 * Starts the dev server (no latency, no faults) in this process and runs each export in
 * a child process against a fresh temp folder, then prints docs/s, MB/s (staged bytes)
 * and the exporter's peak RSS. Memory must not grow with --docs. `--columns both` runs each
 * case with typed columns (the default) and with `columns: json` on the same documents.
 *
 * `--reconcile`: exports the collection (no vectors), deletes `--delete-percent` of its
 * documents through the dev server, then runs one reconciliation (the `reconcile`
 * command's run) in its own child process and prints ids listed per second, the API
 * requests it made (the dev server's `/v1` request count across the reconciliation),
 * tombstones, and that process's peak RSS. Memory must not grow with --docs.
 * `--sort-chunk-rows N` sets reconcileSortChunkRows (the external sort's in-memory chunk).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { type DevServer, startDevServer } from '../src/devserver/index.js';

const { values } = parseArgs({
  options: {
    docs: { type: 'string', default: '100000' },
    vectors: { type: 'string', default: 'both' },
    columns: { type: 'string', default: 'typed' },
    format: { type: 'string', default: 'parquet' },
    collection: { type: 'string', default: 'col_video_frames' },
    'row-group-rows': { type: 'string', default: '10000' },
    'max-rows-per-file': { type: 'string', default: '1000000' },
    reconcile: { type: 'boolean', default: false },
    'delete-percent': { type: 'string', default: '1' },
    /** reconcileSortChunkRows for the reconciliation (default: the setting's, 200,000). */
    'sort-chunk-rows': { type: 'string' },
    /** Print each event of the reconciliation with its RSS (stderr). */
    trace: { type: 'boolean', default: false },
  },
});
const docs = Number(values.docs);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const server = await startDevServer({ documentsPerCollection: docs, seed: 1 });

/** What bench-worker.ts prints. */
interface WorkerResult {
  error?: string;
  rows: number;
  files: number;
  bytes: number;
  idsListed: number;
  tombstones: number;
  reconcileRequests: number;
  seconds: number;
  peakRssMb: number;
  rssMbAtQuarters: number[];
  sampledMaxMb: number;
  sampledMaxAt: number;
}

/** Runs bench-worker.ts in a child process and returns its JSON line; throws the run's error. */
async function work(mode: 'export' | 'reconcile', flags: Record<string, unknown>): Promise<WorkerResult> {
  const input = { baseUrl: server.url, apiKey: 'sk_test_devserver', namespace: 'ns_dev', mode, trace: mode === 'reconcile' && values.trace, flags };
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'scripts/bench-worker.ts'), JSON.stringify(input)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.on('error', reject);
    child.on('close', () => resolve(text));
  });
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as WorkerResult;
  if (r.error) throw new Error(r.error);
  return r;
}

function baseFlags(dest: string, vectors: boolean, columns = 'typed'): Record<string, unknown> {
  return { collections: [values.collection], dest, format: values.format, vectors, columns, safetyLagSeconds: 0, requestsPerMinute: 0, rowGroupRows: Number(values['row-group-rows']), maxRowsPerFile: Number(values['max-rows-per-file']) };
}

async function benchExport(): Promise<void> {
  const modes = values.vectors === 'both' ? [false, true] : [values.vectors === 'on'];
  const columnModes = values.columns === 'both' ? ['typed', 'json'] : [values.columns];
  console.log(`bench: ${docs} documents of ${values.collection}, ${values.format}, row groups of ${values['row-group-rows']} rows, dev server ${server.url}`);
  for (const [vectors, columns] of modes.flatMap((v) => columnModes.map((c) => [v, c] as const))) {
    const dest = mkdtempSync(path.join(tmpdir(), 'mxp-bench-'));
    try {
      const r = await work('export', { ...baseFlags(dest, vectors, columns), reconcileEveryHours: 0 });
      console.log(
        `vectors=${vectors ? 'on ' : 'off'} columns=${columns.padEnd(5)}: ${r.rows} rows, ${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB in ${r.seconds.toFixed(1)} s = ` +
          `${Math.round(r.rows / r.seconds)} docs/s, ${(r.bytes / 1e6 / r.seconds).toFixed(1)} MB/s; peak RSS ${r.peakRssMb} MB (RSS at 25/50/75/100%: ${r.rssMbAtQuarters.join('/')} MB)`,
      );
    } finally {
      rmSync(dest, { recursive: true, force: true });
    }
  }
}

async function benchReconcile(dev: DevServer): Promise<void> {
  const share = Number(values['delete-percent']) / 100;
  console.log(`bench --reconcile: ${docs} documents of ${values.collection}, ${values.format}, ${values['delete-percent']}% deleted, dev server ${server.url}`);
  const dest = mkdtempSync(path.join(tmpdir(), 'mxp-bench-'));
  try {
    const exported = await work('export', { ...baseFlags(dest, false), reconcileEveryHours: 0 });
    console.log(`export: ${exported.rows} rows in ${exported.seconds.toFixed(1)} s; peak RSS ${exported.peakRssMb} MB`);
    const deleted = dev.delete(values.collection, Math.round(docs * share)).length;
    const before = dev.stats().requests;
    const chunk = values['sort-chunk-rows'] ? { reconcileSortChunkRows: Number(values['sort-chunk-rows']) } : {};
    const r = await work('reconcile', { ...baseFlags(dest, false), ...chunk });
    const requests = dev.stats().requests - before;
    const mismatch = r.tombstones === deleted ? '' : ` (EXPECTED ${deleted} TOMBSTONES)`;
    const snapshot = snapshotSize(dest);
    console.log(
      `reconcile: ${r.idsListed} ids listed, ${deleted} deleted, ${r.tombstones} tombstones${mismatch} in ${r.seconds.toFixed(1)} s = ${Math.round(r.idsListed / r.seconds)} ids/s; ` +
        `${requests} API requests (${r.reconcileRequests} counted by the run); peak RSS ${r.peakRssMb} MB (RSS at 25/50/75/100%: ${r.rssMbAtQuarters.join('/')} MB; sampled max ${r.sampledMaxMb} MB at ${Math.round(r.sampledMaxAt * 100)}%); ` +
        `snapshot ${(snapshot.bytes / 1e6).toFixed(1)} MB gzipped, ${(snapshot.raw / 1e6).toFixed(1)} MB raw`,
    );
  } finally {
    rmSync(dest, { recursive: true, force: true });
  }
}

/** The reconciliation snapshot's size at the destination folder, gzipped and raw. */
function snapshotSize(dest: string): { bytes: number; raw: number } {
  const dir = path.join(dest, values.collection, '_state', 'reconcile');
  const files = existsSync(dir) ? readdirSync(dir).map((f) => readFileSync(path.join(dir, f))) : [];
  return { bytes: files.reduce((n, b) => n + b.length, 0), raw: files.reduce((n, b) => n + gunzipSync(b).length, 0) };
}

try {
  await (values.reconcile ? benchReconcile(server) : benchExport());
} finally {
  await server.close();
}
