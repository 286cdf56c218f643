import { readFileSync } from 'node:fs';
import { closest } from 'fastest-levenshtein';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { type Destination, parseDestination } from '../storage/destination.js';
import { type Command, COMMAND_SETTINGS, type DdlKey, type StorageReadKey } from './commands.js';
import { resolveCodec, resolveSettings, type ResolvedSettings } from './resolve.js';
import { SECRET_KEYS, SETTING_KEYS, type SettingKey, type Settings, settingsSchema } from './schema.js';

/** Environment variables read, and the setting each fills. */
export const ENV_VARS: Record<string, SettingKey> = {
  MIXPEEK_API_KEY: 'apiKey',
  MIXPEEK_NAMESPACE: 'namespace',
  MIXPEEK_BASE_URL: 'baseUrl',
  MIXPEEK_EXPORT_DEST: 'dest',
  MIXPEEK_EXPORT_COLLECTIONS: 'collections',
  MIXPEEK_EXPORT_SHARD: 'shard',
  MIXPEEK_EXPORT_METRICS_PUSHGATEWAY: 'metricsPushgateway',
  AZURE_STORAGE_CONNECTION_STRING: 'azureConnectionString',
  AZURE_STORAGE_KEY: 'azureAccountKey',
  AZURE_STORAGE_SAS_TOKEN: 'azureSasToken',
};

export interface SettingSources {
  /** From flags, already typed. */
  flags: Partial<Record<SettingKey, unknown>>;
  env: Record<string, string | undefined>;
  /** Path of a YAML config file, if any. */
  configFile?: string;
  /** What a span (`--since 24h`) is measured from; default the moment of loading. */
  now?: Date;
}

/** `status` and `verify`: the destination (parsed), the collections and the storage options. */
export type StorageSettings = Pick<Settings, StorageReadKey> & { destination: Destination };

/** `ddl`: the destination (parsed), the collections, the format and the codec in force; the API key and namespace only when set (ddl looks columns up with them). */
export type DdlSettings = Pick<Settings, Exclude<DdlKey, 'compression' | 'apiKey' | 'namespace'>> &
  Partial<Pick<Settings, 'apiKey' | 'namespace'>> &
  Pick<ResolvedSettings, 'compression'> & { destination: Destination };

/**
 * Loads `export`'s settings: flags > environment > config file > defaults, validated and
 * resolved before any I/O (STYLE.md item 9). Unknown keys are rejected with the nearest
 * valid name; `--shard i/n` with a relative `--since`/`--until` is refused here (exit 2).
 */
export function loadSettings(sources: SettingSources): ResolvedSettings {
  const settings = loadCommand('export', sources) as Settings;
  checkBaseUrl(settings, 'baseUrl' in stripUndefined(sources.flags) ? '--base-url' : sources.env.MIXPEEK_BASE_URL ? 'MIXPEEK_BASE_URL' : 'baseUrl');
  return resolveSettings(settings, sources.now);
}

/** Loads `status`'s or `verify`'s settings, with the same precedence and checks as `export`'s. */
export function loadStorageSettings(command: 'status' | 'verify', sources: SettingSources): StorageSettings {
  const settings = loadCommand(command, sources) as Pick<Settings, StorageReadKey>;
  return { ...settings, destination: parseDestination(settings.dest) };
}

/** Loads `ddl`'s settings (its own flags are parsed by the ddl command). */
export function loadDdlSettings(sources: SettingSources): DdlSettings {
  const settings = loadCommand('ddl', sources) as Omit<DdlSettings, 'compression' | 'destination'> & Pick<Settings, 'compression'>;
  checkBaseUrl(settings as Settings, 'baseUrl' in stripUndefined(sources.flags) ? '--base-url' : sources.env.MIXPEEK_BASE_URL ? 'MIXPEEK_BASE_URL' : 'baseUrl');
  return { ...settings, compression: resolveCodec(settings.format, settings.compression), destination: parseDestination(settings.dest) };
}

/**
 * The one loader: merges the sources for `command`'s subset of the schema and validates it.
 * A flag outside the subset is refused naming the command; a config file may hold settings
 * of other commands (one file serves them all), which this command ignores.
 */
export function loadCommand(command: Command, sources: SettingSources): Record<string, unknown> {
  const keys = COMMAND_SETTINGS[command];
  const flags = stripUndefined(sources.flags);
  for (const key of Object.keys(flags)) {
    if (!keys.includes(key as SettingKey)) throw new ConfigError(`${command} does not take --${flagName(key)}; see mixpeek-export ${command} --help`);
  }
  const file = pick(sources.configFile ? readConfigFile(sources.configFile) : {}, keys);
  const env = pick(fromEnv(sources.env), keys);
  const picked = settingsSchema.pick(Object.fromEntries(keys.map((k) => [k, true])) as Partial<Record<SettingKey, true>>);
  // Only export and reconcile need the API key and namespace; ddl uses them when they are set.
  const schema = command === 'export' ? settingsSchema : command === 'ddl' ? picked.partial({ apiKey: true, namespace: true }) : picked;
  const result = schema.safeParse({ ...file, ...env, ...flags });
  if (!result.success) throw new ConfigError(formatIssues(result.error, sources));
  return result.data;
}

/** Nearest valid name, for "did you mean". */
export function nearest(name: string, candidates: readonly string[]): string {
  return closest(name, candidates as string[]);
}

export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`config file ${path}: cannot read it (${(error as NodeJS.ErrnoException).code}); check --config`);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`config file ${path}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new ConfigError(`config file ${path}: expected a mapping of setting: value`);
  for (const key of Object.keys(data)) {
    if (SECRET_KEYS.includes(key as SettingKey)) {
      const envName = Object.keys(ENV_VARS).find((name) => ENV_VARS[name] === key);
      throw new ConfigError(`config file ${path}: ${key} is a secret and must not be in a file; set the ${envName} environment variable (e.g. from a Kubernetes Secret)`);
    }
    if (!SETTING_KEYS.includes(key as SettingKey)) {
      throw new ConfigError(`config file ${path}: unknown setting "${key}"; did you mean "${nearest(key, SETTING_KEYS)}"?`);
    }
  }
  return data as Record<string, unknown>;
}

function fromEnv(env: Record<string, string | undefined>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV_VARS)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    out[key] = key === 'collections' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
  }
  return out;
}

/** `origin` names where the URL came from (the flag, the env var or the config key), so the message points at what to change. */
function checkBaseUrl(settings: Settings, origin: string): void {
  const url = new URL(settings.baseUrl);
  const loopback = ['localhost', '127.0.0.1', '[::1]', '::1'].includes(url.hostname) || url.hostname.startsWith('127.');
  if (url.protocol === 'http:' && !loopback && !settings.allowInsecureHttp) {
    throw new ConfigError(`${origin} ${url.origin} is plain http: the API key would cross the network unencrypted; use https, or pass --allow-insecure-http if you really mean it`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${origin} ${url.origin}: use an https:// URL`);
}

const ORIGIN_HINT: Partial<Record<SettingKey, string>> = {
  apiKey: 'set MIXPEEK_API_KEY',
  namespace: 'set MIXPEEK_NAMESPACE or pass --namespace',
  collections: 'pass --collection ID (repeatable) or set MIXPEEK_EXPORT_COLLECTIONS',
  dest: 'pass --dest URL or set MIXPEEK_EXPORT_DEST',
};

function formatIssues(error: z.ZodError, sources: SettingSources): string {
  return error.issues
    .map((issue) => {
      const key = String(issue.path[0] ?? '');
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((k) => `unknown setting "${k}"; did you mean "${nearest(k, SETTING_KEYS)}"?`).join('\n');
      }
      const missing = issue.code === 'invalid_type' && issue.input === undefined;
      if (missing) return `${key} ${key === 'collections' ? 'are' : 'is'} required: ${ORIGIN_HINT[key as SettingKey] ?? `pass --${kebab(key)}`}`;
      const origin = key in sources.flags ? `--${flagName(key)}` : sources.configFile ? `${key} (env or ${sources.configFile})` : key;
      return `${origin}: ${issue.message}`;
    })
    .join('\n');
}

export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The flag of a setting: kebab-case, and `collections` is the repeatable `--collection`. */
export function flagName(key: string): string {
  return key === 'collections' ? 'collection' : kebab(key);
}

function pick(obj: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([k]) => keys.includes(k)));
}

function stripUndefined(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}
