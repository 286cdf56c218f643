/**
 * A local Snowpipe REST API (reference sections 4-5) for the snowpipe sink's tests: node:http
 * on 127.0.0.1, `POST /v1/data/pipes/{pipe}/insertFiles?requestId=<uuid>`. It checks what a
 * real Snowpipe checks, as documented: the key-pair JWT (RS256 signature with the registered
 * public key; iss with that key's fingerprint, sub, upper case, a lifetime of at most an hour),
 * the pipe, the requestId, at most 5,000 files and paths of at most 1,024 UTF-8 bytes. It keeps
 * each pipe's load history by path, so a file sent again is skipped (listed in `skippedFiles`
 * with `showSkippedFiles=true`, as the Java SDK's integration test shows), and answers as the
 * SDK's integration test expects: `{requestId, responseCode: "SUCCESS", skippedFiles}`.
 *
 * Fault switches are counted, never timed: `failNext(n, status)` answers the next n requests
 * with 503, 429, 500 or 400; `refuseNext(n)` answers 401 to the next n; `successForm = 'docs'` answers
 * with the docs' `{requestId, status: "success"}`; `nextBody` answers one 200 with any body.
 */
import { createHash, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import type { SinkEnv } from '../../../src/sinks/types.js';
import { createLogger } from '../../../src/util/log.js';
import { sleep } from '../../../src/util/retry.js';

export interface SnowpipeRequest {
  pipe: string;
  requestId: string | null;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  /** `files` of the body as sent (empty when the body was not that shape). */
  files: { path: string; size?: number }[];
  /** The JWT's header and claims when it verified. */
  jwt?: { header: Record<string, unknown>; claims: Record<string, unknown> };
  /** What the fake answered. */
  status: number;
  /** Why it refused, when it did. */
  refusal?: string;
}

export interface FakeSnowpipeOptions {
  /** The user's RSA_PUBLIC_KEY: the key JWTs must verify with. */
  publicKey: KeyObject | string;
  /** As Snowflake expects them in the claims: upper case, no region (`MYORG-MYACCOUNT`, `MIXPEEK_LOADER`). */
  account: string;
  user: string;
  /** Pipes that exist and the user may operate (case-sensitive, `DB.SCHEMA.PIPE`). */
  pipes: string[];
  /** The PATTERN of the pipes' COPY: a file it does not match is not loaded but listed in `unmatchedPatternFiles`. */
  pattern?: RegExp;
}

export interface FakeSnowpipe {
  url: string;
  requests: SnowpipeRequest[];
  /** Per pipe, how many times each path was queued for loading (1 at most: a repeat is skipped). */
  loads: Map<string, Map<string, number>>;
  failNext(n: number, status: 503 | 429 | 500 | 400, retryAfterSeconds?: number): void;
  refuseNext(n: number): void;
  successForm: 'sdk' | 'docs';
  /** The body of the next 200 instead of the usual one (then back to normal). */
  nextBody: string | null;
  close(): Promise<void>;
}

const FAULT_MESSAGES: Record<number, string> = { 400: 'Invalid request', 429: 'Too many requests', 503: 'Service temporarily unavailable' };
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PATH_RE = /^\/v1\/data\/pipes\/([^/]+)\/insertFiles$/;

/** Error bodies as the SDKs model them: `{code, message, success: false, data, headers}`. */
const errorBody = (code: string, message: string) => JSON.stringify({ data: null, code, message, success: false, headers: null });

export async function startFakeSnowpipe(options: FakeSnowpipeOptions): Promise<FakeSnowpipe> {
  const publicKey = typeof options.publicKey === 'string' ? createPublicKey(options.publicKey) : options.publicKey;
  const fingerprint = `SHA256:${createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64')}`;
  const faults: { status: number; retryAfter?: number }[] = [];
  let refusals = 0;

  const fake: FakeSnowpipe = {
    url: '',
    requests: [],
    loads: new Map(),
    failNext: (n, status, retryAfter) => faults.push(...Array.from({ length: n }, () => ({ status, ...(retryAfter === undefined ? {} : { retryAfter }) }))),
    refuseNext: (n) => (refusals += n),
    successForm: 'sdk',
    nextBody: null,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };

  const verifyJwt = async (authorization: string | undefined): Promise<{ ok: true; jwt: SnowpipeRequest['jwt'] } | { ok: false; why: string }> => {
    if (!authorization?.startsWith('Bearer ')) return { ok: false, why: 'no Bearer token' };
    const token = authorization.slice('Bearer '.length);
    try {
      const { payload } = await jwtVerify(token, publicKey, { algorithms: ['RS256'] });
      const sub = `${options.account}.${options.user}`;
      if (payload.sub !== sub) return { ok: false, why: `sub ${payload.sub} is not ${sub}` };
      if (payload.iss !== `${sub}.${fingerprint}`) return { ok: false, why: `iss ${payload.iss} is not ${sub}.${fingerprint}` };
      if (payload.sub !== payload.sub.toUpperCase()) return { ok: false, why: 'sub is not upper case' };
      if (typeof payload.iat !== 'number' || typeof payload.exp !== 'number' || payload.exp - payload.iat > 3600) return { ok: false, why: 'iat/exp missing or a lifetime over one hour' };
      return { ok: true, jwt: { header: decodeProtectedHeader(token) as Record<string, unknown>, claims: payload as Record<string, unknown> } };
    } catch (error) {
      return { ok: false, why: `JWT does not verify: ${(error as Error).message}` };
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, text: string) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const pipe = decodeURIComponent(PATH_RE.exec(url.pathname)?.[1] ?? '');
    const record: SnowpipeRequest = { pipe, requestId: url.searchParams.get('requestId'), query: url.searchParams, headers: req.headers, files: filesOf(text), status: 0 };
    fake.requests.push(record);
    const answer = (status: number, body: string, headers: Record<string, string> = {}, refusal?: string) => {
      record.status = status;
      if (refusal) record.refusal = refusal;
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(body);
    };
    if (req.method !== 'POST' || !pipe) return answer(404, errorBody('404', 'Not found'), {}, 'not insertFiles');

    const fault = faults.shift();
    if (fault) return answer(fault.status, errorBody(String(fault.status), FAULT_MESSAGES[fault.status] ?? 'Internal error'), fault.retryAfter === undefined ? {} : { 'Retry-After': String(fault.retryAfter) }, 'fault');
    const auth = await verifyJwt(req.headers.authorization);
    if (refusals > 0 || !auth.ok) {
      if (refusals > 0) refusals--;
      return answer(401, errorBody('390144', 'JWT token is invalid.'), {}, auth.ok ? 'refused by switch' : auth.why);
    }
    record.jwt = auth.jwt;
    if (req.headers['x-snowflake-authorization-token-type'] !== 'KEYPAIR_JWT') return answer(401, errorBody('390144', 'Unsupported authorization type.'), {}, 'token type header');
    if (!options.pipes.includes(pipe)) return answer(404, errorBody('404', `Specified object does not exist or not authorized. Pipe not found`), {}, 'unknown pipe');
    const invalid = invalidRequest(record, req, text);
    if (invalid) return answer(400, errorBody('400', invalid), {}, invalid);

    const loaded = fake.loads.get(pipe) ?? new Map<string, number>();
    fake.loads.set(pipe, loaded);
    const matched = record.files.filter((f) => !options.pattern || options.pattern.test(f.path));
    const unmatched = record.files.filter((f) => !matched.includes(f));
    const skipped = matched.filter((f) => loaded.has(f.path));
    for (const f of matched) if (!loaded.has(f.path)) loaded.set(f.path, 1);
    if (fake.nextBody !== null) {
      const body = fake.nextBody;
      fake.nextBody = null;
      return answer(200, body);
    }
    const showSkipped = url.searchParams.get('showSkippedFiles') === 'true';
    const body =
      fake.successForm === 'docs'
        ? { requestId: record.requestId, status: 'success', ...(unmatched.length ? { unmatchedPatternFiles: unmatched.map((f) => f.path) } : {}) }
        : { requestId: record.requestId, responseCode: 'SUCCESS', ...(showSkipped ? { skippedFiles: skipped.map((f) => f.path) } : {}), unmatchedPatternFiles: unmatched.map((f) => f.path) };
    return answer(200, JSON.stringify(body));
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((error: unknown) => res.writeHead(500).end(String(error)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

function filesOf(text: string): { path: string; size?: number }[] {
  try {
    const body = JSON.parse(text) as { files?: unknown };
    return Array.isArray(body.files) ? (body.files as { path: string; size?: number }[]) : [];
  } catch {
    return [];
  }
}

/** Snowpipe's 400s: the body shape and limits (SF-DOC), plus the headers the SDKs send. */
function invalidRequest(record: SnowpipeRequest, req: IncomingMessage, text: string): string | null {
  if (!record.requestId || !UUID_RE.test(record.requestId)) return `requestId ${record.requestId} is not a UUID`;
  if (!req.headers['content-type']?.startsWith('application/json')) return 'Content-Type is not application/json';
  if (req.headers.accept !== 'application/json') return 'Accept is not application/json';
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return 'Invalid JSON body';
  }
  const files = (body as { files?: unknown }).files;
  if (!Array.isArray(files) || files.length === 0) return 'The body needs a non-empty "files" array';
  if (files.length > 5000) return `Too many files: ${files.length} (max 5000)`;
  for (const f of files as { path?: unknown; size?: unknown }[]) {
    if (typeof f.path !== 'string' || f.path === '') return 'Each file needs a path';
    if (Buffer.byteLength(f.path, 'utf8') > 1024) return `File path too long: ${f.path.slice(0, 40)}`;
    if (f.size !== undefined && (typeof f.size !== 'number' || f.size < 0)) return `Invalid size for ${f.path}`;
  }
  return null;
}

/** An RSA 2048 key pair as PEM: PKCS#8 private key (encrypted with `passphrase` when given), SPKI public key. */
export function rsaKeyPair(passphrase?: string): { privateKey: string; publicKey: string } {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem', ...(passphrase ? { cipher: 'aes-256-cbc', passphrase } : {}) },
  });
}

/** The lines of a PEM between its header and footer: none may ever be printed. */
export const keyLines = (pem: string): string[] => pem.split('\n').filter((line) => line && !line.startsWith('-----'));

/** A SinkEnv with fast retries whose log lines (JSON, debug and up) land in `lines`. */
export function sinkEnv(lines: string[] = []): SinkEnv {
  return {
    fetch,
    logger: createLogger((record) => lines.push(JSON.stringify(record)), { level: 'debug' }),
    retry: { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 5 },
    now: () => new Date(),
    sleep: (ms, signal) => sleep(ms, signal),
  };
}
