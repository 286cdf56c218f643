/**
 * `/_dev/*` routes for tests that run the server as a subprocess. No auth, no rate limit,
 * no latency, no faults: they are the test's ground truth, not the API under test.
 *
 * - `GET  /_dev/versions/{collectionId}` → NDJSON `{"document_id":…,"updated_at":…}` per current version
 * - `GET  /_dev/versions/{collectionId}?superseded=1` → the same for every version replaced by a mutation
 * - `POST /_dev/mutate` body `{collection_id, count}` → `{mutated: [ids]}`
 * - `GET  /_dev/stats` → the counters of `DevServer.stats()`
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, drained, notFound, readJsonBody, sendError, sendJson, validationError } from './http.js';
import { mutateNow, type ServerState } from './state.js';

/** Lines per write of the versions stream. */
const LINES_PER_WRITE = 2000;

export async function handleAdmin(state: ServerState, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  try {
    const versions = /^\/_dev\/versions\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && versions) return await streamVersions(state, decodeURIComponent(versions[1] as string), url.searchParams.get('superseded') === '1', res);
    if (req.method === 'POST' && url.pathname === '/_dev/mutate') return await mutateRoute(state, req, res);
    if (req.method === 'GET' && url.pathname === '/_dev/stats') return sendJson(res, 200, structuredClone(state.stats));
    throw notFound(`No route for ${req.method} ${url.pathname}`);
  } catch (err) {
    if (res.headersSent || res.destroyed) return;
    sendError(res, err instanceof ApiError ? err : new ApiError(500, 'InternalServerError', String(err)));
  }
}

function collectionOf(state: ServerState, id: unknown) {
  const c = typeof id === 'string' ? state.collections.get(id) : undefined;
  if (!c) throw notFound('Collection not found', { resource: 'collection', id: typeof id === 'string' ? id : null });
  return c;
}

async function streamVersions(state: ServerState, id: string, superseded: boolean, res: ServerResponse): Promise<void> {
  const c = collectionOf(state, id);
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
  let lines: string[] = [];
  for (const v of superseded ? c.store.supersededVersions() : c.listing.versions()) {
    lines.push(`{"document_id":${JSON.stringify(v.id)},"updated_at":${JSON.stringify(v.updated)}}\n`);
    if (lines.length < LINES_PER_WRITE) continue;
    const ok = res.write(lines.join(''));
    lines = [];
    if (!ok && !(await drained(res))) return;
  }
  res.end(lines.join(''));
}

async function mutateRoute(state: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJsonBody(req);
  const c = collectionOf(state, body['collection_id']);
  const count = body['count'] ?? 1;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) {
    throw validationError(['body', 'count'], 'count must be a non-negative integer');
  }
  sendJson(res, 200, { mutated: mutateNow(state, c, count) });
}
