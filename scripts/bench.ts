/**
 * `npm run bench [-- --docs 100000 --cases plain,vectors,latency --tools floor,exporter,duckdb --vectors both|on|off --columns typed|json|both
 *   --format parquet|ndjson --set key=value ... --cpu-prof DIR --row-group-rows N --max-rows-per-file N]`
 * `npm run bench -- --reconcile [--docs 1000000 --delete-percent 1]`
 *
 * Starts the dev server in this process and compares, side by side on the same documents,
 * each in its own child process (so each peak RSS is its own):
 * - the paging floor (bench-baseline.ts `floor`): pages as the exporter pages, only JSON.parse;
 * - the exporter (bench-worker.ts): Parquet zstd, the default settings except what the bench
 *   fixes (no safety lag, no reconciliation, no request budget unless the case has one) and
 *   what `--set` gives;
 * - page to NDJSON, then DuckDB COPY to Parquet zstd (bench-baseline.ts `duckdb`), timed together.
 * Cases (`--cases`): `plain` (no vectors, no latency, `--collection`), `vectors` (vectors, no
 * latency, `--vector-collection`, default col_product_images: one 768-d vector), `latency` (no
 * vectors, `--latency-ms` per page and the dev server's rate limit at `--rpm`, the exporter with
 * `requestsPerMinute` = `--rpm`; the 429s the dev server sent are printed). `--vectors on|off`
 * keeps only the cases with or without vectors. It prints a Markdown table: seconds, docs/s,
 * peak RSS, RSS at the quartiles (memory must not grow with --docs), the ratio to the paging
 * floor and the exporter's to DuckDB. `--columns both` runs the exporter with typed columns
 * and with `columns: json`. `--cpu-prof DIR` writes the exporter's CPU profiles to DIR.
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
import type { BaselineInput } from './bench-baseline.js';
import type { RssReport } from './bench-rss.js';

const { values } = parseArgs({
  options: {
    docs: { type: 'string', default: '100000' },
    cases: { type: 'string', default: 'plain,vectors,latency' },
    /** Which tools run in each case (e.g. only the exporter for a 1M-document memory check). */
    tools: { type: 'string', default: 'floor,exporter,duckdb' },
    vectors: { type: 'string', default: 'both' },
    columns: { type: 'string', default: 'typed' },
    format: { type: 'string', default: 'parquet' },
    collection: { type: 'string', default: 'col_video_frames' },
    'vector-collection': { type: 'string', default: 'col_product_images' },
    'latency-ms': { type: 'string', default: '250' },
    rpm: { type: 'string', default: '600' },
    /** An exporter setting, `key=value` (value read as JSON when it parses, else a string); repeatable. */
    set: { type: 'string', multiple: true, default: [] },
    'cpu-prof': { type: 'string' },
    'row-group-rows': { type: 'string' },
    'max-rows-per-file': { type: 'string' },
    reconcile: { type: 'boolean', default: false },
    'delete-percent': { type: 'string', default: '1' },
    /** reconcileSortChunkRows for the reconciliation (default: the setting's, 20,000). */
    'sort-chunk-rows': { type: 'string' },
    /** Print each event of the reconciliation with its RSS (stderr). */
    trace: { type: 'boolean', default: false },
  },
});
const docs = positive('docs', values.docs);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const extra = parseSets(values.set);
// Flags are checked before the dev server starts (functions below are hoisted).
const cases = chosenCases();
const tools = chosenTools();
const server = await startDevServer({ documentsPerCollection: docs, seed: 1 });

/** A bench case: what is exported, and how the dev server behaves meanwhile. */
interface Case {
  name: string;
  collectionId: string;
  vectors: boolean;
  latencyMs: number;
  /** The dev server's rate limit and the exporter's budget; 0 = none. */
  rpm: number;
}

/** What a child prints (bench-worker.ts and bench-baseline.ts share these fields). */
interface Measured extends RssReport {
  error?: string;
  rows: number;
  files: number;
  bytes: number;
  seconds: number;
}

/** What bench-worker.ts prints. */
interface WorkerResult extends Measured {
  idsListed: number;
  tombstones: number;
  reconcileRequests: number;
}

function positive(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`bench: --${name} must be a positive integer (got ${JSON.stringify(text)})`);
  return n;
}

/** `--set key=value` pairs as exporter settings; a value is JSON when it parses (4, true, ["a"]), else a string. */
function parseSets(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`bench: --set takes key=value, e.g. --set parallelSlices=4 (got ${JSON.stringify(pair)})`);
    const text = pair.slice(eq + 1);
    let value: unknown = text;
    try {
      value = JSON.parse(text);
    } catch {
      // a plain string
    }
    out[pair.slice(0, eq)] = value;
  }
  return out;
}

/** Runs a script in a child process and returns its last JSON line; throws the run's error. */
async function child<T extends { error?: string }>(script: string, input: unknown, execArgv: string[] = []): Promise<T> {
  const { out, code } = await new Promise<{ out: string; code: number | null }>((resolve, reject) => {
    const proc = spawn(process.execPath, [...execArgv, '--import', 'tsx', path.join(repo, 'scripts', script), JSON.stringify(input)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    proc.stdout.on('data', (d) => (text += d));
    proc.on('error', reject);
    proc.on('close', (exit) => resolve({ out: text, code: exit }));
  });
  const last = out.trim().split('\n').pop();
  if (code !== 0 || !last) throw new Error(`bench: ${script} exited with code ${code} (its error is above)`);
  const r = JSON.parse(last) as T;
  if (r.error) throw new Error(r.error);
  return r;
}

/** Runs bench-worker.ts (the exporter) in a child process. */
async function work(mode: 'export' | 'reconcile', flags: Record<string, unknown>): Promise<WorkerResult> {
  const input = { baseUrl: server.url, apiKey: 'sk_test_devserver', namespace: 'ns_dev', mode, trace: mode === 'reconcile' && values.trace, flags };
  const prof = values['cpu-prof'] && mode === 'export' ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(values['cpu-prof'])] : [];
  return child<WorkerResult>('bench-worker.ts', input, prof);
}

/** Runs bench-baseline.ts (the paging floor or NDJSON + DuckDB) in a child process. */
function baseline(mode: BaselineInput['mode'], c: Case): Promise<Measured> {
  const input: BaselineInput = { mode, baseUrl: server.url, apiKey: 'sk_test_devserver', namespace: 'ns_dev', collectionId: c.collectionId, vectors: c.vectors };
  return child<Measured>('bench-baseline.ts', input);
}

/** The exporter's settings: the defaults, except what the bench fixes, then `--set`. */
function baseFlags(dest: string, collectionId: string, vectors: boolean, columns = 'typed', rpm = 0): Record<string, unknown> {
  const sizes = {
    ...(values['row-group-rows'] ? { rowGroupRows: positive('row-group-rows', values['row-group-rows']) } : {}),
    ...(values['max-rows-per-file'] ? { maxRowsPerFile: positive('max-rows-per-file', values['max-rows-per-file']) } : {}),
  };
  return { collections: [collectionId], dest, format: values.format, vectors, columns, safetyLagSeconds: 0, requestsPerMinute: rpm, ...sizes, ...extra };
}

function chosenCases(): Case[] {
  const all: Record<string, Case> = {
    plain: { name: 'plain', collectionId: values.collection, vectors: false, latencyMs: 0, rpm: 0 },
    vectors: { name: 'vectors', collectionId: values['vector-collection'], vectors: true, latencyMs: 0, rpm: 0 },
    latency: { name: 'latency', collectionId: values.collection, vectors: false, latencyMs: positive('latency-ms', values['latency-ms']), rpm: positive('rpm', values.rpm) },
  };
  const names = values.cases.split(',').map((n) => n.trim()).filter(Boolean);
  const unknown = names.find((n) => !all[n]);
  if (unknown) throw new Error(`bench: unknown case ${JSON.stringify(unknown)}; --cases takes a comma-separated list of ${Object.keys(all).join(', ')}`);
  const keep = (c: Case) => values.vectors === 'both' || c.vectors === (values.vectors === 'on');
  return names.map((n) => all[n] as Case).filter(keep);
}

/** Sets the case's latency and a fresh rate-limit bucket, runs `measure`, and counts the 429s the dev server sent meanwhile. */
async function underCase<T>(c: Case, measure: () => Promise<T>): Promise<{ result: T; throttled: number }> {
  server.setOptions({ latencyMs: c.latencyMs, rateLimit: c.rpm ? { requestsPerMinute: c.rpm } : null });
  const before = server.stats().faults.rateLimited;
  try {
    const result = await measure();
    return { result, throttled: server.stats().faults.rateLimited - before };
  } finally {
    server.setOptions({ latencyMs: 0, rateLimit: null });
  }
}

const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : '');

/** One row of the table. */
function row(c: Case, tool: string, r: Measured, floor: Measured | null, duckdb: Measured | null, throttled: number): string {
  const staged = r.bytes ? `${(r.bytes / 1e6).toFixed(1)} MB, ${r.files} files` : '';
  const cells = [
    c.name, tool, r.rows, r.seconds.toFixed(1), Math.round(r.rows / r.seconds), r.peakRssMb, r.rssMbAtQuarters.join('/'),
    floor && floor !== r ? ratio(r.seconds, floor.seconds) : '', duckdb ? ratio(r.seconds, duckdb.seconds) : '', staged, c.rpm ? throttled : '',
  ];
  return `| ${cells.join(' | ')} |`;
}

function chosenTools(): Set<string> {
  const TOOLS = ['floor', 'exporter', 'duckdb'];
  const names = values.tools.split(',').map((n) => n.trim()).filter(Boolean);
  const unknown = names.find((n) => !TOOLS.includes(n));
  if (unknown) throw new Error(`bench: unknown tool ${JSON.stringify(unknown)}; --tools takes a comma-separated list of ${TOOLS.join(', ')}`);
  return new Set(names);
}

async function benchCase(c: Case, tools: Set<string>, columnModes: string[]): Promise<void> {
  const floor = tools.has('floor') ? await underCase(c, () => baseline('floor', c)) : null;
  if (floor) console.log(row(c, 'paging floor', floor.result, floor.result, null, floor.throttled));
  // The DuckDB script pages as the floor does; under latency its time is the floor's plus DuckDB's, so it is left out there.
  const duckdb = tools.has('duckdb') && !c.latencyMs ? await underCase(c, () => baseline('duckdb', c)) : null;
  if (duckdb) console.log(row(c, 'NDJSON + DuckDB', duckdb.result, floor?.result ?? null, null, duckdb.throttled));
  for (const columns of tools.has('exporter') ? columnModes : []) {
    const dest = mkdtempSync(path.join(tmpdir(), 'mxp-bench-'));
    try {
      const flags = { ...baseFlags(dest, c.collectionId, c.vectors, columns, c.rpm), reconcileEveryHours: 0 };
      const exported = await underCase(c, () => work('export', flags));
      console.log(row(c, `exporter (${values.format}, ${columns})`, exported.result, floor?.result ?? null, duckdb?.result ?? null, exported.throttled));
    } finally {
      rmSync(dest, { recursive: true, force: true });
    }
  }
}

async function benchExport(): Promise<void> {
  const columnModes = values.columns === 'both' ? ['typed', 'json'] : [values.columns];
  const latency = cases.find((c) => c.latencyMs);
  console.log(
    `bench: ${docs} documents per collection, dev server ${server.url}` +
      (latency ? `; case latency: ${latency.latencyMs} ms per page, rate limit ${latency.rpm} requests/min` : '') +
      (Object.keys(extra).length ? `; exporter settings ${JSON.stringify(extra)}` : ''),
  );
  console.log('| case | tool | docs | s | docs/s | peak RSS MB | RSS MB at 25/50/75/100% | x floor | x DuckDB | staged | 429s |');
  console.log('|---|---|---:|---:|---:|---:|---|---:|---:|---|---:|');
  for (const c of cases) await benchCase(c, tools, columnModes);
}

async function benchReconcile(dev: DevServer): Promise<void> {
  const share = Number(values['delete-percent']) / 100;
  console.log(`bench --reconcile: ${docs} documents of ${values.collection}, ${values.format}, ${values['delete-percent']}% deleted, dev server ${server.url}`);
  const dest = mkdtempSync(path.join(tmpdir(), 'mxp-bench-'));
  try {
    const exported = await work('export', { ...baseFlags(dest, values.collection, false), reconcileEveryHours: 0 });
    console.log(`export: ${exported.rows} rows in ${exported.seconds.toFixed(1)} s; peak RSS ${exported.peakRssMb} MB`);
    const deleted = dev.delete(values.collection, Math.round(docs * share)).length;
    const before = dev.stats().requests;
    const chunk = values['sort-chunk-rows'] ? { reconcileSortChunkRows: Number(values['sort-chunk-rows']) } : {};
    const r = await work('reconcile', { ...baseFlags(dest, values.collection, false), ...chunk });
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
