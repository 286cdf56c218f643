import type { Compression, Format } from '../encode/types.js';
import type { TypedColumn } from '../rows/columns.js';
import type { Destination } from '../storage/destination.js';
import type { VectorColumn } from './columns.js';

export type DdlTarget = 'snowflake' | 'databricks';
export type SnowflakeLoad = 'pipe' | 'copy';

/**
 * Where a collection's typed columns came from (printed in the DDL's header):
 * - `json`: `--columns json`; the files have no typed columns, nothing was looked up.
 * - `manifest`: the newest manifest at the destination that lists typed columns (what the files hold).
 * - `api`: no run has staged typed columns yet; planned from the API's `output_schema`, as the
 *   next export will (`schemaVersion` as the API reported it, null when absent). `declared: false`:
 *   the collection declares no fields, so its files have none either.
 * - `none`: neither was reachable; the envelope only, and `reason` says what failed.
 */
export type ColumnsSource =
  | { kind: 'json' }
  | { kind: 'manifest'; key: string; runId: string; finishedAt: string; drift?: ColumnDriftNote[] }
  | { kind: 'api'; schemaVersion: number | null; declared: boolean }
  | { kind: 'none'; reason: string };

/** A staged column whose field is declared with another type now (the manifest's `columnDrift`): the column keeps `staged`. */
export interface ColumnDriftNote {
  column: string;
  staged: string;
  declared: string;
}

/** One collection's typed columns (file order, as in the manifest) and where they came from. */
export interface CollectionColumns {
  typed: TypedColumn[];
  source: ColumnsSource;
}

/**
 * Everything `ddl` prints from: plain data (the command did any lookup; src/ddl does no I/O). The names default to obvious
 * placeholders (see DDL_DEFAULTS) that the printed comments tell the user to check.
 * @example { target: 'snowflake', dest: 's3://acme-lake/mixpeek', destination: parseDestination('s3://acme-lake/mixpeek'), collections: ['col_abc'], format: 'parquet',
 *   compression: 'zstd', vectors: [{ key: 'text_embedding', dims: 768 }], vectorsRequested: true,
 *   columnsMode: 'typed', columns: [{ typed: [{ name: 'title', field: 'title', type: 'string', declared: 'string' }],
 *   source: { kind: 'api', schemaVersion: 3, declared: true } }], tables: ['col_abc'], schema: 'mixpeek', snowflake: { database: 'mixpeek_db', integration: 'mixpeek_s3_int',
 *   notificationIntegration: 'mixpeek_azure_events', load: 'pipe' }, databricks: { catalog: 'main' } }
 */
export interface DdlRequest {
  target: DdlTarget;
  /** Destination root, as for `export` (`--dest`), as given. */
  dest: string;
  /** `dest`, parsed by `parseDestination` (no SDK, no network). */
  destination: Destination;
  collections: string[];
  /** `columns: typed | json` (`--columns`): json files have no typed columns. */
  columnsMode: 'typed' | 'json';
  /** The typed columns of each collection (same order as `collections`). */
  columns: CollectionColumns[];
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
