/**
 * The server's routes: `POST /webhooks/mixpeek` (Mixpeek's deliveries), `GET /healthz`,
 * `GET /readyz`, `GET /metrics`. A delivery is authenticated before its body is read, read
 * up to 1 MB, and answered at once: the export it asks for runs after the answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../util/log.js';
import type { ConfiguredCollections } from './collections.js';
import { DOCUMENTS_WRITTEN, MAX_BODY_BYTES, parseEvent, RecentEventIds, secretMatches } from './event.js';
import type { RejectReason, ServeMetrics } from './metrics.js';
import type { Admission, RunRequest } from './scheduler.js';

export const WEBHOOK_PATH = '/webhooks/mixpeek';

/** What the routes read and call. */
export interface RouteContext {
  secret: string;
  /** Lower-case header name (`x-mixpeek-secret`). */
  secretHeader: string;
  /** Added to an event's arrival to get its run's earliest start: the window must cover the documents it announced. */
  dueDelayMs: number;
  collections: ConfiguredCollections;
  request(req: RunRequest): Admission | null;
  metrics: ServeMetrics;
  logger: Logger;
  state(): { ready: boolean; stopping: boolean; healthy: boolean };
  now(): number;
}

/** Handles one request; never throws (an unexpected error is a 500 and a log line). */
export function handleRequest(ctx: RouteContext, seen: RecentEventIds, req: IncomingMessage, res: ServerResponse): void {
  req.on('error', () => {});
  res.on('error', () => {});
  const path = (req.url ?? '/').split('?')[0];
  const state = ctx.state();
  const route = `${req.method} ${path}`;
  const done = (p: Promise<void>) => p.catch((error: unknown) => {
    ctx.logger.error('ServeRequestFailed', { route, message: (error as Error)?.message ?? String(error) });
    if (!res.headersSent) reply(res, 500, { status: 'error' });
  });
  if (route === `POST ${WEBHOOK_PATH}`) return void done(webhook(ctx, seen, req, res));
  if (route === 'GET /healthz') return reply(res, state.stopping || !state.healthy ? 503 : 200, { status: state.stopping ? 'stopping' : state.healthy ? 'ok' : 'failing' });
  if (route === 'GET /readyz') return reply(res, state.ready && !state.stopping ? 200 : 503, { status: state.stopping ? 'stopping' : state.ready ? 'ready' : 'starting' });
  if (route === 'GET /metrics') return void done(ctx.metrics.text().then((text) => {
    res.writeHead(200, { 'Content-Type': ctx.metrics.registry.contentType }).end(text);
  }));
  reply(res, [WEBHOOK_PATH, '/healthz', '/readyz', '/metrics'].includes(path ?? '') ? 405 : 404, { status: 'not found' });
}

async function webhook(ctx: RouteContext, seen: RecentEventIds, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const receivedAt = ctx.now();
  const reject = (status: number, reason: RejectReason, fields: Record<string, unknown> = {}) => {
    ctx.metrics.rejected.inc({ reason });
    ctx.logger[reason === 'auth' || reason === 'too_large' || reason === 'malformed' ? 'warn' : 'info']('EventRejected', { reason, status, event_id: null, collection_id: null, ...fields });
    reply(res, status, { status: status < 300 ? 'ignored' : 'rejected', reason }, status === 401);
  };
  ctx.metrics.received.inc();
  if (ctx.state().stopping) return reject(503, 'shutting_down');
  // Authenticate first: nothing of an unauthenticated request is read.
  if (!secretMatches(req.headers[ctx.secretHeader], ctx.secret)) return reject(401, 'auth', { remote: req.socket.remoteAddress, note: req.headers[ctx.secretHeader] === undefined ? `no ${ctx.secretHeader} header` : `wrong ${ctx.secretHeader}` });
  const body = await readBody(req);
  if (body === null) {
    discard(req);
    return reject(413, 'too_large', { limit_bytes: MAX_BODY_BYTES });
  }
  const event = parseEvent(body);
  if ('malformed' in event) return reject(400, 'malformed', { message: event.malformed });
  const fields = { event_id: event.eventId, collection_id: event.collectionId, event_type: event.eventType };
  if (event.eventType !== DOCUMENTS_WRITTEN) return reject(202, 'ignored_type', fields);
  if (event.collectionId === null || !(await ctx.collections.accepts(event.collectionId))) return reject(202, 'unknown_collection', { ...fields, note: 'not among the configured collections (collections, excludeCollections)' });
  if (seen.has(event.eventId)) return reject(200, 'duplicate', fields);
  const admission = ctx.request({ collectionId: event.collectionId, trigger: 'event', eventId: event.eventId, receivedAt, dueAt: receivedAt + ctx.dueDelayMs });
  if (admission === null) return reject(503, 'shutting_down', fields);
  seen.add(event.eventId);
  ctx.metrics.accepted.inc({ collection: event.collectionId });
  ctx.logger.info('EventAccepted', { event_id: event.eventId, collection_id: event.collectionId, occurred_at: event.occurredAt, run: admission });
  reply(res, 202, { status: 'accepted', run: admission });
}

/**
 * The body, or null when it is over 1 MB: by its Content-Length before reading anything, or
 * once the bytes read pass the limit (a chunked body); reading stops there.
 */
function readBody(req: IncomingMessage): Promise<Buffer | null> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        chunks.length = 0;
        resolve(null);
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * After a 413 the rest of the body is read and dropped, not kept, so the client sees the
 * answer instead of a reset while it is still sending; past 8 MB more the connection is cut.
 */
function discard(req: IncomingMessage): void {
  let dropped = 0;
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > 8 * MAX_BODY_BYTES) req.socket.destroy();
  });
  req.resume();
}

/** A JSON answer; `close` ends the connection after it (a client without the secret: nothing more of it is read). */
function reply(res: ServerResponse, status: number, body: Record<string, unknown>, close = false): void {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (close) headers.Connection = 'close';
  if (status === 503) headers['Retry-After'] = '5';
  res.writeHead(status, headers).end(JSON.stringify(body) + '\n');
}
