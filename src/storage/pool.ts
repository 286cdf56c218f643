import pLimit from 'p-limit';
import { StorageError } from '../errors.js';
import { type RetryPolicy, retryDelay, sleep } from '../util/retry.js';

/**
 * The bounded queue of part / block uploads one publish runs (S3 UploadPart, Azure Put
 * Block), on `p-limit`. The publish loop asks `ready()` before it reads the next chunk of
 * the body, so the body is not read while the queue is full.
 *
 * Memory bound of one publish: `partBytes × (queueSize + 1)` (the uploads in flight plus
 * the one chunk the chunker holds back), plus at most one chunk of the body stream. With
 * the defaults (8 MiB, 4) that is 40 MiB.
 */
export interface UploadPool {
  /**
   * Resolves once fewer than `queueSize` uploads are in flight. Rejects with the first
   * upload's failure, or with the signal's reason once it aborts (the uploads get the same
   * signal, so an aborted one settles at once and wakes this).
   */
  ready(): Promise<void>;
  /** Starts one upload; call it after `ready()` resolved. */
  add(task: () => Promise<unknown>): void;
  /** Waits for every upload; rejects with the first failure (or the abort reason). */
  drain(): Promise<void>;
  /** Waits for every upload to settle and never rejects: before an abort, so no part lands after it. */
  settle(): Promise<void>;
}

export function uploadPool(queueSize: number, signal?: AbortSignal): UploadPool {
  const limit = pLimit(queueSize);
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const check = () => {
    signal?.throwIfAborted();
    if (failure) throw failure.error;
  };
  return {
    async ready() {
      check();
      // Our own count, not limit.activeCount: p-limit decrements it a tick after the task settles.
      while (inFlight.size >= queueSize) {
        await Promise.race(inFlight);
        check();
      }
    },
    add(task) {
      const tracked: Promise<void> = limit(task).then(
        () => void inFlight.delete(tracked),
        (error: unknown) => {
          inFlight.delete(tracked);
          failure ??= { error };
        },
      );
      inFlight.add(tracked);
    },
    async drain() {
      await Promise.all(inFlight);
      check();
    },
    settle: async () => void (await Promise.all(inFlight)),
  };
}

/** On top of the SDK's own attempts per request: a part or block is worth a few more tries. */
export const PART_RETRY: RetryPolicy = { maxRetries: 3, baseDelayMs: 250, maxDelayMs: 4_000 };

/**
 * Runs one part or block upload, retrying a transient `StorageError` (throttling, resets)
 * with the shared backoff (`util/retry.ts`). An abort ends the wait at once and rejects
 * with the signal's reason; anything else that is not transient is rethrown as it is.
 */
export async function retryTransient<T>(fn: () => Promise<T>, signal?: AbortSignal, policy: RetryPolicy = PART_RETRY): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      signal?.throwIfAborted();
      const delay = error instanceof StorageError && error.transient ? retryDelay({ kind: 'network', code: error.code }, attempt, policy) : null;
      if (delay === null) throw error;
      await sleep(delay, signal);
    }
  }
}
