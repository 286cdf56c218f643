/**
 * Where the consumers read: each collection's `data/` folder (commit/layout.ts), spelled the
 * way each consumer wants it. S3 is `s3://bucket/prefix/...` for both. Azure Blob and ADLS
 * Gen2 (either `--dest` form) are one account seen through two endpoints: Snowflake stages
 * take the Blob endpoint (`azure://<account>.blob.core.windows.net/<container>/...`, also for
 * ADLS Gen2), Databricks the DFS one (`abfss://<container>@<account>.dfs.core.windows.net/...`).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { layout } from '../commit/layout.js';
import { ConfigError } from '../errors.js';

export type DestinationKind = 's3' | 'azure' | 'volume';

export interface ConsumerLocation {
  kind: DestinationKind;
  /** The destination root as given (no query string), for comments. */
  dest: string;
  /** Snowflake: the root a storage integration must allow (`STORAGE_ALLOWED_LOCATIONS`), with a trailing `/`. */
  snowflakeRoot: string;
  /** Snowflake stage URL of a collection's `data/` folder. */
  snowflakeData: (collectionId: string) => string;
  /** Databricks: the root an external location (or volume) must cover, with a trailing `/`. */
  sparkRoot: string;
  /** Databricks (Auto Loader, read_files) path of a collection's `data/` folder. */
  sparkData: (collectionId: string) => string;
  /** The key prefix of a collection's data files inside the bucket or container, for event filters. */
  eventPrefix: (collectionId: string) => string;
  /** Azure: the container (for the Event Grid subject filter). */
  container?: string;
}

/**
 * Resolves `--dest` without touching the network. A local folder is refused (neither consumer
 * reads a laptop's disk), except a Unity Catalog volume path (`/Volumes/...`), which Databricks
 * reads by path; Snowflake cannot read one (exit 2 with the cloud forms to use instead).
 */
export async function consumerLocation(dest: string, target: 'snowflake' | 'databricks'): Promise<ConsumerLocation> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(dest)?.[1]?.toLowerCase();
  if (scheme === 's3') return s3Location(dest);
  if (scheme === 'abfss' || scheme === 'https') {
    // The one parser of Azure URLs (also used to open the destination); loaded only for Azure.
    const { parseAzureUrl } = await import('../storage/drivers/azure/url.js');
    let parsed: ReturnType<typeof parseAzureUrl>;
    try {
      parsed = parseAzureUrl(dest);
    } catch (error) {
      throw new ConfigError(`--dest ${dest.split('?')[0]}: ${(error as Error).message}`);
    }
    return azureLocation(dest, parsed);
  }
  const local = scheme === 'file' ? fileURLToPath(dest) : scheme ? null : path.resolve(dest);
  if (local !== null && target === 'databricks' && /^\/Volumes\/[^/]+\/[^/]+\/[^/]+/.test(local)) return volumeLocation(local);
  throw new ConfigError(
    `--dest ${dest}: ddl needs the cloud URL the consumers read: s3://bucket/prefix, abfss://container@account.dfs.core.windows.net/prefix or https://account.blob.core.windows.net/container/prefix` +
      (local !== null ? ` (a local folder is not readable by ${target === 'snowflake' ? 'Snowflake' : 'Databricks'}${target === 'databricks' ? ' unless it is a Unity Catalog volume path, /Volumes/<catalog>/<schema>/<volume>/...' : ''})` : ''),
  );
}

/** `a/b` joined to `c/` with exactly one `/` between non-empty parts. */
function join(prefix: string, rest: string): string {
  return prefix ? `${prefix}/${rest}` : rest;
}

function s3Location(dest: string): ConsumerLocation {
  const url = new URL(dest);
  if (!url.hostname) throw new ConfigError(`--dest ${dest}: name the bucket, as s3://bucket/prefix`);
  if (url.search) throw new ConfigError(`--dest ${dest.split('?')[0]}: remove the query string`);
  const prefix = url.pathname.replace(/^\/+|\/+$/g, '');
  const root = `s3://${url.hostname}/${join(prefix, '')}`;
  const data = (c: string) => `s3://${url.hostname}/${join(prefix, layout.dataPrefix(c))}`;
  return { kind: 's3', dest, snowflakeRoot: root, snowflakeData: data, sparkRoot: root, sparkData: data, eventPrefix: (c) => join(prefix, layout.dataPrefix(c)) };
}

function azureLocation(dest: string, parsed: { accountUrl: string; account: string; container: string; prefix: string }): ConsumerLocation {
  const blobHost = new URL(parsed.accountUrl).host; // <account>.blob.<suffix>
  const dfsHost = blobHost.replace('.blob.', '.dfs.');
  const prefix = parsed.prefix.replace(/^\/+|\/+$/g, '');
  const within = (c: string) => join(prefix, layout.dataPrefix(c));
  return {
    kind: 'azure',
    dest: dest.split('?')[0]!,
    snowflakeRoot: `azure://${blobHost}/${parsed.container}/${join(prefix, '')}`,
    snowflakeData: (c) => `azure://${blobHost}/${parsed.container}/${within(c)}`,
    sparkRoot: `abfss://${parsed.container}@${dfsHost}/${join(prefix, '')}`,
    sparkData: (c) => `abfss://${parsed.container}@${dfsHost}/${within(c)}`,
    eventPrefix: within,
    container: parsed.container,
  };
}

function volumeLocation(root: string): ConsumerLocation {
  const prefix = root.replace(/\/+$/, '');
  return {
    kind: 'volume',
    dest: root,
    snowflakeRoot: '',
    snowflakeData: () => {
      throw new ConfigError('a Unity Catalog volume is not readable by Snowflake');
    },
    sparkRoot: `${prefix}/`,
    sparkData: (c) => `${prefix}/${layout.dataPrefix(c)}`,
    eventPrefix: (c) => `${prefix}/${layout.dataPrefix(c)}`,
  };
}
