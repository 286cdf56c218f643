/**
 * One HTTP call of a sink, with the project's retry policy (util/retry.ts): timeouts, network
 * failures, 408/425/429/5xx are retried with backoff (Retry-After honoured); any other non-2xx
 * ends the call at once. What the caller gets back is the 2xx response; a failure is a
 * SinkError (exit 7) whose message the sink writes with its `explain`, naming the fix.
 */
import { SinkError } from '../errors.js';
import { type AttemptFailure, retryDelay } from '../util/retry.js';
import type { SinkEnv } from './types.js';

export interface SinkRequest {
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface SinkResponse {
  status: number;
  headers: Headers;
  text: string;
}

export interface CallOptions {
  /** Built again for each attempt, so a signature or token can be fresh. */
  request: () => SinkRequest | Promise<SinkRequest>;
  /** What a non-2xx response means and how to fix it (the message after the sink and endpoint). */
  explain: (response: SinkResponse) => string;
  /** Overrides the status rule for one response: true retries it (a 400 that is a rate limit), false never. */
  transient?: (response: SinkResponse) => boolean | undefined;
  /** Timeout of one attempt, in ms. Default 30 s. */
  timeoutMs?: number;
}

/** The sink (its name) and what it calls, for messages. */
export interface SinkRef {
  name: string;
  endpoint: string;
}

export const DEFAULT_SINK_TIMEOUT_MS = 30_000;

export async function callSink(sink: SinkRef, env: SinkEnv, options: CallOptions): Promise<SinkResponse> {
  for (let attempt = 0; ; attempt++) {
    const request = await options.request();
    let failure: AttemptFailure;
    let error: SinkError;
    try {
      const response = await attemptOnce(request, env, options.timeoutMs ?? DEFAULT_SINK_TIMEOUT_MS);
      if (response.status >= 200 && response.status < 300) return response;
      const transient = options.transient?.(response);
      const retryAfter = response.headers.get('retry-after') ?? undefined;
      error = new SinkError(sink.name, sink.endpoint, options.explain(response), { status: response.status, transient: transient ?? isTransientStatus(response.status), retryAfter });
      if (transient === false) throw error;
      failure = transient ? { kind: 'status', status: 503, retryAfter } : { kind: 'status', status: response.status, retryAfter };
    } catch (caught) {
      if (env.signal?.aborted) throw caught;
      if (caught instanceof SinkError) {
        if (!caught.transient) throw caught;
        error = caught;
        failure = { kind: 'status', status: caught.status ?? 503, retryAfter: caught.retryAfter };
      } else {
        const code = networkCode(caught);
        error = new SinkError(sink.name, sink.endpoint, `${code === 'timeout' ? `no response within ${(options.timeoutMs ?? DEFAULT_SINK_TIMEOUT_MS) / 1000} s` : `could not connect (${code})`}; check that the host is right and reachable from here`, {
          transient: true,
          cause: caught,
          code: 'ERR_SINK_NETWORK',
        });
        failure = { kind: 'network', code };
      }
    }
    const delay = retryDelay(failure, attempt, env.retry);
    if (delay === null) throw error;
    env.logger.warn('SinkRetry', { sink: sink.name, endpoint: sink.endpoint, attempt: attempt + 1, delay_ms: delay, status: error.status ?? null, message: error.message });
    await env.sleep(delay, env.signal);
  }
}

async function attemptOnce(request: SinkRequest, env: SinkEnv, timeoutMs: number): Promise<SinkResponse> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = env.signal ? AbortSignal.any([env.signal, timeout]) : timeout;
  try {
    const response = await env.fetch(request.url, { method: request.method, headers: request.headers, body: request.body, signal, redirect: 'manual' });
    return { status: response.status, headers: response.headers, text: await response.text() };
  } catch (error) {
    if (timeout.aborted && !env.signal?.aborted) throw Object.assign(new Error('timeout'), { code: 'timeout' });
    throw error;
  }
}

function isTransientStatus(status: number): boolean {
  return [408, 425, 429, 500, 502, 503, 504].includes(status) || status >= 500;
}

function networkCode(error: unknown): string {
  const e = error as { code?: string; cause?: { code?: string } } | undefined;
  return e?.code ?? e?.cause?.code ?? 'network error';
}

/** The body as JSON, or null when it is not JSON (a proxy's HTML page, an empty 401). */
export function jsonOf(response: SinkResponse): unknown {
  try {
    return JSON.parse(response.text);
  } catch {
    return null;
  }
}

/** A body's first 300 characters on one line, for a message (never a request: it could hold a token). */
export function excerpt(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
