/**
 * A Mixpeek-compatible dev server: `POST /v1/collections/{id}/documents/list` with the
 * Mar 2026 request and response shapes (reference/mixpeek-api.md §1–4), four multimodal
 * collections of up to millions of generated documents, and knobs for latency, rate limits,
 * faults and concurrent writes, and the document deletes (§7). Each collection declares its
 * fields in an `output_schema` (§8) that a test can change between runs (`defineField`), and
 * collections can be added (`addCollection`). Memory is O(mutations + creations + deletions):
 * documents are made on demand.
 *
 * @example
 * const server = await startDevServer({ documentsPerCollection: 10_000, seed: 7 });
 * const res = await fetch(`${server.url}/v1/collections/col_pdf_pages/documents/list`, {
 *   method: 'POST',
 *   headers: { Authorization: 'Bearer sk_test_devserver', 'X-Namespace': 'ns_dev', 'Content-Type': 'application/json' },
 *   body: JSON.stringify({ limit: 1000 }),
 * });
 * await server.close();
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleAdmin } from './admin.js';
import type { FaultOptions } from './faults.js';
import type { InjectedDocument } from './inject.js';
import { TokenBucket, type RateLimitOptions } from './ratelimit.js';
import { handleApi } from './routes.js';
import type { FieldSchema, SchemaProperties } from './schema.js';
import {
  addCollection, checkKnown, createNow, createState, defaultTimeline, deleteNow, liveIndices, mutateNow, recreateNow,
  type NewCollection, type ResolvedOptions, type ServerState, type Stats,
} from './state.js';

export type { FaultOptions } from './faults.js';
export type { InjectedDocument } from './inject.js';
export type { RateLimitOptions } from './ratelimit.js';
export type { FieldSchema, SchemaProperties } from './schema.js';
export type { NewCollection } from './state.js';

/** Options of {@link startDevServer}. Every field is optional. */
export interface DevServerOptions {
  /** TCP port on 127.0.0.1. Default 0 (a free port; read it from `DevServer.port`). */
  port?: number;
  /** Seed of everything random: documents, faults, mutations. Default 42. */
  seed?: number;
  /** Expected bearer token. Default `'sk_test_devserver'`. */
  apiKey?: string;
  /** Expected `X-Namespace`, also stamped as `_internal.namespace_id`. Default `'ns_dev'`. */
  namespace?: string;
  /**
   * Base documents per collection, or per collection id (missing ids get the default).
   * Costs no memory: documents are generated per request. Default 2000.
   */
  documentsPerCollection?: number | Record<string, number>;
  /**
   * Span of the base documents' `updated_at`, assigned monotonically by index with three
   * documents per timestamp (groups are at least 2 µs apart, so a span too short for the
   * document count is stretched past `end`). Default: end = now − 1 h, start = end − 30 days.
   */
  timeline?: { start: Date; end: Date };
  /** Delay added to every `/v1` response, in ms. Default 0. */
  latencyMs?: number;
  /** Token bucket over all `/v1` requests; 429 + Retry-After when empty. Default null (off). */
  rateLimit?: RateLimitOptions | null;
  /** Per-request fault probabilities on the list endpoint. Default all 0. */
  faults?: FaultOptions;
  /**
   * After every N list pages served (200s), mutate `count` seeded-random documents of the
   * collection just paged, as a concurrent writer would. Default null (off).
   */
  mutateWhilePaging?: { everyNPages: number; count: number } | null;
  /**
   * After every N list pages served (200s), delete `count` seeded-random live documents of
   * the collection just paged, as a concurrent deleter would. Default null (off).
   * @example { everyNPages: 2, count: 5 }
   */
  deleteWhilePaging?: { everyNPages: number; count: number } | null;
  /**
   * After every N list pages served (200s), create `count` new documents (new ids,
   * created_at = updated_at = now) in the collection just paged. Default null (off).
   */
  createWhilePaging?: { everyNPages: number; count: number } | null;
  /**
   * Sort fields the list endpoint refuses with 400 `BadRequestError` (details `{field}`), as
   * given in the request (`document_id`, `_internal.created_at`, ...), to test a client's
   * fallback. Default none.
   * @example ['document_id']
   */
  refuseSortFields?: readonly string[];
  /**
   * Hostile documents spliced into a collection's listing, per collection id: objects, or raw
   * JSON text for what JSON.stringify cannot write (any JSON value). Served verbatim, placed
   * by their own `_internal.updated_at` (else root `updated_at`); one without a readable
   * instant is listed first in every listing, whatever the filter. See inject.ts. Memory is
   * O(injected). Default none.
   * @example { col_pdf_pages: [{ title: 'no id', _internal: { updated_at: '2026-01-02T00:00:00Z' } }, '{"document_id":"deep","a":[[[]]]}'] }
   */
  injectDocuments?: Record<string, readonly InjectedDocument[]>;
  /**
   * Collections served with `output_schema: null` (their documents unchanged), as a
   * collection the schema sync never ran on, to test a client's fallback. Default none.
   * @example ['col_pdf_pages']
   */
  noOutputSchema?: readonly string[];
}

/** Counters since start. `requests` counts `/v1` requests only (admin routes are not API traffic). */
export type DevServerStats = Stats;

/** A running dev server. */
export interface DevServer {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:40123`. */
  url: string;
  port: number;
  /** Collection ids in creation order (added collections last); read anew after addCollection. */
  readonly collections: string[];
  /** Stop listening and drop open connections. */
  close(): Promise<void>;
  /** Change behaviour on the fly; a new `rateLimit` starts with a full bucket. */
  setOptions(patch: Partial<Pick<DevServerOptions, 'latencyMs' | 'rateLimit' | 'faults' | 'mutateWhilePaging' | 'deleteWhilePaging' | 'createWhilePaging' | 'refuseSortFields' | 'noOutputSchema'>>): void;
  /**
   * Declare a top-level field in a collection's `output_schema` (added at the end, or a
   * declaration replaced in place: a type drift), or remove it with `null`. Bumps and returns
   * `schema_version`. From then on every document of the collection carries a deterministic
   * value of the declared type under `name` (a removed field: none); `updated_at` of documents
   * does not change. Throws a RangeError for an unknown collection, a malformed declaration
   * or the removal of an undeclared field.
   * @example server.defineField('col_product_images', 'warehouse', { type: 'string' })
   */
  defineField(collectionId: string, name: string, schema: FieldSchema | null): number;
  /** The current `output_schema.properties` and `schema_version` of a collection (a copy). */
  outputSchema(collectionId: string): { properties: SchemaProperties; schema_version: number };
  /**
   * Add a collection now, listed after every other, with documents generated like
   * `based_on`'s (own ids). Returns its id. Throws a RangeError for a taken or malformed id
   * or an unknown `based_on`.
   * @example server.addCollection({ collection_id: 'col_product_images_eu', based_on: 'col_product_images', documents: 50 })
   */
  addCollection(input: NewCollection): string;
  /** Mutate n seeded-random documents now: new version, updated_at = now (strictly increasing across calls), a changed field. Returns their ids. */
  mutate(collectionId: string, n: number): string[];
  /**
   * Delete documents now: `n` seeded-random live ones, or exactly the given ids (all must be
   * live documents of the collection, else a RangeError naming the first that is not, and
   * nothing is deleted). Returns the deleted ids.
   */
  delete(collectionId: string, which: number | readonly string[]): string[];
  /** Ids deleted and not re-created since start, ascending: the live set is currentVersions. */
  deletedIds(collectionId: string): string[];
  /**
   * Re-create a deleted document under its id: a new version with created_at = updated_at =
   * now. Throws a RangeError when the id is not a deleted document of the collection.
   */
  recreate(collectionId: string, documentId: string): { document_id: string; updated_at: string };
  /** Create n new documents now (new ids, created_at = updated_at = now). Returns their ids. */
  create(collectionId: string, n: number): string[];
  /**
   * Every current (document_id, updated_at) of a collection in list order (deleted documents
   * left out); streams, nothing is materialised. Includes injected documents that have a
   * non-empty string id and a readable instant.
   */
  currentVersions(collectionId: string): Iterable<{ document_id: string; updated_at: string }>;
  /** Every version ever replaced by a mutation or removed by a deletion, oldest first: with currentVersions, all versions the API ever listed. */
  supersededVersions(collectionId: string): Iterable<{ document_id: string; updated_at: string }>;
  stats(): DevServerStats;
}

function resolveOptions(o: DevServerOptions): ResolvedOptions {
  return {
    port: o.port ?? 0,
    seed: o.seed ?? 42,
    apiKey: o.apiKey ?? 'sk_test_devserver',
    namespace: o.namespace ?? 'ns_dev',
    documentsPerCollection: o.documentsPerCollection ?? 2000,
    timeline: o.timeline ?? defaultTimeline(),
    latencyMs: o.latencyMs ?? 0,
    rateLimit: o.rateLimit ?? null,
    faults: o.faults ?? {},
    mutateWhilePaging: o.mutateWhilePaging ?? null,
    deleteWhilePaging: o.deleteWhilePaging ?? null,
    createWhilePaging: o.createWhilePaging ?? null,
    refuseSortFields: o.refuseSortFields ?? [],
    injectDocuments: o.injectDocuments ?? {},
    noOutputSchema: o.noOutputSchema ?? [],
  };
}

function dispatch(state: ServerState, req: IncomingMessage, res: ServerResponse): void {
  // A client that hangs up mid-response (or a fault that destroys the socket) makes later
  // writes emit 'error'; without a listener that would crash the process hosting the tests.
  req.on('error', ignore);
  res.on('error', ignore);
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const handler = url.pathname.startsWith('/_dev/') ? handleAdmin : handleApi;
  void handler(state, req, res, url);
}

function ignore(): void {}

function collectionOf(state: ServerState, id: string) {
  const c = state.collections.get(id);
  if (!c) throw new RangeError(`Unknown collection ${id}; the dev server has ${[...state.collections.keys()].join(', ')}`);
  return c;
}

function applyPatch(state: ServerState, patch: Parameters<DevServer['setOptions']>[0]): void {
  const o = state.options;
  if (patch.latencyMs !== undefined) o.latencyMs = patch.latencyMs;
  if (patch.mutateWhilePaging !== undefined) o.mutateWhilePaging = patch.mutateWhilePaging;
  if (patch.deleteWhilePaging !== undefined) o.deleteWhilePaging = patch.deleteWhilePaging;
  if (patch.createWhilePaging !== undefined) o.createWhilePaging = patch.createWhilePaging;
  if (patch.refuseSortFields !== undefined) o.refuseSortFields = patch.refuseSortFields;
  if (patch.noOutputSchema !== undefined) {
    checkKnown(state.collections, patch.noOutputSchema, 'noOutputSchema');
    o.noOutputSchema = patch.noOutputSchema;
  }
  if (patch.faults !== undefined) {
    o.faults = patch.faults;
    state.faults.update(patch.faults, o.seed);
  }
  if (patch.rateLimit !== undefined) {
    o.rateLimit = patch.rateLimit;
    state.bucket = patch.rateLimit ? new TokenBucket(patch.rateLimit) : null;
  }
}

/** Start a dev server on 127.0.0.1; resolves once it is listening. */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const state = createState(resolveOptions(options));
  const server = createServer((req, res) => dispatch(state, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(state.options.port, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get collections() { return [...state.collections.keys()]; },
    close: () => new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      server.closeAllConnections();
    }),
    setOptions: (patch) => applyPatch(state, patch),
    defineField: (collectionId, name, schema) => collectionOf(state, collectionId).schema.define(name, schema),
    outputSchema: (collectionId) => {
      const schema = collectionOf(state, collectionId).schema;
      return { properties: schema.outputSchema().properties, schema_version: schema.version };
    },
    addCollection: (input) => addCollection(state, input).spec.collectionId,
    mutate: (collectionId, n) => mutateNow(state, collectionOf(state, collectionId), n),
    delete: (collectionId, which) => {
      const c = collectionOf(state, collectionId);
      return deleteNow(state, c, typeof which === 'number' ? which : liveIndices(c, which));
    },
    deletedIds: (collectionId) => collectionOf(state, collectionId).store.deletedIds(),
    recreate: (collectionId, documentId) => {
      const v = recreateNow(state, collectionOf(state, collectionId), documentId);
      return { document_id: v.id, updated_at: v.updated };
    },
    create: (collectionId, n) => createNow(state, collectionOf(state, collectionId), n),
    currentVersions: (collectionId) => {
      const listing = collectionOf(state, collectionId).listing;
      return { *[Symbol.iterator]() { for (const v of listing.versions()) yield { document_id: v.id, updated_at: v.updated }; } };
    },
    supersededVersions: (collectionId) => {
      const store = collectionOf(state, collectionId).store;
      return { *[Symbol.iterator]() { for (const v of store.supersededVersions()) yield { document_id: v.id, updated_at: v.updated }; } };
    },
    stats: () => structuredClone(state.stats),
  };
}
