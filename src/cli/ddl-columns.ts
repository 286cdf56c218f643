/**
 * `ddl`'s one piece of I/O: where each collection's typed columns come from, looked up in
 * order (src/ddl stays free of drivers and HTTP; it gets the result as plain data):
 *
 * 1. the newest manifest at the destination that lists typed columns (what the files hold);
 * 2. else the API's `output_schema` (`GET /v1/collections/{id}`), planned as a first run
 *    plans it, when MIXPEEK_API_KEY and the namespace are set;
 * 3. else the envelope alone, with a warning naming what was not reachable and the fix.
 *
 * Every lookup is bounded in time (`timeoutMs`, default 5 s, one API retry at most), so a
 * destination without credentials or an unreachable API cannot hang `ddl`; a source that
 * failed once is not asked again for the next collections.
 *
 * ```ts
 * const { columns, warnings } = await lookupColumns(settings, { timeoutMs: 5000 });
 * ```
 */
import type { DdlSettings } from '../config/load.js';
import { readManifest } from '../commit/manifest.js';
import { layout } from '../commit/layout.js';
import { SourceError } from '../errors.js';
import { columnsFromCollection, columnsFromManifest, envelopeOnly, newestTypedManifest, type ReadManifest } from '../ddl/sources.js';
import type { CollectionColumns } from '../ddl/types.js';
import { MixpeekHttp } from '../source/http.js';
import { type DeclaredSchema, fetchDeclaredSchema } from '../source/schema.js';
import { openDestination } from '../storage/index.js';
import type { StorageDriver } from '../storage/types.js';
import { storageOptions } from './commands/status.js';

export interface LookupOptions {
  /** Bound of each lookup (listing and reading one collection's manifests; one API call), in ms. Default 5,000. */
  timeoutMs?: number;
  /** Opens the destination; default `openDestination` with the settings' storage options. For tests. */
  open?: (settings: DdlSettings) => Promise<StorageDriver>;
}

export interface LookupResult {
  /** One per collection, in the order of `settings.collections`. */
  columns: CollectionColumns[];
  /** What could not be read and how to fix it, for stderr (no secrets: URLs and messages only). */
  warnings: string[];
}

export const LOOKUP_TIMEOUT_MS = 5_000;

/** ddl's settings with the collections chosen (`collections: all` already listed). */
export type ChosenSettings = DdlSettings & { collections: string[] };

/** Manifests read at once, newest run ids first (run ids sort by start time). */
const MANIFEST_BATCH = 16;

/** Looks up the typed columns of every collection of `settings` (`columns: typed`). Never throws: failures become warnings. */
export async function lookupColumns(settings: ChosenSettings, options: LookupOptions = {}): Promise<LookupResult> {
  const lookup = new Lookup(settings, options);
  const warnings: string[] = [];
  const columns: CollectionColumns[] = [];
  try {
    for (const collectionId of settings.collections) columns.push(await lookup.collection(collectionId, warnings));
  } finally {
    await lookup.close();
  }
  return { columns, warnings };
}

/** The lookup of one `ddl` run: the destination opened once, and each source given up after its first failure. */
class Lookup {
  private readonly timeoutMs: number;
  private driver: StorageDriver | null = null;
  /** Why the destination cannot be read (set at its first failure), or null. */
  private destinationFailure: string | null = null;
  /** Why the API cannot be asked (no key or namespace, or its first failure), or null. */
  private apiFailure: string | null;

  constructor(
    private readonly settings: ChosenSettings,
    private readonly options: LookupOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? LOOKUP_TIMEOUT_MS;
    this.apiFailure = apiUnavailable(settings);
  }

  /** The columns of `collectionId`: manifest, else API, else the envelope (each fallback past the manifest adds a warning). */
  async collection(collectionId: string, warnings: string[]): Promise<CollectionColumns> {
    const picked = await this.fromDestination(collectionId);
    if (picked) return columnsFromManifest(picked);
    const api = await this.fromApi(collectionId);
    if (api.columns) {
      if (this.destinationFailure !== null) warnings.push(`${collectionId}: ${this.destinationFailure}; the columns are from the API's output_schema, which matches the files unless a field's declared type changed after it was first staged`);
      return api.columns;
    }
    const reasons = [this.destinationFailure ?? 'no manifest at the destination lists typed columns yet', api.failure].join('; ');
    warnings.push(`${collectionId}: the DDL declares the envelope only: ${reasons}. Fix that and run ddl again, or pass --columns json if the files are exported with columns: json`);
    return envelopeOnly(reasons);
  }

  private async fromDestination(collectionId: string): Promise<ReadManifest | null> {
    if (this.destinationFailure !== null) return null;
    const { settings, timeoutMs } = this;
    try {
      this.driver ??= await bounded((this.options.open ?? openStore)(settings), timeoutMs, `opening ${settings.dest}`);
      return await bounded(newestManifest(this.driver, collectionId), timeoutMs, `reading ${layout.manifestPrefix(collectionId)}`);
    } catch (error) {
      this.destinationFailure = `the destination ${settings.dest} was not readable (${messageOf(error)}); check its credentials (the same settings as export: AWS_* / AZURE_STORAGE_*, --s3-endpoint)`;
      return null;
    }
  }

  private async fromApi(collectionId: string): Promise<{ columns: CollectionColumns; failure?: never } | { columns?: never; failure: string }> {
    if (this.apiFailure !== null) return { failure: this.apiFailure };
    try {
      return { columns: columnsFromCollection(await getCollection(this.settings, collectionId, this.timeoutMs)) };
    } catch (error) {
      const failure = `the API at ${originOf(this.settings.baseUrl)} did not answer GET /v1/collections/${collectionId} (${messageOf(error)})`;
      // A 404 is this collection's (a wrong id); anything else (auth, network, timeout) would fail for the rest too.
      if (error instanceof SourceError && error.status === 404) return { failure: `${failure}; check the collection id` };
      this.apiFailure = `${failure}; check MIXPEEK_API_KEY, --namespace and --base-url`;
      return { failure: this.apiFailure };
    }
  }

  async close(): Promise<void> {
    await this.driver?.close?.().catch(() => {});
  }
}

function openStore(settings: DdlSettings): Promise<StorageDriver> {
  return openDestination(settings.destination, storageOptions(settings));
}

/**
 * The newest manifest of `collectionId` that lists typed columns: keys are listed (cheap),
 * then read newest run id first in batches, stopping after the first batch that holds one
 * (a run that started earlier but finished later is in the same batch unless 16 runs
 * started in between). Null when none lists typed columns.
 */
async function newestManifest(driver: StorageDriver, collectionId: string): Promise<ReadManifest | null> {
  const keys: string[] = [];
  for await (const info of driver.list(layout.manifestPrefix(collectionId))) if (info.key.endsWith('.json')) keys.push(info.key);
  keys.sort().reverse();
  const read: ReadManifest[] = [];
  for (let i = 0; i < keys.length; i += MANIFEST_BATCH) {
    const batch = keys.slice(i, i + MANIFEST_BATCH);
    const manifests = await Promise.all(batch.map((key) => readManifest(driver, key)));
    manifests.forEach((manifest, j) => manifest && read.push({ key: batch[j]!, manifest }));
    const newest = newestTypedManifest(read);
    if (newest) return newest;
  }
  return null;
}

/** `GET /v1/collections/{id}` (reference section 5), with one retry at most, within `timeoutMs`. */
async function getCollection(settings: DdlSettings, collectionId: string, timeoutMs: number): Promise<DeclaredSchema> {
  const http = new MixpeekHttp({
    baseUrl: settings.baseUrl,
    apiKey: settings.apiKey!,
    namespace: settings.namespace!,
    requestsPerMinute: 0,
    requestTimeoutMs: timeoutMs,
    retry: { maxRetries: 1, baseDelayMs: 250, maxDelayMs: 1_000 },
  });
  return fetchDeclaredSchema(http, collectionId, AbortSignal.timeout(timeoutMs * 2));
}

/** Why the API cannot be asked at all, or null. */
function apiUnavailable(settings: DdlSettings): string | null {
  if (!settings.apiKey) return 'MIXPEEK_API_KEY is not set, so the API was not asked for output_schema';
  if (!settings.namespace) return 'no namespace (--namespace or MIXPEEK_NAMESPACE), so the API was not asked for output_schema';
  return null;
}

/** `promise`, or a rejection naming `what` after `ms`. The timer does not keep the process alive. */
async function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}

function originOf(url: string): string {
  return URL.canParse(url) ? new URL(url).origin : url;
}
