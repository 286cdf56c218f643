/**
 * The destinations of the fault campaign: a temp folder, or a fresh s3rver bucket or Azurite
 * container with a seeded fault proxy in front. The exporter goes through the proxy; the
 * campaign's own reads (`store`) go to the emulator directly.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { azureStore, fsStore, s3Store, type StagedStore } from './consumers.js';
import { AZURITE_ACCOUNT, createContainer } from './emulators/azurite.js';
import { createBucket } from './emulators/s3.js';
import { azuriteConnectionStringVia, blobEndpointOf, type FaultProxy, type StorageFaultRates, startFaultProxy } from './fault-proxy.js';

export type DestinationKind = 'fs' | 's3' | 'azure';

/** Where the integration tier's emulators listen (vitest `inject`). */
export interface Emulators {
  s3Endpoint: string;
  azuriteConnectionString: string;
}

/** A prepared destination: how the exporter reaches it (through the proxy) and how the test does (directly). */
export interface CampaignDestination {
  kind: DestinationKind;
  /** `--dest` value. */
  dest: string;
  /** Exporter flags and environment, through the fault proxy. */
  flags: string[];
  env: Record<string, string>;
  /** The same, straight at the emulator (for the test's own CLI calls, e.g. `verify`). */
  directFlags: string[];
  directEnv: Record<string, string>;
  /** Ground-truth reads, straight at the emulator. */
  store: StagedStore;
  proxy: FaultProxy | null;
  close(): Promise<void>;
}

/**
 * Creates a fresh bucket, container or folder. S3 and Azure get a fault proxy (seeded from
 * `seed`) in front of the emulator; the exporter goes through it, `store` does not.
 */
export async function prepareDestination(kind: DestinationKind, emulators: Emulators, seed: number, rates: StorageFaultRates): Promise<CampaignDestination> {
  const name = `f${seed.toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  if (kind === 'fs') {
    const root = mkdtempSync(path.join(tmpdir(), 'mxp-faults-dest-'));
    return { kind, dest: root, flags: [], env: {}, directFlags: [], directEnv: {}, store: fsStore(root), proxy: null, close: async () => {} };
  }
  if (kind === 's3') {
    await createBucket(emulators.s3Endpoint, name);
    const proxy = await startFaultProxy({ upstream: emulators.s3Endpoint, flavor: 's3', seed, rates });
    const s3Flags = (endpoint: string) => ['--s3-endpoint', endpoint, '--s3-force-path-style', '--s3-region', 'us-east-1'];
    const env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
    const store = s3Store(emulators.s3Endpoint, name, 'exports');
    return {
      kind, dest: `s3://${name}/exports`, flags: s3Flags(proxy.url), env, directFlags: s3Flags(emulators.s3Endpoint), directEnv: env, store, proxy,
      close: async () => {
        store.close();
        await proxy.close();
      },
    };
  }
  await createContainer(emulators.azuriteConnectionString, name);
  const proxy = await startFaultProxy({ upstream: blobEndpointOf(emulators.azuriteConnectionString), flavor: 'azure', seed, rates });
  return {
    kind,
    dest: `https://${AZURITE_ACCOUNT}.blob.core.windows.net/${name}/exports`,
    flags: [],
    env: { AZURE_STORAGE_CONNECTION_STRING: azuriteConnectionStringVia(proxy) },
    directFlags: [],
    directEnv: { AZURE_STORAGE_CONNECTION_STRING: emulators.azuriteConnectionString },
    store: azureStore(emulators.azuriteConnectionString, name, 'exports'),
    proxy,
    close: () => proxy.close(),
  };
}
