/**
 * Token-bucket rate limiting as described in DOCS `operations/rate-limits-quotas.mdx`
 * (reference §4b): every response carries `X-RateLimit-*`, and a 429 carries `Retry-After`
 * and the TooManyRequestsError envelope.
 */
import { ApiError } from './http.js';

/** Rate limit settings. */
export interface RateLimitOptions {
  /** Sustained rate; the bucket refills at requestsPerMinute / 60 tokens per second. */
  requestsPerMinute: number;
  /** Bucket capacity. Default: a third of a minute's worth (the docs' tiers: 60 → 20, 600 → 200), at least 1. */
  burst?: number;
}

/** Outcome of taking a token: headers for every response, and an error when empty. */
export interface RateDecision {
  headers: Record<string, string>;
  error: ApiError | null;
}

export class TokenBucket {
  private readonly capacity: number;
  private readonly perMs: number;
  private tokens: number;
  private stamp: number;

  constructor(private readonly options: RateLimitOptions, now = Date.now()) {
    if (!(options.requestsPerMinute > 0)) throw new RangeError('rateLimit.requestsPerMinute must be > 0');
    this.capacity = Math.max(1, options.burst ?? Math.ceil(options.requestsPerMinute / 3));
    this.perMs = options.requestsPerMinute / 60_000;
    this.tokens = this.capacity;
    this.stamp = now;
  }

  /** Take one token for a request arriving at `now` (ms). */
  take(now = Date.now()): RateDecision {
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.stamp) * this.perMs);
    this.stamp = now;
    const allowed = this.tokens >= 1;
    if (allowed) this.tokens -= 1;
    const secondsToFull = (this.capacity - this.tokens) / this.perMs / 1000;
    const headers: Record<string, string> = {
      'X-RateLimit-Limit': String(this.options.requestsPerMinute),
      'X-RateLimit-Remaining': String(Math.floor(this.tokens)),
      'X-RateLimit-Reset': String(Math.ceil(now / 1000 + secondsToFull)),
      'X-RateLimit-Window': '60',
    };
    if (allowed) return { headers, error: null };
    // Whole seconds until one token is back, never 0 (clients treat 0 as "retry now").
    const retryAfter = Math.max(1, Math.ceil((1 - this.tokens) / this.perMs / 1000));
    const error = new ApiError(429, 'TooManyRequestsError', 'Rate limit exceeded',
      { limit: this.options.requestsPerMinute, window: '1m', retry_after: retryAfter },
      { 'Retry-After': String(retryAfter) });
    return { headers, error };
  }
}
