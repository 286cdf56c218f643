/** Pieces of text both targets print. */
import { SNOWFLAKE_MAX_VECTOR_DIMS, tableNameFor } from './columns.js';
import { DDL_DEFAULTS, defaultIntegration, type DdlRequest, type DdlTarget } from './types.js';

/** The lines of one statement, the last one ending in `;`. */
export function statement(lines: readonly string[]): string[] {
  return [...lines.slice(0, -1), `${lines.at(-1)};`];
}

/** The command that prints this output again (flags at their defaults left out). */
export function commandLine(req: DdlRequest): string {
  const parts = ['mixpeek-export ddl', `--target ${req.target}`, `--dest ${req.dest}`, ...req.collections.map((c) => `--collection ${c}`)];
  parts.push(`--format ${req.format}`, `--compression ${req.compression}`);
  if (req.columnsMode === 'json') parts.push('--columns json');
  if (req.vectors.length > 0) parts.push(`--vector-dims ${req.vectors.map((v) => (v.dims === null ? v.key : `${v.key}=${v.dims}`)).join(',')}`);
  else if (req.vectorsRequested) parts.push('--vectors');
  const named: [string, string, string][] =
    req.target === 'snowflake'
      ? [
          ['database', req.snowflake.database, DDL_DEFAULTS.snowflakeDatabase],
          ['integration', req.snowflake.integration, defaultIntegration(req.destination)],
          ['notification-integration', req.snowflake.notificationIntegration, DDL_DEFAULTS.notificationIntegration],
          ['load', req.snowflake.load, 'pipe'],
        ]
      : [
          ['catalog', req.databricks.catalog, DDL_DEFAULTS.catalog],
          ['state-location', req.databricks.stateLocation ?? '', ''],
        ];
  named.push(['schema', req.schema, DDL_DEFAULTS.schema]);
  if (req.collections.length === 1) named.push(['table', req.tables[0]!, tableNameFor(req.collections[0]!)]);
  for (const [flag, value, fallback] of named) if (value !== fallback) parts.push(`--${flag} ${value}`);
  return parts.join(' ');
}

/** What the reader must know about the vector columns, as comment lines (`prefix` is `--` or `#`). */
export function vectorNote(req: DdlRequest, target: DdlTarget, prefix = '--'): string[] {
  if (!req.vectorsRequested) return [];
  const lines: string[] = [];
  if (req.vectors.length === 0) {
    lines.push(
      'Vectors: --vectors without --vector-dims, so no vec_<name> column is declared here. Pass',
      '--vector-dims name=dims,... (the column names are in the "columns" of a run manifest,',
      '<collection>/_manifests/<run_id>.json).',
      target === 'snowflake'
        ? 'Until then the load adds them to the table by schema evolution (as ARRAY); the _latest view shows them once ddl is run with them.'
        : 'Until then Auto Loader adds them by schema evolution (the stream stops once, then picks them up on restart), typed as inferred.',
    );
  } else {
    lines.push(`Vectors: ${req.vectors.map((v) => `vec_${v.key}${v.dims === null ? ' (length not given)' : ` (${v.dims})`}`).join(', ')}.`);
    if (target === 'snowflake') {
      lines.push('Snowflake does not load VECTOR columns directly: they land as ARRAY and the _latest view casts them');
      lines.push(`to VECTOR(FLOAT, dims) when the length was given (and is at most ${SNOWFLAKE_MAX_VECTOR_DIMS}); other vectors stay ARRAY.`);
      lines.push('A run fixes each vector length by the first vector it sees; if a model changes length, regenerate the view.');
    }
  }
  return lines.map((line) => `${prefix} ${line}`);
}
