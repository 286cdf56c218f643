/**
 * The flags of `mixpeek-export ddl`: its own (target, names, vector lengths) plus the
 * exporter's `--dest`, `--collection`, `--format`, `--compression`, `--vectors` and `--config`
 * with the usual precedence (flags > env > config file > defaults). Every mistake is a
 * ConfigError (exit 2) naming the flag.
 */
import { isSafeCollectionId } from '../commit/layout.js';
import { nearest, readConfigFile } from '../config/load.js';
import { defaultCompression, validateCodec } from '../encode/index.js';
import type { Compression, Format } from '../encode/types.js';
import { ConfigError } from '../errors.js';
import { columnKey } from '../rows/map.js';
import { FLAGS, parseFlags } from '../cli/flags.js';
import { loadPartial } from '../cli/partial.js';
import { checkIdentifier, tableNameFor, type VectorColumn } from './columns.js';
import { DDL_DEFAULTS, defaultIntegration, type DdlRequest } from './types.js';

/** `ddl`'s own flags: name → (target it applies to, or both) and help text. */
const DDL_FLAGS: Record<string, { only?: 'snowflake' | 'databricks'; doc: string }> = {
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

export function ddlUsage(): string {
  const own = Object.entries(DDL_FLAGS).map(([flag, { doc }]) => `  --${flag} <value>`.padEnd(34) + doc);
  return [
    'Usage: mixpeek-export ddl --target snowflake|databricks --dest URL --collection ID [--collection ID]... [flags]',
    '',
    'Prints the consumer setup for the files export writes (no network, no credentials): Snowflake file',
    'format, stage, table, pipe or COPY and a latest-version view; Databricks Auto Loader job (PySpark)',
    'and pipeline SQL. Also read: --dest, --collection, --format, --compression, --vectors, --config',
    '(flags > env > config file > defaults, as for export).',
    '',
    ...own,
  ].join('\n');
}

/** Parses `ddl`'s argv (after the command). Returns 'help' for `--help`. */
export function parseDdlArgs(argv: string[], env: NodeJS.ProcessEnv): DdlRequest | 'help' {
  const { own, rest } = splitArgs(argv);
  const flags = parseFlags(rest);
  if (flags.help) return 'help';
  const target = own.target;
  if (target !== 'snowflake' && target !== 'databricks') {
    throw new ConfigError(target === undefined ? '--target is required: snowflake or databricks' : `--target ${JSON.stringify(target)}: use snowflake or databricks`);
  }
  for (const flag of Object.keys(own)) {
    const only = DDL_FLAGS[flag]!.only;
    if (only && only !== target) throw new ConfigError(`--${flag} applies to --target ${only}, not ${target}`);
  }
  const { dest, collections } = loadPartial(flags, env);
  for (const id of collections) {
    if (!isSafeCollectionId(id)) throw new ConfigError(`collection id ${JSON.stringify(id)} is not a plain id (1-255 of letters, digits, _ . -, starting with a letter or digit; no / or ..)`);
  }
  const file = flags.config ? readConfigFile(flags.config) : {};
  const setting = (key: 'format' | 'compression' | 'vectors') => flags.settings[key] ?? file[key];
  const format = (setting('format') ?? 'parquet') as Format;
  if (format !== 'parquet' && format !== 'ndjson') throw new ConfigError(`--format ${JSON.stringify(format)}: use parquet or ndjson`);
  const compression = (setting('compression') ?? defaultCompression(format)) as Compression;
  try {
    validateCodec(format, compression);
  } catch (error) {
    throw new ConfigError(`--compression: ${(error as Error).message}`);
  }
  const vectors = own['vector-dims'] === undefined ? [] : parseVectorDims(own['vector-dims']);
  const schema = checkIdentifier('schema', own.schema ?? DDL_DEFAULTS.schema);
  return {
    target,
    dest,
    collections,
    format,
    compression,
    vectors,
    vectorsRequested: vectors.length > 0 || setting('vectors') === true,
    tables: tablesFor(collections, own.table),
    schema,
    snowflake: {
      database: checkIdentifier('database', own.database ?? DDL_DEFAULTS.snowflakeDatabase),
      integration: checkIdentifier('integration', own.integration ?? defaultIntegration(dest)),
      notificationIntegration: checkIdentifier('notification-integration', own['notification-integration'] ?? DDL_DEFAULTS.notificationIntegration),
      load: loadMode(own.load),
    },
    databricks: {
      catalog: checkIdentifier('catalog', own.catalog ?? DDL_DEFAULTS.catalog),
      stateLocation: stateLocation(own['state-location']),
    },
  };
}

/** Separates `ddl`'s own flags from the exporter's (left to `parseFlags`); unknown flags get the nearest valid one. */
function splitArgs(argv: string[]): { own: Record<string, string>; rest: string[] } {
  const known = [...Object.keys(DDL_FLAGS), ...FLAGS.map((f) => f.flag), 'config', 'help'];
  const own: Record<string, string> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^--([^=]+)(?:=(.*))?$/s.exec(arg);
    if (!match || !(match[1]! in DDL_FLAGS)) {
      if (match && !known.includes(match[1]!)) throw new ConfigError(`unknown flag --${match[1]} for ddl; did you mean --${nearest(match[1]!, known)}? (see ddl --help)`);
      rest.push(arg);
      continue;
    }
    const name = match[1]!;
    const value = match[2] ?? argv[++i];
    if (value === undefined || value === '' || (match[2] === undefined && value.startsWith('--'))) throw new ConfigError(`--${name} needs a value (see ddl --help)`);
    if (name in own) throw new ConfigError(`--${name} given twice`);
    own[name] = value;
  }
  return { own, rest };
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
