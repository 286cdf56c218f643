import { parseArgs } from 'node:util';
import { z } from 'zod';
import { kebab, nearest } from '../config/load.js';
import { SECRET_KEYS, SETTING_KEYS, type SettingKey, settingsSchema } from '../config/schema.js';
import { ConfigError } from '../errors.js';

type Kind = 'string' | 'number' | 'boolean' | 'array';

/** The flag of each setting (kebab-case; `collections` is the repeatable `--collection`). Secrets have none. */
export const FLAGS: { key: SettingKey; flag: string; kind: Kind; doc: string }[] = SETTING_KEYS.filter((k) => !SECRET_KEYS.includes(k)).map(
  (key) => {
    const schema = settingsSchema.shape[key] as z.ZodType;
    return { key, flag: key === 'collections' ? 'collection' : kebab(key), kind: kindOf(schema), doc: schema.description ?? '' };
  },
);

const EXTRA_FLAGS = ['config', 'help', 'json'] as const;

export interface ParsedFlags {
  settings: Partial<Record<SettingKey, unknown>>;
  config?: string;
  help: boolean;
  json: boolean;
}

/** Parses and types the flags; unknown flags are refused with the nearest valid one. */
export function parseFlags(argv: string[]): ParsedFlags {
  const known = [...FLAGS.map((f) => f.flag), ...EXTRA_FLAGS];
  for (const arg of argv) {
    const name = /^--([^=]+)/.exec(arg)?.[1];
    if (name && !known.includes(name)) throw new ConfigError(`unknown flag --${name}; did you mean --${nearest(name, known)}? (see --help)`);
  }
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
    config: { type: 'string' },
    help: { type: 'boolean' },
    json: { type: 'boolean' },
  };
  for (const f of FLAGS) options[f.flag] = { type: f.kind === 'boolean' ? 'boolean' : 'string', multiple: f.kind === 'array' };
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}; see --help`);
  }
  const settings: Partial<Record<SettingKey, unknown>> = {};
  for (const f of FLAGS) {
    const raw = values[f.flag];
    if (raw === undefined) continue;
    if (f.kind === 'number') {
      const n = Number(raw);
      if (raw === '' || !Number.isFinite(n)) throw new ConfigError(`--${f.flag} ${JSON.stringify(raw)}: expected a number`);
      settings[f.key] = n;
    } else settings[f.key] = raw;
  }
  return { settings, config: values.config as string | undefined, help: values.help === true, json: values.json === true };
}

function kindOf(schema: z.ZodType): Kind {
  let inner: z.ZodType = schema;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
  if (inner instanceof z.ZodBoolean) return 'boolean';
  if (inner instanceof z.ZodNumber) return 'number';
  if (inner instanceof z.ZodArray) return 'array';
  return 'string';
}

export function flagHelp(): string {
  return FLAGS.map((f) => `  --${f.flag}${f.kind === 'boolean' ? '' : ' <value>'}`.padEnd(34) + f.doc).join('\n');
}
