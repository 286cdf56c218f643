import { sleep } from '../util/retry.js';

/**
 * A client-side request budget: a token bucket of `requestsPerMinute`, so a scheduled
 * export stays under the account's rate limit instead of living on 429s. Costs nothing
 * in memory; `0` turns it off.
 */
export class RequestBudget {
  private tokens: number;
  private last: number;
  private readonly perMs: number;
  private readonly capacity: number;

  constructor(requestsPerMinute: number, private readonly clock: () => number = Date.now) {
    this.perMs = requestsPerMinute / 60_000;
    // A burst of up to a tenth of a minute's budget (at least 1) is allowed.
    this.capacity = Math.max(1, Math.ceil(requestsPerMinute / 10));
    this.tokens = this.capacity;
    this.last = clock();
  }

  /** Waits until one request may be sent. */
  async take(signal?: AbortSignal): Promise<void> {
    if (this.perMs <= 0) return;
    for (;;) {
      this.refill();
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await sleep(Math.ceil((1 - this.tokens) / this.perMs), signal);
    }
  }

  private refill(): void {
    const now = this.clock();
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) * this.perMs);
    this.last = now;
  }
}
