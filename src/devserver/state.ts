/**
 * The dev server's whole state: resolved options, the four collections (stores and
 * document factories) and the counters. Only changed (mutated, created, deleted) documents
 * take memory.
 */
import { COLLECTIONS, type CollectionSpec } from './catalog.js';
import { DocumentFactory } from './documents.js';
import { FaultInjector, type FaultOptions } from './faults.js';
import { InjectedDocuments, Listing, type InjectedDocument } from './inject.js';
import { hashString, Rng, seedOf } from './prng.js';
import { TokenBucket, type RateLimitOptions } from './ratelimit.js';
import { CollectionSchema } from './schema.js';
import { CollectionStore } from './store.js';
import { BaseTimeline, MonotonicClock, type TimeFormat } from './time.js';

/** Documents sharing one updated_at: clients must order ties by document_id. */
export const GROUP_SIZE = 3;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Options after defaults; see DevServerOptions in index.ts for the meaning of each. */
export interface ResolvedOptions {
  port: number;
  seed: number;
  apiKey: string;
  namespace: string;
  documentsPerCollection: number | Record<string, number>;
  timeline: { start: Date; end: Date };
  latencyMs: number;
  rateLimit: RateLimitOptions | null;
  faults: FaultOptions;
  mutateWhilePaging: { everyNPages: number; count: number } | null;
  deleteWhilePaging: { everyNPages: number; count: number } | null;
  createWhilePaging: { everyNPages: number; count: number } | null;
  refuseSortFields: readonly string[];
  injectDocuments: Record<string, readonly InjectedDocument[]>;
  noOutputSchema: readonly string[];
}

/** One hosted collection. */
export interface Collection {
  spec: CollectionSpec;
  store: CollectionStore;
  /** What the list endpoint pages: the store plus any injected documents. */
  listing: Listing;
  factory: DocumentFactory;
  mutationRng: Rng;
  /** Picks the documents `deleteWhilePaging` and `delete(n)` remove; separate, so mutations replay unchanged. */
  deletionRng: Rng;
  /** The collection's `output_schema` and `schema_version`, changed by defineField. */
  schema: CollectionSchema;
  /** The collection's `created_at`, ms: listing order is creation order. */
  createdAtMs: number;
}

export interface Stats {
  requests: number;
  listPages: number;
  faults: {
    error: number; reset: number; truncate: number; slow: number; rateLimited: number; throttled: number;
    /** Always counted; optional only so that report literals written before they existed still type-check. */
    notJson?: number; repeatCursor?: number;
  };
  mutations: number;
  /** Documents deleted (API routes, in-process calls and deleteWhilePaging). Optional only for older report literals. */
  deletions?: number;
  /** Documents created, and deleted ones re-created. Optional only for older report literals. */
  creations?: number;
  recreations?: number;
}

export interface ServerState {
  options: ResolvedOptions;
  collections: Map<string, Collection>;
  clock: MonotonicClock;
  faults: FaultInjector;
  bucket: TokenBucket | null;
  stats: Stats;
}

const DEFAULT_DOCS = 2000;

function docCount(option: ResolvedOptions['documentsPerCollection'], id: string): number {
  const n = typeof option === 'number' ? option : option[id] ?? DEFAULT_DOCS;
  if (!Number.isInteger(n) || n < 0 || n > 2 ** 31) throw new RangeError(`documentsPerCollection for ${id} must be an integer in 0..2^31, got ${n}`);
  return n;
}

/** About 1% zone-less (Mongo style), 60% milliseconds `Z`, the rest microseconds `Z`. */
function formatPicker(seed: number, salt: number): (group: number) => TimeFormat {
  return (group) => {
    const h = seedOf(seed, salt, group, 7) % 1000;
    return h < 10 ? 'naive' : h < 600 ? 'ms' : 'us';
  };
}

function makeCollection(spec: CollectionSpec, o: ResolvedOptions, count: number, createdAtMs: number | null): Collection {
  const salt = hashString(spec.collectionId);
  const timeline = new BaseTimeline(
    count, GROUP_SIZE,
    o.timeline.start.getTime() * 1000, o.timeline.end.getTime() * 1000, formatPicker(o.seed, salt),
  );
  const tenant = { namespaceId: o.namespace, internalId: 'org_devserver' };
  const store = new CollectionStore(spec.collectionId, salt, timeline);
  const injected = o.injectDocuments[spec.collectionId];
  const schema = new CollectionSchema(spec.schema);
  // A catalogue collection was created 9 days before its first document (base created_at lies
  // at most 8 days before it), one second apart in catalogue order.
  const position = COLLECTIONS.indexOf(spec);
  const firstMs = store.count > 0 ? Math.floor(store.baseVersion(0).updatedMicros / 1000) : o.timeline.start.getTime();
  return {
    spec,
    store,
    listing: new Listing(store, injected?.length ? new InjectedDocuments(injected) : null),
    factory: new DocumentFactory(spec, o.seed, tenant, schema),
    mutationRng: new Rng(seedOf(o.seed, salt, 0x6d757461)),
    deletionRng: new Rng(seedOf(o.seed, salt, 0x64656c65)),
    schema,
    createdAtMs: createdAtMs ?? firstMs - 9 * DAY_MS + Math.max(0, position) * 1000,
  };
}

/** Default timeline: the 30 days ending an hour ago, whole seconds. */
export function defaultTimeline(now = Date.now()): { start: Date; end: Date } {
  const end = Math.floor((now - HOUR_MS) / 1000) * 1000;
  return { start: new Date(end - 30 * DAY_MS), end: new Date(end) };
}

export function createState(o: ResolvedOptions): ServerState {
  const [start, end] = [o.timeline.start.getTime(), o.timeline.end.getTime()];
  if (Number.isNaN(start) || Number.isNaN(end) || end < start) throw new RangeError('timeline needs valid dates with start <= end');
  const collections = new Map<string, Collection>();
  for (const spec of COLLECTIONS) collections.set(spec.collectionId, makeCollection(spec, o, docCount(o.documentsPerCollection, spec.collectionId), null));
  const unknown = Object.keys(o.injectDocuments).filter((id) => !collections.has(id));
  if (unknown.length > 0) throw new RangeError(`injectDocuments names unknown collections ${unknown.join(', ')}; the dev server has ${[...collections.keys()].join(', ')}`);
  checkKnown(collections, o.noOutputSchema, 'noOutputSchema');
  return {
    options: o,
    collections,
    clock: new MonotonicClock(),
    faults: new FaultInjector(o.faults, o.seed),
    bucket: o.rateLimit ? new TokenBucket(o.rateLimit) : null,
    stats: { requests: 0, listPages: 0, faults: { error: 0, reset: 0, truncate: 0, slow: 0, rateLimited: 0, throttled: 0, notJson: 0, repeatCursor: 0 }, mutations: 0, deletions: 0, creations: 0, recreations: 0 },
  };
}

/** Find a collection by id or by name (other collection routes accept either). */
export function findCollection(state: ServerState, identifier: string): Collection | undefined {
  const byId = state.collections.get(identifier);
  if (byId) return byId;
  for (const c of state.collections.values()) if (c.spec.name === identifier) return c;
  return undefined;
}

/** Mutate n documents of a collection now; counts them in stats. */
export function mutateNow(state: ServerState, collection: Collection, n: number): string[] {
  const ids = collection.store.mutate(n, collection.mutationRng, state.clock.now());
  state.stats.mutations += ids.length;
  return ids;
}

/** Delete `n` seeded-random live documents, or the given live indices, now; counts them in stats. Returns the ids. */
export function deleteNow(state: ServerState, collection: Collection, which: number | readonly number[]): string[] {
  const ids = collection.store.delete(which, collection.deletionRng);
  state.stats.deletions = (state.stats.deletions ?? 0) + ids.length;
  return ids;
}

/** Create `n` new documents now (updated_at = created_at = now); counts them in stats. Returns their ids. */
export function createNow(state: ServerState, collection: Collection, n: number): string[] {
  const ids = collection.store.create(n, state.clock.now());
  state.stats.creations = (state.stats.creations ?? 0) + ids.length;
  return ids;
}

/**
 * Re-create a deleted document under its id, now. Throws a RangeError naming the id when it
 * is not a deleted document of the collection.
 */
export function recreateNow(state: ServerState, collection: Collection, documentId: string): { id: string; updated: string } {
  const index = collection.store.indexOf(documentId);
  const v = index === null ? null : collection.store.recreate(index, state.clock.now());
  if (!v) throw new RangeError(`${documentId} is not a deleted document of ${collection.spec.collectionId}; only a deleted id can be re-created (see deletedIds)`);
  state.stats.recreations = (state.stats.recreations ?? 0) + 1;
  return v;
}

/** Indices of the given ids; throws a RangeError naming the first that is not a live document. */
export function liveIndices(collection: Collection, ids: readonly string[]): number[] {
  return ids.map((id) => {
    const index = collection.store.indexOf(id);
    if (index === null || collection.store.isDeleted(index)) throw new RangeError(`${id} is not a live document of ${collection.spec.collectionId}`);
    return index;
  });
}

/** Throws a RangeError when `ids` (of option `option`) names a collection the server does not have. */
export function checkKnown(collections: Map<string, Collection>, ids: readonly string[], option: string): void {
  const unknown = ids.filter((id) => !collections.has(id));
  if (unknown.length > 0) throw new RangeError(`${option} names unknown collections ${unknown.join(', ')}; the dev server has ${[...collections.keys()].join(', ')}`);
}

/** What {@link addCollection} takes; the body of `POST /_dev/collections` too. */
export interface NewCollection {
  /** Id of the new collection: letters, digits, `_` and `-`, unused. */
  collection_id: string;
  /** Id of the collection whose documents (shape, vectors, schema at start) the new one copies. */
  based_on: string;
  /** Base documents; default as `documentsPerCollection` gives for the new id. */
  documents?: number;
  /** `collection_name`; default the id. */
  collection_name?: string;
}

/**
 * Add a collection now: documents generated like `based_on`'s (own ids and values, salted by
 * the new id), its static output_schema at version 1, created now (after every other
 * collection, so listing order stays creation order). Throws a RangeError naming the problem.
 */
export function addCollection(state: ServerState, input: NewCollection): Collection {
  const id = input.collection_id;
  if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(id)) throw new RangeError(`collection_id must be 1..128 letters, digits, _ or -, got ${JSON.stringify(id)}`);
  if (findCollection(state, id)) throw new RangeError(`collection ${id} exists already; pick another collection_id`);
  const base = state.collections.get(input.based_on);
  if (!base) throw new RangeError(`based_on names unknown collection ${String(input.based_on)}; the dev server has ${[...state.collections.keys()].join(', ')}`);
  const name = input.collection_name ?? id;
  if (typeof name !== 'string' || name === '' || findCollection(state, name)) throw new RangeError(`collection_name ${JSON.stringify(name)} must be a non-empty string no other collection uses as id or name`);
  const count = input.documents === undefined ? docCount(state.options.documentsPerCollection, id) : checkCount(input.documents);
  const last = Math.max(...[...state.collections.values()].map((c) => c.createdAtMs));
  const spec: CollectionSpec = { ...base.spec, collectionId: id, name, description: `${base.spec.description} (copy)` };
  const collection = makeCollection(spec, state.options, count, Math.max(Date.now(), last + 1));
  state.collections.set(id, collection);
  return collection;
}

function checkCount(n: unknown): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 2 ** 31) throw new RangeError(`documents must be an integer in 0..2^31, got ${JSON.stringify(n)}`);
  return n;
}
