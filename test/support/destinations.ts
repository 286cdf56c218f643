import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { azureStore, s3Store, type StagedStore } from './consumers.js';
import { containerClient } from './emulators/azurite.js';
import { createBucket } from './emulators/s3.js';

/**
 * A fresh destination for CLI runs in the integration tier (a temp folder, an s3rver
 * bucket or an Azurite container), and an independent reader of everything that landed
 * there: the emulator's own client, not the exporter's driver.
 */
export interface TestDestination {
  name: 'fs' | 's3' | 'azure';
  /** The `--dest` value. */
  dest: string;
  /** CLI flags the destination needs (endpoint, small upload parts so multipart paths run). */
  flags: string[];
  /** Environment with the emulator's credentials. */
  env: Record<string, string>;
  /** Every object under the destination root (data, manifests, checkpoint, lease, temp files), by key. */
  objects(): Promise<Map<string, Buffer>>;
}

const randomName = (first: string) => `${first}${Math.random().toString(36).slice(2, 10)}`;

export function fsDestination(): TestDestination {
  const root = mkdtempSync(path.join(tmpdir(), 'mxp-dest-'));
  return { name: 'fs', dest: root, flags: [], env: {}, objects: async () => filesUnder(root) };
}

/** A new bucket on s3rver-plus; objects are written under the `exports/` prefix. */
export async function s3Destination(endpoint: string): Promise<TestDestination> {
  const bucket = randomName('b');
  await createBucket(endpoint, bucket);
  return {
    name: 's3',
    dest: `s3://${bucket}/exports`,
    flags: ['--s3-endpoint', endpoint, '--s3-force-path-style', '--s3-region', 'us-east-1', '--upload-part-mb', '0.25', '--s3-min-part-mb', '0.0625'],
    env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' },
    objects: () => everyObject(s3Store(endpoint, bucket, 'exports')),
  };
}

/** A new container on Azurite (blob only); objects are written under the `exports/` prefix. */
export async function azureDestination(connectionString: string): Promise<TestDestination> {
  const container = randomName('c');
  await containerClient(connectionString, container).create();
  return {
    name: 'azure',
    dest: `https://devstoreaccount1.blob.core.windows.net/${container}/exports`,
    flags: ['--upload-part-mb', '0.25'],
    env: { AZURE_STORAGE_CONNECTION_STRING: connectionString },
    objects: () => everyObject(azureStore(connectionString, container, 'exports')),
  };
}

/** Every object of a store, by key: downloaded with the emulator's own client into a temp folder, then read. */
async function everyObject(store: StagedStore): Promise<Map<string, Buffer>> {
  const dir = mkdtempSync(path.join(tmpdir(), 'mxp-objects-'));
  try {
    for (const { key } of await store.list('')) await store.download(key, path.join(dir, ...key.split('/')));
    return filesUnder(dir);
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Copies `<collection>/data/` of a destination into a temp folder, where stagedVersions (DuckDB) reads it. */
export async function localCopy(destination: TestDestination, collectionId: string): Promise<string> {
  const root = mkdtempSync(path.join(tmpdir(), 'mxp-copy-'));
  for (const [key, body] of await destination.objects()) {
    if (!key.startsWith(`${collectionId}/data/`)) continue;
    const target = path.join(root, ...key.split('/'));
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, body);
  }
  return root;
}

/** Every file under a folder, by its `/`-separated path relative to the folder. */
export function filesUnder(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else out.set(path.relative(root, full).split(path.sep).join('/'), readFileSync(full));
    }
  };
  walk(root);
  return out;
}
