/**
 * One measured run, in its own process so its peak RSS is the exporter's alone.
 * Input: a JSON object as argv[2]: the settings, and `mode` (`export`, the default, or
 * `reconcile`: the `reconcile` command's run). Output: one JSON line on stdout.
 */
import { loadSettings } from '../src/config/load.js';
import { runExport, runReconcile } from '../src/run/export.js';
import { sampleRss } from './bench-rss.js';

const args = JSON.parse(process.argv[2] ?? '{}') as { baseUrl: string; apiKey: string; namespace: string; mode?: 'export' | 'reconcile'; trace?: boolean; flags: Record<string, unknown> };
const settings = loadSettings({
  flags: args.flags,
  env: { MIXPEEK_API_KEY: args.apiKey, MIXPEEK_NAMESPACE: args.namespace, MIXPEEK_BASE_URL: args.baseUrl },
});
let rows = 0;
const rss = sampleRss();
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
const memory = rss.stop();
const seconds = (performance.now() - started) / 1000;
const runs = result.collections.flatMap((c) => c.runs);
const reconciles = result.collections.flatMap((c) => c.reconciles ?? []);
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
    ...memory,
  }) + '\n',
);
