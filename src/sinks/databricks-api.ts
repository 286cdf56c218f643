/**
 * What the two Databricks sinks share: the REST error envelope and what each failure means
 * for the user, and the SQL Statement Execution client (submit, poll, cancel) that the
 * databricks-sql sink runs its statements through. Every HTTP call goes through `callSink`
 * (http.ts), so the project's retry policy applies; a message never holds the token.
 *
 * Statement Execution API: https://docs.databricks.com/api/workspace/statementexecution
 * Error envelope and status classes: the Databricks SDK's errors/platform.py.
 */
import { SinkError } from '../errors.js';
import { callSink, excerpt, jsonOf, type SinkRef, type SinkResponse } from './http.js';
import type { SinkEnv } from './types.js';

/** `{error_code, message}` of a Databricks error body; both null when the body is not that envelope (HTML, empty 401). */
export function errorOf(response: SinkResponse): { code: string | null; message: string | null } {
  const body = jsonOf(response) as { error_code?: unknown; message?: unknown; error?: unknown } | null;
  if (body && typeof body === 'object') {
    const message = typeof body.message === 'string' ? body.message : typeof body.error === 'string' ? body.error : null;
    return { code: typeof body.error_code === 'string' ? body.error_code : null, message };
  }
  const plain = /^([A-Z_]{4,}): (.+)$/s.exec(response.text.trim());
  return plain ? { code: plain[1]!, message: plain[2]! } : { code: null, message: null };
}

/** A 400 `REQUEST_LIMIT_EXCEEDED` is a rate limit like 429 (the SDK maps it to TooManyRequests). */
export function rateLimited(response: SinkResponse): boolean | undefined {
  const { code } = errorOf(response);
  return code === 'REQUEST_LIMIT_EXCEEDED' || code === 'RESOURCE_EXHAUSTED' ? true : undefined;
}

/** What a Databricks API refuses over, for messages: the warehouse (Statement Execution) or the job (Jobs). */
export type Resource = { kind: 'warehouse'; id: string } | { kind: 'job'; id: number };

const TOKEN_FIX = 'create a new one (workspace: Settings > Developer > Access tokens, or an OAuth token of the service principal) and set DATABRICKS_TOKEN (or DATABRICKS_TOKEN_FILE)';

/** The message of a non-2xx Databricks response: what was refused and how to fix it. */
export function explainHttp(response: SinkResponse, resource: Resource): string {
  const { code, message } = errorOf(response);
  const said = code || message ? ` (${[code, message].filter(Boolean).join(': ')})` : response.text.trim() ? ` (${excerpt(response.text)})` : '';
  const status = `HTTP ${response.status}${said}`;
  const variable = resource.kind === 'warehouse' ? 'DATABRICKS_WAREHOUSE_ID' : 'DATABRICKS_JOB_ID';
  const what = resource.kind === 'warehouse' ? `SQL warehouse ${resource.id}` : `job ${resource.id}`;
  if (response.status === 401) return `DATABRICKS_TOKEN was refused (expired or revoked), ${status}: ${TOKEN_FIX}`;
  if (response.status === 403) {
    const grant = resource.kind === 'warehouse' ? 'CAN USE on the warehouse (SQL Warehouses > the warehouse > Permissions)' : 'CAN MANAGE RUN on the job (Jobs > the job > Permissions)';
    return `the token's principal lacks permission on ${what}, ${status}: grant it ${grant}, or use a token of a principal that has it`;
  }
  if (code === 'ENDPOINT_NOT_FOUND') return `${status}: this is not a Databricks workspace API; set DATABRICKS_HOST to the workspace URL, https://<workspace>.cloud.databricks.com`;
  if (notFound(response, resource.kind, code, message)) {
    return `${what} was not found, ${status}: check ${variable} (${resource.kind === 'warehouse' ? 'SQL Warehouses > the warehouse > Connection details' : 'the number in the job URL, /jobs/<id>'}) and that DATABRICKS_HOST is its workspace`;
  }
  if (response.status === 429 || rateLimited(response)) return `rate limited, ${status}: retried with backoff; lower how often runs start if this persists`;
  if (response.status >= 500) return `Databricks is unavailable, ${status}: retried with backoff; the notification stays pending and is delivered again by the next run`;
  return `the request was refused, ${status}; check the sink's options against the workspace`;
}

function notFound(response: SinkResponse, kind: Resource['kind'], code: string | null, message: string | null): boolean {
  if (response.status === 404) return true;
  if (response.status !== 400) return false;
  const text = message ?? '';
  if (kind === 'warehouse') return /warehouse|endpoint/i.test(text) && /not (found|exist)|does not exist|doesn't exist|invalid/i.test(text);
  // Jobs answer an unknown job with 400 INVALID_PARAMETER_VALUE "Job … does not exist" (SDK errors/overrides.py).
  return (code === 'INVALID_PARAMETER_VALUE' && /job\b.*(does not|doesn't) exist/i.test(text)) || code === 'RESOURCE_DOES_NOT_EXIST';
}

/** Headers of every call: the token as Bearer, JSON both ways. */
export function headersFor(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' };
}

/** The parts of a `StatementResponse` the sink reads (only `statement_id` and `status` are guaranteed). */
export interface StatementResponse {
  statement_id: string;
  status: { state: StatementState; error?: { error_code?: string; message?: string }; sql_state?: string };
  manifest?: { schema?: { columns?: { name: string; position?: number }[] } };
  result?: { data_array?: (string | null)[][] };
}

export type StatementState = 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELED' | 'CLOSED';
const TERMINAL: readonly StatementState[] = ['SUCCEEDED', 'FAILED', 'CANCELED', 'CLOSED'];

/** Where and how statements run: the databricks-sql spec's options. */
export interface StatementTarget {
  host: string;
  token: string;
  warehouseId: string;
  waitTimeoutSeconds: number;
  pollIntervalMs: number;
  statementTimeoutSeconds: number;
}

/**
 * Runs one statement to a terminal state: POST with `wait_timeout` and `on_wait_timeout:
 * CONTINUE`, then a GET every `pollIntervalMs`; past `statementTimeoutSeconds` it cancels the
 * statement and throws (transient: the next run delivers again). Returns the terminal response
 * (SUCCEEDED, FAILED, CANCELED or CLOSED): what a failed statement means is the caller's to say.
 * A POST retried after a 5xx may run its statement twice; every statement the sink sends is
 * idempotent (IF NOT EXISTS, COPY INTO, a newer-than MERGE), so that is harmless.
 */
export async function runStatement(sink: SinkRef, env: SinkEnv, target: StatementTarget, statement: string): Promise<StatementResponse> {
  const base = `${target.host}/api/2.0/sql/statements`;
  const resource: Resource = { kind: 'warehouse', id: target.warehouseId };
  const explain = (r: SinkResponse) => explainHttp(r, resource);
  const started = env.now().getTime();
  const body = JSON.stringify({
    statement,
    warehouse_id: target.warehouseId,
    // The API takes 0 or 5..50 seconds.
    wait_timeout: `${Math.min(50, Math.max(5, target.waitTimeoutSeconds))}s`,
    on_wait_timeout: 'CONTINUE',
    disposition: 'INLINE',
    format: 'JSON_ARRAY',
  });
  let response = statementOf(sink, await callSink(sink, env, { request: () => ({ method: 'POST', url: base, headers: headersFor(target.token), body }), explain, transient: rateLimited, timeoutMs: (target.waitTimeoutSeconds + 30) * 1000 }));
  while (!TERMINAL.includes(response.status.state)) {
    if (env.now().getTime() - started >= target.statementTimeoutSeconds * 1000) {
      await cancel(sink, env, target, response.statement_id);
      throw new SinkError(sink.name, sink.endpoint, `statement ${response.statement_id} was still ${response.status.state} after ${target.statementTimeoutSeconds} s (statementTimeoutSeconds) and was cancelled: check that SQL warehouse ${target.warehouseId} is running and not queueing (or raise statementTimeoutSeconds); the notification stays pending`, { transient: true, code: 'ERR_SINK_TIMEOUT' });
    }
    await env.sleep(target.pollIntervalMs, env.signal);
    const url = `${base}/${encodeURIComponent(response.statement_id)}`;
    response = statementOf(sink, await callSink(sink, env, { request: () => ({ method: 'GET', url, headers: headersFor(target.token) }), explain: (r) => (r.status === 404 ? `statement ${response.statement_id} is gone (HTTP 404); it is submitted again with the next delivery` : explain(r)), transient: rateLimited }));
  }
  return response;
}

/** Cancels a statement (empty body both ways); a cancel that fails is logged, the statement ends by itself. */
async function cancel(sink: SinkRef, env: SinkEnv, target: StatementTarget, id: string): Promise<void> {
  const url = `${target.host}/api/2.0/sql/statements/${encodeURIComponent(id)}/cancel`;
  try {
    await callSink(sink, env, { request: () => ({ method: 'POST', url, headers: headersFor(target.token), body: '{}' }), explain: (r) => explainHttp(r, { kind: 'warehouse', id: target.warehouseId }) });
  } catch (error) {
    env.logger.warn('SinkStatementCancelFailed', { sink: sink.name, statement_id: id, message: (error as Error).message });
  }
}

function statementOf(sink: SinkRef, response: SinkResponse): StatementResponse {
  const body = jsonOf(response) as StatementResponse | null;
  if (!body || typeof body.statement_id !== 'string' || typeof body.status?.state !== 'string') {
    throw new SinkError(sink.name, sink.endpoint, `the answer is not a StatementResponse (${excerpt(response.text)}); check that DATABRICKS_HOST is the workspace URL`, { transient: true });
  }
  return body;
}

/** The first result row by column name (`data_array` values are strings or null), or null when the result is not there (CLOSED). */
export function firstRow(response: StatementResponse): Record<string, string | null> | null {
  const columns = response.manifest?.schema?.columns;
  const row = response.result?.data_array?.[0];
  if (!columns || !row) return null;
  return Object.fromEntries(columns.map((c, i) => [c.name, row[c.position ?? i] ?? null]));
}
