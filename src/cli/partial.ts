import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.js';
import type { ParsedFlags } from './flags.js';

/** The two settings `status` needs (no API key): destination and collections, with the usual precedence. */
export function loadPartial(flags: ParsedFlags, env: NodeJS.ProcessEnv): { dest: string; collections: string[] } {
  const file = flags.config ? ((parseYaml(readFileSync(flags.config, 'utf8')) ?? {}) as Record<string, unknown>) : {};
  const dest = (flags.settings.dest as string | undefined) ?? env.MIXPEEK_EXPORT_DEST ?? (file.dest as string | undefined);
  const collections =
    (flags.settings.collections as string[] | undefined) ??
    env.MIXPEEK_EXPORT_COLLECTIONS?.split(',').map((s) => s.trim()).filter(Boolean) ??
    (file.collections as string[] | undefined);
  if (!dest) throw new ConfigError('dest is required: pass --dest URL or set MIXPEEK_EXPORT_DEST');
  if (!collections?.length) throw new ConfigError('collections are required: pass --collection ID or set MIXPEEK_EXPORT_COLLECTIONS');
  return { dest, collections };
}
