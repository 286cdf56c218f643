/**
 * A local Databricks workspace for the databricks-sql and databricks-job sinks: node:http on
 * 127.0.0.1, answering the request and response shapes of the Statement Execution API 2.0 and
 * Jobs API 2.2 (reference/sinks.md sections 1-3). It checks the Bearer token and the warehouse
 * id, answers PENDING for a configured number of polls (by count), and really executes what
 * the sink sends against `file://` sources: COPY INTO lists the files its PATTERN matches,
 * skips those loaded before into that table, counts their rows with DuckDB and evolves the
 * table's columns (mergeSchema); the MERGE into `_latest` applies its newer-than rules to the
 * rows of the run it names. Fault switches: failed HTTP answers, a revoked token, failed
 * statements, statements that never finish.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { query } from '../harness.js';

export interface FakeWorkspaceOptions {
  token: string;
  warehouseId: string;
  /** Job ids that exist. */
  jobs?: number[];
}

/** An answer the next `count` requests get instead of the real one (optionally only on paths starting with `path`). */
export interface HttpFault {
  count: number;
  status: number;
  body?: string;
  retryAfter?: string;
  path?: string;
}

export interface StatementFault {
  /** The next statement whose text matches fails with this error (once). */
  match: RegExp;
  error: { error_code: string; message: string };
  sql_state?: string;
  /** End CANCELED (cancelled in the workspace) instead of FAILED. */
  canceled?: boolean;
}

export interface Table {
  columns: Map<string, string>;
  /** Source files loaded (COPY INTO skips them next time). */
  files: Set<string>;
}

interface Latest {
  u: number;
  e: number;
}

interface Statement {
  id: string;
  text: string;
  pendingLeft: number;
  response?: Record<string, unknown>;
}

export interface FakeWorkspace {
  url: string;
  /** Every request: method, path with query, the Authorization header, the body. */
  requests: { method: string; path: string; authorization: string | undefined; body: string }[];
  /** Statement texts in the order received. */
  statements: string[];
  cancels: string[];
  tables: Map<string, Table>;
  /** `_latest` tables: document_id → its version. */
  latest: Map<string, Map<string, Latest>>;
  jobRuns: { run_id: number; job_id: number; job_parameters: Record<string, string>; idempotency_token?: string }[];
  /** Polls answered PENDING/RUNNING before each statement ends (Infinity: never ends). */
  pendingPolls: number;
  /** Answer CLOSED (succeeded, result gone) instead of SUCCEEDED. */
  closeResults: boolean;
  /** Body of a 401: the JSON envelope, or a proxy's HTML page (the API may send either). */
  unauthorizedBody: 'json' | 'html';
  acceptedToken: string | null;
  faults: HttpFault[];
  statementFaults: StatementFault[];
  /** Back to a fresh workspace: no tables, no runs, no faults, the token accepted, statements ending at once. */
  reset(): void;
  close(): Promise<void>;
}

const envelope = (error_code: string, message: string) => JSON.stringify({ error_code, message, details: [] });

export async function startFakeWorkspace(options: FakeWorkspaceOptions): Promise<FakeWorkspace> {
  const statements = new Map<string, Statement>();
  const jobs = new Set(options.jobs ?? []);
  let nextRun = 1000;
  const ws: FakeWorkspace = {
    url: '',
    requests: [],
    statements: [],
    cancels: [],
    tables: new Map(),
    latest: new Map(),
    jobRuns: [],
    pendingPolls: 0,
    closeResults: false,
    unauthorizedBody: 'json',
    acceptedToken: options.token,
    faults: [],
    statementFaults: [],
    reset: () => {
      for (const list of [ws.requests, ws.statements, ws.cancels, ws.jobRuns, ws.faults, ws.statementFaults]) list.length = 0;
      ws.tables.clear();
      ws.latest.clear();
      Object.assign(ws, { pendingPolls: 0, closeResults: false, unauthorizedBody: 'json', acceptedToken: options.token });
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const finish = async (s: Statement) => (s.response ??= await execute(ws, s));
  const answer = async (s: Statement) => {
    if (s.pendingLeft > 0) {
      s.pendingLeft--;
      return { statement_id: s.id, status: { state: s.pendingLeft % 2 ? 'PENDING' : 'RUNNING' } };
    }
    return finish(s);
  };

  const handle = async (req: IncomingMessage, body: string): Promise<[number, string, Record<string, string>?]> => {
    const url = new URL(req.url ?? '/', 'http://x');
    const fault = ws.faults.find((f) => f.count > 0 && (!f.path || url.pathname.startsWith(f.path)));
    if (fault) {
      fault.count--;
      return [fault.status, fault.body ?? envelope('TEMPORARILY_UNAVAILABLE', 'The service is temporarily unavailable'), fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}];
    }
    if (ws.acceptedToken === null || req.headers.authorization !== `Bearer ${ws.acceptedToken}`) {
      return [401, ws.unauthorizedBody === 'json' ? envelope('UNAUTHENTICATED', 'Invalid access token.') : '<html><head><title>Error 401 Unauthorized</title></head><body><pre>Unauthorized</pre></body></html>'];
    }
    if (req.method === 'POST' && !String(req.headers['content-type']).startsWith('application/json')) return [400, envelope('MALFORMED_REQUEST', 'Content-Type must be application/json')];
    const json = body ? (JSON.parse(body) as Record<string, unknown>) : {};
    const parts = url.pathname.split('/').filter(Boolean); // api 2.0 sql statements [id] [cancel]
    if (url.pathname === '/api/2.0/sql/statements' && req.method === 'POST') {
      if (json.warehouse_id !== options.warehouseId) return [404, envelope('RESOURCE_DOES_NOT_EXIST', `SQL warehouse ${String(json.warehouse_id)} does not exist.`)];
      if (typeof json.statement !== 'string' || !/^(0|[5-9]|[1-4]\d|50)s$/.test(String(json.wait_timeout ?? '10s')) || (json.on_wait_timeout && !['CONTINUE', 'CANCEL'].includes(String(json.on_wait_timeout)))) {
        return [400, envelope('INVALID_PARAMETER_VALUE', 'statement, wait_timeout (0s or 5s..50s) or on_wait_timeout is not valid')];
      }
      const s: Statement = { id: `01f0${randomUUID().replace(/-/g, '').slice(0, 28)}`, text: json.statement, pendingLeft: ws.pendingPolls };
      statements.set(s.id, s);
      ws.statements.push(s.text);
      return [200, JSON.stringify(await answer(s))];
    }
    if (parts[0] === 'api' && parts[2] === 'sql' && parts[3] === 'statements' && parts[4]) {
      const s = statements.get(parts[4]);
      if (!s) return [404, envelope('RESOURCE_DOES_NOT_EXIST', `Statement ${parts[4]} not found`)];
      if (parts[5] === 'cancel' && req.method === 'POST') {
        ws.cancels.push(s.id);
        s.pendingLeft = 0;
        s.response ??= { statement_id: s.id, status: { state: 'CANCELED' } };
        return [200, ''];
      }
      return [200, JSON.stringify(await answer(s))];
    }
    if (url.pathname === '/api/2.2/jobs/run-now' && req.method === 'POST') {
      const jobId = Number(json.job_id);
      if (!jobs.has(jobId)) return [400, envelope('INVALID_PARAMETER_VALUE', `Job ${String(json.job_id)} does not exist.`)];
      const token = json.idempotency_token as string | undefined;
      if (token !== undefined && token.length > 64) return [400, envelope('INVALID_PARAMETER_VALUE', 'idempotency_token is longer than 64 characters')];
      const seen = token === undefined ? undefined : ws.jobRuns.find((r) => r.idempotency_token === token);
      const run = seen ?? { run_id: nextRun++, job_id: jobId, job_parameters: json.job_parameters as Record<string, string>, ...(token === undefined ? {} : { idempotency_token: token }) };
      if (!seen) ws.jobRuns.push(run);
      return [200, JSON.stringify({ run_id: run.run_id, number_in_job: run.run_id })];
    }
    if (url.pathname === '/api/2.2/jobs/runs/get' && req.method === 'GET') {
      const run = ws.jobRuns.find((r) => r.run_id === Number(url.searchParams.get('run_id')));
      if (!run) return [400, envelope('INVALID_PARAMETER_VALUE', `Run ${url.searchParams.get('run_id')} does not exist.`)];
      return [200, JSON.stringify({ run_id: run.run_id, job_id: run.job_id, number_in_job: run.run_id, run_page_url: `${ws.url}/#job/${run.job_id}/run/${run.run_id}`, state: { life_cycle_state: 'PENDING', state_message: '' } })];
    }
    return [404, envelope('ENDPOINT_NOT_FOUND', `No API found for '${req.method} ${url.pathname}'`)];
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      ws.requests.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization, body });
      handle(req, body).then(
        ([status, text, headers = {}]) => res.writeHead(status, { 'content-type': text.startsWith('<') ? 'text/html' : 'application/json', ...headers }).end(text),
        (error: Error) => res.writeHead(500, { 'content-type': 'application/json' }).end(envelope('INTERNAL_ERROR', error.message)),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  ws.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return ws;
}

const unquote = (name: string) => name.replace(/`/g, '');

function succeeded(ws: FakeWorkspace, id: string, columns: string[] = [], row: (string | null)[] | null = null): Record<string, unknown> {
  if (ws.closeResults) return { statement_id: id, status: { state: 'CLOSED' } };
  return {
    statement_id: id,
    status: { state: 'SUCCEEDED' },
    manifest: { format: 'JSON_ARRAY', schema: { column_count: columns.length, columns: columns.map((name, position) => ({ name, position, type_name: 'LONG', type_text: 'BIGINT' })) }, total_chunk_count: 1, total_row_count: row ? 1 : 0, truncated: false },
    result: { chunk_index: 0, row_offset: 0, row_count: row ? 1 : 0, ...(row ? { data_array: [row] } : {}) },
  };
}

const failed = (id: string, error_code: string, message: string, sql_state?: string) => ({ statement_id: id, status: { state: 'FAILED', error: { error_code, message }, ...(sql_state ? { sql_state } : {}) } });

async function execute(ws: FakeWorkspace, s: Statement): Promise<Record<string, unknown>> {
  const fault = ws.statementFaults.findIndex((f) => f.match.test(s.text));
  if (fault >= 0) {
    const [f] = ws.statementFaults.splice(fault, 1);
    return f!.canceled ? { statement_id: s.id, status: { state: 'CANCELED' } } : failed(s.id, f!.error.error_code, f!.error.message, f!.sql_state);
  }
  const create = /^CREATE TABLE IF NOT EXISTS (\S+) \((.*)\)\nCOMMENT '/s.exec(s.text);
  if (create) {
    const name = unquote(create[1]!);
    if (!ws.tables.has(name)) {
      const columns = new Map(create[2]!.split(/, (?=`)/).map((def) => /^`([^`]+)` (.+)$/.exec(def)!.slice(1, 3) as [string, string]));
      ws.tables.set(name, { columns, files: new Set() });
    }
    return succeeded(ws, s.id);
  }
  const copy = /^COPY INTO (\S+)\nFROM \(SELECT (.*), _metadata\.file_path AS `_file_name` FROM '([^']*)'\)\nFILEFORMAT = (PARQUET|TEXT)\nPATTERN = '([^']*)'\nFORMAT_OPTIONS \('mergeSchema' = 'true'\)\nCOPY_OPTIONS \('mergeSchema' = 'true'\)$/s.exec(s.text);
  if (copy) return copyInto(ws, s.id, unquote(copy[1]!), copy[3]!, copy[4] === 'PARQUET' ? 'PARQUET' : 'JSON', copy[5]!);
  const merge = /^MERGE WITH SCHEMA EVOLUTION INTO (\S+) AS t\n[\s\S]*FROM (\S+) WHERE _run_id = '([^']+)'/.exec(s.text);
  if (merge) return mergeLatest(ws, s.id, unquote(merge[1]!), unquote(merge[2]!), merge[3]!);
  return failed(s.id, 'BAD_REQUEST', '[PARSE_SYNTAX_ERROR] Syntax error (the fake workspace runs only what the sink sends)', '42601');
}

/** Files under `root` whose path relative to it matches the glob (`*` within one path segment). */
function matching(root: string, glob: string): string[] {
  const re = new RegExp(`^${glob.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`);
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (re.test(path.relative(root, full).split(path.sep).join('/'))) out.push(full);
    }
  };
  walk(root);
  return out.sort();
}

const reader = (format: 'PARQUET' | 'JSON', files: string[]) =>
  `${format === 'PARQUET' ? 'read_parquet' : 'read_json'}([${files.map((f) => `'${f}'`).join(', ')}], union_by_name = true${format === 'JSON' ? ", format = 'newline_delimited'" : ''})`;

async function copyInto(ws: FakeWorkspace, id: string, tableName: string, source: string, format: 'PARQUET' | 'JSON', pattern: string) {
  const table = ws.tables.get(tableName);
  if (!table) return failed(id, 'BAD_REQUEST', `[TABLE_OR_VIEW_NOT_FOUND] The table or view ${tableName} cannot be found.`, '42P01');
  if (!source.startsWith('file://')) return failed(id, 'BAD_REQUEST', `[PATH_NOT_FOUND] Path does not exist: ${source}`);
  const files = matching(fileURLToPath(source), pattern).filter((f) => !table.files.has(f));
  const columns = ['num_affected_rows', 'num_inserted_rows', 'num_skipped_corrupt_files'];
  if (files.length === 0) return succeeded(ws, id, columns, ['0', '0', '0']);
  const described = await query(`DESCRIBE SELECT * FROM ${reader(format, files)}`);
  for (const c of described) if (!table.columns.has(String(c.column_name))) table.columns.set(String(c.column_name), String(c.column_type));
  const [{ n }] = (await query(`SELECT count(*)::VARCHAR AS n FROM ${reader(format, files)}`)) as [{ n: string }];
  for (const f of files) table.files.add(f);
  return succeeded(ws, id, columns, [n, n, '0']);
}

async function mergeLatest(ws: FakeWorkspace, id: string, latestName: string, sourceName: string, runId: string) {
  const source = ws.tables.get(sourceName);
  if (!ws.tables.has(latestName) || !source) return failed(id, 'BAD_REQUEST', `[TABLE_OR_VIEW_NOT_FOUND] The table or view ${ws.tables.has(latestName) ? sourceName : latestName} cannot be found.`, '42P01');
  const files = [...source.files];
  const format = files[0]?.endsWith('.parquet') ? 'PARQUET' : 'JSON';
  const rows = files.length === 0 ? [] : ((await query(
    `SELECT document_id, epoch_us(max_by(updated_at::TIMESTAMPTZ, [epoch_us(updated_at::TIMESTAMPTZ), epoch_us(_exported_at::TIMESTAMPTZ)]))::VARCHAR AS u, ` +
      `epoch_us(max_by(_exported_at::TIMESTAMPTZ, [epoch_us(updated_at::TIMESTAMPTZ), epoch_us(_exported_at::TIMESTAMPTZ)]))::VARCHAR AS e, ` +
      `max_by(coalesce(_deleted, false), [epoch_us(updated_at::TIMESTAMPTZ), epoch_us(_exported_at::TIMESTAMPTZ)]) AS d ` +
      `FROM ${reader(format, files)} WHERE _run_id = '${runId}' GROUP BY document_id`,
  )) as { document_id: string; u: string; e: string; d: boolean }[]);
  const latest = ws.latest.get(latestName) ?? new Map<string, Latest>();
  ws.latest.set(latestName, latest);
  let inserted = 0;
  let updated = 0;
  let deleted = 0;
  for (const r of rows) {
    const s = { u: Number(r.u), e: Number(r.e) };
    const t = latest.get(r.document_id);
    const newer = t !== undefined && (s.u > t.u || (s.u === t.u && s.e > t.e));
    if (t && r.d && newer) (latest.delete(r.document_id), deleted++);
    else if (t && !r.d && newer) (latest.set(r.document_id, s), updated++);
    else if (!t && !r.d) (latest.set(r.document_id, s), inserted++);
  }
  const n = (x: number) => String(x);
  return succeeded(ws, id, ['num_affected_rows', 'num_updated_rows', 'num_deleted_rows', 'num_inserted_rows'], [n(inserted + updated + deleted), n(updated), n(deleted), n(inserted)]);
}
