/**
 * `mixpeek-export ddl`: prints the consumer setup for the files export writes; exit 0, or 2 on
 * bad flags. With `columns: typed` (the default) it first looks each collection's typed columns
 * up (the destination's manifests, else the API's output_schema: cli/ddl-columns.ts), bounded
 * in time; what it cannot reach is a warning on stderr, never a failure.
 */
import { type DdlSettings, loadDdlSettings, nearest } from '../../config/load.js';
import { ConfigError, type ExitCode } from '../../errors.js';
import { DDL_FLAGS, buildDdlRequest, ddlFlagHelp } from '../../ddl/request.js';
import type { DdlRequest } from '../../ddl/types.js';
import { chooseCollections } from '../../source/collections.js';
import { silentLogger, type Logger } from '../../util/log.js';
import { type LookupOptions, lookupColumns } from '../ddl-columns.js';
import { cliLogger } from '../output.js';
import { FLAGS, flagHelp, flagNamesOf, parseFlags } from '../flags.js';
import type { CommandIo } from './types.js';

export function ddlUsage(): string {
  return [
    'Usage: mixpeek-export ddl --target snowflake|databricks --dest URL (--collection ID [--collection ID]... | --all-collections) [flags]',
    '',
    'Prints the consumer setup for the files export writes: Snowflake file format, stage, table (with',
    'schema evolution), pipe or COPY and a latest-version view; Databricks Auto Loader job (PySpark) and',
    'pipeline SQL. --dest, --collection, --format, --compression, --vectors, --columns and --config are',
    'read as for export (flags > env > config file > defaults).',
    '',
    "Typed columns (--columns typed, the default): ddl reads the destination (the newest run manifest",
    "that lists typed columns, with export's storage settings and credentials) and, for a collection",
    "without one, the API (GET /v1/collections/{id}: output_schema; needs MIXPEEK_API_KEY and",
    '--namespace). Each lookup gives up after a few seconds; what is not reachable is a warning on',
    'stderr and the DDL declares the envelope only. --columns json reads nothing (no network).',
    '--all-collections lists the namespace through the API first (MIXPEEK_API_KEY and --namespace needed),',
    'as export does, and prints the setup of each collection (--exclude-collection skips some).',
    '',
    ddlFlagHelp(),
    flagHelp('ddl'),
  ].join('\n');
}

/** `ddl`'s argv parsed: every flag checked (exit 2) before any lookup. */
export interface ParsedDdl {
  own: Record<string, string>;
  settings: DdlSettings;
  /** The request without looked-up columns: `columns: json`, or the envelope only until {@link resolveDdl} sets them. */
  request: DdlRequest;
}

/** Parses `ddl`'s argv (after the command) and checks every flag; no I/O. Returns 'help' for `--help`. */
export function parseDdlArgs(argv: string[], env: NodeJS.ProcessEnv): ParsedDdl | 'help' {
  const { own, rest } = splitArgs(argv);
  const flags = parseFlags(rest, 'ddl');
  if (flags.help) return 'help';
  const settings = loadDdlSettings({ flags: flags.settings, env, configFile: flags.config });
  return { own, settings, request: buildDdlRequest(own, settings) };
}

/** What {@link resolveDdl} may be given: the lookup's options, and the logger of the namespace listing. */
export interface ResolveOptions extends LookupOptions {
  /** Where `collections: all` logs the listing (CollectionsListed, NoCollections); default silent. */
  logger?: Logger;
}

/**
 * The request with its collections chosen (`collections: all` lists the namespace through the
 * API, then `excludeCollections` applies) and each one's typed columns looked up (`columns:
 * typed`), and the warnings to print. With a list of ids and `columns: json` nothing is read.
 */
export async function resolveDdl(parsed: ParsedDdl, options: ResolveOptions = {}): Promise<{ request: DdlRequest; warnings: string[] }> {
  const collections = await chooseCollections(parsed.settings, options.logger ?? silentLogger);
  const settings = { ...parsed.settings, collections };
  if (settings.columns === 'json') return { request: buildDdlRequest(parsed.own, settings), warnings: [] };
  const { columns, warnings } = await lookupColumns(settings, options);
  return { request: buildDdlRequest(parsed.own, settings, columns), warnings };
}

export async function ddlCommand(argv: string[], io: CommandIo): Promise<ExitCode> {
  const parsed = parseDdlArgs(argv, io.env);
  if (parsed === 'help') {
    io.stdout(ddlUsage() + '\n');
    return 0;
  }
  const { checkDdlDestination, generateDdl } = await import('../../ddl/index.js');
  checkDdlDestination(parsed.request); // exit 2 before anything is looked up there
  const { request, warnings } = await resolveDdl(parsed, { logger: cliLogger(process.stderr, 'info', io.redact) });
  for (const warning of warnings) process.stderr.write(io.redact(`mixpeek-export: warning: ${warning}`) + '\n');
  if (request.collections.length > 0) io.stdout(await generateDdl(request)); // none: the listing warned NoCollections
  return 0;
}

/** Separates `ddl`'s own flags from the exporter's (left to `parseFlags`); a misspelt flag gets the nearest of both. */
function splitArgs(argv: string[]): { own: Record<string, string>; rest: string[] } {
  const known = [...Object.keys(DDL_FLAGS), ...flagNamesOf('ddl')];
  const own: Record<string, string> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^--([^=]+)(?:=(.*))?$/s.exec(arg);
    if (!match || !(match[1]! in DDL_FLAGS)) {
      const name = match?.[1];
      if (name && !known.includes(name) && !FLAGS.some((f) => f.flag === name)) {
        throw new ConfigError(`unknown flag --${name} for ddl; did you mean --${nearest(name, known)}? (see mixpeek-export ddl --help)`);
      }
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
