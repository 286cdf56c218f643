/**
 * The list endpoint's order: the identity of a document version, keyset positions, scan
 * options, and the merge of two sorted sequences. Shared by the store and injected documents.
 */
import type { TimeFormat } from './time.js';

/** The identity and timestamps of one current document version (no content). */
export interface DocVersion {
  index: number;
  /** 1 for a base or created document, +1 per mutation or re-creation. */
  version: number;
  id: string;
  updatedMicros: number;
  /** Exactly the string the API returns in `_internal.updated_at`. */
  updated: string;
  createdMicros: number;
  /** Form of `_internal.created_at` (rendered only when the document is; scans skip it). */
  createdFormat: TimeFormat;
}

/** A keyset position: the last (updated_at, document_id) a page returned. */
export interface KeysetPosition {
  updatedMicros: number;
  id: string;
}

/** What to scan: order and an optional inclusive `updated_at` window used for pruning only. */
export interface ScanOptions {
  /** 1 = updated_at ascending, -1 = descending; ties are always document_id ascending. */
  direction: 1 | -1;
  after?: KeysetPosition;
  loMicros?: number;
  hiMicros?: number;
}

/** Total order of the list endpoint for a direction. */
export function compareVersions(direction: 1 | -1, a: KeysetPosition, b: KeysetPosition): number {
  if (a.updatedMicros !== b.updatedMicros) return direction * (a.updatedMicros - b.updatedMicros);
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Merge two sequences sorted by `cmp` (ties: `a` first), lazily. */
export function* mergeSorted<T>(cmp: (x: T, y: T) => number, first: Iterable<T>, second: Iterable<T>): Generator<T> {
  const a = first[Symbol.iterator]();
  const b = second[Symbol.iterator]();
  let x = a.next();
  let y = b.next();
  while (!x.done || !y.done) {
    if (y.done || (!x.done && cmp(x.value, y.value) <= 0)) {
      yield x.value as T;
      x = a.next();
    } else {
      yield y.value;
      y = b.next();
    }
  }
}
