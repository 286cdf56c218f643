/**
 * The one parser of destination URLs, shared by `openDestination`, `ddl` and the metrics'
 * `dest_kind`. SDK-free on purpose: `ddl` promises no network and no cloud SDK, and settings
 * are resolved (and a bad URL refused, exit 2) before any driver is loaded.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';

/**
 * A parsed `--dest`, tagged by kind. Prefixes carry no leading or trailing `/`.
 * @example parseDestination('s3://acme-lake/mixpeek') // { kind: 's3', bucket: 'acme-lake', prefix: 'mixpeek' }
 */
export type Destination =
  /** A local folder: `file:///abs/path` or a plain path (made absolute). */
  | { kind: 'fs'; root: string }
  /** `memory://name`: the in-process driver, tests only. */
  | { kind: 'memory'; name: string }
  /** `s3://bucket/prefix`. */
  | { kind: 's3'; bucket: string; prefix: string }
  /**
   * `abfss://container@account.dfs.core.windows.net/prefix` (form `abfss`) or
   * `https://account.blob.core.windows.net/container/prefix` (form `blob`). `accountUrl` is
   * always the Blob endpoint: ADLS Gen2 is written through it (same data, and Put Blob /
   * Put Block List fire the BlobCreated event Snowpipe and Auto Loader wait for).
   */
  | { kind: 'azure'; form: 'abfss' | 'blob'; account: string; accountUrl: string; container: string; prefix: string };

export type DestinationKind = Destination['kind'];

/** Every form `--dest` accepts, for messages and the settings' description. */
export const DEST_FORMS =
  's3://bucket/prefix, abfss://container@account.dfs.core.windows.net/prefix, https://account.blob.core.windows.net/container/prefix, file:///abs/path or a plain path';

const AZURE_FORMS = 'use abfss://container@account.dfs.core.windows.net/prefix or https://account.blob.core.windows.net/container/prefix';

/** The scheme of a URL-looking destination (`s3`, `abfss`, ...), lower case; undefined for a plain path. */
function schemeOf(dest: string): string | undefined {
  return /^([a-z][a-z0-9+.-]*):\/\//i.exec(dest)?.[1]?.toLowerCase();
}

/**
 * Parses a destination URL without touching the network. Throws a ConfigError (exit 2)
 * naming `--dest` (never with its query string, which may hold a SAS) and the forms to use.
 */
export function parseDestination(dest: string): Destination {
  const scheme = schemeOf(dest);
  if (!scheme) return { kind: 'fs', root: path.resolve(dest) };
  if (scheme === 'file') return { kind: 'fs', root: fileURLToPath(dest) };
  if (scheme === 'memory') return { kind: 'memory', name: dest.slice('memory://'.length) };
  if (scheme === 's3') return parseS3(dest);
  if (scheme === 'abfss' || (scheme === 'https' && isAzureHost(dest))) {
    try {
      return parseAzureUrl(dest);
    } catch (error) {
      throw new ConfigError(`--dest ${dest.split('?')[0]}: ${(error as Error).message}`);
    }
  }
  throw new ConfigError(`--dest ${dest.split('?')[0]}: unsupported destination; use ${DEST_FORMS}`);
}

function parseS3(dest: string): Destination {
  const url = new URL(dest);
  if (!url.hostname) throw new ConfigError(`--dest ${dest}: name the bucket, as s3://bucket/prefix`);
  if (url.search) throw new ConfigError(`--dest ${dest.split('?')[0]}: remove the query string`);
  return { kind: 's3', bucket: url.hostname, prefix: url.pathname.replace(/^\/+|\/+$/g, '') };
}

/** `<account>.blob.<suffix>` or `<account>.dfs.<suffix>` (public and sovereign clouds). */
function isAzureHost(dest: string): boolean {
  return URL.canParse(dest) && /^[a-z0-9]{3,24}\.(?:dfs|blob)\./i.test(new URL(dest).hostname);
}

/**
 * Splits an Azure Blob or ADLS Gen2 URL into its parts. Throws a ConfigError without the
 * `--dest` prefix (callers add it) when the URL is neither form or carries a query string.
 * @example parseAzureUrl('abfss://raw@acme.dfs.core.windows.net/mixpeek')
 * // { kind: 'azure', form: 'abfss', account: 'acme', accountUrl: 'https://acme.blob.core.windows.net', container: 'raw', prefix: 'mixpeek' }
 */
export function parseAzureUrl(input: string): Extract<Destination, { kind: 'azure' }> {
  let parsed: URL;
  try {
    parsed = new URL(input);
  } catch {
    throw new ConfigError(`not a URL; ${AZURE_FORMS}`);
  }
  if (parsed.search) throw new ConfigError('remove the query string: a SAS goes in the credential, never in the URL');
  const segments = parsed.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const [, account, suffix] = /^([a-z0-9]{3,24})\.(?:dfs|blob)\.(.+)$/.exec(parsed.hostname.toLowerCase()) ?? [];
  if (account && suffix) {
    const accountUrl = `https://${account}.blob.${suffix}`;
    if ((parsed.protocol === 'abfss:' || parsed.protocol === 'abfs:') && parsed.username) {
      return { kind: 'azure', form: 'abfss', account, accountUrl, container: decodeURIComponent(parsed.username), prefix: segments.join('/') };
    }
    const [container, ...rest] = segments;
    if ((parsed.protocol === 'https:' || parsed.protocol === 'http:') && container) return { kind: 'azure', form: 'blob', account, accountUrl, container, prefix: rest.join('/') };
  }
  throw new ConfigError(`not an Azure Blob or ADLS Gen2 URL; ${AZURE_FORMS}`);
}
