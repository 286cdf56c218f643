/**
 * The webhook sink: one signed `POST` of the run's payload (payload.ts) to a receiver,
 * signed as Standard Webhooks 1.0 specifies so any of its libraries verifies it
 * (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
 *
 *   webhook-id:        the run id (the receiver's idempotency key: the same on every redelivery)
 *   webhook-timestamp: unix seconds of this attempt (fresh on each retry and redelivery)
 *   webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">
 *
 * The HMAC key is the base64-decoded part of the `whsec_` secret. The body is the same bytes
 * on every attempt; only the timestamp and signature change. 2xx is delivered; a 3xx is a
 * failure (redirects are not followed: the receiver's URL is what was configured); 410 asks
 * us to stop; 408/425/429/5xx are retried with the project's policy (http.ts, Retry-After
 * honoured); any other 4xx ends the delivery at once.
 */
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import type { WebhookSpec } from './config.js';
import { callSink, excerpt, type SinkResponse } from './http.js';
import { runPayload } from './payload.js';
import type { Sink } from './types.js';

const version = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/** Sent with every delivery, so a receiver's logs say who called. */
export const WEBHOOK_USER_AGENT = `mixpeek-export/${version} (webhook sink; Standard Webhooks 1.0)`;

/**
 * The `webhook-signature` value for one attempt: `v1,<base64 HMAC-SHA256>` of
 * `<id>.<timestamp>.<body>`, keyed with the base64-decoded part of `secret` (`whsec_…`).
 * @example signWebhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')
 *   // 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
 */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/** Every header of one attempt at `at` (its unix seconds become `webhook-timestamp`). */
export function webhookHeaders(secret: string, id: string, at: Date, body: string): Record<string, string> {
  const timestamp = Math.floor(at.getTime() / 1000);
  return {
    'content-type': 'application/json',
    'user-agent': WEBHOOK_USER_AGENT,
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook(secret, id, timestamp, body),
  };
}

/** Builds the webhook sink from its resolved spec (config.ts: `url`, `secret`, `timeoutMs`). */
export function webhookSink(spec: WebhookSpec): Sink {
  const endpoint = endpointOf(spec.url);
  const ref = { name: spec.name, endpoint };
  return {
    name: spec.name,
    type: spec.type,
    endpoint,
    async deliver(notice, env) {
      const body = JSON.stringify(runPayload(notice));
      const sent: string[] = [spec.secret, spec.secret.slice(6)];
      let attempts = 0;
      const response = await callSink(ref, env, {
        timeoutMs: spec.timeoutMs,
        request: () => {
          attempts++;
          const headers = webhookHeaders(spec.secret, notice.runId, env.now(), body);
          sent.push((headers['webhook-signature'] as string).slice(3));
          return { method: 'POST', url: spec.url, headers, body };
        },
        explain: (r) => explain(r, spec.url, scrubber(sent)),
      });
      return {
        summary: `run ${notice.runId} delivered to ${endpoint} (HTTP ${response.status}, ${notice.manifest.files.length} files)`,
        details: { status: response.status, webhook_id: notice.runId, attempts, bytes: Buffer.byteLength(body) },
      };
    },
  };
}

/** What a refused delivery means, and what to do about it. Never quotes the request (it holds the signature). */
function explain(response: SinkResponse, url: string, scrub: (text: string) => string): string {
  const { status } = response;
  const said = scrub(excerpt(response.text));
  const body = said ? `: ${said}` : '';
  if (status >= 300 && status < 400) {
    const location = response.headers.get('location');
    return `the receiver answered ${status} (a redirect${location ? ` to ${scrub(endpointOf(location, url))}` : ''}), and redirects are not followed (a signed delivery goes only where it was configured); set the final URL as MIXPEEK_EXPORT_WEBHOOK_URL (or url in the sinks entry)`;
  }
  if (status === 410) return `the receiver answered 410 Gone: it asks that deliveries to this URL stop${body}; remove this webhook sink or give its new URL (MIXPEEK_EXPORT_WEBHOOK_URL); the run stays pending until a delivery succeeds`;
  if (status === 401 || status === 403) {
    return `the receiver refused the delivery (HTTP ${status})${body}; check that it verifies with the same secret as MIXPEEK_EXPORT_WEBHOOK_SECRET, over the raw body, and that its clock is within 5 minutes of this one`;
  }
  if (status === 413) return `the receiver refused the body as too large (HTTP 413)${body}; raise its request size limit (this run's payload lists every file of the run)`;
  if (status >= 400 && status < 500) return `the receiver refused the delivery (HTTP ${status})${body}; fix the receiver (or its URL), then the next run delivers this run again`;
  return `the receiver failed (HTTP ${status})${body}; retries ran out, so the next run delivers this run again`;
}

/** Removes the secret and every signature sent, in case a receiver echoes the request back. */
function scrubber(values: readonly string[]): (text: string) => string {
  return (text) => values.filter((v) => v.length >= 8).reduce((acc, v) => acc.split(v).join('***'), text);
}

/** A URL without its query string, fragment or credentials (a query may carry a receiver's token). */
function endpointOf(url: string, base?: string): string {
  if (!URL.canParse(url, base)) return '(not a URL)';
  const parsed = new URL(url, base);
  return `${parsed.origin}${parsed.pathname}`;
}
