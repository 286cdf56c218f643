import { ContainerClient, StorageSharedKeyCredential, type StoragePipelineOptions } from '@azure/storage-blob';
import type { TokenCredential } from '@azure/identity';
import { ConfigError } from '../../../errors.js';

/**
 * How the driver authenticates. `'default'`: `DefaultAzureCredential` from @azure/identity
 * (workload identity, managed identity, Azure CLI...), created on first use. Secrets given
 * here never appear in URLs, logs or error messages.
 * @example { connectionString: process.env.AZURE_STORAGE_CONNECTION_STRING! }
 */
export type AzureCredential = 'default' | { connectionString: string } | { accountName: string; accountKey: string } | { sasToken: string } | TokenCredential;

/** A ready client, or a factory called once on first use (tests point it at Azurite). */
export type AzureClientOption = ContainerClient | (() => ContainerClient);

/**
 * The container client for one driver: the injected one, or one built from the credential.
 * A failure becomes a `ConfigError` (exit 2) whose message has the secrets redacted.
 */
export async function createClient(
  setup: { client?: AzureClientOption; container: string; credential?: AzureCredential },
  accountUrl: string,
  redact: (text: string) => string,
): Promise<ContainerClient> {
  if (setup.client) return typeof setup.client === 'function' ? setup.client() : setup.client;
  const containerUrl = `${accountUrl}/${encodeURIComponent(setup.container)}`;
  const pipeline: StoragePipelineOptions = { userAgentOptions: { userAgentPrefix: 'mixpeek-export' } };
  const credential = setup.credential ?? 'default';
  try {
    if (credential === 'default') {
      // Loaded on first use only: most runs with keys or a SAS never need @azure/identity.
      const { DefaultAzureCredential } = await import('@azure/identity');
      return new ContainerClient(containerUrl, new DefaultAzureCredential(), pipeline);
    }
    if ('connectionString' in credential) return new ContainerClient(credential.connectionString, setup.container, pipeline);
    if ('accountKey' in credential) {
      return new ContainerClient(containerUrl, new StorageSharedKeyCredential(credential.accountName, credential.accountKey), pipeline);
    }
    if ('sasToken' in credential) return new ContainerClient(`${containerUrl}?${credential.sasToken.replace(/^\?/, '')}`, undefined, pipeline);
    return new ContainerClient(containerUrl, credential, pipeline);
  } catch (error) {
    throw new ConfigError(`[azure] cannot create a client for ${containerUrl}: ${redact(error instanceof Error ? error.message : String(error))}; check the credential`);
  }
}

/** The secret values inside a credential, for the redactor. */
export function secretsOf(credential: AzureCredential | undefined): string[] {
  if (!credential || credential === 'default' || 'getToken' in credential) return [];
  if ('accountKey' in credential) return [credential.accountKey];
  if ('sasToken' in credential) return [credential.sasToken.replace(/^\?/, '')];
  return credential.connectionString.split(';').flatMap((part) => (/^(AccountKey|SharedAccessSignature)=/i.test(part) ? [part.slice(part.indexOf('=') + 1)] : []));
}
