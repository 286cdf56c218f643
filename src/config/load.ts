import { readFileSync } from 'node:fs';
import { closest } from 'fastest-levenshtein';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { type Destination, parseDestination } from '../storage/destination.js';
import { type Command, COMMAND_SETTINGS, type DdlKey, NAMESPACE_API_KEYS, type StorageReadKey } from './commands.js';
import { resolveCodec, resolveSettings, type ResolvedSettings } from './resolve.js';
import { checkSinkEntriesForSecrets } from '../sinks/config.js';
import { SECRET_KEYS, SETTING_KEYS, type SettingKey, type Settings, settingsSchema } from './schema.js';

/** Environment variables read, and the setting each fills. */
export const ENV_VARS: Record<string, SettingKey> = {
  MIXPEEK_API_KEY: 'apiKey',
  MIXPEEK_NAMESPACE: 'namespace',
  MIXPEEK_BASE_URL: 'baseUrl',
  MIXPEEK_EXPORT_DEST: 'dest',
  MIXPEEK_EXPORT_COLLECTIONS: 'collections',
  MIXPEEK_EXPORT_EXCLUDE_COLLECTIONS: 'excludeCollections',
  MIXPEEK_EXPORT_SHARD: 'shard',
  MIXPEEK_EXPORT_METRICS_PUSHGATEWAY: 'metricsPushgateway',
  AZURE_STORAGE_CONNECTION_STRING: 'azureConnectionString',
  AZURE_STORAGE_KEY: 'azureAccountKey',
  AZURE_STORAGE_SAS_TOKEN: 'azureSasToken',
  MIXPEEK_INBOUND_WEBHOOK_SECRET: 'inboundWebhookSecret',
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

/**
 * `status` and `verify`: the destination (parsed), the collections and the storage options.
 * The API settings are there only with `collections: all`, and then `apiKey` and `namespace`
 * are set (checked on load); `baseUrl` absent means the schema's default.
 */
export type StorageSettings = Omit<Pick<Settings, StorageReadKey>, NamespaceApiKey | 'excludeCollections'> &
  Partial<Pick<Settings, NamespaceApiKey | 'excludeCollections'>> & { destination: Destination };

type NamespaceApiKey = (typeof NAMESPACE_API_KEYS)[number];

/**
 * `ddl`: the destination (parsed), the collections, the format and the codec in force, the
 * storage options, and the API settings when set (ddl looks typed columns up with them;
 * `collections: all` needs them). `baseUrl` is the schema's default when not given.
 */
export type DdlSettings = Omit<Pick<Settings, DdlKey>, 'compression' | NamespaceApiKey | 'excludeCollections' | 'baseUrl'> &
  Partial<Pick<Settings, NamespaceApiKey | 'excludeCollections'>> &
  Pick<Settings, 'baseUrl'> &
  Pick<ResolvedSettings, 'compression'> & { destination: Destination };

/**
 * Loads `export`'s settings: flags > environment > config file > defaults, validated and
 * resolved before any I/O (STYLE.md item 9). Unknown keys are rejected with the nearest
 * valid name; `--shard i/n` with a relative `--since`/`--until` is refused here (exit 2).
 */
export function loadSettings(sources: SettingSources): ResolvedSettings {
  const settings = loadCommand('export', sources) as Settings;
  checkBaseUrl(settings, baseUrlOrigin(sources));
  return resolveSettings(settings, sources.now, sources.env);
}

/**
 * Loads `serve`'s settings: export's (without a fixed window), plus the server's, with the
 * same precedence and checks. The inbound secret is required (exit 2 naming the variable):
 * a server that took events from anyone would let anyone start exports.
 */
export function loadServeSettings(sources: SettingSources): ResolvedSettings {
  const settings = loadCommand('serve', sources) as Settings;
  checkBaseUrl(settings, baseUrlOrigin(sources));
  if (!settings.inboundWebhookSecret) {
    throw new ConfigError('serve needs MIXPEEK_INBOUND_WEBHOOK_SECRET: the shared secret each Mixpeek webhook delivery carries in its secret header (inboundSecretHeader, X-Mixpeek-Secret by default; docs/serve.md); set it from a Kubernetes Secret, e.g. openssl rand -hex 32');
  }
  return resolveSettings(settings, sources.now, sources.env);
}

/** Loads `status`'s or `verify`'s settings, with the same precedence and checks as `export`'s. */
export function loadStorageSettings(command: 'status' | 'verify', sources: SettingSources): StorageSettings {
  const settings = loadCommand(command, sources) as StorageSettings;
  if (settings.collections === 'all') checkNamespaceApi(command, settings, sources);
  // The API settings serve only the listing: with a list of ids they are left out, as a shared config file's export settings are.
  else for (const key of NAMESPACE_API_KEYS) delete settings[key];
  return { ...settings, destination: parseDestination(settings.dest) };
}

/**
 * A reading command given `collections: all` lists the namespace through the API: the key
 * and the namespace are required then (and only then), and the base URL is checked as for
 * export. ConfigError (exit 2) naming MIXPEEK_API_KEY or MIXPEEK_NAMESPACE. Exported for a
 * command with its own loader (ddl) that takes the API settings (NAMESPACE_API_KEYS).
 */
export function checkNamespaceApi(command: Command, settings: Partial<Settings>, sources: SettingSources): void {
  const why = `${command} --all-collections lists the namespace's collections through the Mixpeek API`;
  if (!settings.apiKey) throw new ConfigError(`${why}: set MIXPEEK_API_KEY (or give the ids with --collection instead)`);
  if (!settings.namespace) throw new ConfigError(`${why}: set MIXPEEK_NAMESPACE or pass --namespace`);
  checkBaseUrl({ ...settings, baseUrl: settings.baseUrl ?? settingsSchema.shape.baseUrl.parse(undefined), allowInsecureHttp: settings.allowInsecureHttp ?? false }, baseUrlOrigin(sources));
}

/** Where the base URL came from, for its messages: the flag, the env var or the config key. */
function baseUrlOrigin(sources: SettingSources): string {
  return 'baseUrl' in stripUndefined(sources.flags) ? '--base-url' : sources.env.MIXPEEK_BASE_URL ? 'MIXPEEK_BASE_URL' : 'baseUrl';
}

/** Loads `ddl`'s settings (its own flags are parsed by the ddl command). */
export function loadDdlSettings(sources: SettingSources): DdlSettings {
  const loaded = loadCommand('ddl', sources) as Omit<DdlSettings, 'compression' | 'destination' | 'baseUrl'> & Partial<Pick<Settings, 'baseUrl' | 'compression'>>;
  const settings = { ...loaded, baseUrl: loaded.baseUrl ?? settingsSchema.shape.baseUrl.parse(undefined) };
  // The API is optional for ddl (typed columns fall back to the envelope), except to list the namespace.
  if (settings.collections === 'all') checkNamespaceApi('ddl', settings, sources);
  else checkBaseUrl({ ...settings, allowInsecureHttp: settings.allowInsecureHttp ?? false } as Settings, baseUrlOrigin(sources));
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
  const input = { ...file, ...env, ...flags };
  const result = commandSchema(command, keys).safeParse(input);
  if (!result.success) throw new ConfigError(formatIssues(result.error, sources, input));
  return result.data;
}

/**
 * `command`'s subset of the schema. The commands that read the destination take the API
 * settings only for `collections: all`: there they and `excludeCollections` are optional,
 * without defaults, so a list of collections loads exactly as before they existed.
 */
function commandSchema(command: Command, keys: readonly SettingKey[]) {
  if (command === 'export') return settingsSchema;
  if (command === 'serve') return settingsSchema.pick(Object.fromEntries(keys.map((k) => [k, true])) as Partial<Record<SettingKey, true>>);
  const picked = settingsSchema.pick(Object.fromEntries(keys.map((k) => [k, true])) as Partial<Record<SettingKey, true>>);
  if (command === 'reconcile' || !NAMESPACE_API_KEYS.every((k) => keys.includes(k))) return picked;
  const { shape } = settingsSchema;
  return picked.extend({
    apiKey: shape.apiKey.optional(),
    namespace: shape.namespace.optional(),
    baseUrl: shape.baseUrl.unwrap().optional(),
    allowInsecureHttp: shape.allowInsecureHttp.unwrap().optional(),
    excludeCollections: shape.excludeCollections.unwrap().optional(),
  });
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
  checkSinkEntriesForSecrets((data as Record<string, unknown>).sinks, path);
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
    out[key] = LIST_KEYS.includes(key) ? listFromEnv(key, value) : value;
  }
  return out;
}

/** Settings whose environment variable holds a comma-separated list. */
const LIST_KEYS: readonly SettingKey[] = ['collections', 'excludeCollections'];

/** `a, b` → `['a', 'b']`; MIXPEEK_EXPORT_COLLECTIONS=all stays `'all'` (every collection of the namespace). */
function listFromEnv(key: SettingKey, value: string): string[] | 'all' {
  if (key === 'collections' && value.trim() === 'all') return 'all';
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

/** `origin` names where the URL came from (the flag, the env var or the config key), so the message points at what to change. */
function checkBaseUrl(settings: Pick<Settings, 'baseUrl' | 'allowInsecureHttp'>, origin: string): void {
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
  collections: 'pass --collection ID (repeatable) or --all-collections, or set MIXPEEK_EXPORT_COLLECTIONS',
  dest: 'pass --dest URL or set MIXPEEK_EXPORT_DEST',
};

function formatIssues(error: z.ZodError, sources: SettingSources, input: Record<string, unknown>): string {
  return error.issues
    .map((issue) => {
      const key = String(issue.path[0] ?? '');
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((k) => `unknown setting "${k}"; did you mean "${nearest(k, SETTING_KEYS)}"?`).join('\n');
      }
      const missing = (issue.code === 'invalid_type' && issue.input === undefined) || (issue.code === 'invalid_union' && input[key] === undefined);
      if (missing) return `${key} ${key === 'collections' ? 'are' : 'is'} required: ${ORIGIN_HINT[key as SettingKey] ?? `pass --${kebab(key)}`}`;
      const origin = key in sources.flags ? `--${flagName(key)}` : sources.configFile ? `${key} (env or ${sources.configFile})` : key;
      return `${origin}: ${issue.message}`;
    })
    .join('\n');
}

export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The flag of a setting: kebab-case; the lists of collections take the singular, repeated (`--collection`, `--exclude-collection`). */
export function flagName(key: string): string {
  return key === 'collections' || key === 'excludeCollections' ? kebab(key).replace(/s$/, '') : kebab(key);
}

function pick(obj: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([k]) => keys.includes(k)));
}

function stripUndefined(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}
