/**
 * Which sinks run, and with what: from the config file's `sinks:` list (each entry a `type`
 * and its options), or for the common case from environment variables alone. Resolved once,
 * before any I/O (a missing or wrong option is a ConfigError, exit 2):
 *
 * - `sinks:` in the config file: exactly those (`sinks: []` is none). An entry's options win;
 *   the environment fills the ones it leaves out (one sink of a type is then configured by
 *   its variables alone, e.g. `- type: databricks-sql`).
 * - else `MIXPEEK_EXPORT_SINKS=databricks-sql,webhook`: those types, from the environment.
 * - else every type whose switch variable is set: DATABRICKS_WAREHOUSE_ID (databricks-sql),
 *   DATABRICKS_JOB_ID (databricks-job), SNOWFLAKE_PIPE (snowpipe),
 *   MIXPEEK_EXPORT_WEBHOOK_URL (webhook), MIXPEEK_EXPORT_SINK_COMMAND (command).
 *
 * Secrets (a Databricks token, a webhook secret, a key passphrase) come only from the
 * environment or a file whose path is given; a secret in the config file is refused, and no
 * flag takes one. The private key of Snowpipe is always a file (`privateKeyPath`).
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { bool, commandFromEnv, httpsUrl, identifier, readSecretFile, secret, set } from './options.js';
import type { SinkSpec } from './specs.js';
import { SINK_TYPES, type SinkType } from './types.js';

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, { error: 'a sink name is 1-64 of letters, digits, _ . - (it keys its pending notifications in the checkpoint)' });
const path = z.string().min(1);

/** One `sinks:` entry as the config file may give it: every option optional (the environment may fill it), unknown keys refused. */
export const sinkEntrySchema = z.discriminatedUnion(
  'type',
  [
    z
      .object({
        type: z.literal('databricks-sql'),
        name: name.optional(),
        host: z.string().min(1).optional(),
        warehouseId: z.string().min(1).optional(),
        catalog: z.string().min(1).optional(),
        schema: z.string().min(1).optional(),
        table: z.string().min(1).optional(),
        mergeLatest: z.boolean().optional(),
        source: z.string().min(1).optional(),
        tokenFile: path.optional(),
        waitTimeoutSeconds: z.number().int().min(5).max(50).optional(),
        pollIntervalMs: z.number().int().min(1).optional(),
        statementTimeoutSeconds: z.number().int().min(1).optional(),
      })
      .strict(),
    z.object({ type: z.literal('databricks-job'), name: name.optional(), host: z.string().min(1).optional(), jobId: z.union([z.number().int().positive(), z.string().regex(/^\d+$/)]).optional(), tokenFile: path.optional() }).strict(),
    z
      .object({
        type: z.literal('snowpipe'),
        name: name.optional(),
        account: z.string().min(1).optional(),
        user: z.string().min(1).optional(),
        pipe: z.string().min(1).optional(),
        privateKeyPath: path.optional(),
        privateKeyPassphraseFile: path.optional(),
        url: z.string().min(1).optional(),
        stage: z.enum(['collection', 'destination']).optional(),
      })
      .strict(),
    z.object({ type: z.literal('webhook'), name: name.optional(), url: z.string().min(1).optional(), secretFile: path.optional(), timeoutMs: z.number().int().min(1).max(300_000).optional() }).strict(),
    z.object({ type: z.literal('command'), name: name.optional(), command: z.array(z.string().min(1)).min(1).optional(), timeoutSeconds: z.number().int().min(1).optional() }).strict(),
  ],
  { error: `each sinks entry needs a type: one of ${SINK_TYPES.join(', ')}` },
);

export type SinkEntry = z.infer<typeof sinkEntrySchema>;

/** Keys that would hold a secret: refused in a config file with the variable to use instead. */
const SECRET_ENTRY_KEYS: Record<string, string> = {
  token: 'DATABRICKS_TOKEN (or tokenFile)',
  secret: 'MIXPEEK_EXPORT_WEBHOOK_SECRET (or secretFile)',
  privateKey: 'SNOWFLAKE_PRIVATE_KEY_PATH (a file; or privateKeyPath)',
  passphrase: 'SNOWFLAKE_PRIVATE_KEY_PASSPHRASE (or privateKeyPassphraseFile)',
  privateKeyPassphrase: 'SNOWFLAKE_PRIVATE_KEY_PASSPHRASE (or privateKeyPassphraseFile)',
  password: 'the environment',
};

/** Refuses a secret inside a `sinks:` entry of the config file (before validation, so the message is about the secret). */
export function checkSinkEntriesForSecrets(entries: unknown, file: string): void {
  if (!Array.isArray(entries)) return;
  entries.forEach((entry, i) => {
    if (!entry || typeof entry !== 'object') return;
    for (const key of Object.keys(entry)) {
      const instead = SECRET_ENTRY_KEYS[key];
      if (instead) throw new ConfigError(`config file ${file}: sinks[${i}].${key} is a secret and must not be in a file; set ${instead} instead (e.g. from a Kubernetes Secret)`);
    }
  });
}

export type { CommandSpec, DatabricksJobSpec, DatabricksSqlSpec, SinkSpec, SnowpipeSpec, WebhookSpec } from './specs.js';


/** The variable that turns a sink type on when neither the config file nor MIXPEEK_EXPORT_SINKS chooses. */
export const SINK_SWITCHES: Record<SinkType, string> = {
  'databricks-sql': 'DATABRICKS_WAREHOUSE_ID',
  'databricks-job': 'DATABRICKS_JOB_ID',
  snowpipe: 'SNOWFLAKE_PIPE',
  webhook: 'MIXPEEK_EXPORT_WEBHOOK_URL',
  command: 'MIXPEEK_EXPORT_SINK_COMMAND',
};

/** Every variable a sink reads, for the docs and the redactor. Secrets are marked. */
export const SINK_ENV_VARS = {
  MIXPEEK_EXPORT_SINKS: 'comma-separated sink types to run, each configured from the environment',
  DATABRICKS_HOST: 'databricks-sql, databricks-job: workspace URL, https://<workspace>.cloud.databricks.com',
  DATABRICKS_TOKEN: 'databricks-sql, databricks-job: personal access token or OAuth access token (secret)',
  DATABRICKS_TOKEN_FILE: 'databricks-sql, databricks-job: a file holding the token instead',
  DATABRICKS_WAREHOUSE_ID: 'databricks-sql: SQL warehouse id (turns the sink on)',
  DATABRICKS_CATALOG: 'databricks-sql: catalog, default main',
  DATABRICKS_SCHEMA: 'databricks-sql: schema, default default',
  DATABRICKS_TABLE: 'databricks-sql: table, default mixpeek_<collection>',
  DATABRICKS_MERGE_LATEST: 'databricks-sql: true to also MERGE into <table>_latest',
  DATABRICKS_SOURCE: 'databricks-sql: where Databricks reads the files, {collection} for the collection id; default the data/ folder of --dest',
  DATABRICKS_JOB_ID: 'databricks-job: the job to run (turns the sink on)',
  SNOWFLAKE_ACCOUNT: 'snowpipe: account identifier, myorg-myaccount',
  SNOWFLAKE_USER: 'snowpipe: user with the public key',
  SNOWFLAKE_PIPE: 'snowpipe: DB.SCHEMA.PIPE, {collection} for one pipe per collection as ddl names it (turns the sink on)',
  SNOWFLAKE_PRIVATE_KEY_PATH: 'snowpipe: PKCS#8 PEM private key file',
  SNOWFLAKE_PRIVATE_KEY_PASSPHRASE: 'snowpipe: passphrase of an encrypted key (secret)',
  SNOWFLAKE_PRIVATE_KEY_PASSPHRASE_FILE: 'snowpipe: a file holding the passphrase instead',
  SNOWFLAKE_URL: 'snowpipe: API root, default https://<account>.snowflakecomputing.com',
  MIXPEEK_EXPORT_WEBHOOK_URL: 'webhook: the receiver (turns the sink on)',
  MIXPEEK_EXPORT_WEBHOOK_SECRET: 'webhook: whsec_<base64> signing secret (secret)',
  MIXPEEK_EXPORT_WEBHOOK_SECRET_FILE: 'webhook: a file holding the secret instead',
  MIXPEEK_EXPORT_SINK_COMMAND: 'command: an executable path, or a JSON array ["prog", "arg"] (turns the sink on)',
} as const;

/** Variables whose values are secrets (the CLI's redactor scrubs them). */
export const SINK_SECRET_ENV_VARS = ['DATABRICKS_TOKEN', 'SNOWFLAKE_PRIVATE_KEY_PASSPHRASE', 'MIXPEEK_EXPORT_WEBHOOK_SECRET'] as const;

type Env = Record<string, string | undefined>;

/** The sinks to run: see the module comment. `entries`: the config file's `sinks:` (undefined when absent). */
export function resolveSinks(entries: SinkEntry[] | undefined, env: Env): SinkSpec[] {
  const chosen: SinkEntry[] = entries ?? chooseFromEnv(env);
  const specs = chosen.map((entry) => resolveEntry(entry, env));
  const seen = new Set<string>();
  for (const spec of specs) {
    if (seen.has(spec.name)) throw new ConfigError(`sinks: two sinks are named ${JSON.stringify(spec.name)}; give each a distinct name: (it keys their pending notifications)`);
    seen.add(spec.name);
  }
  return specs;
}

function chooseFromEnv(env: Env): SinkEntry[] {
  const list = env.MIXPEEK_EXPORT_SINKS?.trim();
  if (list) {
    return list.split(',').map((s) => s.trim()).filter(Boolean).map((type) => {
      if (!(SINK_TYPES as readonly string[]).includes(type)) throw new ConfigError(`MIXPEEK_EXPORT_SINKS: unknown sink type ${JSON.stringify(type)}; use ${SINK_TYPES.join(', ')}`);
      return { type } as SinkEntry;
    });
  }
  return SINK_TYPES.filter((type) => set(env[SINK_SWITCHES[type]])).map((type) => ({ type }) as SinkEntry);
}


function resolveEntry(entry: SinkEntry, env: Env): SinkSpec {
  const sinkName = entry.name ?? entry.type;
  const where = `sink ${sinkName} (${entry.type})`;
  const need = (value: string | undefined, option: string, variable: string): string => {
    if (set(value)) return value.trim();
    throw new ConfigError(`${where}: ${option} is required: set ${variable}${entry.name || entry.type ? ` or ${option} in its sinks entry` : ''}`);
  };
  switch (entry.type) {
    case 'databricks-sql': {
      const host = httpsUrl(need(entry.host ?? env.DATABRICKS_HOST, 'host', 'DATABRICKS_HOST'), `${where}: host`);
      return {
        type: entry.type,
        name: sinkName,
        host,
        token: secret(where, 'token', env, 'DATABRICKS_TOKEN', entry.tokenFile ?? env.DATABRICKS_TOKEN_FILE, 'tokenFile'),
        warehouseId: need(entry.warehouseId ?? env.DATABRICKS_WAREHOUSE_ID, 'warehouseId', 'DATABRICKS_WAREHOUSE_ID'),
        catalog: identifier(where, 'catalog', entry.catalog ?? env.DATABRICKS_CATALOG ?? 'main'),
        schema: identifier(where, 'schema', entry.schema ?? env.DATABRICKS_SCHEMA ?? 'default'),
        ...(entry.table ?? env.DATABRICKS_TABLE ? { table: identifier(where, 'table', (entry.table ?? env.DATABRICKS_TABLE) as string) } : {}),
        mergeLatest: entry.mergeLatest ?? bool(where, 'DATABRICKS_MERGE_LATEST', env.DATABRICKS_MERGE_LATEST),
        ...(entry.source ?? env.DATABRICKS_SOURCE ? { source: (entry.source ?? env.DATABRICKS_SOURCE) as string } : {}),
        waitTimeoutSeconds: entry.waitTimeoutSeconds ?? 50,
        pollIntervalMs: entry.pollIntervalMs ?? 5_000,
        statementTimeoutSeconds: entry.statementTimeoutSeconds ?? 3_600,
      };
    }
    case 'databricks-job': {
      const jobId = need(entry.jobId === undefined ? env.DATABRICKS_JOB_ID : String(entry.jobId), 'jobId', 'DATABRICKS_JOB_ID');
      if (!/^\d+$/.test(jobId)) throw new ConfigError(`${where}: jobId ${JSON.stringify(jobId)} is not a job id (digits; the number in the job's URL, /jobs/<id>)`);
      return {
        type: entry.type,
        name: sinkName,
        host: httpsUrl(need(entry.host ?? env.DATABRICKS_HOST, 'host', 'DATABRICKS_HOST'), `${where}: host`),
        token: secret(where, 'token', env, 'DATABRICKS_TOKEN', entry.tokenFile ?? env.DATABRICKS_TOKEN_FILE, 'tokenFile'),
        jobId: Number(jobId),
      };
    }
    case 'snowpipe': {
      const account = need(entry.account ?? env.SNOWFLAKE_ACCOUNT, 'account', 'SNOWFLAKE_ACCOUNT');
      const privateKeyPath = need(entry.privateKeyPath ?? env.SNOWFLAKE_PRIVATE_KEY_PATH, 'privateKeyPath', 'SNOWFLAKE_PRIVATE_KEY_PATH');
      const passphraseFile = entry.privateKeyPassphraseFile ?? env.SNOWFLAKE_PRIVATE_KEY_PASSPHRASE_FILE;
      const passphrase = set(env.SNOWFLAKE_PRIVATE_KEY_PASSPHRASE) || passphraseFile ? secret(where, 'passphrase', env, 'SNOWFLAKE_PRIVATE_KEY_PASSPHRASE', passphraseFile, 'privateKeyPassphraseFile') : undefined;
      const pipe = need(entry.pipe ?? env.SNOWFLAKE_PIPE, 'pipe', 'SNOWFLAKE_PIPE');
      if (pipe.split('.').length !== 3) throw new ConfigError(`${where}: pipe ${JSON.stringify(pipe)} is not fully qualified; give DB.SCHEMA.PIPE (SNOWFLAKE_PIPE)`);
      return {
        type: entry.type,
        name: sinkName,
        account,
        user: need(entry.user ?? env.SNOWFLAKE_USER, 'user', 'SNOWFLAKE_USER'),
        pipe,
        privateKeyPath,
        privateKeyPem: readSecretFile(where, 'privateKeyPath', privateKeyPath),
        ...(passphrase ? { passphrase } : {}),
        url: httpsUrl(entry.url ?? env.SNOWFLAKE_URL ?? `https://${account}.snowflakecomputing.com`, `${where}: url`),
        stage: entry.stage ?? 'collection',
      };
    }
    case 'webhook': {
      const url = httpsUrl(need(entry.url ?? env.MIXPEEK_EXPORT_WEBHOOK_URL, 'url', 'MIXPEEK_EXPORT_WEBHOOK_URL'), `${where}: url`, { keepPath: true });
      const value = secret(where, 'secret', env, 'MIXPEEK_EXPORT_WEBHOOK_SECRET', entry.secretFile ?? env.MIXPEEK_EXPORT_WEBHOOK_SECRET_FILE, 'secretFile');
      if (!/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(value) || Buffer.from(value.slice(6), 'base64').length < 24) {
        throw new ConfigError(`${where}: the signing secret is not a Standard Webhooks secret (whsec_ followed by base64 of 24 to 64 random bytes); make one with: node -e "console.log('whsec_' + require('crypto').randomBytes(32).toString('base64'))"`);
      }
      return { type: entry.type, name: sinkName, url, secret: value, timeoutMs: entry.timeoutMs ?? 15_000 };
    }
    case 'command': {
      const command = entry.command ?? commandFromEnv(where, env.MIXPEEK_EXPORT_SINK_COMMAND);
      return { type: entry.type, name: sinkName, command, timeoutSeconds: entry.timeoutSeconds ?? 600 };
    }
  }
}

/** Every secret value the specs hold (the CLI's redactor scrubs them, also those read from files). */
export function sinkSecrets(specs: readonly SinkSpec[]): string[] {
  return specs.flatMap((s) => (s.type === 'databricks-sql' || s.type === 'databricks-job' ? [s.token] : s.type === 'webhook' ? [s.secret, s.secret.slice(6)] : s.type === 'snowpipe' ? [s.passphrase ?? '', ...pemLines(s.privateKeyPem)] : []));
}

/** The base64 lines of a PEM (not its BEGIN/END lines): scrubbed too, should a key ever reach a message. */
function pemLines(pem: string): string[] {
  return pem.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length >= 16 && !l.startsWith('-----'));
}
