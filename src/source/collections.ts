/**
 * The collections of a namespace (`collections: all`): listed through the API, sorted, and
 * narrowed by `excludeCollections`. The one place that turns the `collections` setting into
 * the ids a command works on; export, reconcile, status, verify and ddl all call
 * {@link resolveCollectionIds} (or {@link chooseCollections}, which opens its own client).
 */
import { isSafeCollectionId } from '../commit/layout.js';
import { type Settings, settingsSchema } from '../config/schema.js';
import { ConfigError, InternalError, SourceError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { MixpeekHttp } from './http.js';

/** One collection as the list endpoint describes it; the fields besides id and name are the API's, as sent. */
export interface CollectionSummary {
  collection_id: string;
  /** Absent when the API sent none. */
  collection_name?: string;
  [field: string]: unknown;
}

/** Collections asked for per page; the namespace is listed whole at the start of an invocation. */
export const COLLECTIONS_PAGE_LIMIT = 100;

/** At most this many ids are named in the `CollectionsListed` log line (the count is always whole). */
const LOGGED_IDS = 50;

/**
 * Every collection of the client's namespace, sorted by `collection_id` (code-unit order, so
 * the order is stable across runs and machines). Paged by offset until a short page or
 * `total_count`; a page that brings no id not seen before is refused (SourceError) rather
 * than looped on. A wrong body is retried like other bad bodies (see `postJson`). An id that
 * is not a plain id could not be a path segment at the destination: it is skipped with a
 * `CollectionSkipped` warning naming it, and the run goes on with the others.
 *
 * API: POST /v1/collections/list (reference/mixpeek-api.md §5), body `{}`, query `limit`,
 * `offset`; response `{results: CollectionResponse[], pagination, total_count}`.
 * @example const ids = (await listCollections(http, signal, logger)).map((c) => c.collection_id);
 */
export async function listCollections(http: MixpeekHttp, signal?: AbortSignal, logger?: Logger): Promise<CollectionSummary[]> {
  const found = new Map<string, CollectionSummary>();
  for (let offset = 0; ; ) {
    const path = `/v1/collections/list?limit=${COLLECTIONS_PAGE_LIMIT}&offset=${offset}&include_total=true`;
    const body = (await http.postJson(path, {}, signal, collectionListProblem)) as { results: CollectionSummary[]; total_count?: unknown; pagination?: { total?: unknown } };
    let fresh = 0;
    for (const c of body.results) {
      if (!found.has(c.collection_id)) fresh++;
      found.set(c.collection_id, c);
    }
    offset += body.results.length;
    const total = numberOrNull(body.total_count) ?? numberOrNull(body.pagination?.total);
    if (body.results.length < COLLECTIONS_PAGE_LIMIT || (total !== null && offset >= total)) break;
    if (fresh === 0) {
      throw new SourceError(`[mixpeek] POST /v1/collections/list: the page at offset ${offset - body.results.length} repeats collections already listed; refusing to loop. Retry later; if it persists, give the ids with --collection`, { code: 'ERR_SOURCE_CURSOR_STUCK' });
    }
  }
  const out: CollectionSummary[] = [];
  for (const [id, c] of found) {
    if (isSafeCollectionId(id)) out.push(c);
    else logger?.warn('CollectionSkipped', { collection_id: id, reason: 'not a plain id (letters, digits, _ . -; no / or ..): it cannot be a path segment at the destination' });
  }
  return out.sort((a, b) => (a.collection_id < b.collection_id ? -1 : a.collection_id > b.collection_id ? 1 : 0));
}

/** What is wrong with a collections list response (null when it has a `results` array of collections with string ids). */
export function collectionListProblem(raw: unknown): string | null {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return `the collections list response is not a JSON object (got ${Array.isArray(raw) ? 'an array' : JSON.stringify(raw)?.slice(0, 40)})`;
  const results = (raw as Record<string, unknown>).results;
  if (!Array.isArray(results)) return `the collections list response has no results array (keys: ${Object.keys(raw).slice(0, 10).join(', ') || 'none'})`;
  const bad = results.findIndex((c) => !c || typeof c !== 'object' || typeof (c as Record<string, unknown>).collection_id !== 'string' || (c as Record<string, unknown>).collection_id === '');
  return bad === -1 ? null : `results[${bad}] of the collections list has no collection_id string`;
}

/** The settings that choose collections. */
export type CollectionSettings = Pick<Settings, 'collections'> & Partial<Pick<Settings, 'excludeCollections' | 'namespace'>>;

/**
 * The collection ids a command works on, in order: the `collections` given, or with
 * `collections: all` every collection of the namespace as {@link listCollections} returns
 * it (sorted by id), listed now; then without `excludeCollections`. An exclusion naming no
 * chosen collection only warns (`ExclusionUnmatched`). With `all` it logs `CollectionsListed`
 * (count, the first ids, what was excluded); an empty result warns `NoCollections` and is
 * returned as `[]` (the caller does nothing and exits 0). `http` may be null when
 * `collections` is a list: then nothing goes over the network.
 * @example const ids = await resolveCollectionIds(settings, http, logger, signal); // ['col_a', 'col_b']
 */
export async function resolveCollectionIds(settings: CollectionSettings, http: MixpeekHttp | null, logger: Logger, signal?: AbortSignal): Promise<string[]> {
  const all = settings.collections === 'all';
  let chosen: string[];
  if (settings.collections === 'all') {
    if (!http) throw new InternalError('resolveCollectionIds: collections: all needs an API client to list the namespace');
    chosen = (await listCollections(http, signal, logger)).map((c) => c.collection_id);
  } else chosen = [...settings.collections];
  const exclusions = new Set(settings.excludeCollections ?? []);
  const unmatched = [...exclusions].filter((id) => !chosen.includes(id));
  if (unmatched.length > 0) {
    logger.warn('ExclusionUnmatched', { collection_ids: unmatched, note: `--exclude-collection names ${all ? 'no collection of the namespace' : 'no --collection given'}; nothing to skip for it (a typo?)` });
  }
  const ids = chosen.filter((id) => !exclusions.has(id));
  if (all) {
    const excluded = chosen.filter((id) => exclusions.has(id));
    logger.info('CollectionsListed', { namespace: settings.namespace, count: ids.length, collection_ids: ids.slice(0, LOGGED_IDS), more: Math.max(0, ids.length - LOGGED_IDS), excluded });
  }
  if (ids.length === 0) {
    const why = all ? `namespace ${settings.namespace ?? ''} has no collections${exclusions.size ? ' besides the excluded ones' : ''}` : 'every --collection given is excluded';
    logger.warn('NoCollections', { note: `${why}; nothing to do` });
  }
  return ids;
}

/** How a reading command (status, verify, ddl) reaches the API; the HTTP tuning is the schema's defaults. */
export type NamespaceApiSettings = Partial<Pick<Settings, 'apiKey' | 'namespace' | 'baseUrl'>>;

/**
 * {@link resolveCollectionIds} for a command that has no API client of its own: with
 * `collections: all` it opens one from the settings (a missing key is a ConfigError naming
 * MIXPEEK_API_KEY, exit 2), else it goes nowhere near the network.
 * @example const ids = await chooseCollections(settings, logger); // status --all-collections
 */
export async function chooseCollections(settings: CollectionSettings & NamespaceApiSettings, logger: Logger, signal?: AbortSignal): Promise<string[]> {
  return resolveCollectionIds(settings, settings.collections === 'all' ? namespaceClient(settings, logger) : null, logger, signal);
}

/** A client for listing the namespace, with the schema's default budget, timeout and retries. */
export function namespaceClient(settings: NamespaceApiSettings, logger?: Logger): MixpeekHttp {
  if (!settings.apiKey) throw new ConfigError('listing the namespace (--all-collections) needs the API key: set MIXPEEK_API_KEY');
  if (!settings.namespace) throw new ConfigError('listing the namespace (--all-collections) needs the namespace: set MIXPEEK_NAMESPACE or pass --namespace');
  const shape = settingsSchema.shape;
  return new MixpeekHttp({
    baseUrl: settings.baseUrl ?? shape.baseUrl.parse(undefined),
    apiKey: settings.apiKey,
    namespace: settings.namespace,
    requestsPerMinute: shape.requestsPerMinute.parse(undefined),
    requestTimeoutMs: shape.requestTimeoutMs.parse(undefined),
    retry: { maxRetries: shape.maxRetries.parse(undefined), baseDelayMs: shape.retryBaseDelayMs.parse(undefined), maxDelayMs: shape.retryMaxDelayMs.parse(undefined) },
    logger,
  });
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
