/**
 * Mixpeek's webhook deliveries: what a payload must hold, which collection it names, and
 * the memory of recent event ids that makes a redelivery a no-op. Pure: no I/O.
 *
 * Payload (reference/mixpeek-api.md §5, Mixpeek docs `operations/webhooks.mdx`):
 * `{"event_id": "evt_…", "event_type": "collection.documents.written", "subject": {"type": "collection", "id": "col_…"},
 *   "metadata": {"collection_id": "col_…", …}, "cache_scope": {"collection_id": "col_…"}, …}`.
 * Delivery is retried with backoff until a 2xx, so the same `event_id` can arrive again.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** The one event type that means "documents are indexed: a downstream load can start". */
export const DOCUMENTS_WRITTEN = 'collection.documents.written';

/** Largest body read, in bytes; a larger one is answered 413 without reading the rest. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** A delivery that parsed: its id, type and the collection it names (null when it names none). */
export interface WebhookEvent {
  eventId: string;
  eventType: string;
  collectionId: string | null;
  /** `occurred_at` as sent, if any (logged; the run's window is measured on this host's clock). */
  occurredAt: string | null;
}

/**
 * Parses a delivery body. Returns a reason string when it is not an event: not JSON, not an
 * object, or without a string `event_id` / `event_type`.
 */
export function parseEvent(body: Buffer): WebhookEvent | { malformed: string } {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (error) {
    return { malformed: `not JSON: ${(error as Error).message}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { malformed: 'expected a JSON object' };
  const v = value as Record<string, unknown>;
  if (typeof v.event_id !== 'string' || v.event_id === '') return { malformed: 'event_id is missing or not a string' };
  if (typeof v.event_type !== 'string') return { malformed: 'event_type is missing or not a string' };
  return { eventId: v.event_id, eventType: v.event_type, collectionId: collectionOf(v), occurredAt: typeof v.occurred_at === 'string' ? v.occurred_at : null };
}

/** `subject.id` when `subject.type` is `collection`, else `metadata.collection_id`, else `cache_scope.collection_id`. */
export function collectionOf(payload: Record<string, unknown>): string | null {
  const field = (obj: unknown, key: string): unknown => (typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>)[key] : undefined);
  const candidates = [field(payload.subject, 'type') === 'collection' ? field(payload.subject, 'id') : undefined, field(payload.metadata, 'collection_id'), field(payload.cache_scope, 'collection_id')];
  const found = candidates.find((c) => typeof c === 'string' && c !== '');
  return (found as string | undefined) ?? null;
}

/**
 * Whether the header's value is the secret, in constant time: both are hashed first, so the
 * comparison takes as long whatever the given value's length or content.
 */
export function secretMatches(given: string | string[] | undefined, secret: string): boolean {
  if (typeof given !== 'string') return false;
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(secret));
}

/**
 * The last `capacity` event ids accepted (default 10,000; about 1 MB): a delivery whose id is
 * among them is a redelivery. Older ids are forgotten first; a redelivery that old would run
 * one more export, which finds nothing new or exports what is new: never a duplicate row.
 */
export class RecentEventIds {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity = 10_000) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value as string);
  }
}

/** `15m` → 900000 ms; `0` → 0 (off). The schema has checked the shape. */
export function intervalMs(span: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(span);
  if (!m) throw new RangeError(`interval ${JSON.stringify(span)}: expected a span such as 30s, 15m or 1h, or 0`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 'ms'] as number;
  return Number(m[1]) * unit;
}
