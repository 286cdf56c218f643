import { ConfigError } from '../../../errors.js';

/**
 * Azure URL handling without the SDK, so `ddl` (which promises no network) and destination
 * parsing can use it without loading `@azure/storage-blob`.
 */

const USE_FORMS = 'use abfss://container@account.dfs.core.windows.net/prefix or https://account.blob.core.windows.net/container/prefix';

/**
 * Splits an ADLS Gen2 or Blob URL into the parts `azureDriver` takes:
 * `abfss://container@account.dfs.core.windows.net/prefix` (written through the Blob
 * endpoint `https://account.blob.core.windows.net`) or
 * `https://account.blob.core.windows.net/container/prefix`. A SAS in the URL is refused:
 * pass it as a credential so it never lands in logs. Throws a `ConfigError` whose message
 * does not repeat the URL (the caller prefixes it, e.g. `--dest <url>: ...`).
 * @example parseAzureUrl('abfss://raw@acme.dfs.core.windows.net/mixpeek')
 *   // { accountUrl: 'https://acme.blob.core.windows.net', account: 'acme', container: 'raw', prefix: 'mixpeek' }
 */
export function parseAzureUrl(input: string): { accountUrl: string; account: string; container: string; prefix: string } {
  let parsed: URL;
  try {
    parsed = new URL(input);
  } catch {
    throw new ConfigError(`not a URL; ${USE_FORMS}`);
  }
  if (parsed.search) throw new ConfigError('remove the query string: a SAS goes in the credential, never in the URL');
  const segments = parsed.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const host = parsed.hostname.toLowerCase();
  const [, account, suffix] = /^([a-z0-9]{3,24})\.(?:dfs|blob)\.(.+)$/.exec(host) ?? [];
  if (account && suffix) {
    // ADLS Gen2 is written through its Blob endpoint: same data, and Put Blob / Put Block
    // List fire the BlobCreated event Snowpipe and Auto Loader wait for.
    const accountUrl = `https://${account}.blob.${suffix}`;
    if ((parsed.protocol === 'abfss:' || parsed.protocol === 'abfs:') && parsed.username) {
      return { accountUrl, account, container: decodeURIComponent(parsed.username), prefix: segments.join('/') };
    }
    const [container, ...rest] = segments;
    if ((parsed.protocol === 'https:' || parsed.protocol === 'http:') && container) return { accountUrl, account, container, prefix: rest.join('/') };
  }
  throw new ConfigError(`not an Azure Blob or ADLS Gen2 URL; ${USE_FORMS}`);
}

/** A URL without query, fragment, user info or trailing slash (never a SAS or key). */
export function stripUrl(raw: string): string {
  return raw.replace(/[?#].*$/s, '').replace(/\/\/[^/@]*@/, '//').replace(/\/+$/, '');
}
