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
  /** What this store can and cannot do, stated by the driver (never guessed from its endpoint). */
  readonly capabilities: DriverCapabilities;

  /**
   * Publish a data file: create-only, complete, at its final name, in one step. The body
   * streams in (memory bounded by the driver's part/block size settings). Never
   * overwrites: if the key exists, throws `AlreadyExistsError` and the existing object is
   * untouched. If `body` errors, nothing is published and the error is rethrown. If
   * `options.signal` aborts before the commit request is sent, nothing is published, staged
   * parts are aborted, and the promise rejects with the signal's reason.
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
  /**
   * The run's cancellation. Checked before every part or block, passed to each upload
   * request and retry wait, and checked again after `beforeCommit`: an abort up to then
   * stops the publish promptly, aborts a multipart upload (no stranded parts) and rejects
   * with `signal.reason`, with nothing published. The commit request itself is not
   * cancelled once sent, so its outcome is known (published, or not).
   */
  signal?: AbortSignal;
}

/**
 * Capability flags of a driver, so callers and validation read them instead of sniffing
 * endpoints.
 * @example s3Driver({ bucket: 'lake' }).capabilities // { partBytes: 8388608, minPartBytes: 5242880, queueSize: 4, ... }
 */
export interface DriverCapabilities {
  /** Size of each uploaded part or block in bytes; 0 when the body is not sent in parts (fs, memory). */
  partBytes: number;
  /** Smallest part (all but the last) the store accepts, in bytes; 0 when there is no minimum. */
  minPartBytes: number;
  /** Most parts or blocks one object may have; `Infinity` when unbounded. */
  maxParts: number;
  /** Parts or blocks uploaded at once per publish (1 for fs and memory). Memory per publish: `partBytes × (queueSize + 1)`. */
  queueSize: number;
}

export type WriteCondition = { ifNoneMatch: '*' } | { ifMatch: string };

export interface ObjectInfo {
  key: string;
  size: number;
  etag: string;
}
