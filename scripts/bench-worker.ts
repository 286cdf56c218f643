/**
 * One measured run, in its own process so its peak RSS is the exporter's alone.
 * Input: a JSON object as argv[2]: the settings, and `mode` (`export`, the default, or
 * `reconcile`: the `reconcile` command's run). Output: one JSON line on stdout.
 */
import { loadSettings } from '../src/config/load.js';
import { runExport, runReconcile } from '../src/run/export.js';

const args = JSON.parse(process.argv[2] ?? '{}') as { baseUrl: string; apiKey: string; namespace: string; mode?: 'export' | 'reconcile'; trace?: boolean; flags: Record<string, unknown> };
const settings = loadSettings({
  flags: args.flags,
  env: { MIXPEEK_API_KEY: args.apiKey, MIXPEEK_NAMESPACE: args.namespace, MIXPEEK_BASE_URL: args.baseUrl },
});
let rows = 0;
const samples: number[] = [];
const timer = setInterval(() => samples.push(process.memoryUsage.rss()), 500);
const started = performance.now();
const run = args.mode === 'reconcile' ? runReconcile : runExport;
/** With `trace`: each log event and every 100th step of a kind, with the time and RSS, on stderr (where a phase's memory goes). */
const trace = (what: string) => {
  if (args.trace) process.stderr.write(`trace +${((performance.now() - started) / 1000).toFixed(1)}s rss ${Math.round(process.memoryUsage.rss() / 2 ** 20)} MB heap ${Math.round(process.memoryUsage().heapUsed / 2 ** 20)} MB: ${what}\n`);
};
const log = (event: string) => trace(event);
const result = await run(settings, {
  progress: { pageFetched() {}, rowWritten: () => void rows++, filePublished() {} },
  ...(args.trace ? { logger: { debug() {}, info: log, warn: log, error: log }, onStep: (step: string, n: number) => (n % 100 === 1 ? trace(`${step}:${n}`) : undefined) } : {}),
});
clearInterval(timer);
const seconds = (performance.now() - started) / 1000;
const runs = result.collections.flatMap((c) => c.runs);
const reconciles = result.collections.flatMap((c) => c.reconciles ?? []);
const quart = (q: number) => Math.round((samples[Math.min(samples.length - 1, Math.floor(samples.length * q))] ?? 0) / 2 ** 20);
process.stdout.write(
  JSON.stringify({
    error: result.error?.message,
    rows: runs.reduce((n, r) => n + r.rows, 0),
    files: runs.reduce((n, r) => n + r.files.length, 0),
    bytes: runs.reduce((n, r) => n + r.bytes, 0),
    idsListed: reconciles.reduce((n, r) => n + r.idsListed, 0),
    tombstones: reconciles.reduce((n, r) => n + r.tombstones, 0),
    reconcileRequests: reconciles.reduce((n, r) => n + r.requests, 0),
    seconds,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    rssMbAtQuarters: [quart(0.25), quart(0.5), quart(0.75), quart(0.999)],
    /** The largest sampled RSS and when, as a share of the run (peakRssMb also sees spikes between samples). */
    sampledMaxMb: Math.round(Math.max(0, ...samples) / 2 ** 20),
    sampledMaxAt: samples.length ? Number((samples.indexOf(Math.max(...samples)) / samples.length).toFixed(2)) : 0,
  }) + '\n',
);
