import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/commit/manifest.js';
import { loadSettings } from '../../src/config/load.js';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { SinkError } from '../../src/errors.js';
import { runExport } from '../../src/run/export.js';
import { type SinkEntry, resolveSinks } from '../../src/sinks/config.js';
import { idempotencyToken } from '../../src/sinks/databricks-job.js';
import { createSink, type RunNotice, type SinkEnv } from '../../src/sinks/index.js';
import { openDestination, parseDestination } from '../../src/storage/index.js';
import { createLogger } from '../../src/util/log.js';
import { exportEnv } from '../support/harness.js';
import { type FakeWorkspace, startFakeWorkspace } from '../support/sinks/databricks.js';

const VIDEO = 'col_video_frames';
const DOCS = 300;
const TOKEN = 'dapi0123456789abcdef-not-for-printing';
const WAREHOUSE = '8e8a1d2b3c4d5e6f';
const JOB = 641;
let server: DevServer;
let ws: FakeWorkspace;
/** Every log line of every delivery in this file: none may hold the token. */
const logs: string[] = [];

beforeAll(async () => {
  [server, ws] = await Promise.all([startDevServer({ documentsPerCollection: DOCS, seed: 23 }), startFakeWorkspace({ token: TOKEN, warehouseId: WAREHOUSE, jobs: [JOB] })]);
});
afterAll(async () => Promise.all([server?.close(), ws?.close()]));
beforeEach(() => ws.reset());

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'mxp-sink-dbx-'));
const tick = () => new Promise((resolve) => setTimeout(resolve, 3));

/** Exports one run of the video collection to `dest` and returns its notice, read back from the manifest it wrote. */
async function exportRun(dest: string, flags: Record<string, unknown> = {}, which: 'run' | 'reconcile' = 'run'): Promise<RunNotice> {
  const result = await runExport(loadSettings({ flags: { collections: [VIDEO], dest, safetyLagSeconds: 0, ...flags }, env: exportEnv(server.url) }));
  expect(result.error).toBeUndefined();
  const done = which === 'run' ? result.collections[0]!.runs[0]! : result.collections[0]!.reconciles![0]!;
  const driver = await openDestination(dest);
  const manifest = (await readManifest(driver, done.manifestKey))!;
  return { collectionId: VIDEO, runId: done.runId, kind: manifest.kind ?? 'export', manifest, manifestKey: done.manifestKey, url: (k) => driver.url(k), dest, destination: parseDestination(dest) };
}

/** A SinkEnv whose clock moves only when the sink sleeps (polls and backoffs take no wall time), logging into `logs`. */
function sinkEnv(): SinkEnv & { events: Record<string, unknown>[] } {
  let clock = Date.parse('2026-12-01T00:00:00Z');
  const events: Record<string, unknown>[] = [];
  const logger = createLogger((record) => {
    events.push(record);
    logs.push(JSON.stringify(record));
  });
  return { fetch, logger, retry: { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 5 }, now: () => new Date(clock), sleep: async (ms) => void (clock += ms), events };
}

const sqlSink = (dest: string | null, entry: Partial<Extract<SinkEntry, { type: 'databricks-sql' }>> = {}) =>
  createSink(resolveSinks([{ type: 'databricks-sql', host: ws.url, warehouseId: WAREHOUSE, waitTimeoutSeconds: 5, pollIntervalMs: 1000, ...(dest ? { source: `${pathToFileURL(dest).href}/{collection}/data/` } : {}), ...entry }], { DATABRICKS_TOKEN: TOKEN })[0]!);
const jobSink = (jobId = JOB) => createSink(resolveSinks([{ type: 'databricks-job', host: ws.url, jobId }], { DATABRICKS_TOKEN: TOKEN })[0]!);

/** Delivers and expects a SinkError; returns it after checking the token is nowhere in it. */
async function refused(promise: Promise<unknown>): Promise<SinkError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(SinkError);
  expect((error as SinkError).message).not.toContain(TOKEN);
  return error as SinkError;
}

const statementPosts = () => ws.requests.filter((r) => r.method === 'POST' && r.path === '/api/2.0/sql/statements');
const polls = () => ws.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/api/2.0/sql/statements/'));

describe('databricks-sql sink', () => {
  it('creates the table with the run columns, then COPY INTO loads every row of the run, waiting through PENDING polls', async () => {
    const dest = tempDir();
    const notice = await exportRun(dest, { vectors: true });
    ws.pendingPolls = 3;
    const env = sinkEnv();
    const delivered = await sqlSink(dest).deliver(notice, env);

    expect(ws.statements).toHaveLength(2);
    expect(ws.statements[0]).toMatch(/^CREATE TABLE IF NOT EXISTS `main`\.`default`\.`mixpeek_col_video_frames` \(`document_id` STRING, /);
    const table = ws.tables.get('main.default.mixpeek_col_video_frames')!;
    expect(Object.fromEntries(table.columns)).toMatchObject({ document_id: 'STRING', updated_at: 'TIMESTAMP', fields: 'STRING', vec_image_extractor_v1_embedding: 'ARRAY<FLOAT>', _run_id: 'STRING', _exported_at: 'TIMESTAMP', _deleted: 'BOOLEAN', _file_name: 'STRING' });
    for (const column of notice.manifest.columns) expect(table.columns.has(column)).toBe(true);
    expect(ws.statements[1]).toContain(`PATTERN = 'dt=*/part-${notice.runId}-*.parquet'`);
    expect(ws.statements[1]).toContain('FILEFORMAT = PARQUET');
    expect(table.files.size).toBe(notice.manifest.files.length);
    expect(delivered.details).toMatchObject({ rows_loaded: DOCS, table: '`main`.`default`.`mixpeek_col_video_frames`' });
    expect(delivered.details.statement_ids).toHaveLength(2);
    expect(delivered.summary).toContain(`loaded ${DOCS} rows of run ${notice.runId}`);
    expect(polls()).toHaveLength(6); // 3 per statement, by count
    for (const post of statementPosts()) {
      expect(post.authorization).toBe(`Bearer ${TOKEN}`);
      expect(JSON.parse(post.body)).toMatchObject({ warehouse_id: WAREHOUSE, wait_timeout: '5s', on_wait_timeout: 'CONTINUE' });
    }
  });

  it('loads nothing twice: a redelivery of the same run loads 0 rows, and CREATE TABLE runs once per table', async () => {
    const dest = tempDir();
    const notice = await exportRun(dest);
    const sink = sqlSink(dest);
    expect((await sink.deliver(notice, sinkEnv())).details.rows_loaded).toBe(DOCS);
    expect((await sink.deliver(notice, sinkEnv())).details.rows_loaded).toBe(0);
    expect(ws.statements.filter((s) => s.startsWith('CREATE TABLE'))).toHaveLength(1);
    // A new process (a new sink) says IF NOT EXISTS again; the table and its files stay as they were.
    expect((await sqlSink(dest).deliver(notice, sinkEnv())).details.rows_loaded).toBe(0);
    expect(ws.tables.get('main.default.mixpeek_col_video_frames')!.files.size).toBe(notice.manifest.files.length);
  });

  it("a second run's delivery loads only that run's rows into the catalog, schema and table configured", async () => {
    const dest = tempDir();
    const first = await exportRun(dest);
    const sink = sqlSink(dest, { catalog: 'lake', schema: 'mixpeek', table: 'frames' });
    await sink.deliver(first, sinkEnv());
    server.mutate(VIDEO, 17);
    await tick();
    const second = await exportRun(dest);
    expect(second.manifest.totals.rows).toBe(17);
    const delivered = await sink.deliver(second, sinkEnv());
    expect(delivered.details.rows_loaded).toBe(17);
    expect(ws.tables.get('lake.mixpeek.frames')!.files.size).toBe(first.manifest.files.length + second.manifest.files.length);
  });

  for (const compression of ['gzip', 'zstd'] as const) {
    it(`loads an NDJSON run (${compression}) as TEXT, a pattern on its extension, each column parsed with its table type`, async () => {
      const dest = tempDir();
      const notice = await exportRun(dest, { format: 'ndjson', compression, vectors: true });
      const delivered = await sqlSink(dest).deliver(notice, sinkEnv());
      expect(delivered.details.rows_loaded).toBe(DOCS);
      const copy = ws.statements.find((s) => s.startsWith('COPY INTO'))!;
      expect(copy).toContain('FILEFORMAT = TEXT');
      expect(copy).toContain(`PATTERN = 'dt=*/part-${notice.runId}-*${compression === 'gzip' ? '.json.gz' : '.json.zst'}'`);
      expect(copy).toContain("from_json(value, '`updated_at` TIMESTAMP', map('timestampFormat', 'yyyy-MM-dd\\'T\\'HH:mm:ss.SSSSSSXXX')).`updated_at` AS `updated_at`");
      expect(copy).toContain("from_json(value, '`vec_image_extractor_v1_embedding` ARRAY<FLOAT>'");
      // A JSON column is a STRING field: from_json keeps the nested value's raw text, as the Parquet files hold it.
      expect(copy).toContain("from_json(value, '`fields` STRING'");
    });
  }

  it('merges the newest version of each document into <table>_latest: idempotent on redelivery, tombstones delete', async () => {
    const dest = tempDir();
    const sink = sqlSink(dest, { mergeLatest: true });
    const first = await exportRun(dest);
    const delivered = await sink.deliver(first, sinkEnv());
    expect(delivered.details).toMatchObject({ latest_table: '`main`.`default`.`mixpeek_col_video_frames_latest`', merged: { inserted: DOCS, updated: 0, deleted: 0 } });
    const merge = ws.statements.find((s) => s.startsWith('MERGE'))!;
    expect(merge).toContain(`WHERE _run_id = '${first.runId}'`);
    expect(merge).toContain('WHEN MATCHED AND coalesce(s._deleted, false) AND');
    expect((await sink.deliver(first, sinkEnv())).details.merged).toEqual({ inserted: 0, updated: 0, deleted: 0 });

    server.mutate(VIDEO, 10);
    await tick();
    expect((await sink.deliver(await exportRun(dest), sinkEnv())).details.merged).toEqual({ inserted: 0, updated: 10, deleted: 0 });
    server.delete(VIDEO, 5);
    await tick();
    const reconcile = await exportRun(dest, { reconcile: true }, 'reconcile');
    expect(reconcile.kind).toBe('reconcile');
    expect((await sink.deliver(reconcile, sinkEnv())).details.merged).toEqual({ inserted: 0, updated: 0, deleted: 5 });
    expect(ws.latest.get('main.default.mixpeek_col_video_frames_latest')!.size).toBe(DOCS - 5);
  });

  it('a MERGE that failed after COPY INTO loaded the run is completed by the redelivery, from the rows already in the table', async () => {
    const dest = tempDir();
    const notice = await exportRun(dest);
    const sink = sqlSink(dest, { mergeLatest: true });
    ws.statementFaults.push({ match: /^MERGE/, error: { error_code: 'BAD_REQUEST', message: '[DELTA_CONCURRENT_APPEND] ConcurrentAppendException: Files were added by a concurrent update.' } });
    const error = await refused(sink.deliver(notice, sinkEnv()));
    expect(error.message).toMatch(/MERGE INTO \(_latest\) failed/);
    expect(error.transient).toBe(true);
    expect(ws.tables.get('main.default.mixpeek_col_video_frames')!.files.size).toBe(notice.manifest.files.length);
    const again = await sink.deliver(notice, sinkEnv());
    expect(again.details).toMatchObject({ rows_loaded: 0, merged: { inserted: notice.manifest.totals.rows, updated: 0, deleted: 0 } });
  });

  it('retries 503 (Retry-After), 429 and 400 REQUEST_LIMIT_EXCEEDED, then loads the run', async () => {
    const dest = tempDir();
    const notice = await exportRun(dest);
    ws.faults.push({ count: 1, status: 503, retryAfter: '1', path: '/api/2.0/sql/statements' });
    ws.faults.push({ count: 1, status: 429, body: JSON.stringify({ error_code: 'TOO_MANY_REQUESTS', message: 'slow down' }) });
    ws.faults.push({ count: 1, status: 400, body: JSON.stringify({ error_code: 'REQUEST_LIMIT_EXCEEDED', message: 'rate limit' }) });
    const env = sinkEnv();
    expect((await sqlSink(dest).deliver(notice, env)).details.rows_loaded).toBe(notice.manifest.totals.rows);
    expect(env.events.filter((e) => e.event === 'SinkRetry').map((e) => e.status)).toEqual([503, 429, 400]);
  });

  it('a 503 that outlasts the retries fails transient, naming the endpoint', async () => {
    const dest = tempDir();
    const notice = await exportRun(dest);
    ws.faults.push({ count: 10, status: 503 });
    const error = await refused(sqlSink(dest).deliver(notice, sinkEnv()));
    expect(error.transient).toBe(true);
    expect(error.message).toContain(`${ws.url}/api/2.0/sql/statements`);
    expect(error.message).toMatch(/Databricks is unavailable, HTTP 503 \(TEMPORARILY_UNAVAILABLE/);
    expect(statementPosts()).toHaveLength(4); // the first try and 3 retries
  });

  for (const body of ['json', 'html'] as const) {
    it(`a refused token (401, ${body} body) says to create a new DATABRICKS_TOKEN, once, without printing it`, async () => {
      const dest = tempDir();
      const notice = await exportRun(dest);
      ws.acceptedToken = 'another-token';
      ws.unauthorizedBody = body;
      const env = sinkEnv();
      const error = await refused(sqlSink(dest).deliver(notice, env));
      expect(error.message).toMatch(/^\[sink databricks-sql\] http:\/\/127\.0\.0\.1:\d+\/api\/2\.0\/sql\/statements: DATABRICKS_TOKEN was refused \(expired or revoked\), HTTP 401.*create a new one/);
      expect(error.transient).toBe(false);
      expect(ws.requests).toHaveLength(1);
    });
  }

  it('a 403 says the principal needs CAN USE on the warehouse', async () => {
    const dest = tempDir();
    const notice = await exportRun(dest);
    ws.faults.push({ count: 1, status: 403, body: JSON.stringify({ error_code: 'PERMISSION_DENIED', message: 'You do not have permission to use this warehouse' }) });
    const error = await refused(sqlSink(dest).deliver(notice, sinkEnv()));
    expect(error.message).toMatch(new RegExp(`lacks permission on SQL warehouse ${WAREHOUSE}.*CAN USE`));
  });

  it('an unknown warehouse (404, or 400 naming it) says to check DATABRICKS_WAREHOUSE_ID', async () => {
    const dest = tempDir();
    const notice = await exportRun(dest);
    const error = await refused(sqlSink(dest, { warehouseId: 'nosuchwarehouse' }).deliver(notice, sinkEnv()));
    expect(error.message).toMatch(/SQL warehouse nosuchwarehouse was not found, HTTP 404 \(RESOURCE_DOES_NOT_EXIST.*check DATABRICKS_WAREHOUSE_ID/);
    ws.faults.push({ count: 1, status: 400, body: JSON.stringify({ error_code: 'INVALID_PARAMETER_VALUE', message: 'Warehouse 8e8a does not exist or you do not have access' }) });
    expect((await refused(sqlSink(dest).deliver(notice, sinkEnv()))).message).toMatch(/was not found, HTTP 400.*check DATABRICKS_WAREHOUSE_ID/);
  });

  it('a failed statement names the step, the statement, the SQLSTATE and the privilege to grant', async () => {
    const dest = tempDir();
    const notice = await exportRun(dest);
    ws.statementFaults.push({ match: /^COPY INTO/, error: { error_code: 'BAD_REQUEST', message: "PERMISSION_DENIED: User does not have MODIFY on Table 'main.default.mixpeek_col_video_frames'." }, sql_state: '42501' });
    const error = await refused(sqlSink(dest).deliver(notice, sinkEnv()));
    expect(error.message).toMatch(/COPY INTO failed \(statement 01f0\w+, BAD_REQUEST, SQLSTATE 42501\): PERMISSION_DENIED.*grant it MODIFY \(named above\); this step needs MODIFY on `main`.`default`.`mixpeek_col_video_frames` and READ FILES on the external location covering file:\/\//);
    expect(error.transient).toBe(false);

    ws.statementFaults.push({ match: /^CREATE TABLE/, error: { error_code: 'BAD_REQUEST', message: '[SCHEMA_NOT_FOUND] The schema `main`.`nope` cannot be found.' }, sql_state: '42704' });
    expect((await refused(sqlSink(dest, { schema: 'nope' }).deliver(notice, sinkEnv()))).message).toMatch(/CREATE TABLE failed.*create the schema \(CREATE SCHEMA main\.nope\) or set DATABRICKS_SCHEMA/);
    ws.statementFaults.push({ match: /^COPY INTO/, error: { error_code: 'BAD_REQUEST', message: '[TABLE_OR_VIEW_NOT_FOUND] The table or view `main`.`default`.`mixpeek_col_video_frames` cannot be found.' }, sql_state: '42P01' });
    const sink = sqlSink(dest);
    expect((await refused(sink.deliver(notice, sinkEnv()))).message).toMatch(/the table was dropped while in use; it is created again/);
    await sink.deliver(notice, sinkEnv()); // the same sink creates it again
    expect(ws.statements.at(-2)).toMatch(/^CREATE TABLE/);
  });

  it('a statement still running after statementTimeoutSeconds is cancelled and the delivery fails transient', async () => {
    const dest = tempDir();
    const notice = await exportRun(dest);
    ws.pendingPolls = Infinity;
    const error = await refused(sqlSink(dest, { statementTimeoutSeconds: 3 }).deliver(notice, sinkEnv()));
    expect(error.message).toMatch(/statement 01f0\w+ was still (PENDING|RUNNING) after 3 s \(statementTimeoutSeconds\) and was cancelled/);
    expect(error.transient).toBe(true);
    expect(ws.cancels).toHaveLength(1);
    expect(polls()).toHaveLength(3); // one poll a second, by the injected clock
  });

  it('a statement cancelled in the workspace fails the delivery transient, to be delivered again', async () => {
    const dest = tempDir();
    const notice = await exportRun(dest);
    ws.statementFaults.push({ match: /^COPY INTO/, error: { error_code: 'CANCELLED', message: '' }, canceled: true });
    const error = await refused(sqlSink(dest).deliver(notice, sinkEnv()));
    expect(error.message).toMatch(/COPY INTO was cancelled \(statement 01f0\w+\): someone cancelled it or SQL warehouse .* stopped; the notification stays pending/);
    expect(error.transient).toBe(true);
  });

  it('a typed column new in a later run is added to the table by mergeSchema, without another CREATE', async () => {
    const dest = tempDir();
    const sink = sqlSink(dest);
    await sink.deliver(await exportRun(dest), sinkEnv());
    const table = ws.tables.get('main.default.mixpeek_col_video_frames')!;
    expect(table.columns.has('reviewer')).toBe(false);
    server.defineField(VIDEO, 'reviewer', { type: 'string' });
    try {
      server.mutate(VIDEO, 4);
      await tick();
      const second = await exportRun(dest);
      expect(second.manifest.columns).toContain('reviewer');
      expect((await sink.deliver(second, sinkEnv())).details.rows_loaded).toBe(4);
      expect(table.columns.has('reviewer')).toBe(true);
      expect(ws.statements.filter((s) => s.startsWith('CREATE TABLE'))).toHaveLength(1);
    } finally {
      server.defineField(VIDEO, 'reviewer', null);
    }
  });

  it('a statement that ends CLOSED (result gone) is delivered with the row count unknown', async () => {
    const dest = tempDir();
    const notice = await exportRun(dest);
    ws.closeResults = true;
    const delivered = await sqlSink(dest).deliver(notice, sinkEnv());
    expect(delivered.details.rows_loaded).toBeNull();
    expect(delivered.summary).toContain('an unknown number of rows');
  });

  it('a local --dest without source is refused, saying to set DATABRICKS_SOURCE, before any statement', async () => {
    const dest = tempDir();
    const notice = await exportRun(dest);
    const error = await refused(sqlSink(null).deliver(notice, sinkEnv()));
    expect(error.message).toMatch(/Databricks cannot read --dest .*: set DATABRICKS_SOURCE \(or source in the sinks entry\)/);
    expect(ws.requests).toHaveLength(0);
  });
});

describe('databricks-job sink', () => {
  it('starts the job with the run as parameters and an idempotency token; a redelivery starts no second run', async () => {
    const dest = tempDir();
    const notice = await exportRun(dest);
    const sink = jobSink();
    const first = await sink.deliver(notice, sinkEnv());
    const again = await sink.deliver(notice, sinkEnv());
    expect(ws.jobRuns).toHaveLength(1);
    expect(again.details.job_run_id).toBe(first.details.job_run_id);
    const post = ws.requests.find((r) => r.path === '/api/2.2/jobs/run-now')!;
    expect(post.authorization).toBe(`Bearer ${TOKEN}`);
    expect(JSON.parse(post.body)).toEqual({
      job_id: JOB,
      job_parameters: { collection_id: VIDEO, run_id: notice.runId, manifest_url: notice.url(notice.manifestKey), kind: 'export' },
      idempotency_token: `${VIDEO}/${notice.runId}`,
    });
    expect(first.details.run_page_url).toBe(`${ws.url}/#job/${JOB}/run/${first.details.job_run_id}`);
    expect(first.summary).toContain(`started job ${JOB} run ${first.details.job_run_id} for run ${notice.runId}`);
  });

  it('an idempotency token longer than 64 characters becomes a stable hash', () => {
    const long = idempotencyToken('c'.repeat(60), '20261121T153000Z-s03of16-7f3a');
    expect(long).toHaveLength(64);
    expect(long).toBe(idempotencyToken('c'.repeat(60), '20261121T153000Z-s03of16-7f3a'));
    expect(long).not.toBe(idempotencyToken('c'.repeat(60), '20261121T153000Z-s03of16-7f3b'));
  });

  it('an unknown job says to check DATABRICKS_JOB_ID', async () => {
    const notice = await exportRun(tempDir());
    const error = await refused(jobSink(999).deliver(notice, sinkEnv()));
    expect(error.message).toMatch(/\/api\/2\.2\/jobs\/run-now: job 999 was not found, HTTP 400 \(INVALID_PARAMETER_VALUE: Job 999 does not exist\.\): check DATABRICKS_JOB_ID/);
    expect(error.transient).toBe(false);
  });

  it('retries a 503 and starts one run; a refused token says to create a new one without printing it', async () => {
    const notice = await exportRun(tempDir());
    ws.faults.push({ count: 2, status: 503, retryAfter: '0', path: '/api/2.2/jobs/run-now' });
    await jobSink().deliver(notice, sinkEnv());
    expect(ws.jobRuns).toHaveLength(1);
    ws.acceptedToken = null;
    ws.unauthorizedBody = 'html';
    expect((await refused(jobSink().deliver(notice, sinkEnv()))).message).toMatch(/DATABRICKS_TOKEN was refused \(expired or revoked\)/);
  });
});

it('no log line of any delivery held the token', () => {
  expect(logs.length).toBeGreaterThan(0);
  for (const line of logs) expect(line).not.toContain(TOKEN);
});
