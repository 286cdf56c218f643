import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointStore } from '../../src/commit/checkpoint.js';
import { loadSettings } from '../../src/config/load.js';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { fileRecords } from '../../src/reconcile/staged.js';
import { runExport, runReconcile } from '../../src/run/export.js';
import { memoryDriver } from '../../src/storage/drivers/memory.js';
import { createLogger } from '../../src/util/log.js';

const COL = 'col_video_frames';
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: 1200, seed: 5 });
});
afterAll(async () => server?.close());

const settings = (baseUrl: string, name: string, flags: Record<string, unknown> = {}) =>
  loadSettings({
    flags: { collections: [COL], dest: `memory://${name}`, safetyLagSeconds: 0, reconcileEveryHours: 0, reconcileSortChunkRows: 300, maxRowsPerFile: 2, ...flags },
    env: { MIXPEEK_API_KEY: 'sk_test_devserver', MIXPEEK_NAMESPACE: 'ns_dev', MIXPEEK_BASE_URL: baseUrl },
  });

/** Every tombstone's id in the destination's data files, read with the staged-state reader. */
async function tombstones(driver: ReturnType<typeof memoryDriver>): Promise<string[]> {
  const ids: string[] = [];
  for (const key of [...driver.objects.keys()].filter((k) => k.includes('/data/')).sort()) {
    for await (const r of fileRecords(driver, { key, columns: ['_deleted'] })) if (r.d) ids.push(r.id);
  }
  return ids.sort();
}

describe('a reconciliation run on the memory driver against the dev server', () => {
  it('tombstones exactly the deleted ids in document_id order, and records lastReconcile and a reconcile manifest', async () => {
    const driver = memoryDriver({ name: 'run-a' });
    expect((await runExport(settings(server.url, 'run-a', { maxRowsPerFile: 1_000_000 }), { driver })).error).toBeUndefined();
    const deleted = server.delete(COL, 5);
    const result = await runReconcile(settings(server.url, 'run-a'), { driver });
    expect(result.error).toBeUndefined();
    const outcome = result.collections[0]!.reconciles![0]!;
    expect(outcome).toMatchObject({ tombstones: 5, resumed: false });
    expect(outcome.files.length).toBe(3); // 2 rows per file
    expect(await tombstones(driver)).toEqual([...deleted].sort());
    const store = await CheckpointStore.load(driver, COL);
    expect(store.value.lastReconcile).toMatchObject({ runId: outcome.runId, tombstones: 5, idsListed: outcome.idsListed, manifest: outcome.manifestKey });
    const manifest = JSON.parse(driver.objects.get(outcome.manifestKey)!.toString('utf8'));
    expect(manifest).toMatchObject({ kind: 'reconcile', listedAt: outcome.listedAt, tombstones: 5, idsListed: outcome.idsListed });
    const again = await runReconcile(settings(server.url, 'run-a'), { driver });
    expect(again.collections[0]!.reconciles![0]!.tombstones).toBe(0);
  });

  it('falls back to a created_at listing sorted here when the API refuses the document_id sort', async () => {
    const driver = memoryDriver({ name: 'run-b' });
    expect((await runExport(settings(server.url, 'run-b', { maxRowsPerFile: 1_000_000 }), { driver })).error).toBeUndefined();
    const deleted = server.delete(COL, 3);
    server.setOptions({ refuseSortFields: ['document_id'] });
    const logs: Record<string, unknown>[] = [];
    try {
      const result = await runReconcile(settings(server.url, 'run-b'), { driver, logger: createLogger((r) => logs.push(r)) });
      expect(result.error).toBeUndefined();
      expect(result.collections[0]!.reconciles![0]!.tombstones).toBe(3);
    } finally {
      server.setOptions({ refuseSortFields: [] });
    }
    expect(logs.some((l) => l.event === 'ListingSortRefused')).toBe(true);
    expect((await tombstones(driver)).filter((id) => deleted.includes(id))).toEqual([...deleted].sort());
  });

  it('refuses a listing that ignored the sort (exit 3) and writes no tombstone', async () => {
    const driver = memoryDriver({ name: 'run-c' });
    expect((await runExport(settings(server.url, 'run-c', { maxRowsPerFile: 1_000_000 }), { driver })).error).toBeUndefined();
    server.delete(COL, 2);
    const proxy = await reversingProxy(server.url);
    try {
      const result = await runReconcile(settings(proxy.url, 'run-c'), { driver });
      expect(result.error?.exitCode).toBe(3);
      expect(result.error?.message).toMatch(/ignored the sort/);
    } finally {
      proxy.server.close();
    }
    expect(await tombstones(driver)).toEqual([]);
  });
});

/** A real HTTP proxy in front of the dev server that reverses each list page: an API that ignores the sort. */
async function reversingProxy(target: string): Promise<{ url: string; server: Server }> {
  const proxy = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const upstream = await fetch(target + req.url, { method: req.method, headers: req.headers as Record<string, string>, body: chunks.length ? Buffer.concat(chunks) : undefined });
    const text = await upstream.text();
    const body = JSON.parse(text);
    if (Array.isArray(body.results)) body.results.reverse();
    res.writeHead(upstream.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, server: proxy };
}
