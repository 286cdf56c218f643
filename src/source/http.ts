import { SourceError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { type AttemptFailure, type RetryPolicy, retryDelay, sleep } from '../util/retry.js';
import { RequestBudget } from './budget.js';
import { networkCause, networkHint } from './network.js';

/** Settings of the Mixpeek HTTP client. */
export interface MixpeekHttpOptions {
  /** API root, e.g. `https://api.mixpeek.com`. Routes are under `/v1`. */
  baseUrl: string;
  /** Secret; sent only as `Authorization: Bearer`, never logged. */
  apiKey: string;
  /** Sent as `X-Namespace`. */
  namespace: string;
  /** Client-side budget in requests per minute; 0 = none. Default 600. */
  requestsPerMinute: number;
  /** One request's timeout, body included, in ms. Default 60,000. */
  requestTimeoutMs: number;
  retry: RetryPolicy;
  /** Injectable for tests that need a broken transport; defaults to global fetch. */
  fetch?: typeof fetch;
  logger?: Logger;
}

/**
 * POSTs JSON to the API with retries (408/429/5xx, resets, timeouts, truncated or
 * non-JSON bodies), the request budget, and fail-fast on other 4xx with the API's own
 * error message. Returns the parsed JSON body.
 */
export class MixpeekHttp {
  private readonly budget: RequestBudget;
  private readonly fetchImpl: typeof fetch;
  /** Where requests go, for messages: scheme, host and port only (no path, no user info). */
  private readonly origin: string;

  constructor(private readonly options: MixpeekHttpOptions) {
    this.origin = URL.canParse(options.baseUrl) ? new URL(options.baseUrl).origin : 'the base URL';
    this.budget = new RequestBudget(options.requestsPerMinute);
    this.fetchImpl = options.fetch ?? fetch;
  }

  /**
   * `validate` returns what is wrong with a parsed 2xx body (null when it is fine); a wrong
   * body is retried like a cut-off one: a proxy or gateway page is usually transient.
   */
  async postJson(path: string, body: unknown, signal?: AbortSignal, validate?: (value: unknown) => string | null, measured?: (chars: number) => void): Promise<unknown> {
    return this.request('POST', path, body, signal, validate, measured);
  }

  /** GETs `path` (e.g. `/v1/collections/col_1`) with the same retries, budget and errors as {@link postJson}. */
  async getJson(path: string, signal?: AbortSignal, validate?: (value: unknown) => string | null): Promise<unknown> {
    return this.request('GET', path, undefined, signal, validate);
  }

  /** `measured` gets the length of the 2xx body it returns, in characters. */
  private async request(method: 'GET' | 'POST', path: string, body: unknown, signal?: AbortSignal, validate?: (value: unknown) => string | null, measured?: (chars: number) => void): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      await this.budget.take(signal);
      const outcome = await this.attempt(method, path, body, signal, validate);
      if (outcome.ok) {
        measured?.(outcome.chars);
        return outcome.value;
      }
      const delay = retryDelay(outcome.failure, attempt, this.options.retry);
      if (delay === null) throw this.finalError(`${method} ${path}`, path, outcome, attempt);
      this.options.logger?.warn('RequestRetried', {
        stage: 'source',
        path,
        attempt: attempt + 1,
        delay_ms: delay,
        error_type: describeFailure(outcome.failure),
        ...(outcome.failure.kind === 'body' ? { detail: outcome.failure.reason } : {}),
        // A network failure names its cause and where it went (the origin only: never the key).
        ...(outcome.failure.kind === 'network' ? { detail: outcome.failure.message, origin: this.origin } : {}),
      });
      await sleep(delay, signal);
    }
  }

  private async attempt(method: 'GET' | 'POST', path: string, body: unknown, signal?: AbortSignal, validate?: (value: unknown) => string | null): Promise<AttemptOutcome> {
    const timeout = AbortSignal.timeout(this.options.requestTimeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let response: Response;
    try {
      response = await this.fetchImpl(this.options.baseUrl.replace(/\/+$/, '') + path, {
        method,
        headers: {
          authorization: `Bearer ${this.options.apiKey}`,
          'x-namespace': this.options.namespace,
          ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
          accept: 'application/json',
        },
        ...(method === 'POST' ? { body: JSON.stringify(body) } : {}),
        signal: combined,
      });
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      return { ok: false, failure: { kind: 'network', ...networkCause(error) }, error };
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      return { ok: false, failure: { kind: 'body', type: 'cut_off', reason: `body cut off (${networkCause(error).code})` } };
    }
    if (!response.ok) {
      return { ok: false, failure: { kind: 'status', status: response.status, retryAfter: response.headers.get('retry-after') }, text };
    }
    const what = `HTTP ${response.status} ${response.headers.get('content-type') ?? 'without content-type'}`;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return { ok: false, failure: { kind: 'body', type: 'not_json', reason: `${what} body is not JSON (${text.length} chars: ${JSON.stringify(text.slice(0, 80))})` } };
    }
    const problem = validate?.(value) ?? null;
    if (problem) return { ok: false, failure: { kind: 'body', type: 'unexpected_shape', reason: `${what}: ${problem}` } };
    return { ok: true, value, chars: text.length };
  }

  private finalError(where: string, path: string, outcome: Extract<AttemptOutcome, { ok: false }>, attempt: number): SourceError {
    const { failure } = outcome;
    if (failure.kind === 'status') {
      const apiMessage = apiErrorMessage(outcome.text);
      const hint = statusHint(failure.status);
      const retried = attempt > 0 ? ` after ${attempt + 1} attempts` : '';
      return new SourceError(`[mixpeek] ${where}: HTTP ${failure.status}${retried}: ${apiMessage}${hint ? `; ${hint}` : ''}`, {
        status: failure.status,
        transient: failure.status >= 500 || failure.status === 429,
        code: `ERR_SOURCE_HTTP_${failure.status}`,
        context: { path },
      });
    }
    if (failure.kind === 'network') return this.networkError(where, path, failure, outcome.error, attempt);
    const body = failure.type !== 'cut_off';
    const hint = body ? 'something other than the Mixpeek API answered (a proxy, gateway or login page?); check MIXPEEK_BASE_URL and any HTTP proxy' : 'check MIXPEEK_BASE_URL and the network';
    return new SourceError(`[mixpeek] ${where}: ${failure.reason} after ${attempt + 1} attempts; ${hint}`, {
      transient: true,
      code: body ? 'ERR_SOURCE_BODY' : 'ERR_SOURCE_NETWORK',
      context: { path },
    });
  }

  /** e.g. `ECONNREFUSED (connect ECONNREFUSED 127.0.0.1:9) reaching http://127.0.0.1:9 after 3 attempts; nothing accepted ...` */
  private networkError(where: string, path: string, failure: Extract<AttemptFailure, { kind: 'network' }>, cause: unknown, attempt: number): SourceError {
    const said = failure.message && failure.message !== failure.code ? ` (${failure.message})` : '';
    return new SourceError(`[mixpeek] ${where}: ${failure.code}${said} reaching ${this.origin} after ${attempt + 1} attempts; ${networkHint(failure.code)}`, {
      transient: true,
      code: 'ERR_SOURCE_NETWORK',
      cause,
      context: { path, origin: this.origin, cause_code: failure.code },
    });
  }
}

/** `error`: what fetch threw, kept as the final error's `cause`. */
type AttemptOutcome = { ok: true; value: unknown; chars: number } | { ok: false; failure: AttemptFailure; text?: string; error?: unknown };

/** A bounded name of the failure, for the log's `error_type`. */
function describeFailure(failure: AttemptFailure): string {
  if (failure.kind === 'status') return `http_${failure.status}`;
  if (failure.kind === 'network') return failure.code;
  return `body_${failure.type ?? 'invalid'}`;
}

/**
 * The API's own message, from any of its envelopes: `{error:{message,type}}` (current),
 * FastAPI `{detail: string | [{msg}]}`, or plain text.
 */
export function apiErrorMessage(text: string | undefined): string {
  if (!text) return '(empty body)';
  try {
    const body = JSON.parse(text) as Record<string, any>;
    if (body?.error?.message) return body.error.type ? `${body.error.type}: ${body.error.message}` : String(body.error.message);
    if (typeof body?.detail === 'string') return body.detail;
    if (Array.isArray(body?.detail)) return body.detail.map((d: any) => `${(d.loc ?? []).join('.')}: ${d.msg}`).join('; ');
    if (typeof body?.message === 'string') return body.message;
  } catch {
    /* not JSON: fall through to the raw text */
  }
  return text.slice(0, 200);
}

function statusHint(status: number): string | null {
  if (status === 401 || status === 403) return 'check MIXPEEK_API_KEY (and that the key may read this namespace)';
  if (status === 404) return 'check the collection id (--collection) and MIXPEEK_NAMESPACE';
  if (status === 400 || status === 422) return 'the API refused the request; this exporter may need an update for this API version';
  return null;
}
