/**
 * Hostile documents a test splices into a collection's listing (`injectDocuments`), served
 * verbatim: any JSON value, given as an object or as raw JSON text (for what JSON.stringify
 * cannot produce: nesting 100,000 deep, a `__proto__` key, lone surrogates).
 *
 * Each is placed in list order by its own `_internal.updated_at`, else its root `updated_at`
 * (ISO-8601 with zone-less = UTC, or epoch seconds), ties by `document_id`, and filtered like
 * any document. One without a readable instant is "unplaced": it is listed first (last when
 * descending) in every listing and matches every filter, as an API that cannot compare its
 * value might do. Vectors, `select` and presigned URLs are not applied to injected documents.
 * Memory is O(injected): their text and parsed form are kept.
 */
import { compareVersions, mergeSorted, type DocVersion, type ScanOptions } from './order.js';
import type { CollectionStore } from './store.js';
import { formatMicros, parseInstant } from './time.js';

/** A document as an object, or its raw JSON text (any JSON value). */
export type InjectedDocument = Record<string, unknown> | string;

/** Sort key of an unplaced document: before every real instant. */
export const UNPLACED_MICROS = -Number.MAX_VALUE;

/** A version whose JSON is the injected text, not the generated document. */
export interface InjectedVersion extends DocVersion {
  injected: {
    text: string;
    doc: unknown;
    /** The document's own `document_id` when it is a non-empty string (the sort id may carry a suffix). */
    documentId: string | null;
    placed: boolean;
  };
}

export function isInjected(version: DocVersion): version is InjectedVersion {
  return 'injected' in version;
}

/** True for an injected document that matches every filter (no readable `updated_at`). */
export function isUnplaced(version: DocVersion): boolean {
  return isInjected(version) && !version.injected.placed;
}

/** The document's `updated_at` (`_internal` first, as the API sorts) and its instant, if readable. */
function instantOf(doc: unknown): { raw: unknown; micros: number | null } {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return { raw: undefined, micros: null };
  const root = doc as Record<string, any>;
  const internal = root['_internal'];
  const raw = internal !== null && typeof internal === 'object' && internal['updated_at'] != null ? internal['updated_at'] : root['updated_at'];
  if (typeof raw === 'number' && Number.isFinite(raw)) return { raw, micros: Math.round(raw * 1e6) };
  return { raw, micros: typeof raw === 'string' ? parseInstant(raw) : null };
}

function toVersion(entry: InjectedDocument, i: number, ids: Set<string>): InjectedVersion {
  const text = typeof entry === 'string' ? entry : JSON.stringify(entry);
  const doc: unknown = typeof entry === 'string' ? JSON.parse(entry) : entry;
  const rawId = (doc as { document_id?: unknown } | null)?.document_id;
  const documentId = typeof rawId === 'string' && rawId !== '' ? rawId : null;
  // Keyset paging needs a unique (instant, id): a missing or repeated id gets a suffix.
  const id = documentId !== null && !ids.has(documentId) ? documentId : `${documentId ?? ''}\u0000injected-${i}`;
  ids.add(id);
  const { raw, micros } = instantOf(doc);
  const at = micros ?? UNPLACED_MICROS;
  return {
    index: -1 - i, version: 1, id, updatedMicros: at, createdMicros: at, createdFormat: 'us',
    updated: typeof raw === 'string' ? raw : micros === null ? '' : formatMicros(micros, 'us'),
    injected: { text, doc, documentId, placed: micros !== null },
  };
}

export class InjectedDocuments {
  private readonly ascending: InjectedVersion[];
  private readonly descending: InjectedVersion[];

  constructor(docs: readonly InjectedDocument[]) {
    const ids = new Set<string>();
    const versions = docs.map((doc, i) => toVersion(doc, i, ids));
    this.ascending = [...versions].sort((a, b) => compareVersions(1, a, b));
    this.descending = [...versions].sort((a, b) => compareVersions(-1, a, b));
  }

  /** Injected versions in list order after `options.after`; placed ones only inside the window. */
  *scan(options: ScanOptions): Generator<InjectedVersion> {
    const lo = options.loMicros ?? -Infinity;
    const hi = options.hiMicros ?? Infinity;
    for (const v of options.direction === 1 ? this.ascending : this.descending) {
      if (options.after && compareVersions(options.direction, v, options.after) <= 0) continue;
      if (v.injected.placed && (v.updatedMicros < lo || v.updatedMicros > hi)) continue;
      yield v;
    }
  }

  countInWindow(loMicros = -Infinity, hiMicros = Infinity): number {
    return this.ascending.filter((v) => !v.injected.placed || (v.updatedMicros >= loMicros && v.updatedMicros <= hiMicros)).length;
  }
}

/** What the list endpoint pages: a collection's store merged with its injected documents. */
export class Listing {
  constructor(
    readonly store: CollectionStore,
    private readonly injected: InjectedDocuments | null,
  ) {}

  get collectionId(): string {
    return this.store.collectionId;
  }

  /** True when injected documents are spliced in (they are not in the store's id order). */
  get hasInjected(): boolean {
    return this.injected !== null;
  }

  scan(options: ScanOptions): Iterable<DocVersion> {
    if (!this.injected) return this.store.scan(options);
    return mergeSorted<DocVersion>((a, b) => compareVersions(options.direction, a, b), this.store.scan(options), this.injected.scan(options));
  }

  countInWindow(loMicros?: number, hiMicros?: number): number {
    return this.store.countInWindow(loMicros, hiMicros) + (this.injected?.countInWindow(loMicros, hiMicros) ?? 0);
  }

  /** Every current (document_id, updated_at) in list order; injected ones only with a non-empty string id and a readable instant. */
  *versions(): Generator<{ id: string; updated: string }> {
    for (const v of this.scan({ direction: 1 })) {
      if (!isInjected(v)) yield v;
      else if (v.injected.placed && v.injected.documentId !== null) yield { id: v.injected.documentId, updated: v.updated };
    }
  }
}
