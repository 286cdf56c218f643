/**
 * Which collections this server exports: the configured ids, or with `collections: all`
 * every collection of the namespace (listed through the API, cached), minus the exclusions.
 * A webhook is organisation-wide, so events for other namespaces' collections arrive too.
 */
import { isSafeCollectionId } from '../commit/layout.js';
import type { ResolvedSettings } from '../config/resolve.js';
import { resolveCollectionIds } from '../source/collections.js';
import type { MixpeekHttp } from '../source/http.js';
import type { Logger } from '../util/log.js';

/** With `collections: all`, an unknown id re-lists the namespace at most this often, in ms. */
const RELIST_AFTER_MS = 30_000;

export class ConfiguredCollections {
  private listed: Set<string> | null = null;
  private listedAt = 0;
  private listing: Promise<Set<string>> | null = null;

  constructor(
    private readonly settings: Pick<ResolvedSettings, 'collections' | 'excludeCollections'>,
    private readonly http: MixpeekHttp | null,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The collections a timer tick exports: the ids, or the namespace listed anew (minus exclusions). */
  async all(signal?: AbortSignal): Promise<string[]> {
    const { collections, excludeCollections } = this.settings;
    if (collections !== 'all') return collections.filter((id) => !excludeCollections.includes(id));
    return [...(await this.relist(signal))];
  }

  /** Whether an event for `id` starts an export. With `all`, an id not in the cached listing lists the namespace again (at most every 30 s). */
  async accepts(id: string, signal?: AbortSignal): Promise<boolean> {
    if (!isSafeCollectionId(id) || this.settings.excludeCollections.includes(id)) return false;
    if (this.settings.collections !== 'all') return this.settings.collections.includes(id);
    if (this.listed?.has(id)) return true;
    if (this.listed && this.now() - this.listedAt < RELIST_AFTER_MS) return false;
    return (await this.relist(signal)).has(id);
  }

  private relist(signal?: AbortSignal): Promise<Set<string>> {
    this.listing ??= resolveCollectionIds(this.settings, this.http, this.logger, signal)
      .then((ids) => {
        this.listed = new Set(ids);
        this.listedAt = this.now();
        return this.listed;
      })
      .finally(() => {
        this.listing = null;
      });
    return this.listing;
  }
}
