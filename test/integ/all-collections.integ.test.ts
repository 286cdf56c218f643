/**
 * A whole namespace (`--all-collections`, `collections: all`): the real CLI lists the dev
 * server's collections through `POST /v1/collections/list`, exports each in collection id
 * order under its own lease, checkpoint and manifest, skips `--exclude-collection`, resumes
 * after a SIGKILL in the middle of the namespace, and `status` and `verify` list it too.
 * What the dev server cannot be (an empty namespace, ids that are not plain, many pages of
 * collections) is served by a small real HTTP server in this file.
 */
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CollectionStatus } from '../../src/cli/status.js';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { COLLECTIONS_PAGE_LIMIT, listCollections } from '../../src/source/collections.js';
import { MixpeekHttp } from '../../src/source/http.js';
import { createLogger } from '../../src/util/log.js';
import { readCheckpoint } from '../support/checkpoint.js';
import { API_KEY, compareVersions, exportEnv, NAMESPACE, query, readJson, runCli, stagedVersions } from '../support/harness.js';

const DOCS = 300;
const PAGE = 100;
let server: DevServer;
let sorted: string[];

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: DOCS, seed: 57 });
  sorted = [...server.collections].sort();
});
afterAll(async () => server?.close());

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'mxp-allcols-'));
/** No reconciliation (it is not what is tested here) and whole pages of PAGE documents, so each collection is DOCS / PAGE `page` steps. */
const exportArgs = (dest: string, extra: string[] = []) => ['export', '--all-collections', '--dest', dest, '--safety-lag-seconds', '0', '--page-size', String(PAGE), '--max-rows-per-file', '120', '--reconcile-every-hours', '0', ...extra];

/** The JSON log lines of `event`, in order. */
function events(stderr: string, event: string): Record<string, any>[] {
  return stderr
    .split('\n')
    .filter((line) => line.includes(`"event":"${event}"`))
    .map((line) => JSON.parse(line) as Record<string, any>);
}

/** Every current version of the collection staged exactly once, nothing unknown, and the checkpoint at rest. */
async function expectExact(dest: string, collectionId: string, source: DevServer = server, documents = DOCS) {
  const cmp = compareVersions(source.currentVersions(collectionId), await stagedVersions(dest, collectionId));
  expect(cmp, collectionId).toMatchObject({ duplicates: [], missing: [], unknown: [], current: documents });
  expect((await readCheckpoint(dest, collectionId)).active, collectionId).toBeNull();
}

describe('export --all-collections', () => {
  it('exports every collection of the namespace in collection id order, each with its own checkpoint and manifest, read back with DuckDB', async () => {
    const dest = tempDir();
    const result = await runCli(exportArgs(dest), exportEnv(server.url));
    expect(result.code, result.stderr).toBe(0);
    expect(events(result.stderr, 'CollectionsListed')).toEqual([expect.objectContaining({ namespace: NAMESPACE, count: 4, collection_ids: sorted, excluded: [] })]);
    expect(events(result.stderr, 'LeaseAcquired').map((e) => e.collection_id)).toEqual(sorted);
    expect(events(result.stderr, 'RunStarted').map((e) => e.collection_id)).toEqual(sorted);
    expect(result.stdout).toMatch(/^export ok; 4 collection\(s\), 4 run\(s\), \d+ files, 1200 rows/);
    for (const id of sorted) {
      await expectExact(dest, id);
      const checkpoint = await readCheckpoint(dest, id);
      expect(checkpoint.collectionId).toBe(id);
      expect(checkpoint.history).toHaveLength(1);
      const manifest = readJson(path.join(dest, checkpoint.history[0]!.manifest));
      expect(manifest).toMatchObject({ collectionId: id, totals: { rows: DOCS } });
      const [row] = await query(`SELECT count(*)::INTEGER AS n, count(DISTINCT collection_id)::INTEGER AS ids, min(collection_id) AS id FROM read_parquet('${dest}/${id}/data/**/*.parquet', union_by_name=true)`);
      expect(row).toEqual({ n: DOCS, ids: 1, id });
    }
  });

  it('skips --exclude-collection, only warns for an exclusion that names no collection, and exports the excluded one once it is no longer excluded; reconcile chooses alike', async () => {
    const dest = tempDir();
    const skipped = sorted[1]!;
    const partial = await runCli(exportArgs(dest, ['--exclude-collection', skipped, '--exclude-collection', 'col_not_there']), exportEnv(server.url));
    expect(partial.code, partial.stderr).toBe(0);
    expect(events(partial.stderr, 'ExclusionUnmatched')).toEqual([expect.objectContaining({ level: 'warn', collection_ids: ['col_not_there'] })]);
    expect(events(partial.stderr, 'CollectionsListed')[0]).toMatchObject({ count: 3, excluded: [skipped], collection_ids: sorted.filter((id) => id !== skipped) });
    expect(existsSync(path.join(dest, skipped))).toBe(false);
    expect(partial.stdout).toContain('3 collection(s), 3 run(s)');

    // The next invocation lists the namespace again: the collection it did not export before is picked up, the others have nothing new.
    const next = await runCli(exportArgs(dest), exportEnv(server.url));
    expect(next.code, next.stderr).toBe(0);
    const rows = events(next.stderr, 'RunCompleted').map((e) => [e.collection_id, e.rows]);
    expect(rows).toEqual(sorted.map((id) => [id, id === skipped ? DOCS : 0]));
    for (const id of sorted) await expectExact(dest, id);

    // reconcile chooses collections the same way: the namespace, without the excluded, in id order.
    const reconciled = await runCli(['reconcile', '--all-collections', '--exclude-collection', sorted[0]!, '--dest', dest, '--page-size', String(PAGE)], exportEnv(server.url));
    expect(reconciled.code, reconciled.stderr).toBe(0);
    expect(events(reconciled.stderr, 'ReconcileCompleted').map((e) => [e.collection_id, e.ids_listed, e.tombstones])).toEqual(sorted.slice(1).map((id) => [id, DOCS, 0]));
    expect(reconciled.stdout).toMatch(/^reconcile ok; 3 collection\(s\)/);
  });

  it('picks up a collection created between two runs in the next run, in its collection id order', async () => {
    const own = await startDevServer({ documentsPerCollection: 150, seed: 58 });
    try {
      const dest = tempDir();
      const first = await runCli(exportArgs(dest), exportEnv(own.url));
      expect(first.code, first.stderr).toBe(0);
      expect(events(first.stderr, 'CollectionsListed')[0]).toMatchObject({ count: 4 });
      // Listed last by the API, but its id sorts second: the order is the ids', not the listing's.
      const added = own.addCollection({ collection_id: 'col_b_added', based_on: 'col_pdf_pages', documents: 80 });
      const next = await runCli(exportArgs(dest), exportEnv(own.url));
      expect(next.code, next.stderr).toBe(0);
      const ids = [...own.collections].sort();
      expect(ids[1]).toBe(added);
      expect(events(next.stderr, 'CollectionsListed')[0]).toMatchObject({ count: 5, collection_ids: ids });
      expect(events(next.stderr, 'RunCompleted').map((e) => [e.collection_id, e.rows])).toEqual(ids.map((id) => [id, id === added ? 80 : 0]));
      for (const id of ids) await expectExact(dest, id, own, id === added ? 80 : 150);
      const [row] = await query(`SELECT count(*)::INTEGER AS n, min(collection_id) AS id FROM read_parquet('${dest}/${added}/data/**/*.parquet', union_by_name=true)`);
      expect(row).toEqual({ n: 80, id: added });
    } finally {
      await own.close();
    }
  });

  it('resumes after a SIGKILL in the middle of the second collection, and leaves every collection exact', async () => {
    const dest = tempDir();
    const [first, second, ...rest] = sorted as [string, string, ...string[]];
    // Killed once the second collection has published a file (an observed log event: its slices page at their own pace).
    const killed = await runCli(exportArgs(dest), exportEnv(server.url), { killOnMatch: new RegExp(`"event":"FilePublished","collection_id":"${second}"`) });
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    expect((await readCheckpoint(dest, first)).active).toBeNull();
    const interrupted = (await readCheckpoint(dest, second)).active;
    expect(interrupted?.files.length, 'the second collection had published files when it was killed').toBeGreaterThan(0);
    for (const id of rest) expect(existsSync(path.join(dest, id)), id).toBe(false);

    const resumed = await runCli(exportArgs(dest), exportEnv(server.url));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(events(resumed.stderr, 'RunResumed')).toEqual([expect.objectContaining({ collection_id: second, run_id: interrupted!.runId })]);
    const completed = events(resumed.stderr, 'RunCompleted');
    expect([...new Set(completed.map((e) => e.collection_id))], 'in collection id order').toEqual(sorted);
    expect(completed.filter((e) => e.collection_id === first).map((e) => e.rows), 'nothing new for the first').toEqual([0]);
    expect(completed.find((e) => e.run_id === interrupted!.runId)?.rows).toBe(DOCS);
    for (const id of rest) expect(completed.filter((e) => e.collection_id === id).map((e) => e.rows), id).toEqual([DOCS]);
    for (const id of sorted) await expectExact(dest, id);
    const verify = await runCli(['verify', '--all-collections', '--dest', dest], exportEnv(server.url));
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it('reports what it would export for each collection of the namespace with --dry-run, and writes nothing', async () => {
    const dest = tempDir();
    const result = await runCli(exportArgs(dest, ['--dry-run', '--exclude-collection', sorted[0]!]), exportEnv(server.url));
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines.map((l) => /^dry run (\S+):/.exec(l)?.[1])).toEqual(sorted.slice(1));
    for (const line of lines) expect(line).toContain(`${DOCS} documents`);
    expect(readdirSync(dest).filter((name) => sorted.includes(name))).toEqual([]);
  });

  it('refuses --collection with --all-collections, naming both, with exit 2 and before any I/O', async () => {
    const dest = tempDir();
    const requests = server.stats().requests;
    for (const command of ['export', 'reconcile', 'status', 'verify']) {
      const result = await runCli([command, '--collection', sorted[0]!, '--all-collections', '--dest', dest], exportEnv(server.url));
      expect(result.code, command).toBe(2);
      expect(result.stderr, command).toContain('--collection and --all-collections contradict each other');
    }
    expect(readdirSync(dest)).toEqual([]);
    expect(server.stats().requests, 'no API request').toBe(requests);
  });
});

describe('status and verify --all-collections', () => {
  it('report every collection of the namespace in collection id order, exported or not', async () => {
    const dest = tempDir();
    const exported = await runCli(exportArgs(dest, ['--exclude-collection', sorted[3]!]), exportEnv(server.url));
    expect(exported.code, exported.stderr).toBe(0);
    const status = await runCli(['status', '--all-collections', '--dest', dest, '--json'], exportEnv(server.url));
    expect(status.code, status.stderr).toBe(0);
    const report = JSON.parse(status.stdout) as CollectionStatus[];
    expect(report.map((r) => r.collection_id)).toEqual(sorted);
    for (const r of report.slice(0, 3)) expect(r).toMatchObject({ interrupted_run: null, last_run: { rows: DOCS } });
    expect(report[3]!.last_run).toBeNull();
    const excluded = await runCli(['status', '--all-collections', '--exclude-collection', sorted[3]!, '--dest', dest, '--json'], exportEnv(server.url));
    expect((JSON.parse(excluded.stdout) as CollectionStatus[]).map((r) => r.collection_id)).toEqual(sorted.slice(0, 3));

    const verify = await runCli(['verify', '--all-collections', '--exclude-collection', sorted[3]!, '--dest', dest, '--json'], exportEnv(server.url));
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ consistent: true, collections: sorted.slice(0, 3).map((id) => expect.objectContaining({ collectionId: id })) });
  });

  it('need MIXPEEK_API_KEY only with --all-collections, and say so with exit 2', async () => {
    const dest = tempDir();
    for (const command of ['status', 'verify']) {
      const result = await runCli([command, '--all-collections', '--dest', dest], { MIXPEEK_NAMESPACE: NAMESPACE, MIXPEEK_BASE_URL: server.url });
      expect(result.code, command).toBe(2);
      expect(result.stderr).toContain(`${command} --all-collections lists the namespace's collections through the Mixpeek API: set MIXPEEK_API_KEY`);
      const listed = await runCli([command, '--collection', sorted[0]!, '--dest', dest], {});
      expect(listed.code, listed.stdout + listed.stderr).toBe(0);
    }
  });
});

/**
 * A namespace the dev server cannot be: `ids` served by `POST /v1/collections/list` with
 * offset paging (`limit`, `offset`, `total_count`), the first answer a gateway page (not
 * JSON) so the retry of a bad body is exercised; or `body` as every answer. Counts the list requests.
 */
async function namespaceServer(ids: string[], body?: unknown): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const srv: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    req.resume();
    req.on('end', () => {
      if (req.method !== 'POST' || url.pathname !== '/v1/collections/list' || req.headers.authorization !== `Bearer ${API_KEY}`) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"detail":"not found"}');
        return;
      }
      if (body !== undefined) {
        requests++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        return;
      }
      if (requests++ === 0) {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>gateway</html>');
        return;
      }
      const limit = Number(url.searchParams.get('limit'));
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const results = ids.slice(offset, offset + limit).map((id) => ({ collection_id: id, collection_name: `name of ${id}`, document_count: 0 }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results, pagination: { total: ids.length }, total_count: ids.length }));
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, requests: () => requests, close: () => new Promise((resolve) => srv.close(() => resolve())) };
}

describe('listing the namespace', () => {
  it('pages through many collections by offset, retries a bad body, sorts them by id and skips an id that could not be a path segment, with a warning naming it', async () => {
    const ids = Array.from({ length: 2 * COLLECTIONS_PAGE_LIMIT + 30 }, (_, i) => `col_${String((i * 7919) % 1000).padStart(4, '0')}_${i}`);
    ids.splice(17, 0, 'bad/id', '..hidden');
    const ns = await namespaceServer(ids);
    const warnings: Record<string, unknown>[] = [];
    const logger = createLogger((record) => warnings.push(record), { level: 'warn' });
    try {
      const http = new MixpeekHttp({ baseUrl: ns.url, apiKey: API_KEY, namespace: NAMESPACE, requestsPerMinute: 0, requestTimeoutMs: 5000, retry: { maxRetries: 2, baseDelayMs: 1, maxDelayMs: 5 }, logger });
      const listed = await listCollections(http, undefined, logger);
      const plain = ids.filter((id) => id !== 'bad/id' && id !== '..hidden');
      expect(listed.map((c) => c.collection_id)).toEqual([...plain].sort());
      expect(listed[0]).toMatchObject({ collection_name: `name of ${listed[0]!.collection_id}` });
      expect(ns.requests()).toBe(1 + Math.ceil(ids.length / COLLECTIONS_PAGE_LIMIT)); // the retried gateway page, then every page once
      expect(warnings.map((w) => [w.event, w.collection_id ?? w.error_type])).toEqual([
        ['RequestRetried', 'body_not_json'],
        ['CollectionSkipped', 'bad/id'],
        ['CollectionSkipped', '..hidden'],
      ]);
    } finally {
      await ns.close();
    }
  });

  it('retries a list response of the wrong shape, then fails with exit 3 naming what is wrong, before any collection is touched', async () => {
    const ns = await namespaceServer([], { results: [{ collection_name: 'no id here' }], total_count: 1 });
    try {
      const dest = tempDir();
      const result = await runCli(exportArgs(dest, ['--max-retries', '2', '--retry-base-delay-ms', '1']), exportEnv(ns.url));
      expect(result.code, result.stderr).toBe(3);
      expect(ns.requests()).toBe(3);
      expect(result.stdout).toContain('results[0] of the collections list has no collection_id string after 3 attempts');
      expect(readdirSync(dest)).toEqual([]);
    } finally {
      await ns.close();
    }
  });

  it('ends an export, status and verify of an empty namespace with a clear message, exit 0 and nothing written', async () => {
    const ns = await namespaceServer([]);
    try {
      const dest = tempDir();
      const result = await runCli(exportArgs(dest), exportEnv(ns.url));
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.trim()).toBe(`export ok, nothing to do: no collections in the namespace (after exclusions); nothing written to ${dest}`);
      expect(events(result.stderr, 'NoCollections')).toEqual([expect.objectContaining({ level: 'warn', note: `namespace ${NAMESPACE} has no collections; nothing to do` })]);
      expect(readdirSync(dest)).toEqual([]);
      const status = await runCli(['status', '--all-collections', '--dest', dest, '--json'], exportEnv(ns.url));
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toEqual([]);
      const verify = await runCli(['verify', '--all-collections', '--dest', dest], exportEnv(ns.url));
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    } finally {
      await ns.close();
    }
  });
});
