import type { Readable } from 'node:stream';

/**
 * A storage driver: a factory returns a plain object with this small interface (STYLE.md
 * item 2). Keys are `/`-separated and relative to the destination root. Every driver
 * (memory, fs, s3, azure) passes one conformance suite (`test/support/conformance.ts`).
 *
 * Errors: `AlreadyExistsError` (create-only write found the key), `PreconditionFailedError`
 * (compare-and-swap lost), other `StorageError`s with `transient` set for throttling/resets.
 */
export interface StorageDriver {
  /** `memory`, `fs`, `s3` or `azure`. */
  readonly kind: string;
  /** A printable URL of a key, with no credentials in it, for messages and logs. */
  url(key: string): string;

  /**
   * Publish a data file: create-only, complete, at its final name, in one step. The body
   * streams in (memory bounded by the driver's part/block size settings). Never
   * overwrites: if the key exists, throws `AlreadyExistsError` and the existing object is
   * untouched. If `body` errors, nothing is published and the error is rethrown.
   */
  publish(key: string, body: Readable | Uint8Array, options?: PublishOptions): Promise<ObjectInfo>;

  /** Read a small object whole (checkpoint, lease, manifest). `null` if absent. */
  read(key: string): Promise<{ body: Buffer; etag: string } | null>;

  /** Stream an object (for `verify` and tests). Throws a StorageError if absent. */
  readStream(key: string): Promise<Readable>;

  /**
   * Write a small object with a condition, atomically: `ifNoneMatch: '*'` creates only;
   * `ifMatch: etag` replaces only that version. Throws `PreconditionFailedError` when the
   * condition does not hold (for `ifNoneMatch`, `AlreadyExistsError`, a subclass-free
   * sibling handled the same way by callers).
   */
  writeIf(key: string, body: Uint8Array, condition: WriteCondition): Promise<{ etag: string }>;

  /** Delete a small object only if its etag still matches (lease release). Absent is fine. */
  deleteIf(key: string, etag: string): Promise<void>;

  /** Size and etag, or `null` if absent. */
  head(key: string): Promise<ObjectInfo | null>;

  /** Every key under a prefix, in lexical order, paging as needed. */
  list(prefix: string): AsyncIterable<ObjectInfo>;

  /** Release clients and sockets. */
  close?(): Promise<void>;
}

export interface PublishOptions {
  contentType?: string;
  /**
   * Called once every byte is durably staged (temp file written, parts uploaded, blocks
   * staged) and before the object becomes visible. The commit protocol records its intent
   * here; if the hook throws, nothing is published. A kill between the hook and the commit
   * leaves an intent whose file either exists (adopted on resume) or not (re-exported).
   */
  beforeCommit?: () => Promise<void>;
}

export type WriteCondition = { ifNoneMatch: '*' } | { ifMatch: string };

export interface ObjectInfo {
  key: string;
  size: number;
  etag: string;
}
