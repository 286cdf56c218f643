/**
 * `mixpeek-export serve` as a child process through the real CLI, for tests and the demo: it
 * is started with `--port 0`, and the port is read from its `ServeListening` log line. Every
 * wait is on an observed log line or the process's exit, never on a timer alone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { REPO } from './harness.js';

/** One JSON log line of the server. */
export type LogRecord = { event: string } & Record<string, unknown>;

export interface ServeProcess {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  child: ChildProcess;
  /** Every log line so far, parsed (non-JSON lines are kept in `stderr` only). */
  readonly records: LogRecord[];
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves with the n-th line (1-based, counting every line so far) matching `match`. Rejects when the process exits first. */
  waitFor(match: (r: LogRecord) => boolean, nth?: number): Promise<LogRecord>;
  /** Lines whose event is `event` (and, when given, whose collection_id is `collectionId`). */
  events(event: string, collectionId?: string): LogRecord[];
  /** Resolves with the exit code and signal once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (default SIGTERM) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `serve` with `args` (add `--port 0 --host 127.0.0.1`) and resolves once it listens. */
export async function startServeProcess(args: string[], env: Record<string, string | undefined>): Promise<ServeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src/cli/main.ts'), 'serve', ...args], {
    cwd: REPO,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const records: LogRecord[] = [];
  let stdout = '';
  let stderr = '';
  let scanned = 0;
  const waiters: { match: (r: LogRecord) => boolean; nth: number; resolve: (r: LogRecord) => void; reject: (e: Error) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const hits = records.filter(w.match);
      if (hits.length >= w.nth) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(hits[w.nth - 1] as LogRecord);
      }
    }
  };
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => {
    stderr += d;
    for (let end = stderr.indexOf('\n', scanned); end !== -1; end = stderr.indexOf('\n', scanned)) {
      const line = stderr.slice(scanned, end);
      scanned = end + 1;
      if (line.startsWith('{')) records.push(JSON.parse(line) as LogRecord);
    }
    check();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      for (const w of waiters.splice(0)) w.reject(new Error(`serve exited (code ${code}, signal ${signal}) before the awaited log line; stderr:\n${stderr.slice(-3000)}`));
      resolve({ code, signal });
    });
  });
  const waitFor = (match: (r: LogRecord) => boolean, nth = 1) =>
    new Promise<LogRecord>((resolve, reject) => {
      if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`serve has exited; stderr:\n${stderr.slice(-3000)}`));
      waiters.push({ match, nth, resolve, reject });
      check();
    });
  const listening = await waitFor((r) => r.event === 'ServeListening');
  return {
    url: `http://127.0.0.1:${listening.port as number}`,
    child,
    records,
    get stdout() { return stdout; },
    get stderr() { return stderr; },
    waitFor,
    events: (event, collectionId) => records.filter((r) => r.event === event && (collectionId === undefined || r.collection_id === collectionId)),
    exited,
    stop: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** A `collection.documents.written` delivery as Mixpeek sends it (reference/mixpeek-api.md §5). */
export function documentsWritten(eventId: string, collectionId: string, documentCount = 1): Record<string, unknown> {
  return {
    event_id: eventId,
    event_type: 'collection.documents.written',
    occurred_at: new Date().toISOString(),
    namespace_id: 'ns_dev',
    subject: { type: 'collection', id: collectionId },
    metadata: { collection_id: collectionId, document_count: documentCount, index_signature: 'sig_test' },
    cache_scope: { scope: 'collection', collection_id: collectionId },
  };
}

/** POSTs a delivery to the server's webhook path with the secret header (omitted when `secret` is null). */
export async function deliver(url: string, body: unknown, secret: string | null, header = 'X-Mixpeek-Secret'): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/webhooks/mixpeek`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(secret === null ? {} : { [header]: secret }) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : { text } };
}

/** POSTs `size` bytes, declared or chunked, and returns the status even when the server stops reading early. */
export function postRaw(url: string, size: number, chunked: boolean, secret: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/webhooks/mixpeek`, { method: 'POST', headers: { 'X-Mixpeek-Secret': secret, 'Content-Type': 'application/json', ...(chunked ? {} : { 'Content-Length': String(size) }) } });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (error) => (answered ? undefined : reject(error)));
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const write = () => {
      while (sent < size && !answered) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', write);
      }
      req.end();
    };
    write();
  });
}

/**
 * An HTTP proxy in front of the dev server that can hold requests: while held, each request
 * waits (and `holding` resolves at the first one) until `release()`. A run is then in flight
 * for exactly as long as the test wants, however loaded the machine.
 */
export async function holdingProxy(target: string): Promise<{ url: string; hold(): void; release(): void; holding: Promise<void>; close(): Promise<void> }> {
  let held = false;
  let released: Promise<void> = Promise.resolve();
  let release = () => {};
  let sawHeld = () => {};
  const holding = new Promise<void>((resolve) => (sawHeld = resolve));
  const proxy = createServer((req, res) => {
    void (async () => {
      if (held) {
        sawHeld();
        await released;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'content-length')) as Record<string, string>;
      const answer = await fetch(target + (req.url ?? '/'), { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
      res.writeHead(answer.status, Object.fromEntries([...answer.headers].filter(([k]) => k !== 'content-encoding' && k !== 'content-length' && k !== 'transfer-encoding')));
      res.end(Buffer.from(await answer.arrayBuffer()));
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    hold: () => {
      held = true;
      released = new Promise<void>((resolve) => (release = resolve));
    },
    release: () => {
      held = false;
      release();
    },
    holding,
    close: () => new Promise<void>((resolve) => {
      proxy.close(() => resolve());
      proxy.closeAllConnections();
    }),
  };
}
