/**
 * Consumer setup generated from the exporter's own column list (rows/columns.ts) and file
 * naming (commit/layout.ts, encode/index.ts), so the DDL always matches the files.
 *
 * ```ts
 * const text = await generateDdl(request);   // no network, no credentials
 * process.stdout.write(text);
 * ```
 */
import { databricksDdl } from './databricks.js';
import { consumerLocation } from './location.js';
import { snowflakeDdl } from './snowflake.js';
import type { DdlRequest } from './types.js';

export type { DdlRequest, DdlTarget, SnowflakeLoad } from './types.js';
export { DDL_DEFAULTS } from './types.js';
export { sparkType, snowflakeType, type VectorColumn } from './columns.js';

/** The SQL (Snowflake) or PySpark + pipeline SQL (Databricks) for `request`. Throws a ConfigError (exit 2) on a destination the target cannot read. */
export async function generateDdl(request: DdlRequest): Promise<string> {
  const location = consumerLocation(request.destination, request.dest, request.target);
  return request.target === 'snowflake' ? snowflakeDdl(request, location) : databricksDdl(request, location);
}
