/**
 * The resolved spec of each sink type: what its factory takes (config.ts resolves them from
 * the config file's `sinks:` entries and the environment). Secrets are read and every
 * required option is set.
 */
export interface DatabricksSqlSpec {
  type: 'databricks-sql';
  name: string;
  /** `https://<workspace host>`, no trailing `/`. */
  host: string;
  token: string;
  warehouseId: string;
  catalog: string;
  schema: string;
  /** The table; absent: `mixpeek_<collection>` (lower case, other characters as `_`). */
  table?: string;
  /** Also MERGE the newest version of each document into `<table>_latest` (tombstones delete). */
  mergeLatest: boolean;
  /** Where Databricks reads the collection's files, with `{collection}` for the collection id; absent: the `data/` folder of `--dest` as `ddl` spells it. */
  source?: string;
  waitTimeoutSeconds: number;
  pollIntervalMs: number;
  statementTimeoutSeconds: number;
}

export interface DatabricksJobSpec {
  type: 'databricks-job';
  name: string;
  host: string;
  token: string;
  jobId: number;
}

export interface SnowpipeSpec {
  type: 'snowpipe';
  name: string;
  /** Account identifier as in the host name: `myorg-myaccount` or `xy12345.us-east-2.aws`. */
  account: string;
  user: string;
  /** `DB.SCHEMA.PIPE`, as Snowflake names it (case-sensitive). */
  pipe: string;
  /** Where the PEM was read from (for messages). */
  privateKeyPath: string;
  /** PKCS#8 PEM, possibly encrypted. */
  privateKeyPem: string;
  passphrase?: string;
  /** API root; default `https://<account>.snowflakecomputing.com`. */
  url: string;
  /** What the pipe's stage URL points at: a collection's `data/` folder (as `ddl --target snowflake` creates it), or the destination root. */
  stage: 'collection' | 'destination';
}

export interface WebhookSpec {
  type: 'webhook';
  name: string;
  url: string;
  /** `whsec_<base64>`: the HMAC key is the base64-decoded part. */
  secret: string;
  timeoutMs: number;
}

export interface CommandSpec {
  type: 'command';
  name: string;
  /** argv: the executable and its arguments; no shell. */
  command: string[];
  timeoutSeconds: number;
}

export type SinkSpec = DatabricksSqlSpec | DatabricksJobSpec | SnowpipeSpec | WebhookSpec | CommandSpec;
