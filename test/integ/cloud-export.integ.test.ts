import { createWriteStream, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { openDestination } from '../../src/storage/index.js';
import type { StorageDriver } from '../../src/storage/types.js';
import { readCheckpoint } from '../support/checkpoint.js';
import { containerClient } from '../support/emulators/azurite.js';
import { createBucket } from '../support/emulators/s3.js';
import { API_KEY, compareVersions, exportEnv, runCli, stagedVersions } from '../support/harness.js';

const COL = 'col_product_images';
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: 2000, seed: 31 });
});
afterAll(async () => server?.close());

interface Cloud {
  name: string;
  /** A fresh destination URL, its CLI flags and environment. */
  prepare(): Promise<{ dest: string; flags: string[]; env: Record<string, string> }>;
}

const clouds: Cloud[] = [
  {
    name: 's3',
    async prepare() {
      const endpoint = inject('s3Endpoint');
      const bucket = `b${Math.random().toString(36).slice(2, 10)}`;
      await createBucket(endpoint, bucket);
      return {
        dest: `s3://${bucket}/exports`,
        flags: ['--s3-endpoint', endpoint, '--s3-force-path-style', '--s3-region', 'us-east-1', '--upload-part-mb', '0.25', '--s3-min-part-mb', '0.0625'],
        env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' },
      };
    },
  },
  {
    name: 'azure',
    async prepare() {
      const connectionString = inject('azuriteConnectionString');
      const container = `c${Math.random().toString(36).slice(2, 10)}`;
      await containerClient(connectionString, container).create();
      return {
        dest: `https://devstoreaccount1.blob.core.windows.net/${container}/exports`,
        flags: ['--upload-part-mb', '0.25'],
        env: { AZURE_STORAGE_CONNECTION_STRING: connectionString },
      };
    },
  },
];

/** Downloads `<collection>/data/` through the driver into a temp folder, for DuckDB. */
async function download(driver: StorageDriver, collectionId: string): Promise<string> {
  const root = mkdtempSync(path.join(tmpdir(), 'mxp-cloud-'));
  for await (const info of driver.list(`${collectionId}/data/`)) {
    const target = path.join(root, ...info.key.split('/'));
    mkdirSync(path.dirname(target), { recursive: true });
    await pipeline(await driver.readStream(info.key), createWriteStream(target));
  }
  return root;
}

async function driverFor(dest: string, env: Record<string, string>, flags: string[]): Promise<StorageDriver> {
  Object.assign(process.env, env); // the AWS SDK's default chain reads credentials from the environment
  const endpoint = flags[flags.indexOf('--s3-endpoint') + 1];
  return openDestination(dest, { s3Endpoint: flags.includes('--s3-endpoint') ? endpoint : undefined, s3ForcePathStyle: true, s3Region: 'us-east-1', azureConnectionString: env.AZURE_STORAGE_CONNECTION_STRING });
}

for (const cloud of clouds) {
  describe(`export to ${cloud.name}`, () => {
    it('exports everything once, then only what changed, after SIGKILLs at commit steps', async () => {
      const { dest, flags, env } = await cloud.prepare();
      // Four slices, split whenever fewer are in flight: files of several slices commit to the store at once.
      const args = (extra: string[] = []) => ['export', '--collection', COL, '--dest', dest, '--safety-lag-seconds', '0', '--max-rows-per-file', '300', '--page-size', '200', '--parallel-slices', '4', '--split-slices', 'always', ...flags, ...extra];
      const cliEnv = exportEnv(server.url, env);
      for (const point of ['slice-split:2', 'intent-recorded:2', 'file-visible:3', 'checkpoint-advanced:2', 'manifest-written:1']) {
        const killed = await runCli(args(), { ...cliEnv, MIXPEEK_EXPORT_TEST_CRASH_AT: point });
        expect(killed.signal, `${cloud.name} crash at ${point}: ${killed.stderr.slice(-2000)}`).toBe('SIGKILL');
      }
      const finished = await runCli(args(), cliEnv);
      expect(finished.code, finished.stderr.slice(-2000)).toBe(0);
      server.mutate(COL, 15);
      const incremental = await runCli(args(['--format', 'ndjson']), cliEnv);
      expect(incremental.code, incremental.stderr.slice(-2000)).toBe(0);
      expect(incremental.stdout).toMatch(/, 15 rows,/);

      const driver = await driverFor(dest, env, flags);
      const local = await download(driver, COL);
      const cmp = compareVersions(server.currentVersions(COL), await stagedVersions(local, COL));
      expect(cmp).toMatchObject({ duplicates: [], missing: [], unknown: [] });
      const checkpoint = await readCheckpoint(driver, COL);
      expect(checkpoint.active).toBeNull();
      expect(checkpoint.history).toHaveLength(3); // the resumed run, the short window after it, the incremental run
      for (const out of [finished.stdout, finished.stderr, incremental.stderr]) expect(out).not.toContain(API_KEY);
      await driver.close?.();
    });
  });
}
