/**
 * The bench's two baselines, each run in its own process so its peak RSS is its own.
 * Input: a JSON object as argv[2] ({@link BaselineInput}). Output: one JSON line on stdout.
 *
 * - `floor`: pages the collection exactly as the exporter pages it (src/source/pages.ts: the
 *   same path, body, headers and cursor chain) and only `JSON.parse`s each page: the time no
 *   exporter can beat with one listing in flight.
 * - `duckdb`: pages the same way, writes every document as one NDJSON line, then has DuckDB
 *   `COPY (SELECT * FROM read_json(...)) TO ... (FORMAT parquet, COMPRESSION zstd)`; both
 *   steps are timed together: the "two-step script" the exporter is compared with.
 */
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import { sampleRss } from './bench-rss.js';

/** What bench.ts passes. */
export interface BaselineInput {
  mode: 'floor' | 'duckdb';
  baseUrl: string;
  apiKey: string;
  namespace: string;
  collectionId: string;
  vectors: boolean;
}

const PAGE_SIZE = 1000;
const input = JSON.parse(process.argv[2] ?? '{}') as BaselineInput;
if (input.mode !== 'floor' && input.mode !== 'duckdb') throw new Error(`bench-baseline: mode must be floor or duckdb (got ${JSON.stringify(input.mode)})`);

/** Pages the window [beginning, now) in `updated_at` order; yields each page's documents. Retries a 429 after its Retry-After. */
async function* pages(): AsyncGenerator<unknown[]> {
  // As src/source/pages.ts builds it (the exporter's window with safetyLagSeconds 0 and no lower bound).
  const url = `${input.baseUrl}/v1/collections/${encodeURIComponent(input.collectionId)}/documents/list?limit=${PAGE_SIZE}`;
  const filters = { AND: [{ field: '_internal.updated_at', operator: 'lt', value: new Date().toISOString() }] };
  const base = { filters, sort: { field: '_internal.updated_at', direction: 'asc' }, limit: PAGE_SIZE, return_vectors: input.vectors };
  let cursor: string | null = null;
  do {
    const body = JSON.parse(await fetchText(url, cursor ? { ...base, cursor } : base)) as { results: unknown[]; pagination?: { next_cursor?: string | null } };
    if (body.results.length === 0) return;
    yield body.results;
    cursor = body.pagination?.next_cursor ?? null;
  } while (cursor);
}

let throttled = 0;

async function fetchText(url: string, body: unknown): Promise<string> {
  for (;;) {
    const response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${input.apiKey}`, 'x-namespace': input.namespace, 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    if (response.ok) return text;
    if (response.status !== 429) throw new Error(`bench-baseline: POST ${url}: HTTP ${response.status} ${text.slice(0, 200)}`);
    throttled++;
    await sleep(Number(response.headers.get('retry-after') ?? '1') * 1000);
  }
}

async function floor(): Promise<{ rows: number; bytes: number }> {
  let rows = 0;
  for await (const documents of pages()) rows += documents.length;
  return { rows, bytes: 0 };
}

async function ndjsonThenDuckdb(): Promise<{ rows: number; bytes: number; pageSeconds: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'mxp-bench-duckdb-'));
  try {
    const ndjson = path.join(dir, 'documents.ndjson');
    const out = createWriteStream(ndjson);
    let rows = 0;
    for await (const documents of pages()) {
      rows += documents.length;
      if (!out.write(documents.map((d) => JSON.stringify(d)).join('\n') + '\n')) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
    const pageSeconds = (performance.now() - started) / 1000;
    const parquet = path.join(dir, 'documents.parquet');
    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    await connection.run(`COPY (SELECT * FROM read_json('${ndjson}')) TO '${parquet}' (FORMAT parquet, COMPRESSION zstd)`);
    connection.closeSync();
    db.closeSync();
    return { rows, bytes: statSync(parquet).size, pageSeconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const rss = sampleRss();
const started = performance.now();
const result = input.mode === 'floor' ? await floor() : await ndjsonThenDuckdb();
const seconds = (performance.now() - started) / 1000;
process.stdout.write(JSON.stringify({ ...result, files: result.bytes ? 1 : 0, seconds, throttled, ...rss.stop() }) + '\n');
