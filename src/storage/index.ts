import { type Destination, parseDestination } from './destination.js';
import { fsDriver } from './drivers/fs.js';
import { memoryDriver } from './drivers/memory.js';
import type { StorageDriver } from './types.js';

export type { StorageDriver } from './types.js';
export { type Destination, type DestinationKind, DEST_FORMS, parseDestination } from './destination.js';

/** Settings the cloud drivers take (a subset of the exporter's settings). Secrets come from the environment only. */
export interface DestinationOptions {
  s3Region?: string;
  s3Endpoint?: string;
  s3ForcePathStyle?: boolean;
  s3Sse?: 'AES256' | 'aws:kms';
  s3KmsKeyId?: string;
  /** S3 part / Azure block size in MB. */
  uploadPartMb?: number;
  /** S3: the store's smallest part in MB (the driver's `minPartBytes` capability); default 5 (AWS S3). */
  s3MinPartMb?: number;
  uploadQueueSize?: number;
  azureConnectionString?: string;
  azureAccountKey?: string;
  azureSasToken?: string;
}

/**
 * Opens the driver for a destination: a URL (`s3://bucket/prefix`,
 * `abfss://container@account.dfs.core.windows.net/prefix`,
 * `https://account.blob.core.windows.net/container/prefix`, `file:///abs/path` or a plain
 * path, and `memory://name` for tests) or one already parsed by `parseDestination`. Cloud
 * SDKs are loaded only when their kind is used.
 */
export async function openDestination(dest: string | Destination, options: DestinationOptions = {}): Promise<StorageDriver> {
  const parsed = typeof dest === 'string' ? parseDestination(dest) : dest;
  if (parsed.kind === 'fs') return fsDriver({ root: parsed.root });
  if (parsed.kind === 'memory') return memoryDriver({ name: parsed.name });
  const partSizeBytes = Math.round((options.uploadPartMb ?? 8) * 1024 * 1024);
  if (parsed.kind === 's3') {
    const { s3Driver } = await import('./drivers/s3/index.js');
    return s3Driver({
      bucket: parsed.bucket,
      prefix: parsed.prefix,
      region: options.s3Region,
      endpoint: options.s3Endpoint,
      forcePathStyle: options.s3ForcePathStyle,
      sse: options.s3Sse === 'aws:kms' ? { kind: 'aws:kms', kmsKeyId: options.s3KmsKeyId } : options.s3Sse ? { kind: 'AES256' } : undefined,
      partSizeBytes,
      queueSize: options.uploadQueueSize,
      minPartBytes: options.s3MinPartMb === undefined ? undefined : Math.round(options.s3MinPartMb * 1024 * 1024),
    });
  }
  const { azureDriver } = await import('./drivers/azure/index.js');
  const blobEndpoint = /(?:^|;)BlobEndpoint=([^;]+)/i.exec(options.azureConnectionString ?? '')?.[1];
  return azureDriver({
    accountUrl: blobEndpoint ?? parsed.accountUrl,
    container: parsed.container,
    prefix: parsed.prefix,
    credential: azureCredential(parsed.account, options),
    blockSizeBytes: partSizeBytes,
    concurrency: options.uploadQueueSize,
  });
}

/** The first Azure secret given (connection string, account key, SAS), else the default credential chain. */
function azureCredential(account: string, options: DestinationOptions) {
  if (options.azureConnectionString) return { connectionString: options.azureConnectionString };
  if (options.azureAccountKey) return { accountName: account, accountKey: options.azureAccountKey };
  if (options.azureSasToken) return { sasToken: options.azureSasToken };
  return 'default' as const;
}
