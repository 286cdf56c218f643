/**
 * `/_dev/*` routes for tests that run the server as a subprocess. No auth, no rate limit,
 * no latency, no faults: they are the test's ground truth, not the API under test.
 *
 * - `GET  /_dev/versions/{collectionId}` → NDJSON `{"document_id":…,"updated_at":…}` per current version
 * - `GET  /_dev/versions/{collectionId}?superseded=1` → the same for every version replaced by a mutation
 * - `POST /_dev/mutate` body `{collection_id, count}` → `{mutated: [ids]}`
 * - `POST /_dev/delete` body `{collection_id, count}` or `{collection_id, document_ids}` → `{deleted: [ids]}`
 * - `POST /_dev/create` body `{collection_id, count}` → `{created: [ids]}`
 * - `POST /_dev/recreate` body `{collection_id, document_id}` → `{document_id, updated_at}`
 * - `GET  /_dev/deleted/{collectionId}` → `{deleted: [ids]}`, deleted and not re-created, ascending
 * - `GET  /_dev/stats` → the counters of `DevServer.stats()` (deletions, creations and re-creations included)
 * - `POST /_dev/schema` body `{collection_id, field, schema}` → `{collection_id, schema_version, output_schema}`:
 *   declares `field` in the collection's output_schema (added, or its declaration replaced), or
 *   removes it with `schema: null`; as `DevServer.defineField` (422 for a malformed declaration)
 * - `POST /_dev/collections` body `{collection_id, based_on, documents?, collection_name?}` → the new
 *   collection's CollectionResponse: as `DevServer.addCollection` (422 for a taken id or unknown based_on)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, drained, notFound, readJsonBody, sendError, sendJson, validationError } from './http.js';
import { collectionResponse } from './collections.js';
import type { FieldSchema } from './schema.js';
import { addCollection, createNow, deleteNow, liveIndices, mutateNow, recreateNow, type NewCollection, type ServerState } from './state.js';

/** Lines per write of the versions stream. */
const LINES_PER_WRITE = 2000;

export async function handleAdmin(state: ServerState, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  try {
    const versions = /^\/_dev\/versions\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && versions) return await streamVersions(state, decodeURIComponent(versions[1] as string), url.searchParams.get('superseded') === '1', res);
    if (req.method === 'POST' && url.pathname === '/_dev/mutate') return await mutateRoute(state, req, res);
    if (req.method === 'POST' && url.pathname === '/_dev/delete') return await deleteRoute(state, req, res);
    if (req.method === 'POST' && url.pathname === '/_dev/create') return await createRoute(state, req, res);
    if (req.method === 'POST' && url.pathname === '/_dev/recreate') return await recreateRoute(state, req, res);
    if (req.method === 'POST' && url.pathname === '/_dev/schema') return await schemaRoute(state, req, res);
    if (req.method === 'POST' && url.pathname === '/_dev/collections') return await addCollectionRoute(state, req, res);
    const deleted = /^\/_dev\/deleted\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && deleted) return sendJson(res, 200, { deleted: collectionOf(state, decodeURIComponent(deleted[1] as string)).store.deletedIds() });
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

function countOf(body: Record<string, unknown>): number {
  const count = body['count'] ?? 1;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) {
    throw validationError(['body', 'count'], 'count must be a non-negative integer');
  }
  return count;
}

async function mutateRoute(state: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJsonBody(req);
  const c = collectionOf(state, body['collection_id']);
  sendJson(res, 200, { mutated: mutateNow(state, c, countOf(body)) });
}

async function deleteRoute(state: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJsonBody(req);
  const c = collectionOf(state, body['collection_id']);
  const ids = body['document_ids'];
  if (ids === undefined) return sendJson(res, 200, { deleted: deleteNow(state, c, countOf(body)) });
  if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string')) throw validationError(['body', 'document_ids'], 'document_ids must be a list of strings');
  sendJson(res, 200, { deleted: deleteNow(state, c, asApi(() => liveIndices(c, ids as string[]))) });
}

async function createRoute(state: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJsonBody(req);
  sendJson(res, 200, { created: createNow(state, collectionOf(state, body['collection_id']), countOf(body)) });
}

async function recreateRoute(state: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJsonBody(req);
  const c = collectionOf(state, body['collection_id']);
  const id = body['document_id'];
  if (typeof id !== 'string') throw validationError(['body', 'document_id'], 'document_id must be a string');
  const v = asApi(() => recreateNow(state, c, id));
  sendJson(res, 200, { document_id: v.id, updated_at: v.updated });
}

async function schemaRoute(state: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJsonBody(req);
  const c = collectionOf(state, body['collection_id']);
  if (!('schema' in body)) throw validationError(['body', 'schema'], 'schema is required: a field declaration like {"type": "integer"}, or null to remove the field');
  const version = asInvalid(['body', 'schema'], () => c.schema.define(body['field'] as string, body['schema'] as FieldSchema | null));
  sendJson(res, 200, { collection_id: c.spec.collectionId, schema_version: version, output_schema: c.schema.outputSchema() });
}

async function addCollectionRoute(state: ServerState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJsonBody(req);
  const c = asInvalid(['body'], () => addCollection(state, body as unknown as NewCollection));
  sendJson(res, 200, collectionResponse(c, state.options));
}

/** A RangeError from a malformed request body is a 422 naming the problem. */
function asInvalid<T>(location: string[], run: () => T): T {
  try {
    return run();
  } catch (err) {
    if (err instanceof RangeError) throw validationError(location, err.message);
    throw err;
  }
}

/** A RangeError from the state (an id that is not live, or not deleted) is the caller's mistake: 404. */
function asApi<T>(run: () => T): T {
  try {
    return run();
  } catch (err) {
    if (err instanceof RangeError) throw notFound(err.message);
    throw err;
  }
}
