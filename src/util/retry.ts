/**
 * The retry decision as one pure function (STYLE.md item 7, after got's
 * calculate-retry-delay): which failures are retried, and after how long. Shared by the
 * Mixpeek source (`source/http.ts`) and the storage drivers' part and block retries
 * (`storage/pool.ts`), so both back off the same way.
 */
export interface RetryPolicy {
  /** Attempts after the first one. Default 8. */
  maxRetries: number;
  /** First backoff step in ms; doubles each attempt. Default 500. */
  baseDelayMs: number;
  /** Cap of one backoff step in ms (also caps Retry-After). Default 30,000. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxRetries: 8, baseDelayMs: 500, maxDelayMs: 30_000 };

/** HTTP statuses worth retrying: timeouts, rate limits, server errors. */
const RETRY_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504]);

/** What failed on one attempt: an HTTP status, or a network-level failure. */
export type AttemptFailure =
  | { kind: 'status'; status: number; retryAfter?: string | null }
  /** `code`: the errno (`ECONNREFUSED`, `ENOTFOUND`, a certificate code) or `timeout`; `message`: the cause's own words. */
  | { kind: 'network'; code: string; message?: string }
  /** A 2xx whose body was cut off, is not JSON, or is JSON of the wrong shape (e.g. a proxy's page). */
  | { kind: 'body'; reason: string; type?: 'cut_off' | 'not_json' | 'unexpected_shape' };

/**
 * `null` means do not retry; otherwise the delay before the next attempt.
 * `attempt` counts retries already made (0 before the first retry).
 * `random` is injectable so the jitter is testable.
 */
export function retryDelay(
  failure: AttemptFailure,
  attempt: number,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  now: number = Date.now(),
  random: () => number = Math.random,
): number | null {
  if (attempt >= policy.maxRetries) return null;
  if (failure.kind === 'status' && !RETRY_STATUSES.has(failure.status) && failure.status < 500) return null;
  const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  // Full jitter keeps many exporters from retrying in lockstep after an outage.
  const jittered = Math.round(backoff / 2 + random() * (backoff / 2));
  if (failure.kind === 'status' && failure.retryAfter) {
    const wait = parseRetryAfter(failure.retryAfter, now);
    if (wait !== null) return Math.min(policy.maxDelayMs * 4, Math.max(wait, 0));
  }
  return jittered;
}

/** `Retry-After` is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string, now: number = Date.now()): number | null {
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** Sleep that ends early (rejecting) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
