import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import { fsDriver } from './drivers/fs.js';
import { memoryDriver } from './drivers/memory.js';
import type { StorageDriver } from './types.js';

export type { StorageDriver } from './types.js';

/**
 * Opens the driver for a destination URL: `file:///abs/path` or a plain path (fs),
 * `memory://name` (tests). `s3://` and Azure URLs are recognised and refused until their
 * drivers exist, with a message that says so.
 */
export function openDestination(dest: string): StorageDriver {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(dest)?.[1]?.toLowerCase();
  if (!scheme) return fsDriver({ root: path.resolve(dest) });
  if (scheme === 'file') return fsDriver({ root: fileURLToPath(dest) });
  if (scheme === 'memory') return memoryDriver({ name: dest.slice('memory://'.length) });
  if (scheme === 's3' || scheme === 'abfss' || scheme === 'https') {
    throw new ConfigError(`--dest ${dest}: ${scheme}:// destinations are not available in this version yet; use a local path or file:// URL`);
  }
  throw new ConfigError(`--dest ${dest}: unknown scheme ${scheme}://; use file:///abs/path or a plain path`);
}
