/**
 * The `databricks-job` sink: starts a Databricks job for each run (`POST /api/2.2/jobs/run-now`)
 * with the run as job parameters (`collection_id`, `run_id`, `manifest_url`, `kind`), so the job
 * reads the run's manifest and loads its files itself. The idempotency token makes a
 * redelivery start no second job run: Databricks "guarantees that exactly one run is launched
 * with that idempotency token" and answers a repeated token with the first run's id.
 *
 * Jobs API: https://docs.databricks.com/api/workspace/jobs/runnow
 */
import { createHash } from 'node:crypto';
import type { DatabricksJobSpec } from './config.js';
import { explainHttp, headersFor, rateLimited } from './databricks-api.js';
import { SinkError } from '../errors.js';
import { callSink, excerpt, jsonOf, type SinkRef } from './http.js';
import type { Delivered, RunNotice, Sink, SinkEnv } from './types.js';

/** The longest idempotency token run-now takes. */
export const MAX_IDEMPOTENCY_TOKEN = 64;

/** Builds the sink; `spec` is resolved (config.ts). */
export function databricksJobSink(spec: DatabricksJobSpec): Sink {
  const ref: SinkRef = { name: spec.name, endpoint: `${spec.host}/api/2.2/jobs/run-now` };
  return { name: spec.name, type: spec.type, endpoint: ref.endpoint, deliver: (notice, env) => deliver(spec, ref, notice, env) };
}

/**
 * The idempotency token of a run: `<collection>/<run_id>`, since run ids are unique per
 * collection only (two collections started in the same second may draw the same id), and one
 * job may serve several collections. Longer than 64 characters: a stable hash of the same text.
 */
export function idempotencyToken(collectionId: string, runId: string): string {
  const text = `${collectionId}/${runId}`;
  return text.length <= MAX_IDEMPOTENCY_TOKEN ? text : `mxp-${createHash('sha256').update(text).digest('hex').slice(0, MAX_IDEMPOTENCY_TOKEN - 4)}`;
}

async function deliver(spec: DatabricksJobSpec, ref: SinkRef, notice: RunNotice, env: SinkEnv): Promise<Delivered> {
  const token = idempotencyToken(notice.collectionId, notice.runId);
  const body = JSON.stringify({
    job_id: spec.jobId,
    job_parameters: { collection_id: notice.collectionId, run_id: notice.runId, manifest_url: notice.url(notice.manifestKey), kind: notice.kind },
    idempotency_token: token,
  });
  const explain = (r: Parameters<typeof explainHttp>[0]) => explainHttp(r, { kind: 'job', id: spec.jobId });
  const response = await callSink(ref, env, { request: () => ({ method: 'POST', url: ref.endpoint, headers: headersFor(spec.token), body }), explain, transient: rateLimited });
  const runId = (jsonOf(response) as { run_id?: unknown } | null)?.run_id;
  if (typeof runId !== 'number' && typeof runId !== 'string') {
    // A 2xx without a run id is not the Jobs API (a proxy's page); redelivering is safe with the token.
    throw new SinkError(ref.name, ref.endpoint, `the answer has no run_id (${excerpt(response.text)}); check that DATABRICKS_HOST is the workspace URL`, { transient: true });
  }
  const page = await runPageUrl(spec, ref, env, runId);
  return {
    summary: `started job ${spec.jobId} run ${runId} for run ${notice.runId}${page ? ` (${page})` : ''}`,
    details: { job_id: spec.jobId, job_run_id: runId, idempotency_token: token, ...(page ? { run_page_url: page } : {}) },
  };
}

/** The job run's page, for the log line; optional, so a failure here is logged and not a failed delivery (the job run exists). */
async function runPageUrl(spec: DatabricksJobSpec, ref: SinkRef, env: SinkEnv, runId: number | string): Promise<string | null> {
  const url = `${spec.host}/api/2.2/jobs/runs/get?run_id=${encodeURIComponent(String(runId))}`;
  try {
    const response = await callSink({ name: ref.name, endpoint: `${spec.host}/api/2.2/jobs/runs/get` }, { ...env, retry: { ...env.retry, maxRetries: 0 } }, {
      request: () => ({ method: 'GET', url, headers: headersFor(spec.token) }),
      explain: (r) => explainHttp(r, { kind: 'job', id: spec.jobId }),
    });
    const page = (jsonOf(response) as { run_page_url?: unknown } | null)?.run_page_url;
    return typeof page === 'string' ? page : null;
  } catch (error) {
    env.logger.warn('SinkRunPageUnavailable', { sink: ref.name, job_run_id: runId, message: (error as Error).message });
    return null;
  }
}
