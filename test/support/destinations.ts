import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { containerClient } from './emulators/azurite.js';
import { createBucket, s3TestClient } from './emulators/s3.js';

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
    flags: ['--s3-endpoint', endpoint, '--s3-force-path-style', '--s3-region', 'us-east-1', '--upload-part-mb', '0.25'],
    env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' },
    async objects() {
      const client = s3TestClient(endpoint);
      const out = new Map<string, Buffer>();
      try {
        let token: string | undefined;
        do {
          const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'exports/', ContinuationToken: token }));
          for (const { Key } of page.Contents ?? []) {
            const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key }));
            out.set((Key as string).slice('exports/'.length), Buffer.from(await object.Body!.transformToByteArray()));
          }
          token = page.NextContinuationToken;
        } while (token);
      } finally {
        client.destroy();
      }
      return out;
    },
  };
}

/** A new container on Azurite (blob only); objects are written under the `exports/` prefix. */
export async function azureDestination(connectionString: string): Promise<TestDestination> {
  const container = randomName('c');
  const client = containerClient(connectionString, container);
  await client.create();
  return {
    name: 'azure',
    dest: `https://devstoreaccount1.blob.core.windows.net/${container}/exports`,
    flags: ['--upload-part-mb', '0.25'],
    env: { AZURE_STORAGE_CONNECTION_STRING: connectionString },
    async objects() {
      const out = new Map<string, Buffer>();
      for await (const blob of client.listBlobsFlat({ prefix: 'exports/' })) {
        out.set(blob.name.slice('exports/'.length), await client.getBlobClient(blob.name).downloadToBuffer());
      }
      return out;
    },
  };
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
