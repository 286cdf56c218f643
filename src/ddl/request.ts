/**
 * `mixpeek-export ddl`'s request: its own flags (target, names, vector lengths) checked and
 * combined with the exporter's settings that decide the files (`--dest`, `--collection`,
 * `--format`, `--compression`, `--vectors`, `--columns`, loaded by config/load.ts) and the
 * typed columns the command looked up (plain data: src/ddl does no I/O). Every mistake is a
 * ConfigError (exit 2) naming the flag. The argv is split by the CLI (cli/commands/ddl.ts).
 */
import type { DdlSettings } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { columnKey } from '../rows/map.js';
import { checkIdentifier, tableNameFor, type VectorColumn } from './columns.js';
import { envelopeOnly, JSON_COLUMNS } from './sources.js';
import { type CollectionColumns, DDL_DEFAULTS, defaultIntegration, type DdlRequest } from './types.js';

/** `ddl`'s own flags: name → (target it applies to, or both) and help text. */
export const DDL_FLAGS: Record<string, { only?: 'snowflake' | 'databricks'; doc: string }> = {
  target: { doc: 'snowflake | databricks (required)' },
  'vector-dims': { doc: 'vector columns and lengths: text_embedding=768,image_embedding=512 (a name without =n: length unknown)' },
  schema: { doc: `Snowflake schema / Unity Catalog schema (default ${DDL_DEFAULTS.schema})` },
  table: { doc: 'table name (one --collection only; default the collection id, lower case, . and - as _)' },
  database: { only: 'snowflake', doc: `Snowflake database (default ${DDL_DEFAULTS.snowflakeDatabase})` },
  integration: { only: 'snowflake', doc: `storage integration (default ${DDL_DEFAULTS.s3Integration} / ${DDL_DEFAULTS.azureIntegration})` },
  'notification-integration': { only: 'snowflake', doc: `Azure auto-ingest notification integration (default ${DDL_DEFAULTS.notificationIntegration})` },
  load: { only: 'snowflake', doc: 'pipe (Snowpipe auto-ingest, default) | copy (scheduled bulk COPY); the other is printed commented out' },
  catalog: { only: 'databricks', doc: `Unity Catalog catalog (default ${DDL_DEFAULTS.catalog})` },
  'state-location': { only: 'databricks', doc: `Auto Loader schema/checkpoint root (default /Volumes/<catalog>/<schema>/${DDL_DEFAULTS.stateVolume})` },
};

/** The help lines of `ddl`'s own flags. */
export function ddlFlagHelp(): string {
  return Object.entries(DDL_FLAGS)
    .map(([flag, { doc }]) => `  --${flag} <value>`.padEnd(34) + doc)
    .join('\n');
}

/** ddl's own flags checked (target, and flags of the other target refused): before any lookup. */
export function checkDdlFlags(own: Record<string, string>): 'snowflake' | 'databricks' {
  const target = own.target;
  if (target !== 'snowflake' && target !== 'databricks') {
    throw new ConfigError(target === undefined ? '--target is required: snowflake or databricks' : `--target ${JSON.stringify(target)}: use snowflake or databricks`);
  }
  for (const flag of Object.keys(own)) {
    const only = DDL_FLAGS[flag]!.only;
    if (only && only !== target) throw new ConfigError(`--${flag} applies to --target ${only}, not ${target}`);
  }
  return target;
}

/**
 * The request `generateDdl` prints from: `own` are ddl's own flags (name → value), `settings`
 * the loaded ones, `columns` each collection's typed columns as the command looked them up
 * (same order as `settings.collections`; ignored with `columns: json`). Every flag is checked
 * here, so the command builds the request first (exit 2 before any I/O), lists the namespace
 * for `collections: all` (until then the request names no collection), looks the columns up,
 * then builds it again with both; without columns a typed request holds the envelope only.
 */
export function buildDdlRequest(own: Record<string, string>, settings: DdlSettings, columns?: readonly CollectionColumns[]): DdlRequest {
  const target = checkDdlFlags(own);
  const { dest, destination, format, compression } = settings;
  if (settings.collections === 'all' && own.table !== undefined) throw new ConfigError('--table names one table: give one --collection instead of --all-collections, or leave --table out');
  const collections = settings.collections === 'all' ? [] : settings.collections;
  const columnsMode = settings.columns;
  if (columns !== undefined && columns.length !== collections.length) throw new Error(`buildDdlRequest: ${columns.length} column lists for ${collections.length} collection(s)`);
  const vectors = own['vector-dims'] === undefined ? [] : parseVectorDims(own['vector-dims']);
  return {
    target,
    dest,
    destination,
    collections,
    columnsMode,
    columns: columnsMode === 'json' ? collections.map(() => JSON_COLUMNS) : (columns ?? collections.map(() => envelopeOnly('the columns were not looked up'))).slice(),
    format,
    compression,
    vectors,
    vectorsRequested: vectors.length > 0 || settings.vectors,
    tables: tablesFor(collections, own.table),
    schema: checkIdentifier('schema', own.schema ?? DDL_DEFAULTS.schema),
    snowflake: {
      database: checkIdentifier('database', own.database ?? DDL_DEFAULTS.snowflakeDatabase),
      integration: checkIdentifier('integration', own.integration ?? defaultIntegration(destination)),
      notificationIntegration: checkIdentifier('notification-integration', own['notification-integration'] ?? DDL_DEFAULTS.notificationIntegration),
      load: loadMode(own.load),
    },
    databricks: {
      catalog: checkIdentifier('catalog', own.catalog ?? DDL_DEFAULTS.catalog),
      stateLocation: stateLocation(own['state-location']),
    },
  };
}

/** `text_embedding=768,image_embedding=512,audio` → sorted vector columns; names are mapped to column keys as the exporter does. */
export function parseVectorDims(spec: string): VectorColumn[] {
  const out = new Map<string, number | null>();
  for (const part of spec.split(',').map((s) => s.trim())) {
    const [, name, dims] = /^([^=]+?)(?:\s*=\s*(\d+))?$/.exec(part) ?? [];
    if (!name) throw new ConfigError(`--vector-dims ${JSON.stringify(spec)}: expected name=dims[,name=dims...], e.g. text_embedding=768`);
    const n = dims === undefined ? null : Number(dims);
    if (n !== null && !(n >= 1 && n <= 1_000_000)) throw new ConfigError(`--vector-dims: ${name}=${dims} is not a vector length (1..1000000)`);
    const key = columnKey(name);
    if (out.has(key)) throw new ConfigError(`--vector-dims: ${JSON.stringify(name)} is listed twice (column vec_${key})`);
    out.set(key, n);
  }
  return [...out].map(([key, dims]) => ({ key, dims })).sort((a, b) => (a.key < b.key ? -1 : 1));
}

function tablesFor(collections: string[], table: string | undefined): string[] {
  if (table !== undefined) {
    if (collections.length > 1) throw new ConfigError('--table names one table: give one --collection, or leave --table out');
    return [checkIdentifier('table', table)];
  }
  const tables = collections.map(tableNameFor);
  const clash = tables.find((t, i) => tables.indexOf(t) !== i);
  if (clash) throw new ConfigError(`collections ${collections.filter((c, i) => tables[i] === clash).join(' and ')} map to the same table ${clash}; run ddl for each with --table`);
  return tables;
}

function loadMode(value: string | undefined): 'pipe' | 'copy' {
  if (value === undefined || value === 'pipe' || value === 'copy') return value ?? 'pipe';
  throw new ConfigError(`--load ${JSON.stringify(value)}: use pipe or copy`);
}

function stateLocation(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (/["'\\\n]/.test(value)) throw new ConfigError('--state-location: a path or URL without quotes, backslashes or newlines');
  return value.replace(/\/+$/, '');
}
