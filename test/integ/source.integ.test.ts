import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MixpeekHttp } from '../../src/source/http.js';
import { listDocumentPages } from '../../src/source/pages.js';
import { createLogger } from '../../src/util/log.js';

/** A real HTTP server per test (as got does), answering with the shapes and faults under test. */
let server: Server | null = null;
async function serve(handler: (req: IncomingMessage, body: any, res: ServerResponse) => void): Promise<string> {
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => handler(req, text ? JSON.parse(text) : {}, res));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
afterEach(async () => {
  if (!server) return; // the network-failure tests start no server
  server.closeAllConnections();
  await new Promise((r) => server?.close(r));
  server = null;
});

const http = (baseUrl: string, extra: Partial<ConstructorParameters<typeof MixpeekHttp>[0]> = {}) =>
  new MixpeekHttp({ baseUrl, apiKey: 'sk_test_k', namespace: 'ns_1', requestsPerMinute: 0, requestTimeoutMs: 2000, retry: { maxRetries: 4, baseDelayMs: 1, maxDelayMs: 5 }, ...extra });
const window = { lo: '2026-01-01T00:00:00.000000Z', hi: '2026-02-01T00:00:00.000000Z' };
const collect = async (baseUrl: string, extra = {}) => {
  const docs: unknown[] = [];
  for await (const page of listDocumentPages(http(baseUrl, extra), { collectionId: 'col_1', window, pageSize: 2, vectors: false })) docs.push(...page.documents);
  return docs;
};
const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

describe('the Mixpeek source', () => {
  it('sends the auth and namespace headers, the window filter and the sort, and follows next_cursor', async () => {
    const seen: any[] = [];
    const url = await serve((req, body, res) => {
      seen.push({ auth: req.headers.authorization, ns: req.headers['x-namespace'], path: req.url, body });
      const page = body.cursor ? Number(body.cursor) : 0;
      json(res, 200, { results: [{ document_id: `d${page}` }], pagination: page < 2 ? { next_cursor: String(page + 1) } : {} });
    });
    expect(await collect(url)).toEqual([{ document_id: 'd0' }, { document_id: 'd1' }, { document_id: 'd2' }]);
    expect(seen[0]).toMatchObject({ auth: 'Bearer sk_test_k', ns: 'ns_1', path: '/v1/collections/col_1/documents/list?limit=2' });
    expect(seen[0].body).toMatchObject({
      filters: { AND: [{ field: '_internal.updated_at', operator: 'gte', value: window.lo }, { field: '_internal.updated_at', operator: 'lt', value: window.hi }] },
      sort: { field: '_internal.updated_at', direction: 'asc' },
      limit: 2,
    });
    expect(seen.map((s) => s.body.cursor)).toEqual([undefined, '1', '2']);
  });

  it('sizes pages by bytes with pageBytes: the limit falls to what fits, in the query and the body, and no document is skipped or repeated', async () => {
    const big = (i: number) => ({ document_id: `doc_${i}`, payload: 'x'.repeat(1000) }); // about 1 KB of JSON each
    const limits: number[] = [];
    const url = await serve((req, body, res) => {
      const limit = Number(new URL(req.url!, 'http://x').searchParams.get('limit'));
      expect(body.limit).toBe(limit);
      limits.push(limit);
      const start = body.cursor ? Number(body.cursor) : 0;
      const results = Array.from({ length: Math.max(0, Math.min(limit, 100 - start)) }, (_, k) => big(start + k));
      json(res, 200, { results, pagination: start + results.length < 100 ? { next_cursor: String(start + results.length) } : {} });
    });
    const ids: string[] = [];
    const sizes: number[] = [];
    for await (const page of listDocumentPages(http(url), { collectionId: 'col_1', window, pageSize: 50, pageBytes: 20_000, vectors: false })) {
      ids.push(...page.documents.map((d: any) => d.document_id));
      sizes.push(page.documents.length);
    }
    expect(limits[0]).toBe(50); // nothing measured yet: pageSize
    expect(new Set(limits.slice(1)), limits.join(",")).toEqual(new Set([19])); // 20,000 bytes / ~1,030 per document
    expect(sizes[0]).toBe(50);
    expect(ids).toEqual(Array.from({ length: 100 }, (_, i) => `doc_${i}`));
  });

  it('ends on a null next_cursor, an absent pagination key and an empty page', async () => {
    const url = await serve((_req, _body, res) => json(res, 200, { results: [{ document_id: 'a' }], pagination: { total: 1, next_cursor: null } }));
    expect(await collect(url)).toHaveLength(1);
  });

  it('reads the older items shape and pages by offset when there is no cursor', async () => {
    const url = await serve((req, body, res) => {
      const offset = body.offset ?? 0;
      json(res, 200, { items: offset < 4 ? [{ document_id: `o${offset}` }, { document_id: `o${offset + 1}` }] : [], total: 4 });
    });
    expect((await collect(url)).map((d: any) => d.document_id)).toEqual(['o0', 'o1', 'o2', 'o3']);
  });

  it('throws when the API returns the same cursor again', async () => {
    const url = await serve((_req, _body, res) => json(res, 200, { results: [{ document_id: 'x' }], pagination: { next_cursor: 'same' } }));
    await expect(collect(url)).rejects.toThrow(/same cursor twice/);
  });

  it('retries 503 with Retry-After, resets and cut-off bodies, then succeeds', async () => {
    let calls = 0;
    const url = await serve((req, _body, res) => {
      calls++;
      if (calls === 1) return json(res, 503, { success: false, status: 503, error: { message: 'busy', type: 'InferenceServiceUnavailableError' } }, { 'retry-after': '0' });
      if (calls === 2) return req.socket.destroy();
      if (calls === 3) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"results": [');
        return setTimeout(() => req.socket.destroy(), 5);
      }
      json(res, 200, { results: [{ document_id: 'ok' }] });
    });
    expect(await collect(url)).toEqual([{ document_id: 'ok' }]);
    expect(calls).toBe(4);
  });

  it('retries a 200 that is not JSON or not a list (a proxy page), and names what came back when it persists', async () => {
    let calls = 0;
    const url = await serve((_req, _body, res) => {
      calls++;
      if (calls === 1) {
        res.writeHead(200, { 'content-type': 'text/html' });
        return res.end('<html><body>Sign in</body></html>');
      }
      if (calls === 2) return json(res, 200, { message: 'upstream timed out' });
      json(res, 200, { results: [{ document_id: 'ok' }] });
    });
    expect(await collect(url)).toEqual([{ document_id: 'ok' }]);
    expect(calls).toBe(3);
    await new Promise((r) => server?.close(r));

    const html = await serve((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!DOCTYPE html><title>Proxy</title>');
    });
    const error = await collect(html).catch((e) => e);
    expect(error).toMatchObject({ exitCode: 3, code: 'ERR_SOURCE_BODY', transient: true });
    expect(error.message).toBe(
      '[mixpeek] POST /v1/collections/col_1/documents/list?limit=2: HTTP 200 text/html; charset=utf-8 body is not JSON (35 chars: "<!DOCTYPE html><title>Proxy</title>") after 5 attempts; something other than the Mixpeek API answered (a proxy, gateway or login page?); check MIXPEEK_BASE_URL and any HTTP proxy',
    );
  });

  it('fails fast on other 4xx with the API message, in every envelope the API has used', async () => {
    const bodies = [
      { success: false, status: 403, error: { message: 'Quota exceeded', type: 'QuotaExceededError' } },
      { detail: [{ loc: ['body', 'limit'], msg: 'must be <= 1000', type: 'value_error' }] },
      { detail: 'Not authenticated' },
    ];
    for (const body of bodies) {
      let calls = 0;
      const url = await serve((_req, _b, res) => {
        calls++;
        json(res, body === bodies[0] ? 403 : 422, body);
      });
      const error = await collect(url).catch((e) => e);
      expect(error.exitCode).toBe(3);
      expect(error.message).toMatch(/Quota exceeded|body.limit: must be <= 1000|Not authenticated/);
      expect(calls).toBe(1);
      await new Promise((r) => server?.close(r));
    }
  });

  it('gives up after the retry budget with a message naming the failure', async () => {
    const url = await serve((_req, _body, res) => json(res, 500, { success: false, status: 500, error: { message: 'db down', type: 'MongoDBError' } }));
    const error = await collect(url).catch((e) => e);
    expect(error.message).toMatch(/HTTP 500 after 5 attempts: MongoDBError: db down/);
    expect(error.transient).toBe(true);
  });

  it('times out a request that never answers and retries it', async () => {
    let calls = 0;
    const url = await serve((_req, _body, res) => {
      if (++calls === 1) return; // hang
      json(res, 200, { results: [{ document_id: 'late' }] });
    });
    expect(await collect(url, { requestTimeoutMs: 200 })).toEqual([{ document_id: 'late' }]);
  });

  describe('names the network failure underneath fetch failed', () => {
    const quick = { retry: { maxRetries: 2, baseDelayMs: 1, maxDelayMs: 2 } };
    /** Runs one listing against `baseUrl` and returns the final error and the retry log lines. */
    const fail = async (baseUrl: string) => {
      const lines: Record<string, unknown>[] = [];
      const logger = createLogger((record) => lines.push(record));
      const error = await collect(baseUrl, { ...quick, logger }).catch((e: unknown) => e);
      return { error: error as Error & { code: string; transient: boolean; exitCode: number; context: Record<string, unknown> }, retries: lines.filter((l) => l.event === 'RequestRetried') };
    };

    it('names ECONNREFUSED, the address and the origin for a closed port, and what to check', async () => {
      const port = await closedPort();
      const { error, retries } = await fail(`http://127.0.0.1:${port}/some/path`);
      expect(error).toMatchObject({ exitCode: 3, code: 'ERR_SOURCE_NETWORK', transient: true, context: { cause_code: 'ECONNREFUSED', origin: `http://127.0.0.1:${port}` } });
      expect(error.message).toBe(
        `[mixpeek] POST /v1/collections/col_1/documents/list?limit=2: ECONNREFUSED (connect ECONNREFUSED 127.0.0.1:${port}) reaching http://127.0.0.1:${port} after 3 attempts; ` +
          'nothing accepted the connection; check --base-url / MIXPEEK_BASE_URL (host and port) and any HTTP proxy',
      );
      expect(retries).toHaveLength(2);
      for (const line of retries) {
        expect(line).toMatchObject({ error_type: 'ECONNREFUSED', detail: `connect ECONNREFUSED 127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` });
      }
      expect(JSON.stringify({ message: error.message, retries })).not.toContain('sk_test_k');
    });

    it('names ENOTFOUND and the host for a name that does not resolve', async () => {
      const { error, retries } = await fail('https://mixpeek-export-test.invalid');
      expect(error).toMatchObject({ code: 'ERR_SOURCE_NETWORK', context: { cause_code: 'ENOTFOUND' } });
      expect(error.message).toMatch(/: ENOTFOUND \(getaddrinfo ENOTFOUND mixpeek-export-test\.invalid\) reaching https:\/\/mixpeek-export-test\.invalid after 3 attempts; the host name does not resolve; check --base-url \/ MIXPEEK_BASE_URL and DNS$/);
      expect(retries[0]).toMatchObject({ error_type: 'ENOTFOUND' });
    });

    it('says so when the port is one fetch refuses, instead of a bare Error', async () => {
      const { error, retries } = await fail('http://127.0.0.1:1');
      expect(error.message).toContain('ERR_BAD_PORT (bad port: fetch refuses to connect to this port) reaching http://127.0.0.1:1 after 3 attempts');
      expect(retries[0]).toMatchObject({ error_type: 'ERR_BAD_PORT' });
    });
  });
});

/** A port nothing listens on: bind one, then close it. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
