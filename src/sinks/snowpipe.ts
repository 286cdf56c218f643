/**
 * The `snowpipe` sink: tells a Snowpipe which of the run's files to load, through its REST
 * endpoint `insertFiles` (reference section 4), authenticated with a key-pair JWT
 * (snowflake-jwt.ts). The run's data files (a reconciliation's tombstone files too: both are
 * the manifest's `files`) are sent as paths relative to the pipe's stage, at most 5,000 a
 * request, each request with its own requestId. A pipe loads one stage: with several
 * collections, `{collection}` in the pipe name stands for each collection's pipe as `ddl`
 * names it (`MIXPEEK_DB.MIXPEEK.{collection}_PIPE` → `MIXPEEK_DB.MIXPEEK.COL_ABC_PIPE`).
 *
 * Idempotent within 14 days: Snowpipe keeps each pipe's load history by path and skips a file
 * it has loaded, so a redelivery of the same run (the same paths) loads nothing twice. A 200
 * means queued, not loaded (insertReport or COPY_HISTORY tells).
 *
 * https://docs.snowflake.com/en/user-guide/data-load-snowpipe-rest-apis
 */
import { randomUUID } from 'node:crypto';
import { layout } from '../commit/layout.js';
import { tableNameFor } from '../ddl/columns.js';
import { SinkError } from '../errors.js';
import type { SnowpipeSpec } from './config.js';
import { callSink, excerpt, jsonOf, type SinkResponse } from './http.js';
import { jwtSource, loadSnowflakeKey, qualifiedUser } from './snowflake-jwt.js';
import type { Delivered, RunNotice, Sink, SinkEnv } from './types.js';

/** Snowpipe's limits on one insertFiles request (SF-DOC). */
export const MAX_FILES_PER_REQUEST = 5_000;
export const MAX_PATH_BYTES = 1_024;

const USER_AGENT = 'mixpeek-export (snowpipe sink; Node.js)';

interface StagedFile {
  path: string;
  size: number;
}

/** Builds the sink; a private key that cannot be loaded is a ConfigError (exit 2) here, before any export. */
export function snowpipeSink(spec: SnowpipeSpec): Sink {
  const where = `sink ${spec.name} (snowpipe)`;
  const key = loadSnowflakeKey({ where, path: spec.privateKeyPath, pem: spec.privateKeyPem, ...(spec.passphrase === undefined ? {} : { passphrase: spec.passphrase }) });
  const jwt = jwtSource(key, spec.account, spec.user);
  const endpointOf = (pipe: string) => `${spec.url}/v1/data/pipes/${encodeURIComponent(pipe)}/insertFiles`;

  const submit = async (pipe: string, files: StagedFile[], requestId: string, env: SinkEnv): Promise<SinkResponse> => {
    const ref = { name: spec.name, endpoint: endpointOf(pipe) };
    const call = () =>
      callSink(ref, env, {
        request: async () => ({
          method: 'POST',
          url: `${ref.endpoint}?requestId=${requestId}&showSkippedFiles=true`,
          headers: {
            Authorization: `Bearer ${await jwt.token(env.now())}`,
            'X-Snowflake-Authorization-Token-Type': 'KEYPAIR_JWT',
            'Content-Type': 'application/json',
            Accept: 'application/json',
            'User-Agent': USER_AGENT,
          },
          body: JSON.stringify({ files }),
        }),
        explain: (response) => explain(spec, pipe, response, key.fingerprint),
      });
    try {
      return await call();
    } catch (error) {
      // As the Java SDK does: a refused JWT is signed again and the request made once more.
      if (!(error instanceof SinkError) || error.status !== 401) throw error;
      env.logger.warn('SinkRetry', { sink: spec.name, endpoint: ref.endpoint, attempt: 1, delay_ms: 0, status: 401, message: 'the JWT was refused; signing a new one and trying once more' });
      jwt.renew();
      return call();
    }
  };

  return {
    name: spec.name,
    type: spec.type,
    endpoint: endpointOf(spec.pipe).replaceAll('%7Bcollection%7D', '{collection}'),
    async deliver(notice: RunNotice, env: SinkEnv): Promise<Delivered> {
      const pipe = pipeFor(spec.pipe, notice.collectionId);
      const ref = { name: spec.name, endpoint: endpointOf(pipe) };
      const files = stagedFiles(spec, ref, notice);
      const requestIds: string[] = [];
      let skipped = 0;
      for (let start = 0; start < files.length; start += MAX_FILES_PER_REQUEST) {
        const batch = files.slice(start, start + MAX_FILES_PER_REQUEST);
        const requestId = randomUUID();
        const response = await submit(pipe, batch, requestId, env);
        skipped += acceptedBody(ref, pipe, response, requestId);
        requestIds.push(requestId);
        env.logger.debug('SnowpipeFilesSubmitted', { sink: spec.name, pipe, request_id: requestId, files: batch.length });
      }
      return {
        summary: files.length === 0 ? `run ${notice.runId} has no files; nothing sent to pipe ${pipe}` : `${files.length} file(s) of run ${notice.runId} queued on pipe ${pipe} in ${requestIds.length} request(s)${skipped ? ` (${skipped} already loaded, skipped by Snowpipe)` : ''}`,
        details: { pipe, files: files.length, requests: requestIds.length, request_ids: requestIds, skipped_files: skipped },
      };
    },
  };
}

/** The pipe of a collection: `{collection}` becomes the collection's table name as `ddl` makes it, in upper case (an unquoted name). */
export function pipeFor(template: string, collectionId: string): string {
  return template.replaceAll('{collection}', tableNameFor(collectionId).toUpperCase());
}

/**
 * The run's files as the pipe's stage sees them: without `<collection>/data/` when the stage
 * URL is the collection's data folder (`stage: collection`, as `ddl` creates it), else the key
 * as is. Refuses a path Snowpipe would (over 1,024 UTF-8 bytes) before any request.
 */
export function stagedFiles(spec: Pick<SnowpipeSpec, 'stage'>, ref: { name: string; endpoint: string }, notice: RunNotice): StagedFile[] {
  const prefix = layout.dataPrefix(notice.collectionId);
  return notice.manifest.files.map((file) => {
    if (spec.stage === 'collection' && !file.key.startsWith(prefix)) {
      throw new SinkError(ref.name, ref.endpoint, `file ${file.key} of run ${notice.runId} is not under ${prefix}, where a stage of the collection's data folder points; set stage: destination in the sinks entry if the pipe's stage URL is the destination root`);
    }
    const path = spec.stage === 'collection' ? file.key.slice(prefix.length) : file.key;
    const bytes = Buffer.byteLength(path, 'utf8');
    if (bytes > MAX_PATH_BYTES) {
      throw new SinkError(ref.name, ref.endpoint, `path ${path.slice(0, 80)}… of run ${notice.runId} is ${bytes} bytes as UTF-8; Snowpipe takes at most ${MAX_PATH_BYTES}: use a shorter --dest prefix or collection id, or a stage whose URL is closer to the files (stage: collection)`);
    }
    return { path, size: file.bytes };
  });
}

/**
 * A 200 is queued only with `responseCode: "SUCCESS"` (SDKs) or `status: "success"` (docs),
 * and only for files the pipe's PATTERN matches (`unmatchedPatternFiles` are never loaded).
 * Returns how many files Snowpipe skipped as already loaded.
 */
function acceptedBody(ref: { name: string; endpoint: string }, pipe: string, response: SinkResponse, requestId: string): number {
  const body = jsonOf(response) as { responseCode?: unknown; status?: unknown; skippedFiles?: unknown; unmatchedPatternFiles?: unknown } | null;
  const ok = body !== null && typeof body === 'object' && (String(body.responseCode).toUpperCase() === 'SUCCESS' || String(body.status).toLowerCase() === 'success');
  if (!ok) {
    throw new SinkError(ref.name, ref.endpoint, `HTTP ${response.status} for requestId ${requestId} but not a success: ${excerpt(response.text) || '(empty body)'}; Snowpipe answers {"responseCode":"SUCCESS"}: check that SNOWFLAKE_URL is the account's API root (https://<account>.snowflakecomputing.com), not a proxy or login page`, { status: response.status });
  }
  const unmatched = Array.isArray(body.unmatchedPatternFiles) ? (body.unmatchedPatternFiles as unknown[]) : [];
  if (unmatched.length > 0) {
    throw new SinkError(ref.name, ref.endpoint, `${unmatched.length} file(s) do not match the PATTERN of pipe ${pipe} and will not load (first: ${excerpt(JSON.stringify(unmatched[0]))}); recreate the pipe from ddl --target snowflake with this run's --format and --compression, or check stage: collection or destination against the stage URL`, { status: response.status });
  }
  return Array.isArray(body.skippedFiles) ? body.skippedFiles.length : 0;
}

/** What a non-2xx answer means (reference section 4), with the fix. */
function explain(spec: SnowpipeSpec, pipe: string, response: SinkResponse, fingerprint: string): string {
  const said = snowflakeSaid(response);
  const caseHint = pipe === pipe.toUpperCase() ? '' : ` (Snowflake stores unquoted names in upper case: ${pipe.toUpperCase()})`;
  switch (true) {
    case response.status === 401:
      return jwtRefused(spec, fingerprint);
    case response.status === 404:
      return `HTTP 404${said}: the pipe ${pipe} does not exist, or the user's default role may not use it (Snowflake answers both the same way); check SNOWFLAKE_PIPE (DB.SCHEMA.PIPE, case-sensitive${caseHint}) and that the role of ${spec.user.toUpperCase()} has OWNERSHIP of the pipe, or MONITOR and OPERATE on it, with USAGE on its database and schema and READ (USAGE for an external stage) on its stage`;
    case response.status === 400:
      return `HTTP 400${said}: Snowpipe refused the request as malformed or over a limit (at most ${MAX_FILES_PER_REQUEST} files, paths of at most ${MAX_PATH_BYTES} bytes); this is likely a bug in the exporter: please report it with this message`;
    case response.status === 403:
      return `HTTP 403${said}: the user ${spec.user.toUpperCase()} may not use the pipe ${pipe}; grant its default role OPERATE and MONITOR on the pipe (or OWNERSHIP)`;
    case response.status === 429:
      return `HTTP 429${said}: Snowpipe kept rate limiting the requests after the retries; the notification stays pending and the next run sends it again`;
    case response.status >= 500:
      return `HTTP ${response.status}${said}: Snowflake failed (an internal error or an outage) after the retries; the notification stays pending and the next run sends it again (see https://status.snowflake.com)`;
    default:
      return `unexpected HTTP ${response.status}${said}; check SNOWFLAKE_URL (https://<account>.snowflakecomputing.com)`;
  }
}

/** `(Snowflake said: <message> [code])` from the error body `{code, message, success:false}`, else an excerpt of the text. */
function snowflakeSaid(response: SinkResponse): string {
  const body = jsonOf(response) as { code?: unknown; message?: unknown } | null;
  if (body && typeof body === 'object' && typeof body.message === 'string') return ` (Snowflake said: ${excerpt(body.message)}${body.code ? ` [${String(body.code)}]` : ''})`;
  const text = excerpt(response.text);
  return text ? ` (${text})` : '';
}

function jwtRefused(spec: SnowpipeSpec, fingerprint: string): string {
  const who = qualifiedUser(spec.account, spec.user);
  return (
    `HTTP 401: Snowflake refused the key-pair JWT for ${who} (also after signing a new one); check that the user's public key is set ` +
    `(ALTER USER ${spec.user.toUpperCase()} SET RSA_PUBLIC_KEY='<the body of rsa_key.pub>'), that SNOWFLAKE_ACCOUNT and SNOWFLAKE_USER name that account and user, ` +
    `and that DESC USER ${spec.user.toUpperCase()} shows RSA_PUBLIC_KEY_FP = ${fingerprint} (the fingerprint of the key in SNOWFLAKE_PRIVATE_KEY_PATH ${spec.privateKeyPath})`
  );
}
