/**
 * The `/v1` API routes: rate limit, latency, auth and namespace checks, then the handler
 * (list, collections, and the document deletes of deletes.ts).
 * Only the document list endpoint gets injected faults; it is the one a client pages through.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { collectionList, collectionResponse } from './collections.js';
import { deleteBatch, deleteOne } from './deletes.js';
import { ApiError, drained, notFound, readJsonBody, sendError, sendJson } from './http.js';
import { listPage, type ListPage } from './list.js';
import { parseListRequest } from './list-request.js';
import { createNow, deleteNow, findCollection, mutateNow, type Collection, type ServerState } from './state.js';

type Headers = Record<string, string>;

const LIST_RE = /^\/v1\/collections\/([^/]+)\/documents\/list\/?$/;
const GET_RE = /^\/v1\/collections\/([^/]+)\/?$/;
const DELETE_BATCH_RE = /^\/v1\/collections\/([^/]+)\/documents\/batch\/?$/;
const DELETE_ONE_RE = /^\/v1\/collections\/([^/]+)\/documents\/([^/]+)\/?$/;

/** Handle one `/v1` request; never throws (errors become envelopes). */
export async function handleApi(state: ServerState, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  state.stats.requests++;
  let headers: Headers = {};
  try {
    if (state.bucket) {
      const decision = state.bucket.take();
      headers = decision.headers;
      if (decision.error) {
        state.stats.faults.rateLimited++;
        throw decision.error;
      }
    }
    if (state.options.latencyMs > 0) await sleep(state.options.latencyMs);
    await route(state, req, res, url, headers);
  } catch (err) {
    if (res.headersSent || res.destroyed) return;
    sendError(res, err instanceof ApiError ? err : new ApiError(500, 'InternalServerError', 'Internal server error'), headers);
  }
}

async function route(state: ServerState, req: IncomingMessage, res: ServerResponse, url: URL, headers: Headers): Promise<void> {
  const path = url.pathname;
  const list = req.method === 'POST' ? LIST_RE.exec(path) : null;
  const collections = req.method === 'POST' && /^\/v1\/collections\/list\/?$/.test(path);
  const get = req.method === 'GET' ? GET_RE.exec(path) : null;
  const del = req.method === 'DELETE' ? (DELETE_BATCH_RE.exec(path) ?? DELETE_ONE_RE.exec(path)) : null;
  if (!list && !collections && !get && !del) throw notFound(`No route for ${req.method} ${path}`);
  authorize(state, req);
  if (del) return deleteRoute(state, req, res, del, headers);
  if (collections) {
    const body = await readJsonBody(req);
    return sendJson(res, 200, collectionList([...state.collections.values()], state.options, url.searchParams, body), headers);
  }
  const collection = lookup(state, decodeURIComponent(((list ?? get) as RegExpExecArray)[1] as string));
  if (get) return sendJson(res, 200, collectionResponse(collection, state.options), headers);
  await listRoute(state, collection, req, res, url, headers);
}

/** Bearer key, then X-Namespace (a wrong namespace is a 404 in the real API). Never echoes the key. */
function authorize(state: ServerState, req: IncomingMessage): void {
  const auth = req.headers.authorization ?? '';
  const match = /^Bearer\s+(.+)$/i.exec(auth.trim());
  if (!match || match[1] !== state.options.apiKey) throw new ApiError(401, 'UnauthorizedError', 'Invalid or missing API key');
  const ns = req.headers['x-namespace'];
  if (ns !== state.options.namespace) {
    throw notFound('Namespace not found', { resource: 'namespace', id: typeof ns === 'string' ? ns : null });
  }
}

function lookup(state: ServerState, identifier: string): Collection {
  const c = findCollection(state, identifier);
  if (!c) throw notFound('Collection not found', { resource: 'collection', id: identifier });
  return c;
}

async function deleteRoute(state: ServerState, req: IncomingMessage, res: ServerResponse, match: RegExpExecArray, headers: Headers): Promise<void> {
  const body = await readJsonBody(req);
  const collection = lookup(state, decodeURIComponent(match[1] as string));
  const result = match[2] === undefined ? deleteBatch(state, collection, body) : deleteOne(state, collection, decodeURIComponent(match[2]));
  sendJson(res, 200, result, headers);
}

async function listRoute(state: ServerState, c: Collection, req: IncomingMessage, res: ServerResponse, url: URL, headers: Headers): Promise<void> {
  const body = await readJsonBody(req);
  const fault = state.faults.decide();
  if (fault?.kind === 'reset') {
    state.stats.faults.reset++;
    req.socket.destroy();
    return;
  }
  if (fault?.kind === 'error') {
    state.stats.faults.error++;
    throw fault.status === 500
      ? new ApiError(500, 'InternalServerError', 'Internal server error')
      : new ApiError(503, 'InferenceServiceUnavailableError', 'Inference service temporarily unavailable; retry later');
  }
  if (fault?.kind === 'throttle') {
    state.stats.faults.throttled++;
    const after = fault.retryAfterSeconds;
    throw new ApiError(429, 'TooManyRequestsError', 'Rate limit exceeded', { limit: 0, window: '1m', retry_after: after }, { 'Retry-After': String(after) });
  }
  if (fault?.kind === 'slow') {
    state.stats.faults.slow++;
    await sleep(fault.ms);
  }
  if (fault?.kind === 'notJson') {
    state.stats.faults.notJson = (state.stats.faults.notJson ?? 0) + 1;
    return sendHtml(res, headers);
  }
  if (fault?.kind === 'repeatCursor') state.stats.faults.repeatCursor = (state.stats.faults.repeatCursor ?? 0) + 1;
  const request = parseListRequest(c.spec, url.searchParams, body);
  refuseSort(state, request.sort.field);
  const page = listPage(c.listing, c.factory, request, fault?.kind === 'repeatCursor');
  const pageHeaders = { ...headers, 'Content-Type': 'application/json', 'Content-Length': String(page.byteLength) };
  if (fault?.kind === 'truncate') {
    state.stats.faults.truncate++;
    return sendTruncated(res, page, pageHeaders);
  }
  if (await sendPage(res, page, pageHeaders)) afterPage(state, c);
}

/**
 * `refuseSortFields`: a sort the collection cannot serve, as a real one without a payload
 * index on the field might answer (the exact error is undocumented; a 400 is assumed).
 */
function refuseSort(state: ServerState, field: string): void {
  if (!state.options.refuseSortFields.includes(field)) return;
  throw new ApiError(400, 'BadRequestError', `Cannot sort by ${field}: the field has no payload index`, { field });
}

/** Count the page and, every N pages, mutate, delete and create documents as if writers were busy meanwhile. */
function afterPage(state: ServerState, c: Collection): void {
  const n = ++state.stats.listPages;
  const due = (o: { everyNPages: number; count: number } | null) => o !== null && o.everyNPages > 0 && n % o.everyNPages === 0;
  const { mutateWhilePaging: m, deleteWhilePaging: d, createWhilePaging: cr } = state.options;
  if (m && due(m)) mutateNow(state, c, m.count);
  if (d && due(d)) deleteNow(state, c, d.count);
  if (cr && due(cr)) createNow(state, c, cr.count);
}

/** Bytes per corked batch of writes: big enough to be cheap, small enough for backpressure. */
const WRITE_BATCH_BYTES = 256 * 1024;

/** Write the page honouring backpressure; false when the client went away. */
async function sendPage(res: ServerResponse, page: ListPage, headers: Headers): Promise<boolean> {
  if (res.destroyed) return false;
  res.writeHead(200, headers);
  let size = 0;
  let flowing = true;
  res.cork();
  for (const chunk of page.chunks) {
    flowing = res.write(chunk);
    size += chunk.length;
    if (size < WRITE_BATCH_BYTES) continue;
    res.uncork();
    if (!flowing && !(await drained(res))) return false;
    size = 0;
    res.cork();
  }
  res.uncork();
  res.end();
  return !res.destroyed;
}

/** A 200 that is not the API: the sign-in page a proxy or gateway serves in its place. */
function sendHtml(res: ServerResponse, headers: Headers): void {
  const html = '<!DOCTYPE html><html><head><title>Sign in - Corporate Proxy</title></head><body><h1>Authentication required</h1><p>Sign in to continue.</p></body></html>';
  res.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': String(Buffer.byteLength(html)) });
  res.end(html);
}

/** Headers with the full Content-Length, about half the body, then a dead socket. */
function sendTruncated(res: ServerResponse, page: ListPage, headers: Headers): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  const body = Buffer.concat(page.chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c)));
  res.writeHead(200, headers);
  return new Promise((resolve) => {
    // Destroy only once the half is flushed, so the client really receives a partial body.
    res.write(body.subarray(0, Math.floor(body.length / 2)), () => {
      res.destroy();
      resolve();
    });
  });
}
