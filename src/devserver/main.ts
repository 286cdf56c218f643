/**
 * CLI for the dev server:
 *
 *   npm run devserver -- --port 8787 --docs 10000 --latency-ms 20 --rpm 600 --error-rate 0.05 --seed 7
 *
 * Prints one line with the URL and credentials, serves until SIGINT/SIGTERM, then closes.
 * Every flag maps onto a DevServerOptions field; run with --help for the list.
 */
import { parseArgs } from 'node:util';
import { startDevServer, type DevServerOptions } from './index.js';

const USAGE = `usage: devserver [options]
  --port N             TCP port on 127.0.0.1 (default 0 = any free port)
  --seed N             seed of documents, faults and mutations (default 42)
  --docs N             documents per collection (default 2000)
  --api-key KEY        expected bearer token (default sk_test_devserver)
  --namespace NS       expected X-Namespace (default ns_dev)
  --latency-ms N       delay added to every /v1 response
  --rpm N              token-bucket rate limit in requests per minute (default off)
  --burst N            bucket capacity (default rpm / 3)
  --error-rate P       probability of a 500/503 per list request
  --reset-rate P       probability of a dropped connection per list request
  --truncate-rate P    probability of a truncated body per list request
  --not-json-rate P    probability of a 200 HTML page instead of JSON per list request
  --repeat-cursor-rate P  probability of a next_cursor that does not advance per list request
  --slow-rate P        probability of a slow list response
  --slow-ms N          delay of a slow response (default 2000)
  --mutate-every N     mutate documents after every N list pages (with --mutate-count)
  --mutate-count N     documents per such mutation (default 10)
  --delete-every N     delete documents after every N list pages (with --delete-count)
  --delete-count N     documents per such deletion (default 10)
  --create-every N     create documents after every N list pages (with --create-count)
  --create-count N     documents per such creation (default 10)
  --no-output-schema ID  serve collection ID with output_schema null (repeatable)

Admin routes (no auth) change the server while it runs; see src/devserver/admin.ts:
  POST /_dev/schema {collection_id, field, schema}   declare, redeclare or (schema null) remove a field
  POST /_dev/collections {collection_id, based_on, documents}   add a collection`;

function num(values: Record<string, string | boolean | string[] | undefined>, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n)) throw new Error(`--${name} must be a number, got ${String(raw)}`);
  return n;
}

function toOptions(values: Record<string, string | boolean | string[] | undefined>): DevServerOptions {
  const rpm = num(values, 'rpm');
  const every = num(values, 'mutate-every');
  const deleteEvery = num(values, 'delete-every');
  const createEvery = num(values, 'create-every');
  return {
    port: num(values, 'port'),
    seed: num(values, 'seed'),
    documentsPerCollection: num(values, 'docs'),
    apiKey: values['api-key'] as string | undefined,
    namespace: values['namespace'] as string | undefined,
    latencyMs: num(values, 'latency-ms'),
    rateLimit: rpm ? { requestsPerMinute: rpm, burst: num(values, 'burst') } : null,
    faults: {
      errorRate: num(values, 'error-rate'), resetRate: num(values, 'reset-rate'),
      truncateRate: num(values, 'truncate-rate'), slowRate: num(values, 'slow-rate'), slowMs: num(values, 'slow-ms'),
      notJsonRate: num(values, 'not-json-rate'), repeatCursorRate: num(values, 'repeat-cursor-rate'),
    },
    mutateWhilePaging: every ? { everyNPages: every, count: num(values, 'mutate-count') ?? 10 } : null,
    deleteWhilePaging: deleteEvery ? { everyNPages: deleteEvery, count: num(values, 'delete-count') ?? 10 } : null,
    createWhilePaging: createEvery ? { everyNPages: createEvery, count: num(values, 'create-count') ?? 10 } : null,
    noOutputSchema: values['no-output-schema'] as string[] | undefined,
  };
}

const STRING_FLAGS = ['port', 'seed', 'docs', 'api-key', 'namespace', 'latency-ms', 'rpm', 'burst', 'error-rate', 'reset-rate',
  'truncate-rate', 'not-json-rate', 'repeat-cursor-rate', 'slow-rate', 'slow-ms', 'mutate-every', 'mutate-count',
  'delete-every', 'delete-count', 'create-every', 'create-count'] as const;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ...Object.fromEntries(STRING_FLAGS.map((f) => [f, { type: 'string' as const }])),
      'no-output-schema': { type: 'string' as const, multiple: true as const },
      help: { type: 'boolean' as const },
    },
    strict: true,
  });
  if (values['help']) {
    console.log(USAGE);
    return;
  }
  const options = toOptions(values);
  const server = await startDevServer(options);
  console.log(`devserver listening on ${server.url} (api key ${options.apiKey ?? 'sk_test_devserver'}, namespace ${options.namespace ?? 'ns_dev'}, collections ${server.collections.join(', ')})`);
  const stop = () => {
    server.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`devserver: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
  process.exit(2);
});
