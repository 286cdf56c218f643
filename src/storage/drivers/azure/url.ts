/**
 * URL helpers of the Azure driver. Parsing a destination URL into account, container and
 * prefix is `parseAzureUrl` in `storage/destination.ts` (no SDK), shared with ddl and metrics.
 */

/** A URL without query, fragment, user info or trailing slash (never a SAS or key). */
export function stripUrl(raw: string): string {
  return raw.replace(/[?#].*$/s, '').replace(/\/\/[^/@]*@/, '//').replace(/\/+$/, '');
}
