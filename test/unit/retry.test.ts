import { describe, expect, it } from 'vitest';
import { parseRetryAfter, retryDelay } from '../../src/util/retry.js';
import { RequestBudget } from '../../src/source/budget.js';
import { networkCause, networkHint } from '../../src/source/network.js';

const policy = { maxRetries: 5, baseDelayMs: 100, maxDelayMs: 1000 };

describe('retry policy', () => {
  it('retries 408, 429 and 5xx but not other 4xx', () => {
    for (const status of [408, 429, 500, 502, 503, 504]) expect(retryDelay({ kind: 'status', status }, 0, policy, 0, () => 0.5)).not.toBeNull();
    for (const status of [400, 401, 403, 404, 409, 422]) expect(retryDelay({ kind: 'status', status }, 0, policy, 0, () => 0.5)).toBeNull();
  });

  it('retries connection resets, timeouts and cut-off bodies', () => {
    expect(retryDelay({ kind: 'network', code: 'ECONNRESET' }, 0, policy)).not.toBeNull();
    expect(retryDelay({ kind: 'network', code: 'timeout' }, 0, policy)).not.toBeNull();
    expect(retryDelay({ kind: 'body', reason: 'body cut off' }, 0, policy)).not.toBeNull();
  });

  it('backs off exponentially with jitter and a cap', () => {
    const low = (a: number) => retryDelay({ kind: 'network', code: 'x' }, a, policy, 0, () => 0) as number;
    const high = (a: number) => retryDelay({ kind: 'network', code: 'x' }, a, policy, 0, () => 1) as number;
    expect([low(0), high(0)]).toEqual([50, 100]);
    expect([low(2), high(2)]).toEqual([200, 400]);
    expect(high(4)).toBe(1000); // 1600 capped at 1000
  });

  it('stops after maxRetries', () => {
    expect(retryDelay({ kind: 'status', status: 503 }, 5, policy)).toBeNull();
  });

  it('honours Retry-After in seconds and as an HTTP date', () => {
    expect(retryDelay({ kind: 'status', status: 429, retryAfter: '2' }, 0, policy, 0, () => 0)).toBe(2000);
    const now = Date.parse('2026-11-21T10:00:00Z');
    expect(parseRetryAfter('Sat, 21 Nov 2026 10:00:03 GMT', now)).toBe(3000);
    expect(parseRetryAfter('soon', now)).toBeNull();
  });
});

describe('request budget', () => {
  it('lets a burst through and then spaces requests at the configured rate', async () => {
    let clock = 0;
    const budget = new RequestBudget(600, () => clock); // 10/s, burst 60
    for (let i = 0; i < 60; i++) await budget.take();
    clock += 100; // one token accrues in 100 ms of budget clock
    // An already-aborted signal makes any wait reject at once: resolving proves take() did not sleep.
    await expect(budget.take(AbortSignal.abort())).resolves.toBeUndefined();
    // And with no time passed, the next take would have to wait (so the check above can tell).
    await expect(budget.take(AbortSignal.abort())).rejects.toThrow();
  });
});

describe('network failure causes', () => {
  const fetchFailed = (cause: unknown) => Object.assign(new TypeError('fetch failed'), { cause });
  const coded = (code: string, message: string) => Object.assign(new Error(message), { code });

  it('finds the errno under fetch failed, also inside an AggregateError of addresses tried', () => {
    expect(networkCause(fetchFailed(coded('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9')))).toEqual({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:9' });
    const both = Object.assign(new AggregateError([coded('ECONNREFUSED', 'connect ECONNREFUSED ::1:9'), coded('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9')], ''), { code: 'ECONNREFUSED' });
    expect(networkCause(fetchFailed(both))).toEqual({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED ::1:9' });
  });

  it('names certificate errors, timeouts and causes without a code', () => {
    const tls = networkCause(fetchFailed(coded('CERT_HAS_EXPIRED', 'certificate has expired')));
    expect(tls).toEqual({ code: 'CERT_HAS_EXPIRED', message: 'certificate has expired' });
    expect(networkHint(tls.code)).toContain('certificate chain');
    expect(networkCause(new DOMException('The operation was aborted due to timeout', 'TimeoutError')).code).toBe('timeout');
    expect(networkCause(fetchFailed(new Error('bad port'))).code).toBe('ERR_BAD_PORT');
    expect(networkCause(fetchFailed(new Error('something odd')))).toEqual({ code: 'network_error', message: 'something odd' });
  });
});
