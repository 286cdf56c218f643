import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import { fsDriver } from './drivers/fs.js';
import { memoryDriver } from './drivers/memory.js';
import type { StorageDriver } from './types.js';

export type { StorageDriver } from './types.js';

/** Settings the cloud drivers take (a subset of the exporter's settings). Secrets come from the environment only. */
export interface DestinationOptions {
  s3Region?: string;
  s3Endpoint?: string;
  s3ForcePathStyle?: boolean;
  s3Sse?: 'AES256' | 'aws:kms';
  s3KmsKeyId?: string;
  /** S3 part / Azure block size in MB. */
  uploadPartMb?: number;
  uploadQueueSize?: number;
  azureConnectionString?: string;
  azureAccountKey?: string;
  azureSasToken?: string;
}

/**
 * Opens the driver for a destination URL: `s3://bucket/prefix`,
 * `abfss://container@account.dfs.core.windows.net/prefix`,
 * `https://account.blob.core.windows.net/container/prefix`, `file:///abs/path` or a plain
 * path, and `memory://name` (tests). Cloud SDKs are loaded only when their scheme is used.
 */
export async function openDestination(dest: string, options: DestinationOptions = {}): Promise<StorageDriver> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(dest)?.[1]?.toLowerCase();
  if (!scheme) return fsDriver({ root: path.resolve(dest) });
  if (scheme === 'file') return fsDriver({ root: fileURLToPath(dest) });
  if (scheme === 'memory') return memoryDriver({ name: dest.slice('memory://'.length) });
  const partSizeBytes = Math.round((options.uploadPartMb ?? 8) * 1024 * 1024);
  if (scheme === 's3') {
    const url = new URL(dest);
    if (!url.hostname) throw new ConfigError(`--dest ${dest}: name the bucket, as s3://bucket/prefix`);
    const { s3Driver } = await import('./drivers/s3/index.js');
    return s3Driver({
      bucket: url.hostname,
      prefix: url.pathname.replace(/^\/+|\/+$/g, ''),
      region: options.s3Region,
      endpoint: options.s3Endpoint,
      forcePathStyle: options.s3ForcePathStyle,
      sse: options.s3Sse === 'aws:kms' ? { kind: 'aws:kms', kmsKeyId: options.s3KmsKeyId } : options.s3Sse ? { kind: 'AES256' } : undefined,
      partSizeBytes,
      queueSize: options.uploadQueueSize,
    });
  }
  if (scheme === 'abfss' || (scheme === 'https' && /\.blob\.core\.windows\.net$/i.test(new URL(dest).hostname))) {
    const { azureDriver, parseAzureUrl } = await import('./drivers/azure/index.js');
    let parsed: ReturnType<typeof parseAzureUrl>;
    try {
      parsed = parseAzureUrl(dest);
    } catch (error) {
      throw new ConfigError(`--dest ${dest.split('?')[0]}: ${(error as Error).message}`);
    }
    const blobEndpoint = /(?:^|;)BlobEndpoint=([^;]+)/i.exec(options.azureConnectionString ?? '')?.[1];
    return azureDriver({
      accountUrl: blobEndpoint ?? parsed.accountUrl,
      container: parsed.container,
      prefix: parsed.prefix,
      credential: options.azureConnectionString
        ? { connectionString: options.azureConnectionString }
        : options.azureAccountKey
          ? { accountName: parsed.account, accountKey: options.azureAccountKey }
          : options.azureSasToken
            ? { sasToken: options.azureSasToken }
            : 'default',
      blockSizeBytes: partSizeBytes,
      concurrency: options.uploadQueueSize,
    });
  }
  throw new ConfigError(
    `--dest ${dest}: unsupported destination; use s3://bucket/prefix, abfss://container@account.dfs.core.windows.net/prefix, https://account.blob.core.windows.net/container/prefix, file:///abs/path or a plain path`,
  );
}
