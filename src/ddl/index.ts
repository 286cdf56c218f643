/**
 * Consumer setup generated from the exporter's own column list (rows/columns.ts) and file
 * naming (commit/layout.ts, encode/index.ts), so the DDL always matches the files.
 *
 * ```ts
 * const text = await generateDdl(request);   // no I/O: the typed columns are in the request
 * process.stdout.write(text);
 * ```
 */
import { databricksDdl } from './databricks.js';
import { consumerLocation } from './location.js';
import { snowflakeDdl } from './snowflake.js';
import type { DdlRequest } from './types.js';

export type { CollectionColumns, ColumnsSource, DdlRequest, DdlTarget, SnowflakeLoad } from './types.js';
export { DDL_DEFAULTS } from './types.js';
export { sparkType, snowflakeType, type VectorColumn } from './columns.js';

/** Throws the ConfigError (exit 2) `generateDdl` would for a destination the target cannot read: check it before any lookup there. */
export function checkDdlDestination(request: DdlRequest): void {
  consumerLocation(request.destination, request.dest, request.target);
}

/** The SQL (Snowflake) or PySpark + pipeline SQL (Databricks) for `request`. Throws a ConfigError (exit 2) on a destination the target cannot read. */
export async function generateDdl(request: DdlRequest): Promise<string> {
  const location = consumerLocation(request.destination, request.dest, request.target);
  return request.target === 'snowflake' ? snowflakeDdl(request, location) : databricksDdl(request, location);
}
