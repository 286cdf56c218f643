import { readConfigFile } from '../config/load.js';
import { ConfigError } from '../errors.js';
import type { DestinationOptions } from '../storage/index.js';
import type { ParsedFlags } from './flags.js';

/** The two settings `status` needs (no API key): destination and collections, with the usual precedence. */
export function loadPartial(flags: ParsedFlags, env: NodeJS.ProcessEnv): { dest: string; collections: string[]; options: DestinationOptions } {
  const file = flags.config ? readConfigFile(flags.config) : {};
  const dest = (flags.settings.dest as string | undefined) ?? env.MIXPEEK_EXPORT_DEST ?? (file.dest as string | undefined);
  const collections =
    (flags.settings.collections as string[] | undefined) ??
    env.MIXPEEK_EXPORT_COLLECTIONS?.split(',').map((s) => s.trim()).filter(Boolean) ??
    (file.collections as string[] | undefined);
  if (!dest) throw new ConfigError('dest is required: pass --dest URL or set MIXPEEK_EXPORT_DEST');
  if (!collections?.length) throw new ConfigError('collections are required: pass --collection ID or set MIXPEEK_EXPORT_COLLECTIONS');
  const pick = (key: keyof DestinationOptions) => (flags.settings[key] ?? file[key]) as never;
  const options: DestinationOptions = {
    s3Region: pick('s3Region'),
    s3Endpoint: pick('s3Endpoint'),
    s3ForcePathStyle: pick('s3ForcePathStyle'),
    azureConnectionString: env.AZURE_STORAGE_CONNECTION_STRING,
    azureAccountKey: env.AZURE_STORAGE_KEY,
    azureSasToken: env.AZURE_STORAGE_SAS_TOKEN,
  };
  return { dest, collections, options };
}
