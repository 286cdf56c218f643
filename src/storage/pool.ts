import pLimit from 'p-limit';
import { StorageError } from '../errors.js';
import { type RetryPolicy, retryDelay, sleep } from '../util/retry.js';

/**
 * The bounded queue of part / block uploads one publish runs (S3 UploadPart, Azure Put
 * Block), on `p-limit`. The publish loop asks `ready()` before it reads the next chunk of
 * the body, so the body is not read while the queue is full.
 *
 * Memory bound of one publish: `partBytes × (queueSize + 1)` (the uploads in flight plus
 * the chunk being filled), plus at most one chunk of the body stream. With
 * the defaults (8 MiB, 4) that is 40 MiB.
 */
export interface UploadPool {
  /**
   * Resolves once fewer than `queueSize` uploads are in flight. Rejects with the first
   * upload's failure, or with the signal's reason as soon as it aborts.
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
        await settledOrAborted(inFlight, signal);
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

/** Waits for one task to settle, or for the signal to abort; the listener is removed either way. */
async function settledOrAborted(tasks: Set<Promise<void>>, signal?: AbortSignal): Promise<void> {
  if (!signal) return Promise.race(tasks);
  let onAbort!: () => void;
  const aborted = new Promise<void>((resolve) => {
    onAbort = resolve;
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([...tasks, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
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
