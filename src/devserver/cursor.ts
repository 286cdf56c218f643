/**
 * `pagination.next_cursor`: an opaque base64url token holding a keyset position (the last
 * sort key and document_id a page returned) and a short hash of the query it belongs to.
 *
 * Keyset rather than offset is what keeps paging correct while documents change: a mutated
 * document leaves its old position, and nothing else shifts under the cursor.
 */
import { createHash } from 'node:crypto';
import { badRequest } from './http.js';

/** A decoded cursor: the last (sort key, document_id) returned. */
export interface CursorPosition {
  /** Sort key: updated_at micros in the fast path, any JSON value in the generic path. */
  key: unknown;
  id: string;
}

interface CursorPayload {
  v: 1;
  /** queryHash of the request that produced the cursor. */
  h: string;
  k: unknown;
  i: string;
}

/** JSON with sorted object keys, so equal filters hash equally whatever their key order. */
function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stableStringify((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** 12 hex digits identifying (collection, filters, sort). */
export function queryHash(collectionId: string, filters: unknown, sort: unknown): string {
  const text = stableStringify({ c: collectionId, f: filters ?? null, s: sort ?? null });
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

export function encodeCursor(hash: string, position: CursorPosition): string {
  const payload: CursorPayload = { v: 1, h: hash, k: position.key, i: position.id };
  return Buffer.from(JSON.stringify(payload)).toString('base64url');
}

/** Decode and check a cursor; 400 when it is garbage or was issued for another query. */
export function decodeCursor(token: string, expectedHash: string): CursorPosition {
  let payload: Partial<CursorPayload>;
  try {
    payload = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<CursorPayload>;
  } catch {
    throw badRequest('Invalid cursor: not a cursor issued by this endpoint');
  }
  if (payload === null || typeof payload !== 'object' || payload.v !== 1 || typeof payload.i !== 'string' || !('k' in payload)) {
    throw badRequest('Invalid cursor: not a cursor issued by this endpoint');
  }
  if (payload.h !== expectedHash) {
    throw badRequest('Cursor does not match this query: filters, sort and collection must be the same as on the request that returned it', { reason: 'cursor_query_mismatch' });
  }
  return { key: payload.k, id: payload.i };
}
