/**
 * The dev server speaks the Mixpeek list protocol faithfully enough to test an exporter
 * against: keyset paging, instant-based window filters, vectors, errors, rate limits,
 * concurrent writes and injected faults. Everything goes over real HTTP with global fetch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevServer, type DevServer } from '../../src/devserver/index.js';

const KEY = 'sk_test_devserver';
const NS = 'ns_dev';
const COL = 'col_pdf_pages';
const HEADERS = { Authorization: `Bearer ${KEY}`, 'X-Namespace': NS, 'Content-Type': 'application/json' };

interface Doc {
  document_id: string;
  _internal: { updated_at: string };
  [key: string]: unknown;
}
interface ListBody {
  results: Doc[];
  pagination: { page_size: number; next_cursor?: string; page?: number; total?: number; total_pages?: number };
  total_documents?: number;
  stats: { total_documents: number; avg_blobs_per_document: number };
}

/** Microseconds since the epoch of an API timestamp (`Z` or zone-less = UTC), independent of the server's parser. */
function micros(ts: string): number {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(Z)?$/.exec(ts);
  if (!m) throw new Error(`unexpected timestamp form ${ts}`);
  return Date.parse(`${m[1]}Z`) * 1000 + Number(((m[2] ?? '') + '000000').slice(0, 6));
}

/** Render an instant in a different textual form than the API uses, to prove instant comparison. */
function withOffset(us: number, offsetHours: number): string {
  const local = new Date(Math.floor(us / 1000) + offsetHours * 3_600_000).toISOString().slice(0, 19);
  const frac = String(us % 1_000_000).padStart(6, '0');
  const sign = offsetHours >= 0 ? '+' : '-';
  return `${local}.${frac}${sign}${String(Math.abs(offsetHours)).padStart(2, '0')}:00`;
}

function list(server: DevServer, body: object = {}, opts: { collection?: string; query?: string; headers?: Record<string, string> } = {}) {
  const url = `${server.url}/v1/collections/${opts.collection ?? COL}/documents/list${opts.query ?? ''}`;
  return fetch(url, { method: 'POST', headers: opts.headers ?? HEADERS, body: JSON.stringify(body) });
}

async function listOk(server: DevServer, body: object = {}, opts: Parameters<typeof list>[2] = {}): Promise<ListBody> {
  const res = await list(server, body, opts);
  expect(res.status).toBe(200);
  return (await res.json()) as ListBody;
}

/** Page by cursor until the end; returns every document in order and the pages seen. */
async function pageAll(server: DevServer, body: object): Promise<{ docs: Doc[]; pages: ListBody[] }> {
  const docs: Doc[] = [];
  const pages: ListBody[] = [];
  let cursor: string | undefined;
  do {
    const page = await listOk(server, { ...body, cursor });
    pages.push(page);
    docs.push(...page.results);
    expect(page.pagination.next_cursor).not.toBe(cursor);
    cursor = page.pagination.next_cursor;
  } while (cursor);
  return { docs, pages };
}

function expectStrictOrder(docs: Doc[]): void {
  for (let i = 1; i < docs.length; i++) {
    const a = docs[i - 1] as Doc;
    const b = docs[i] as Doc;
    const dt = micros(b._internal.updated_at) - micros(a._internal.updated_at);
    expect(dt > 0 || (dt === 0 && a.document_id < b.document_id), `order at ${i}`).toBe(true);
  }
}

describe('dev server list endpoint', () => {
  let server: DevServer;

  beforeAll(async () => {
    server = await startDevServer({ documentsPerCollection: 2500, seed: 7 });
  });
  afterAll(async () => {
    await server.close();
  });

  it('returns every document exactly once in (updated_at, document_id) order when paged by cursor', async () => {
    const { docs, pages } = await pageAll(server, { limit: 1000 });
    expect(pages.map((p) => p.results.length)).toEqual([1000, 1000, 500]);
    expect(new Set(docs.map((d) => d.document_id)).size).toBe(docs.length);
    expectStrictOrder(docs);
    const truth = [...server.currentVersions(COL)];
    expect(docs.length).toBe(truth.length);
    expect(docs.map((d) => [d.document_id, d._internal.updated_at])).toEqual(truth.map((v) => [v.document_id, v.updated_at]));
  });

  it('has ties on updated_at and mixes timestamp forms, as the real API does', () => {
    const stamps = [...server.currentVersions(COL)].map((v) => v.updated_at);
    expect(new Set(stamps).size).toBeLessThan(stamps.length);
    expect(stamps.some((s) => /\.\d{3}Z$/.test(s))).toBe(true);
    expect(stamps.some((s) => /\.\d{6}Z$/.test(s))).toBe(true);
    expect(stamps.some((s) => /\.\d{6}$/.test(s))).toBe(true);
  });

  it('omits next_cursor on the last page rather than sending null', async () => {
    const { pages } = await pageAll(server, { limit: 1000 });
    const last = pages[pages.length - 1] as ListBody;
    expect('next_cursor' in last.pagination).toBe(false);
    expect(last.pagination.page_size).toBe(1000);
    expect(last.stats).toEqual({ total_documents: 0, avg_blobs_per_document: 1 });
  });

  it('returns exactly the documents of a [lo, hi) window on _internal.updated_at, comparing instants', async () => {
    const truth = [...server.currentVersions(COL)];
    const lo = micros((truth[700] as { updated_at: string }).updated_at);
    const hi = micros((truth[1500] as { updated_at: string }).updated_at);
    const expected = truth.filter((v) => micros(v.updated_at) >= lo && micros(v.updated_at) < hi).map((v) => v.document_id);
    const filters = { AND: [
      { field: '_internal.updated_at', operator: 'gte', value: withOffset(lo, 2) },
      { field: '_internal.updated_at', operator: 'lt', value: withOffset(hi, -5) },
    ] };
    const { docs } = await pageAll(server, { limit: 300, filters });
    expect(docs.map((d) => d.document_id)).toEqual(expected);
    const counted = await listOk(server, { limit: 1, filters }, { query: '?include_total=true' });
    expect(counted.pagination.total).toBe(expected.length);
    expect(counted.total_documents).toBe(expected.length);
  });

  it('rejects a cursor issued for different filters with 400', async () => {
    const first = await listOk(server, { limit: 5 });
    const res = await list(server, { limit: 5, cursor: first.pagination.next_cursor, filters: { AND: [{ field: 'document_id', operator: 'exists', value: true }] } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('BadRequestError');
  });

  it('adds named vectors with the documented dimensions only when return_vectors is true', async () => {
    const plain = await listOk(server, { limit: 3 }, { collection: 'col_video_frames' });
    for (const doc of plain.results) expect(Object.keys(doc).some((k) => k.endsWith('_embedding'))).toBe(false);
    const dims: Record<string, Record<string, number>> = {
      col_video_frames: { image_extractor_v1_embedding: 768, face_identity_extractor_v1_embedding: 512 },
      col_product_images: { image_extractor_v1_embedding: 768 },
      col_pdf_pages: { text_extractor_v1_embedding: 1024 },
      col_audio_transcripts: { text_extractor_v1_embedding: 1024 },
    };
    for (const [collection, vectors] of Object.entries(dims)) {
      const page = await listOk(server, { limit: 3, return_vectors: true }, { collection });
      for (const doc of page.results) {
        expect(Object.keys(doc).filter((k) => k.endsWith('_embedding')).sort()).toEqual(Object.keys(vectors).sort());
        for (const [name, n] of Object.entries(vectors)) {
          const v = doc[name] as number[];
          expect(v).toHaveLength(n);
          expect(v.every((x) => typeof x === 'number' && Math.abs(x) < 1)).toBe(true);
        }
      }
    }
  });

  it('answers 401 without a key, 404 for a wrong namespace or unknown collection, and 422 for limit 5000', async () => {
    const noKey = await list(server, {}, { headers: { 'X-Namespace': NS } });
    expect(noKey.status).toBe(401);
    const noKeyText = await noKey.text();
    expect(JSON.parse(noKeyText)).toEqual({ success: false, status: 401, error: { message: 'Invalid or missing API key', type: 'UnauthorizedError' } });

    const wrongKey = await list(server, {}, { headers: { ...HEADERS, Authorization: 'Bearer sk_live_secret_value' } });
    expect(wrongKey.status).toBe(401);
    expect(await wrongKey.text()).not.toContain('sk_live_secret_value');

    const wrongNs = await list(server, {}, { headers: { ...HEADERS, 'X-Namespace': 'ns_other' } });
    expect(wrongNs.status).toBe(404);
    expect(((await wrongNs.json()) as { error: { type: string } }).error.type).toBe('NotFoundError');

    const unknown = await list(server, {}, { collection: 'col_missing' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ success: false, status: 404, error: { message: 'Collection not found', type: 'NotFoundError', details: { resource: 'collection', id: 'col_missing' } } });

    for (const [body, query] of [[{ limit: 5000 }, ''], [{}, '?limit=5000']] as const) {
      const res = await list(server, body, { query });
      expect(res.status).toBe(422);
      const err = (await res.json()) as { error: { type: string; details: { validation_errors: Array<{ location: string[] }> } } };
      expect(err.error.type).toBe('ValidationError');
      expect(err.error.details.validation_errors[0]?.location).toContain('limit');
    }
  });
});

describe('dev server under load and change', () => {
  it('answers 429 with Retry-After once the token bucket is empty', async () => {
    const server = await startDevServer({ documentsPerCollection: 100, rateLimit: { requestsPerMinute: 600, burst: 2 } });
    try {
      const statuses: number[] = [];
      let limited: Response | undefined;
      for (let i = 0; i < 4; i++) {
        const res = await list(server, { limit: 1 });
        statuses.push(res.status);
        expect(res.headers.get('x-ratelimit-limit')).toBe('600');
        expect(res.headers.get('x-ratelimit-remaining')).toMatch(/^\d+$/);
        expect(res.headers.get('x-ratelimit-reset')).toMatch(/^\d+$/);
        if (res.status === 429) limited ??= res;
        else await res.arrayBuffer();
      }
      expect(statuses.slice(0, 2)).toEqual([200, 200]);
      expect(limited).toBeDefined();
      const retryAfter = Number(limited?.headers.get('retry-after'));
      expect(Number.isInteger(retryAfter) && retryAfter >= 1).toBe(true);
      const body = (await limited?.json()) as { error: { type: string; details: { retry_after: number; window: string } } };
      expect(body.error.type).toBe('TooManyRequestsError');
      expect(body.error.details).toMatchObject({ retry_after: retryAfter, window: '1m', limit: 600 });
      expect(server.stats().faults.rateLimited).toBeGreaterThan(0);
    } finally {
      await server.close();
    }
  });

  it('returns each version at most once and never skips an unmutated document while documents mutate during cursor paging', async () => {
    const server = await startDevServer({ documentsPerCollection: 2500, seed: 11, mutateWhilePaging: { everyNPages: 1, count: 40 } });
    try {
      const before = new Map([...server.currentVersions(COL)].map((v) => [v.document_id, v.updated_at]));
      const { docs } = await pageAll(server, { limit: 250 });
      const after = new Map([...server.currentVersions(COL)].map((v) => [v.document_id, v.updated_at]));
      expect(server.stats().mutations).toBeGreaterThan(0);

      const seen = docs.map((d) => `${d.document_id}@${d._internal.updated_at}`);
      expect(new Set(seen).size).toBe(seen.length);
      const returned = new Set(docs.map((d) => d.document_id));
      for (const [id, stamp] of before) {
        if (after.get(id) === stamp) expect(returned.has(id), `unmutated ${id} skipped`).toBe(true);
      }
      // A returned version is one the document really had: its original or a later mutation.
      for (const d of docs) {
        const stamp = d._internal.updated_at;
        expect(stamp === before.get(d.document_id) || micros(stamp) > micros(before.get(d.document_id) as string)).toBe(true);
      }
      // Every replaced version is remembered: with the current ones, all versions the API ever listed.
      const superseded = [...server.supersededVersions(COL)];
      expect(superseded.length).toBe(server.stats().mutations);
      for (const v of superseded) expect(v.updated_at === before.get(v.document_id) || micros(v.updated_at) > micros(before.get(v.document_id) as string)).toBe(true);
      const admin = await (await fetch(`${server.url}/_dev/versions/${COL}?superseded=1`)).text();
      expect(admin.trim().split('\n').map((l) => JSON.parse(l))).toEqual(superseded);
      // A window that ends before the mutations sees each document at most once, in its original version.
      const end = Math.max(...[...before.values()].map(micros)) + 1;
      const windowed = await pageAll(server, { limit: 250, filters: { AND: [{ field: 'updated_at', operator: 'lt', value: new Date(Math.ceil(end / 1000)).toISOString() }] } });
      const ids = windowed.docs.map((d) => d.document_id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const d of windowed.docs) expect(d._internal.updated_at).toBe(before.get(d.document_id));
    } finally {
      await server.close();
    }
  });

  it('resets, fails with 5xx, truncates, throttles, answers HTML or repeats the cursor when faults are injected at rate 1.0', async () => {
    const server = await startDevServer({ documentsPerCollection: 500 });
    try {
      server.setOptions({ faults: { resetRate: 1 } });
      await expect(list(server, { limit: 100 })).rejects.toThrow();

      server.setOptions({ faults: { errorRate: 1 } });
      const failed = await list(server, { limit: 100 });
      expect([500, 503]).toContain(failed.status);
      expect(((await failed.json()) as { success: boolean }).success).toBe(false);

      server.setOptions({ faults: { truncateRate: 1 } });
      const truncated = await list(server, { limit: 500 });
      expect(truncated.status).toBe(200);
      const outcome = await truncated.text().then((text) => {
        try {
          JSON.parse(text);
          return 'parsed';
        } catch {
          return 'bad json';
        }
      }, () => 'body error');
      expect(['bad json', 'body error']).toContain(outcome);

      server.setOptions({ faults: { throttleRate: 1, throttleRetryAfterSeconds: 2 } });
      const throttled = await list(server, { limit: 10 });
      expect(throttled.status).toBe(429);
      expect(throttled.headers.get('retry-after')).toBe('2');
      expect(((await throttled.json()) as { error: { type: string } }).error.type).toBe('TooManyRequestsError');

      server.setOptions({ faults: { notJsonRate: 1 } });
      const html = await list(server, { limit: 10 });
      expect([html.status, html.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
      expect(await html.text()).toMatch(/^<!DOCTYPE html>/);

      server.setOptions({ faults: {} });
      const first = await listOk(server, { limit: 10 });
      server.setOptions({ faults: { repeatCursorRate: 1 } });
      const stuck = await listOk(server, { limit: 10, cursor: first.pagination.next_cursor });
      expect(stuck.pagination.next_cursor).toBe(first.pagination.next_cursor); // a cursor that does not advance
      expect(stuck.results[0]?.document_id).not.toBe(first.results[0]?.document_id);
      expect(server.stats().faults).toMatchObject({ reset: 1, error: 1, truncate: 1, throttled: 1, notJson: 1, repeatCursor: 1 });
    } finally {
      await server.close();
    }
  });
});

describe('dev server with injected documents', () => {
  const raw = '{"document_id":"doc_raw","__proto__":{"x":1},"deep":[[[[]]]],"_internal":{"updated_at":"2026-01-01T12:00:00.000001"}}';
  const injectDocuments = {
    [COL]: [
      { document_id: 'doc_late', _internal: { updated_at: '2026-01-01T20:00:00Z' } },
      raw,
      { title: 'no id', _internal: { updated_at: '2026-01-01T04:00:00.5Z' } },
      { document_id: 'doc_garbage', _internal: { updated_at: 'not a date' } },
      '"not even an object"',
    ],
  };
  let server: DevServer;
  beforeAll(async () => {
    server = await startDevServer({ documentsPerCollection: 30, timeline: { start: new Date('2026-01-01T00:00:00Z'), end: new Date('2026-01-02T00:00:00Z') }, injectDocuments });
  });
  afterAll(async () => server?.close());

  it('splices them in verbatim by their own updated_at, and lists the unplaceable first in every window', async () => {
    const { docs } = await pageAll(server, { limit: 7 });
    expect(docs).toHaveLength(35);
    expect(docs.slice(0, 2)).toEqual(['not even an object', { document_id: 'doc_garbage', _internal: { updated_at: 'not a date' } }]);
    expectStrictOrder(docs.slice(2));
    expect(docs.slice(2).map((d) => d.document_id ?? d['title'])).toContain('no id');
    const rawPage = await (await list(server, { limit: 40 })).text();
    expect(rawPage).toContain(raw);

    const late = { AND: [{ field: '_internal.updated_at', operator: 'gte', value: '2026-01-01T13:00:00Z' }, { field: '_internal.updated_at', operator: 'lt', value: '2026-01-01T21:00:00Z' }] };
    const windowed = await pageAll(server, { limit: 5, filters: late });
    expect(windowed.docs.slice(0, 2).map((d) => (typeof d === 'string' ? d : d.document_id))).toEqual(['not even an object', 'doc_garbage']);
    expect(windowed.docs.map((d) => d.document_id)).toContain('doc_late');
    expect(windowed.docs.map((d) => d.document_id)).not.toContain('doc_raw');
    const counted = await listOk(server, { limit: 1, filters: late }, { query: '?include_total=true' });
    expect(counted.pagination.total).toBe(windowed.docs.length);

    const truth = [...server.currentVersions(COL)].map((v) => v.document_id);
    expect(truth).toHaveLength(32);
    expect(truth).toEqual(expect.arrayContaining(['doc_late', 'doc_raw']));
    expect(truth).not.toContain('doc_garbage');
  });

  it('refuses to start with documents for a collection it does not have', async () => {
    await expect(startDevServer({ injectDocuments: { col_nope: [{}] } })).rejects.toThrow(/unknown collections col_nope/);
  });
});
