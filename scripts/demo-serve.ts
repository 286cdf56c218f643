/**
 * `npm run demo:serve`: starts the Mixpeek dev server, then `mixpeek-export serve` (the real
 * CLI, as a child process), sends a `collection.documents.written` delivery as Mixpeek would
 * (the fetch of the curl it prints), shows the files staged and how long it took, writes five
 * new documents and sends a second event, then stops the server with SIGTERM (exit 0).
 *
 * `MIXPEEK_DEMO_DIR`: stage there instead of ./staging/serve (which is emptied first; a named
 * folder must be empty or absent).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevServer } from '../src/devserver/index.js';
import { deliver, documentsWritten, startServeProcess } from '../test/support/serve.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dest = process.env.MIXPEEK_DEMO_DIR ? path.resolve(process.env.MIXPEEK_DEMO_DIR) : path.join(repo, 'staging', 'serve');
const collection = 'col_product_images';
const secret = randomBytes(24).toString('hex');

if (!process.env.MIXPEEK_DEMO_DIR) rmSync(dest, { recursive: true, force: true });
else if (existsSync(dest) && readdirSync(dest).length > 0) throw new Error(`MIXPEEK_DEMO_DIR ${dest} is not empty; name an empty or new folder`);

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)])).sort();
}

const api = await startDevServer({ documentsPerCollection: 1000 });
const args = ['--collection', collection, '--dest', dest, '--port', '0', '--host', '127.0.0.1', '--interval', '0', '--safety-lag-seconds', '1', '--reconcile-every-hours', '0'];
console.log(`dev server on ${api.url}\n$ MIXPEEK_INBOUND_WEBHOOK_SECRET=<random> mixpeek-export serve ${args.join(' ')}`);
const serve = await startServeProcess(args, { MIXPEEK_API_KEY: 'sk_test_devserver', MIXPEEK_NAMESPACE: 'ns_dev', MIXPEEK_BASE_URL: api.url, MIXPEEK_INBOUND_WEBHOOK_SECRET: secret });
try {
  console.log(`serve listening on ${serve.url}\n`);
  const data = path.join(dest, collection, 'data');
  for (const [i, created] of [[1, 0], [2, 5]] as const) {
    if (created) console.log(`\nMixpeek writes ${api.create(collection, created).length} new documents into ${collection}; it sends the event:`);
    const event = documentsWritten(`evt_demo_${i}`, collection, created || 1000);
    console.log(`$ curl -X POST ${serve.url}/webhooks/mixpeek -H 'X-Mixpeek-Secret: <secret>' -H 'Content-Type: application/json' -d '${JSON.stringify(event)}'`);
    const before = files(data).length;
    const sent = performance.now();
    const answer = await deliver(serve.url, event, secret);
    console.log(`-> ${answer.status} ${JSON.stringify(answer.body)}`);
    const run = await serve.waitFor((r) => r.event === 'ServeRunFinished' && (r.event_ids as string[]).includes(event.event_id as string));
    const seconds = (performance.now() - sent) / 1000;
    const fresh = files(data).slice(before);
    console.log(`${run.result}: ${run.rows} documents in ${fresh.length} new file(s), staged ${seconds.toFixed(1)} s after the event (safety lag 1 s):`);
    for (const f of fresh.slice(0, 3)) console.log(`  ${path.relative(process.cwd(), f)}`);
    if (fresh.length > 3) console.log(`  ... and ${fresh.length - 3} more`);
  }
  const duplicate = await deliver(serve.url, documentsWritten('evt_demo_2', collection), secret);
  console.log(`\nthe same event again (Mixpeek retries until a 2xx) -> ${duplicate.status} ${JSON.stringify(duplicate.body)}`);
  const wrong = await deliver(serve.url, documentsWritten('evt_demo_3', collection), 'not-the-secret');
  console.log(`without the right secret -> ${wrong.status} ${JSON.stringify(wrong.body)}`);
  const metrics = (await (await fetch(`${serve.url}/metrics`)).text()).split('\n').filter((l) => /^mixpeek_export_serve_(runs_total|events_rejected_total|events_accepted)/.test(l));
  console.log(`\n$ curl ${serve.url}/metrics   (excerpt)\n${metrics.join('\n')}`);
} finally {
  const exit = await serve.stop('SIGTERM');
  console.log(`\nSIGTERM -> serve exited ${exit.code ?? exit.signal}${exit.code === 0 ? ' (stopped cleanly)' : `\n${serve.stderr.slice(-2000)}`}`);
  await api.close();
  if (exit.code !== 0) process.exitCode = 1;
}
