/**
 * A seeded HTTP reverse proxy in front of a storage emulator (s3rver-plus or Azurite) that
 * makes it behave like a cloud on a bad day: throttling answers, connections reset before
 * the request reaches the store, connections reset AFTER the store applied the request
 * (the response is lost: the client's retry then meets its own write), and added latency.
 *
 * The exporter is pointed at the proxy (S3: `--s3-endpoint <url> --s3-force-path-style`;
 * Azure: a connection string whose `BlobEndpoint` is `<url>/devstoreaccount1`). A test's
 * own ground-truth reads go to the emulator directly, never through here.
 *
 * @example
 * const proxy = await startFaultProxy({ upstream: s3Endpoint, flavor: 's3', seed: 7, rates: { busyRate: 0.05 } });
 * // ... run the exporter with --s3-endpoint proxy.url ...
 * proxy.setRates({ busyRate: 0 }); // faults off, at run time
 * console.log(proxy.counts()); // { requests, busy, resetBefore, resetAfter, latency }
 * await proxy.close();
 */
import { randomUUID } from 'node:crypto';
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Rng, seedOf } from '../../src/devserver/prng.js';
import { AZURITE_ACCOUNT, AZURITE_KEY } from './emulators/azurite.js';

/** Per-request probabilities in [0, 1]; decided in this order, the first that fires wins. */
export interface StorageFaultRates {
  /** Answer 503 without forwarding: S3 `SlowDown`, Azure `ServerBusy` (with `x-ms-error-code`). Default 0. */
  busyRate?: number;
  /** Destroy the connection without forwarding (nothing reached the store). Default 0. */
  resetBeforeRate?: number;
  /** Forward, wait for the store's whole answer, then destroy the connection (applied, response lost). Default 0. */
  resetAfterRate?: number;
  /** Wait `latencyMs` before forwarding. Default 0. */
  latencyRate?: number;
  /** Added latency, in ms. Default 200. */
  latencyMs?: number;
}

export interface StorageFaultCounts {
  /** Requests received (faulted or not). */
  requests: number;
  busy: number;
  resetBefore: number;
  resetAfter: number;
  latency: number;
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Replace some rates at run time; the fault stream keeps its seed. */
  setRates(patch: StorageFaultRates): void;
  /**
   * Inject `fault` into the next `times` requests that `when` matches (default: any),
   * whatever the rates say: for tests that need one exact fault on one exact call.
   * @example proxy.force('resetAfter', (req) => req.method === 'PUT' && req.url.includes('comp=blocklist'))
   */
  force(fault: Exclude<Fault, null>, when?: (req: { method: string; url: string }) => boolean, times?: number): void;
  counts(): StorageFaultCounts;
  /** Stop listening and drop open connections. */
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  /** The emulator's base URL, e.g. `http://127.0.0.1:4569`. */
  upstream: string;
  /** Which error body a busy answer carries. */
  flavor: 's3' | 'azure';
  /** Seed of the fault stream. */
  seed: number;
  rates?: StorageFaultRates;
}

export type Fault = 'busy' | 'resetBefore' | 'resetAfter' | 'latency' | null;

/** Headers that describe one hop, not the message: never forwarded either way. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect']);

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = new URL(options.upstream);
  const rates: StorageFaultRates = { ...options.rates };
  const counts: StorageFaultCounts = { requests: 0, busy: 0, resetBefore: 0, resetAfter: 0, latency: 0 };
  const rng = new Rng(seedOf(options.seed, 0x5707a6e));
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });

  /** Always draws the same number of values, so a rate change does not shift the others' streams. */
  const decide = (): Fault => {
    const [busy, before, after, latency] = [rng.float(), rng.float(), rng.float(), rng.float()];
    if (busy < (rates.busyRate ?? 0)) return 'busy';
    if (before < (rates.resetBeforeRate ?? 0)) return 'resetBefore';
    if (after < (rates.resetAfterRate ?? 0)) return 'resetAfter';
    if (latency < (rates.latencyRate ?? 0)) return 'latency';
    return null;
  };

  const forced: { fault: Exclude<Fault, null>; when: (req: { method: string; url: string }) => boolean; times: number }[] = [];
  const takeForced = (req: IncomingMessage): Fault => {
    const entry = forced.find((f) => f.when({ method: req.method ?? '', url: req.url ?? '' }));
    if (!entry) return null;
    if (--entry.times === 0) forced.splice(forced.indexOf(entry), 1);
    return entry.fault;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    counts.requests++;
    const drawn = decide();
    const fault = takeForced(req) ?? drawn;
    if (fault) counts[fault]++;
    if (fault === 'resetBefore') return void req.socket.destroy();
    if (fault === 'busy') return sendBusy(req, res, options.flavor);
    if (fault === 'latency') await new Promise((r) => setTimeout(r, rates.latencyMs ?? 200));
    forward(req, res, upstream, agent, fault === 'resetAfter');
  };

  const server = createServer((req, res) => {
    req.on('error', ignore);
    res.on('error', ignore);
    void handle(req, res);
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    setRates: (patch) => void Object.assign(rates, patch),
    force: (fault, when = () => true, times = 1) => void forced.push({ fault, when, times }),
    counts: () => ({ ...counts }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}

/**
 * Sends the request on to the store. With `loseResponse`, the store's whole answer is read
 * (so the request was applied) and then the client's connection is destroyed instead.
 */
function forward(req: IncomingMessage, res: ServerResponse, upstream: URL, agent: Agent, loseResponse: boolean): void {
  const out = request(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...endToEnd(req.headers), host: upstream.host }, agent },
    (answer) => {
      if (loseResponse) {
        answer.resume();
        answer.on('end', () => req.socket.destroy());
        answer.on('error', () => req.socket.destroy());
        return;
      }
      res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    },
  );
  out.on('error', () => req.socket.destroy()); // the store itself failed: the client sees a reset
  // A client that went away (a killed exporter) takes its upstream request with it.
  req.on('close', () => {
    if (!req.complete) out.destroy();
  });
  res.on('close', () => {
    if (!res.writableFinished && !loseResponse) out.destroy();
  });
  req.pipe(out);
}

/** A 503 with the body each cloud sends when it sheds load. The request body is drained first. */
function sendBusy(req: IncomingMessage, res: ServerResponse, flavor: 's3' | 'azure'): void {
  const requestId = randomUUID();
  const body = flavor === 's3'
    ? `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>${requestId}</RequestId><HostId>fault-proxy</HostId></Error>`
    : `<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code><Message>The server is busy.\nRequestId:${requestId}\nTime:${new Date().toISOString()}</Message></Error>`;
  const headers: Record<string, string> = flavor === 's3'
    ? { 'content-type': 'application/xml', 'x-amz-request-id': requestId }
    : { 'content-type': 'application/xml', 'x-ms-error-code': 'ServerBusy', 'x-ms-request-id': requestId, 'x-ms-version': '2026-10-06' };
  const head = req.method === 'HEAD';
  req.resume();
  req.on('end', () => {
    res.writeHead(503, { ...headers, 'content-length': String(head ? 0 : Buffer.byteLength(body)) });
    res.end(head ? undefined : body);
  });
}

/** A connection string for Azurite's account whose Blob endpoint is the proxy (in front of Azurite). */
export function azuriteConnectionStringVia(proxy: FaultProxy): string {
  return `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${proxy.url}/${AZURITE_ACCOUNT};`;
}

/** The `http://host:port` of the Blob endpoint a connection string names. */
export function blobEndpointOf(connectionString: string): string {
  const found = /BlobEndpoint=(https?:\/\/[^/;]+)/.exec(connectionString)?.[1];
  if (!found) throw new Error('the connection string names no BlobEndpoint');
  return found;
}

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)));
}

function ignore(): void {}
