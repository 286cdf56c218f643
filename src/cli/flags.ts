import { parseArgs } from 'node:util';
import { z } from 'zod';
import { type Command, COMMAND_EXTRA_FLAGS, COMMAND_SETTINGS } from '../config/commands.js';
import { flagName, kebab, nearest } from '../config/load.js';
import { CONFIG_ONLY_KEYS, SECRET_KEYS, SETTING_KEYS, type SettingKey, settingsSchema } from '../config/schema.js';
import { ConfigError } from '../errors.js';

type Kind = 'string' | 'number' | 'boolean' | 'array';

/** One flag, derived from the settings schema (the one source of truth for names, kinds, values and defaults). */
export interface FlagSpec {
  key: SettingKey;
  flag: string;
  kind: Kind;
  doc: string;
  /** Allowed values of an enum setting (`parquet|ndjson`). */
  values?: readonly string[];
  /** The schema's default, if it has one. */
  default?: unknown;
  /**
   * A boolean flag that sets its setting to this value: a setting that also accepts the
   * literal `'all'` gets `--all-<setting>` (`collections: all` is `--all-collections`).
   */
  sets?: string;
}

/**
 * The flags of each setting (kebab-case; `collections` is the repeatable `--collection`, and
 * `--all-collections` sets it to `all`). Secrets have none.
 */
export const FLAGS: FlagSpec[] = SETTING_KEYS.filter((k) => !SECRET_KEYS.includes(k) && !CONFIG_ONLY_KEYS.includes(k)).flatMap((key) => specsOf(key, settingsSchema.shape[key] as z.ZodType));

const EXTRA_DOCS: Record<string, string> = {
  config: 'YAML config file, camelCase keys (see config/example.yaml)',
  json: 'print JSON',
  help: "print this command's flags",
};

export interface ParsedFlags {
  settings: Partial<Record<SettingKey, unknown>>;
  config?: string;
  help: boolean;
  json: boolean;
}

/** The flags `command` takes. */
export function flagsOf(command: Command): FlagSpec[] {
  return FLAGS.filter((f) => COMMAND_SETTINGS[command].includes(f.key));
}

/** Every flag name `command` takes, settings and extras (`--config`, `--help`, `--json`). */
export function flagNamesOf(command: Command): string[] {
  return [...flagsOf(command).map((f) => f.flag), ...COMMAND_EXTRA_FLAGS[command]];
}

/**
 * Parses and types `command`'s flags (default `export`). A flag of another command is
 * refused naming this one; an unknown flag gets the nearest valid one; two flags of one
 * setting (`--collection` and `--all-collections`) are refused naming both. ConfigError: exit 2.
 */
export function parseFlags(argv: string[], command: Command = 'export'): ParsedFlags {
  const known = flagNamesOf(command);
  const everyFlag = [...FLAGS.map((f) => f.flag), ...Object.values(COMMAND_EXTRA_FLAGS).flat()];
  for (const arg of argv) {
    const name = /^--([^=]+)/.exec(arg)?.[1];
    if (!name || known.includes(name)) continue;
    if (everyFlag.includes(name)) throw new ConfigError(`${command} does not take --${name}; see mixpeek-export ${command} --help`);
    throw new ConfigError(`unknown flag --${name}; did you mean --${nearest(name, known)}? (see mixpeek-export ${command} --help)`);
  }
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const extra of COMMAND_EXTRA_FLAGS[command]) options[extra] = { type: extra === 'config' ? 'string' : 'boolean' };
  for (const f of flagsOf(command)) options[f.flag] = { type: f.kind === 'boolean' ? 'boolean' : 'string', multiple: f.kind === 'array' };
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}; see mixpeek-export ${command} --help`);
  }
  return { settings: typed(values, flagsOf(command)), config: values.config as string | undefined, help: values.help === true, json: values.json === true };
}

function typed(values: Record<string, unknown>, flags: FlagSpec[]): Partial<Record<SettingKey, unknown>> {
  const settings: Partial<Record<SettingKey, unknown>> = {};
  const givenBy: Partial<Record<SettingKey, string>> = {};
  for (const f of flags) {
    const raw = values[f.flag];
    if (raw === undefined || (f.sets !== undefined && raw === false)) continue;
    const earlier = givenBy[f.key];
    if (earlier) throw new ConfigError(`--${earlier} and --${f.flag} contradict each other (both set ${f.key}); give one of them`);
    givenBy[f.key] = f.flag;
    if (f.sets !== undefined) settings[f.key] = f.sets;
    else if (f.kind === 'number') {
      const n = Number(raw);
      if (raw === '' || !Number.isFinite(n)) throw new ConfigError(`--${f.flag} ${JSON.stringify(raw)}: expected a number`);
      settings[f.key] = n;
    } else settings[f.key] = raw;
  }
  return settings;
}

/** A setting's flag; a union with the literal `'all'` (collections) adds `--all-<setting>` after it. */
function specsOf(key: SettingKey, schema: z.ZodType): FlagSpec[] {
  let inner: z.ZodType = schema;
  let fallback: unknown;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional) {
    if (inner instanceof z.ZodDefault) fallback = inner.def.defaultValue;
    inner = inner.unwrap() as z.ZodType;
  }
  const options = inner instanceof z.ZodUnion ? (inner.options as z.ZodType[]) : [inner];
  const all = options.some((o) => o instanceof z.ZodLiteral && o.value === 'all');
  inner = options.find((o) => !(o instanceof z.ZodLiteral)) ?? inner;
  const kind: Kind = inner instanceof z.ZodBoolean ? 'boolean' : inner instanceof z.ZodNumber ? 'number' : inner instanceof z.ZodArray ? 'array' : 'string';
  const values = inner instanceof z.ZodEnum ? (inner.options as string[]) : undefined;
  const spec: FlagSpec = { key, flag: flagName(key), kind, doc: schema.description ?? '', values, default: fallback };
  if (!all) return [spec];
  const allDoc = `every ${key.replace(/s$/, '')} of the namespace (${key}: all), instead of --${spec.flag}`;
  return [spec, { key, flag: `all-${kebab(key)}`, kind: 'boolean', doc: allDoc, sets: 'all' }];
}

/** One help line: `--format parquet|ndjson    file format (default parquet)`. */
function helpLine(f: FlagSpec): string {
  const value = f.kind === 'boolean' ? '' : f.values ? ` ${f.values.join('|')}` : f.kind === 'number' ? ' <n>' : f.kind === 'array' ? ' <id>' : ' <value>';
  const none = f.default === undefined || f.default === false || (Array.isArray(f.default) && f.default.length === 0);
  const fallback = none ? '' : ` (default ${f.default})`;
  return `  --${f.flag}${value} `.padEnd(34) + f.doc + fallback;
}

/** The help lines of `command`'s flags (default `export`), settings first, then `--config`, `--json`. */
export function flagHelp(command: Command = 'export'): string {
  const extras = COMMAND_EXTRA_FLAGS[command].filter((e) => e !== 'help').map((e) => `  --${e}${e === 'config' ? ' <file>' : ''}`.padEnd(34) + EXTRA_DOCS[e]);
  return [...flagsOf(command).map(helpLine), ...extras].join('\n');
}
