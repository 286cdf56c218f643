/** `mixpeek-export ddl`: prints the consumer setup for the files export writes; exit 0, or 2 on bad flags. No network. */
import { loadDdlSettings, nearest } from '../../config/load.js';
import { ConfigError, type ExitCode } from '../../errors.js';
import { DDL_FLAGS, buildDdlRequest, ddlFlagHelp } from '../../ddl/request.js';
import type { DdlRequest } from '../../ddl/types.js';
import { FLAGS, flagHelp, flagNamesOf, parseFlags } from '../flags.js';
import type { CommandIo } from './types.js';

export function ddlUsage(): string {
  return [
    'Usage: mixpeek-export ddl --target snowflake|databricks --dest URL --collection ID [--collection ID]... [flags]',
    '',
    'Prints the consumer setup for the files export writes (no network, no credentials): Snowflake file',
    'format, stage, table, pipe or COPY and a latest-version view; Databricks Auto Loader job (PySpark)',
    'and pipeline SQL. --dest, --collection, --format, --compression, --vectors and --config are read as',
    'for export (flags > env > config file > defaults).',
    '',
    ddlFlagHelp(),
    flagHelp('ddl'),
  ].join('\n');
}

/** Parses `ddl`'s argv (after the command) into the request `generateDdl` prints from. Returns 'help' for `--help`. */
export function parseDdlArgs(argv: string[], env: NodeJS.ProcessEnv): DdlRequest | 'help' {
  const { own, rest } = splitArgs(argv);
  const flags = parseFlags(rest, 'ddl');
  if (flags.help) return 'help';
  const settings = loadDdlSettings({ flags: flags.settings, env, configFile: flags.config });
  return buildDdlRequest(own, settings);
}

export async function ddlCommand(argv: string[], io: CommandIo): Promise<ExitCode> {
  const request = parseDdlArgs(argv, io.env);
  if (request === 'help') {
    io.stdout(ddlUsage() + '\n');
    return 0;
  }
  const { generateDdl } = await import('../../ddl/index.js');
  io.stdout(await generateDdl(request));
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
