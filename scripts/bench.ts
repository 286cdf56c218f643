/**
 * `npm run bench [-- --docs 100000 --vectors both|on|off --format parquet|ndjson --row-group-rows 10000]`
 *
 * Starts the dev server (no latency, no faults) in this process and runs each export in
 * a child process against a fresh temp folder, then prints docs/s, MB/s (staged bytes)
 * and the exporter's peak RSS. Memory must not grow with --docs.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startDevServer } from '../src/devserver/index.js';

const { values } = parseArgs({
  options: {
    docs: { type: 'string', default: '100000' },
    vectors: { type: 'string', default: 'both' },
    format: { type: 'string', default: 'parquet' },
    collection: { type: 'string', default: 'col_video_frames' },
    'row-group-rows': { type: 'string', default: '10000' },
  },
});
const docs = Number(values.docs);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const server = await startDevServer({ documentsPerCollection: docs, seed: 1 });
const modes = values.vectors === 'both' ? [false, true] : [values.vectors === 'on'];

console.log(`bench: ${docs} documents of ${values.collection}, ${values.format}, row groups of ${values['row-group-rows']} rows, dev server ${server.url}`);
for (const vectors of modes) {
  const dest = mkdtempSync(path.join(tmpdir(), 'mxp-bench-'));
  const input = {
    baseUrl: server.url,
    apiKey: 'sk_test_devserver',
    namespace: 'ns_dev',
    flags: { collections: [values.collection], dest, format: values.format, vectors, safetyLagSeconds: 0, requestsPerMinute: 0, rowGroupRows: Number(values['row-group-rows']) },
  };
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'scripts/bench-worker.ts'), JSON.stringify(input)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.on('error', reject);
    child.on('close', () => resolve(text));
  });
  rmSync(dest, { recursive: true, force: true });
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}');
  if (r.error) throw new Error(r.error);
  console.log(
    `vectors=${vectors ? 'on ' : 'off'}: ${r.rows} rows, ${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB in ${r.seconds.toFixed(1)} s = ` +
      `${Math.round(r.rows / r.seconds)} docs/s, ${(r.bytes / 1e6 / r.seconds).toFixed(1)} MB/s; peak RSS ${r.peakRssMb} MB (RSS at 25/50/75/100%: ${r.rssMbAtQuarters.join('/')} MB)`,
  );
}
await server.close();
