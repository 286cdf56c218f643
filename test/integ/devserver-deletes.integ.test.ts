/**
 * The dev server's deletes, `select` projections and `document_id` order, over real HTTP
 * with global fetch: what a reconciliation lists (`{select: ["document_id"], sort:
 * {field: "document_id"}}` by cursor) and what it must survive (documents deleted, created,
 * mutated and re-created while it pages).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevServer, type DevServer } from '../../src/devserver/index.js';

const KEY = 'sk_test_devserver';
const NS = 'ns_dev';
const COL = 'col_pdf_pages';
const HEADERS = { Authorization: `Bearer ${KEY}`, 'X-Namespace': NS, 'Content-Type': 'application/json' };
const ID_ASC = { field: 'document_id', direction: 'asc' };

interface Doc {
  document_id: string;
  [key: string]: unknown;
}
interface ListBody {
  results: Doc[];
  pagination: { next_cursor?: string; total?: number };
}
interface Envelope {
  success: false;
  status: number;
  error: { message: string; type: string; details?: Record<string, unknown> };
}

function api(server: DevServer, method: string, path: string, body?: object, headers: Record<string, string> = HEADERS) {
  return fetch(`${server.url}/v1/collections/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function listOk(server: DevServer, body: object, collection = COL): Promise<ListBody> {
  const res = await api(server, 'POST', `${collection}/documents/list`, body);
  expect(res.status).toBe(200);
  return (await res.json()) as ListBody;
}

/** Page by cursor to the end, calling `between` after each page; returns every document in order. */
async function pageAll(server: DevServer, body: object, between: (page: number) => void | Promise<void> = () => {}): Promise<Doc[]> {
  const docs: Doc[] = [];
  let cursor: string | undefined;
  let page = 0;
  do {
    const body2 = await listOk(server, { ...body, cursor });
    docs.push(...body2.results);
    expect(body2.pagination.next_cursor).not.toBe(cursor);
    cursor = body2.pagination.next_cursor;
    await between(++page);
  } while (cursor);
  return docs;
}

/** Microseconds since the epoch of an API timestamp (`Z` or zone-less = UTC), independent of the server's parser. */
function micros(ts: string): number {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(Z)?$/.exec(ts);
  if (!m) throw new Error(`unexpected timestamp form ${ts}`);
  return Date.parse(`${m[1]}Z`) * 1000 + Number(((m[2] ?? '') + '000000').slice(0, 6));
}

function liveIds(server: DevServer, collection = COL): string[] {
  return [...server.currentVersions(collection)].map((v) => v.document_id).sort();
}

function expectStrictlyAscending(ids: string[]): void {
  for (let i = 1; i < ids.length; i++) expect((ids[i - 1] as string) < (ids[i] as string), `order at ${i}`).toBe(true);
}

describe('dev server deletes', () => {
  let server: DevServer;

  beforeAll(async () => {
    server = await startDevServer({ documentsPerCollection: 1200, seed: 11 });
  });
  afterAll(() => server.close());

  it('deletes one document by id, answers 404 with the error envelope the second time, and never lists it again', async () => {
    const [victim] = liveIds(server).slice(100, 101) as [string];
    const res = await api(server, 'DELETE', `${COL}/documents/${victim}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ message: 'Successfully deleted', success: true });

    const again = await api(server, 'DELETE', `${COL}/documents/${victim}`);
    expect(again.status).toBe(404);
    expect(await again.json()).toEqual({ success: false, status: 404, error: { message: 'Document not found', type: 'NotFoundError', details: { resource: 'document', id: victim } } });
    const unknown = await api(server, 'DELETE', `${COL}/documents/doc_000000000000000000000000`);
    expect(unknown.status).toBe(404);

    const byTime = await pageAll(server, { limit: 250, select: ['document_id'] });
    const byId = await pageAll(server, { limit: 250, select: ['document_id'], sort: ID_ASC });
    for (const docs of [byTime, byId]) {
      expect(docs.map((d) => d.document_id)).not.toContain(victim);
      expect(docs).toHaveLength(1199);
    }
    expect(server.deletedIds(COL)).toEqual([victim]);
    expect(liveIds(server)).not.toContain(victim);
    expect([...server.supersededVersions(COL)].map((v) => v.document_id)).toContain(victim);
    expect(server.stats().deletions).toBe(1);
  });

  it('needs the bearer key and the namespace on the delete routes like on every route', async () => {
    const [id] = liveIds(server) as [string];
    const noKey = await api(server, 'DELETE', `${COL}/documents/${id}`, undefined, { 'X-Namespace': NS });
    expect(noKey.status).toBe(401);
    const wrongNs = await api(server, 'DELETE', `${COL}/documents/batch`, { document_ids: [id] }, { ...HEADERS, 'X-Namespace': 'ns_other' });
    expect(wrongNs.status).toBe(404);
    expect(((await wrongNs.json()) as Envelope).error.details).toEqual({ resource: 'namespace', id: 'ns_other' });
    const wrongCollection = await api(server, 'DELETE', `col_missing/documents/${id}`);
    expect(wrongCollection.status).toBe(404);
    expect(liveIds(server)).toContain(id);
  });

  it('batch-deletes by document_ids with a result per id, a missing or repeated id being a failed result', async () => {
    const [a, b] = liveIds(server).slice(200, 202) as [string, string];
    const res = await api(server, 'DELETE', `${COL}/documents/batch`, { document_ids: [a, 'doc_nope', b, a] });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      deleted_count: 2,
      failed_count: 2,
      results: [
        { document_id: a, success: true },
        { document_id: 'doc_nope', success: false, error: 'Document not found' },
        { document_id: b, success: true },
        { document_id: a, success: false, error: 'Document not found' },
      ],
      message: 'Batch delete completed',
    });
    expect(server.deletedIds(COL)).toEqual(expect.arrayContaining([a, b]));
  });

  it('refuses more than 1000 document_ids, both modes at once, and neither, with 422 and deletes nothing', async () => {
    const before = liveIds(server);
    const ids = before.slice(0, 1001);
    const tooMany = await api(server, 'DELETE', `${COL}/documents/batch`, { document_ids: ids });
    expect(tooMany.status).toBe(422);
    const body = (await tooMany.json()) as Envelope;
    expect(body.error.type).toBe('ValidationError');
    expect(body.error.details).toMatchObject({ validation_errors: [{ type: 'too_long', location: ['body', 'document_ids'] }] });
    const both = await api(server, 'DELETE', `${COL}/documents/batch`, { document_ids: [ids[0]], filters: { document_id: ids[1] } });
    expect(both.status).toBe(422);
    const neither = await api(server, 'DELETE', `${COL}/documents/batch`, {});
    expect(neither.status).toBe(422);
    const notStrings = await api(server, 'DELETE', `${COL}/documents/batch`, { document_ids: [1, 2] });
    expect(notStrings.status).toBe(422);
    expect(liveIds(server)).toEqual(before);
  });

  it('batch-deletes every match of a filter and reports the count only', async () => {
    const before = liveIds(server);
    const targets = before.slice(300, 305);
    const res = await api(server, 'DELETE', `${COL}/documents/batch`, { filters: { AND: [{ field: 'document_id', operator: 'in', value: targets }] } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ deleted_count: 5, failed_count: 0, results: [], message: 'Batch delete completed' });
    expect(liveIds(server)).toEqual(before.filter((id) => !targets.includes(id)));
    const bad = await api(server, 'DELETE', `${COL}/documents/batch`, { filters: { AND: [{ field: 'document_id', operator: 'near', value: 1 }] } });
    expect(bad.status).toBe(400);
  });

  it('counts only live documents in include_total after deletes and creations', async () => {
    server.create(COL, 3);
    const page = await listOk(server, { limit: 5, include_total: true });
    expect(page.pagination.total).toBe(liveIds(server).length);
    const byId = await listOk(server, { limit: 5, include_total: true, sort: ID_ASC });
    expect(byId.pagination.total).toBe(liveIds(server).length);
  });
});

describe('dev server select projection and document_id order', () => {
  let server: DevServer;

  beforeAll(async () => {
    server = await startDevServer({ documentsPerCollection: 2000, seed: 5 });
    server.delete(COL, 37);
    server.mutate(COL, 40);
    server.create(COL, 25);
  });
  afterAll(() => server.close());

  it('projects select dot paths and always keeps document_id', async () => {
    const ids = await listOk(server, { limit: 20, select: ['document_id'] });
    for (const doc of ids.results) expect(Object.keys(doc)).toEqual(['document_id']);
    const nested = await listOk(server, { limit: 20, select: ['_internal.updated_at', 'collection_id'] });
    for (const doc of nested.results) {
      expect(Object.keys(doc).sort()).toEqual(['_internal', 'collection_id', 'document_id']);
      expect(Object.keys(doc['_internal'] as object)).toEqual(['updated_at']);
    }
  });

  it('pages the live ids in ascending and descending document_id order by cursor, each exactly once', async () => {
    const expected = liveIds(server);
    const asc = (await pageAll(server, { limit: 97, select: ['document_id'], sort: ID_ASC })).map((d) => d.document_id);
    expect(asc).toEqual(expected);
    const desc = (await pageAll(server, { limit: 150, select: ['document_id'], sort: { field: 'document_id', direction: 'desc' } })).map((d) => d.document_id);
    expect(desc).toEqual([...expected].reverse());
  });

  it('combines a gt or lt filter on document_id with the id order and cursor paging', async () => {
    const expected = liveIds(server);
    const pivot = expected[777] as string;
    const above = await pageAll(server, { limit: 100, select: ['document_id'], sort: ID_ASC, filters: { AND: [{ field: 'document_id', operator: 'gt', value: pivot }] } });
    expect(above.map((d) => d.document_id)).toEqual(expected.slice(778));
    // A bound that is no id at all (between two ids, or before every id) works as well.
    const between = `${pivot}~`;
    const below = await pageAll(server, { limit: 100, sort: { field: 'document_id', direction: 'desc' }, filters: { document_id: { lt: between, gte: 'doc_' } } });
    expect(below.map((d) => d.document_id)).toEqual(expected.slice(0, 778).reverse());
    const generic = await pageAll(server, { limit: 100, sort: ID_ASC, filters: { AND: [{ field: 'document_id', operator: 'starts_with', value: 'doc_a' }] } });
    expect(generic.map((d) => d.document_id)).toEqual(expected.filter((id) => id.startsWith('doc_a')));
  });

  it('sorts by _internal.created_at and by created_at with cursor paging as well, ties by document_id ascending', async () => {
    for (const [field, direction] of [['_internal.created_at', 'asc'], ['created_at', 'desc']] as const) {
      const docs = await pageAll(server, { limit: 400, sort: { field, direction }, select: ['_internal.created_at'] });
      expect(docs.map((d) => d.document_id).sort()).toEqual(liveIds(server));
      const keys = docs.map((d) => ({ at: micros((d['_internal'] as { created_at: string }).created_at), id: d.document_id }));
      for (let i = 1; i < keys.length; i++) {
        const [a, b] = [keys[i - 1], keys[i]] as [{ at: number; id: string }, { at: number; id: string }];
        const dt = direction === 'asc' ? b.at - a.at : a.at - b.at;
        expect(dt > 0 || (dt === 0 && a.id < b.id), `order at ${i}`).toBe(true);
      }
    }
  });

  it('lists the created_at order exactly as the full sort of the same documents does', async () => {
    // Injected documents send the list endpoint down its scan-and-sort path: the reference.
    const late = { document_id: 'zz_injected', _internal: { updated_at: '2100-01-01T00:00:00Z' } };
    const plain = await startDevServer({ documentsPerCollection: 3000, seed: 9 });
    const sorted = await startDevServer({ documentsPerCollection: 3000, seed: 9, injectDocuments: { [COL]: [late] } });
    try {
      for (const s of [plain, sorted]) {
        s.delete(COL, 50);
        s.mutate(COL, 60);
      }
      for (const direction of ['asc', 'desc']) {
        const body = { limit: 250, select: ['document_id'], sort: { field: '_internal.created_at', direction } };
        const fast = (await pageAll(plain, body)).map((d) => d.document_id);
        const reference = (await pageAll(sorted, body)).map((d) => d.document_id).filter((id) => id !== late.document_id);
        expect(fast).toHaveLength(2950);
        expect(fast).toEqual(reference);
      }
    } finally {
      await Promise.all([plain.close(), sorted.close()]);
    }
  });

  it('refuses the sorts named in refuseSortFields with 400 so that a client can fall back to created_at', async () => {
    server.setOptions({ refuseSortFields: ['document_id'] });
    try {
      const res = await api(server, 'POST', `${COL}/documents/list`, { limit: 10, sort: ID_ASC });
      expect(res.status).toBe(400);
      expect(((await res.json()) as Envelope).error).toMatchObject({ type: 'BadRequestError', details: { field: 'document_id' } });
      await listOk(server, { limit: 10, sort: { field: '_internal.created_at', direction: 'asc' } });
    } finally {
      server.setOptions({ refuseSortFields: [] });
    }
  });

  it('refuses a cursor of the id order on a listing sorted by updated_at', async () => {
    const first = await listOk(server, { limit: 10, sort: ID_ASC });
    const res = await api(server, 'POST', `${COL}/documents/list`, { limit: 10, cursor: first.pagination.next_cursor });
    expect(res.status).toBe(400);
  });
});

describe('dev server while documents change during an id listing', () => {
  it('never skips or repeats a document that lived throughout while documents are deleted, created and mutated between pages', async () => {
    const server = await startDevServer({
      documentsPerCollection: 3000, seed: 21,
      deleteWhilePaging: { everyNPages: 1, count: 9 },
      createWhilePaging: { everyNPages: 2, count: 4 },
      mutateWhilePaging: { everyNPages: 1, count: 6 },
    });
    try {
      const atStart = new Set(liveIds(server));
      const listed = (await pageAll(server, { limit: 100, select: ['document_id'], sort: ID_ASC })).map((d) => d.document_id);
      expectStrictlyAscending(listed);
      const deleted = new Set(server.deletedIds(COL));
      expect(deleted.size).toBeGreaterThan(200);
      const throughout = [...atStart].filter((id) => !deleted.has(id));
      const seen = new Set(listed);
      expect(throughout.filter((id) => !seen.has(id))).toEqual([]);
      // Anything listed existed at some point of the listing: at the start, or created meanwhile.
      const live = new Set(liveIds(server));
      expect(listed.filter((id) => !atStart.has(id) && !live.has(id) && !deleted.has(id))).toEqual([]);
      expect(server.stats()).toMatchObject({ deletions: deleted.size, creations: expect.any(Number) });
    } finally {
      await server.close();
    }
  });

  it('never skips or repeats a document that lived unchanged throughout while deletes happen during an updated_at listing', async () => {
    const server = await startDevServer({ documentsPerCollection: 2000, seed: 22, deleteWhilePaging: { everyNPages: 1, count: 11 } });
    try {
      const atStart = new Set(liveIds(server));
      const listed = (await pageAll(server, { limit: 100, select: ['document_id'] })).map((d) => d.document_id);
      expect(new Set(listed).size).toBe(listed.length);
      const deleted = new Set(server.deletedIds(COL));
      const seen = new Set(listed);
      expect([...atStart].filter((id) => !deleted.has(id) && !seen.has(id))).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it('lists a document deleted and then re-created during the listing under its id, with fresh timestamps', async () => {
    const server = await startDevServer({ documentsPerCollection: 1500, seed: 23 });
    try {
      const ids = liveIds(server);
      const late = ids[1400] as string;
      const early = ids[10] as string;
      const started = Date.now();
      const listed = await pageAll(server, { limit: 200, select: ['document_id', '_internal.created_at', '_internal.updated_at'], sort: ID_ASC }, (page) => {
        if (page !== 2) return;
        expect(server.delete(COL, [late, early])).toEqual([late, early]);
        server.recreate(COL, late);
      });
      const listedIds = listed.map((d) => d.document_id);
      expect(listedIds).toContain(late);
      expect(listedIds.filter((id) => id === early)).toHaveLength(1); // listed on page 1, before its deletion
      expect(server.deletedIds(COL)).toEqual([early]);
      const doc = listed.find((d) => d.document_id === late) as unknown as { _internal: { created_at: string; updated_at: string } };
      expect(doc._internal.created_at).toBe(doc._internal.updated_at);
      expect(Date.parse(doc._internal.updated_at)).toBeGreaterThanOrEqual(started - 1000);
      const current = [...server.currentVersions(COL)].find((v) => v.document_id === late);
      expect(current?.updated_at).toBe(doc._internal.updated_at);
      expect(() => server.recreate(COL, late)).toThrow(/not a deleted document/);
      expect(() => server.delete(COL, ['doc_nope'])).toThrow(/doc_nope is not a live document/);
      expect(server.stats()).toMatchObject({ deletions: 2, recreations: 1 });
    } finally {
      await server.close();
    }
  });

  it('offers delete, create, re-create and the deleted ids on the admin routes for a server run as a subprocess', async () => {
    const server = await startDevServer({ documentsPerCollection: 500, seed: 24 });
    const admin = (method: string, path: string, body?: object) => fetch(`${server.url}/_dev/${path}`, { method, body: body && JSON.stringify(body) });
    try {
      const del = (await (await admin('POST', 'delete', { collection_id: COL, count: 3 })).json()) as { deleted: string[] };
      expect(del.deleted).toHaveLength(3);
      const [first] = liveIds(server) as [string];
      const byId = (await (await admin('POST', 'delete', { collection_id: COL, document_ids: [first] })).json()) as { deleted: string[] };
      expect(byId.deleted).toEqual([first]);
      const created = (await (await admin('POST', 'create', { collection_id: COL, count: 2 })).json()) as { created: string[] };
      expect(created.created).toHaveLength(2);
      const recreated = await admin('POST', 'recreate', { collection_id: COL, document_id: first });
      expect(((await recreated.json()) as { document_id: string }).document_id).toBe(first);
      expect((await admin('POST', 'recreate', { collection_id: COL, document_id: first })).status).toBe(404);
      const deleted = (await (await admin('GET', `deleted/${COL}`)).json()) as { deleted: string[] };
      expect(deleted.deleted).toEqual([...del.deleted].sort());
      const stats = (await (await admin('GET', 'stats')).json()) as { deletions: number; creations: number; recreations: number };
      expect(stats).toMatchObject({ deletions: 4, creations: 2, recreations: 1 });
      expect(liveIds(server)).toHaveLength(500 - 4 + 2 + 1);
    } finally {
      await server.close();
    }
  });
});

describe('dev server id order at scale', () => {
  it('serves an id-ordered page of a 300,000-document collection exactly as a full sort would', async () => {
    const server = await startDevServer({ documentsPerCollection: { col_pdf_pages: 300_000 }, seed: 3 });
    try {
      server.delete(COL, 1000);
      const expected = liveIds(server);
      const first = await listOk(server, { limit: 1000, select: ['document_id'], sort: ID_ASC });
      expect(first.results.map((d) => d.document_id)).toEqual(expected.slice(0, 1000));
      const second = await listOk(server, { limit: 1000, select: ['document_id'], sort: ID_ASC, cursor: first.pagination.next_cursor });
      expect(second.results.map((d) => d.document_id)).toEqual(expected.slice(1000, 2000));
      const pivot = expected[150_000] as string;
      const mid = await listOk(server, { limit: 1000, sort: { field: 'document_id', direction: 'desc' }, filters: { document_id: { lt: pivot } } });
      expect(mid.results.map((d) => d.document_id)).toEqual(expected.slice(149_000, 150_000).reverse());
    } finally {
      await server.close();
    }
  });
});
