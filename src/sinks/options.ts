/**
 * The checks and readers behind each sink option (config.ts): URLs, identifiers, booleans,
 * the command's argv, and secrets from a variable or a file. Each throws a ConfigError
 * (exit 2) naming the option, the variable and the fix, never the value of a secret.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';

type Env = Record<string, string | undefined>;

export const set = (value: string | undefined): value is string => value !== undefined && value.trim() !== '';

export function commandFromEnv(where: string, value: string | undefined): string[] {
  if (!set(value)) throw new ConfigError(`${where}: command is required: set MIXPEEK_EXPORT_SINK_COMMAND (an executable, or a JSON array ["prog", "arg"]) or command in its sinks entry`);
  const text = value.trim();
  if (!text.startsWith('[')) return [text];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((s) => typeof s === 'string' && s.length > 0)) {
    throw new ConfigError(`${where}: MIXPEEK_EXPORT_SINK_COMMAND starts with [ but is not a JSON array of strings; write it as ["python3", "/opt/load.py"]`);
  }
  return parsed as string[];
}

/** A secret from `variable`, else from the file at `file`; never from the config file itself. */
export function secret(where: string, what: string, env: Env, variable: string, file: string | undefined, fileOption: string): string {
  if (set(env[variable])) return (env[variable] as string).trim();
  if (file) return readSecretFile(where, fileOption, file).trim();
  throw new ConfigError(`${where}: the ${what} is required: set ${variable}, or give a file holding it with ${variable}_FILE or ${fileOption} (never in the config file)`);
}

export function readSecretFile(where: string, option: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${where}: ${option} ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'}); check the path and that this user may read it`);
  }
}

/** `https://host[:port]` (a bare host gets https://); plain http only for loopback (local test servers). */
export function httpsUrl(text: string, what: string, options: { keepPath?: boolean } = {}): string {
  const withScheme = /^[a-z]+:\/\//i.test(text) ? text : `https://${text}`;
  if (!URL.canParse(withScheme)) throw new ConfigError(`${what} ${JSON.stringify(text)} is not a URL; give https://host`);
  const url = new URL(withScheme);
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw new ConfigError(`${what} ${url.origin}: use https:// (plain http only to localhost); the request carries credentials`);
  if (url.username || url.password) throw new ConfigError(`${what}: put no credentials in the URL; they come from the environment`);
  return options.keepPath ? url.toString() : url.origin;
}

export function identifier(where: string, option: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,254}$/.test(value)) throw new ConfigError(`${where}: ${option} ${JSON.stringify(value)}: use a plain identifier (letters, digits and _, not starting with a digit)`);
  return value;
}

export function bool(where: string, variable: string, value: string | undefined): boolean {
  if (!set(value)) return false;
  if (/^(true|1|yes)$/i.test(value.trim())) return true;
  if (/^(false|0|no)$/i.test(value.trim())) return false;
  throw new ConfigError(`${where}: ${variable}=${JSON.stringify(value)}: use true or false`);
}
