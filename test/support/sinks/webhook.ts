/**
 * A webhook receiver for tests, written the way a real one should be: it verifies each
 * delivery with the `standardwebhooks` library over the raw body (which also refuses a
 * timestamp more than 5 minutes off), answers 401 to one that does not verify, and processes
 * each `webhook-id` once (a redelivery is answered 200 and counted, not processed again).
 *
 * @example
 *   const receiver = await startWebhookReceiver({ secret: 'whsec_…' });
 *   receiver.failNext(2, 503);            // the next two deliveries get 503 + Retry-After: 1 (0 clears)
 *   // … deliver …
 *   expect(receiver.distinctIds()).toEqual(new Set([runId]));
 *   await receiver.close();
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One request the receiver got, whatever it answered. */
export interface WebhookDelivery {
  id: string;
  /** `webhook-timestamp` as sent (unix seconds). */
  timestamp: string;
  signature: string;
  /** The raw body, as received. */
  body: string;
  headers: Record<string, string>;
  /** `standardwebhooks` accepted the signature and timestamp. */
  verified: boolean;
  /** Why it did not verify (the library's message). */
  error?: string;
  /** The status the receiver answered (0: it never answered, `hang`). */
  status: number;
  /** A verified delivery of an id already processed: acknowledged, not processed again. */
  duplicate: boolean;
}

/**
 * A fault for the next deliveries: a status (503/429 come with `Retry-After: 1`, 302 with a
 * `Location` on this receiver, 400 with a body that echoes the request's signature header, as
 * a careless receiver might), or `hang`: never answer (past the sender's timeout).
 */
export type WebhookFault = number | 'hang';

export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>/hooks/mixpeek`. */
  url: string;
  /** Every request, in arrival order. */
  deliveries: WebhookDelivery[];
  /** The ids processed (verified and answered 2xx), each once, in order of arrival. */
  distinctIds(): Set<string>;
  /** The next `n` requests get `fault` instead of the normal answer; replaces faults still pending (`failNext(0, …)` clears them). */
  failNext(n: number, fault: WebhookFault): void;
  /** Forgets every delivery, processed id and pending fault (between tests sharing one receiver). */
  reset(): void;
  close(): Promise<void>;
}

export async function startWebhookReceiver(options: { secret: string }): Promise<WebhookReceiver> {
  const verifier = new Webhook(options.secret);
  const deliveries: WebhookDelivery[] = [];
  const processed: string[] = [];
  const faults: WebhookFault[] = [];
  const hanging = new Set<ServerResponse>();

  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
    const delivery: WebhookDelivery = { id: headers['webhook-id'] ?? '', timestamp: headers['webhook-timestamp'] ?? '', signature: headers['webhook-signature'] ?? '', body, headers, verified: false, status: 0, duplicate: false };
    deliveries.push(delivery);
    try {
      verifier.verify(body, headers);
      delivery.verified = true;
    } catch (error) {
      delivery.error = (error as Error).message;
    }
    const fault = faults.shift();
    if (fault === 'hang') return void hanging.add(res);
    if (fault !== undefined) return answerFault(res, fault, delivery);
    if (!delivery.verified) return answer(res, delivery, 401, { error: `signature refused: ${delivery.error}` });
    delivery.duplicate = processed.includes(delivery.id);
    if (!delivery.duplicate) processed.push(delivery.id);
    answer(res, delivery, 200, { ok: true, duplicate: delivery.duplicate });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/hooks/mixpeek`,
    deliveries,
    distinctIds: () => new Set(processed),
    failNext: (n, fault) => {
      faults.length = 0;
      faults.push(...Array.from({ length: n }, () => fault));
    },
    reset: () => {
      deliveries.length = 0;
      processed.length = 0;
      faults.length = 0;
    },
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function answerFault(res: ServerResponse, status: number, delivery: WebhookDelivery): void {
  if (status === 503 || status === 429) res.setHeader('retry-after', '1');
  if (status >= 300 && status < 400) res.setHeader('location', '/hooks/moved?token=receiver-query-secret');
  if (status === 400) return answer(res, delivery, 400, { error: 'payload refused', echo: delivery.signature });
  if (status === 410) return answer(res, delivery, 410, { error: 'endpoint disabled' });
  answer(res, delivery, status, { error: `fault ${status}` });
}

function answer(res: ServerResponse, delivery: WebhookDelivery, status: number, body: unknown): void {
  delivery.status = status;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
