/**
 * Seeded fault injection for the list endpoint, so a client's retry and resume paths can be
 * tested deterministically. Decided per request, in a fixed order: reset, error, truncate,
 * throttle, not JSON, repeated cursor, slow; the first that fires wins.
 */
import { Rng, seedOf } from './prng.js';

/** Per-request probabilities in [0, 1]. */
export interface FaultOptions {
  /** Destroy the socket without a response. Default 0. */
  resetRate?: number;
  /** Reply 500 InternalServerError or 503 InferenceServiceUnavailableError. Default 0. */
  errorRate?: number;
  /** Send headers with the full Content-Length, about half the body, then destroy the socket. Default 0. */
  truncateRate?: number;
  /** Reply 429 TooManyRequestsError with `Retry-After: throttleRetryAfterSeconds`. Default 0. */
  throttleRate?: number;
  /** `Retry-After` of a throttled reply, in whole seconds. Default 1. */
  throttleRetryAfterSeconds?: number;
  /** Reply 200 with an HTML page instead of JSON, as a proxy or login gateway would. Default 0. */
  notJsonRate?: number;
  /** Reply with the page but give back the request's own cursor as `next_cursor` (a cursor that does not advance). Default 0. */
  repeatCursorRate?: number;
  /** Wait `slowMs` before answering normally. Default 0. */
  slowRate?: number;
  /** Delay of a slow response. Default 2000. */
  slowMs?: number;
  /** Seed of the fault stream. Default: the server seed. */
  seed?: number;
}

export type Fault =
  | { kind: 'reset' }
  | { kind: 'error'; status: 500 | 503 }
  | { kind: 'truncate' }
  | { kind: 'throttle'; retryAfterSeconds: number }
  | { kind: 'notJson' }
  | { kind: 'repeatCursor' }
  | { kind: 'slow'; ms: number };

const DEFAULT_SLOW_MS = 2000;

export class FaultInjector {
  private rng: Rng;
  /** Throttling draws from its own stream, so adding it left the other faults' streams as they were. */
  private throttleRng: Rng;
  /** So do the hostile-body faults (not JSON, repeated cursor). */
  private bodyRng: Rng;

  constructor(private options: FaultOptions, serverSeed: number) {
    this.rng = new Rng(seedOf(options.seed ?? serverSeed, 0xfa017));
    this.throttleRng = new Rng(seedOf(options.seed ?? serverSeed, 0x429));
    this.bodyRng = new Rng(seedOf(options.seed ?? serverSeed, 0xb0d1));
  }

  /** Replace the probabilities; the stream is re-seeded only when a new seed is given. */
  update(options: FaultOptions, serverSeed: number): void {
    if (options.seed !== undefined && options.seed !== this.options.seed) {
      this.rng = new Rng(seedOf(options.seed ?? serverSeed, 0xfa017));
      this.throttleRng = new Rng(seedOf(options.seed ?? serverSeed, 0x429));
      this.bodyRng = new Rng(seedOf(options.seed ?? serverSeed, 0xb0d1));
    }
    this.options = options;
  }

  /** Decide the fault of one request; always draws the same number of values, so streams stay aligned. */
  decide(): Fault | null {
    const o = this.options;
    const [reset, error, truncate, slow, which] = [this.rng.float(), this.rng.float(), this.rng.float(), this.rng.float(), this.rng.float()];
    const throttle = this.throttleRng.float();
    const [notJson, repeatCursor] = [this.bodyRng.float(), this.bodyRng.float()];
    if (reset < (o.resetRate ?? 0)) return { kind: 'reset' };
    if (error < (o.errorRate ?? 0)) return { kind: 'error', status: which < 0.5 ? 500 : 503 };
    if (truncate < (o.truncateRate ?? 0)) return { kind: 'truncate' };
    if (throttle < (o.throttleRate ?? 0)) return { kind: 'throttle', retryAfterSeconds: o.throttleRetryAfterSeconds ?? 1 };
    if (notJson < (o.notJsonRate ?? 0)) return { kind: 'notJson' };
    if (repeatCursor < (o.repeatCursorRate ?? 0)) return { kind: 'repeatCursor' };
    if (slow < (o.slowRate ?? 0)) return { kind: 'slow', ms: o.slowMs ?? DEFAULT_SLOW_MS };
    return null;
  }
}
