import { readFileSync } from 'node:fs';
import { closest } from 'fastest-levenshtein';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { shardOf } from '../run/window.js';
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
}

/**
 * Resolves settings: flags > environment > config file > defaults, validated before any
 * I/O (STYLE.md item 9). Unknown keys are rejected with the nearest valid name.
 */
export function loadSettings(sources: SettingSources): Settings {
  const file = sources.configFile ? readConfigFile(sources.configFile) : {};
  const env = fromEnv(sources.env);
  const merged: Record<string, unknown> = { ...file, ...env, ...stripUndefined(sources.flags) };
  const result = settingsSchema.safeParse(merged);
  if (!result.success) throw new ConfigError(formatIssues(result.error, sources));
  const settings = result.data;
  checkBaseUrl(settings, 'baseUrl' in stripUndefined(sources.flags) ? '--base-url' : sources.env.MIXPEEK_BASE_URL ? 'MIXPEEK_BASE_URL' : 'baseUrl');
  shardOf(settings); // --shard i/n with absolute --since/--until, refused here (exit 2) rather than after the lease
  return settings;
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
      if (missing) return `${key} is required: ${ORIGIN_HINT[key as SettingKey] ?? `pass --${kebab(key)}`}`;
      const flag = key === 'collections' ? 'collection' : kebab(key);
      const origin = key in sources.flags ? `--${flag}` : sources.configFile ? `${key} (env or ${sources.configFile})` : key;
      return `${origin}: ${issue.message}`;
    })
    .join('\n');
}

export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function stripUndefined(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}
