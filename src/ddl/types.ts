import type { Compression, Format } from '../encode/types.js';
import type { Destination } from '../storage/destination.js';
import type { VectorColumn } from './columns.js';

export type DdlTarget = 'snowflake' | 'databricks';
export type SnowflakeLoad = 'pipe' | 'copy';

/**
 * Everything `ddl` prints from: no network, no credentials. The names default to obvious
 * placeholders (see DDL_DEFAULTS) that the printed comments tell the user to check.
 * @example { target: 'snowflake', dest: 's3://acme-lake/mixpeek', destination: parseDestination('s3://acme-lake/mixpeek'), collections: ['col_abc'], format: 'parquet',
 *   compression: 'zstd', vectors: [{ key: 'text_embedding', dims: 768 }], vectorsRequested: true,
 *   tables: ['col_abc'], schema: 'mixpeek', snowflake: { database: 'mixpeek_db', integration: 'mixpeek_s3_int',
 *   notificationIntegration: 'mixpeek_azure_events', load: 'pipe' }, databricks: { catalog: 'main' } }
 */
export interface DdlRequest {
  target: DdlTarget;
  /** Destination root, as for `export` (`--dest`), as given. */
  dest: string;
  /** `dest`, parsed by `parseDestination` (no SDK, no network). */
  destination: Destination;
  collections: string[];
  format: Format;
  compression: Compression;
  /** Vector columns to declare (`--vector-dims`), sorted by key as the encoders order them. */
  vectors: VectorColumn[];
  /** `--vectors` or `--vector-dims` was given: the files may hold `vec_<key>` columns. */
  vectorsRequested: boolean;
  /** Table name of each collection (same order as `collections`). */
  tables: string[];
  /** Snowflake schema / Unity Catalog schema (`--schema`). */
  schema: string;
  snowflake: {
    database: string;
    /** Storage integration; default `mixpeek_s3_int` or `mixpeek_azure_int` by destination. */
    integration: string;
    /** Azure auto-ingest: the notification integration the pipe names. */
    notificationIntegration: string;
    /** Which load statement runs; the other is printed commented out (never both on the same files). */
    load: SnowflakeLoad;
  };
  databricks: {
    catalog: string;
    /** Where Auto Loader keeps schema and checkpoints; default the volume `/Volumes/<catalog>/<schema>/autoloader`. */
    stateLocation?: string;
  };
}

export const DDL_DEFAULTS = {
  snowflakeDatabase: 'mixpeek_db',
  schema: 'mixpeek',
  s3Integration: 'mixpeek_s3_int',
  azureIntegration: 'mixpeek_azure_int',
  notificationIntegration: 'mixpeek_azure_events',
  catalog: 'main',
  stateVolume: 'autoloader',
} as const;

/** The storage integration placeholder for a destination: S3 or Azure. */
export function defaultIntegration(destination: Destination): string {
  return destination.kind === 's3' ? DDL_DEFAULTS.s3Integration : DDL_DEFAULTS.azureIntegration;
}
