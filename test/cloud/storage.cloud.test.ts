import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/load.js';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { runExport } from '../../src/run/export.js';
import { openDestination } from '../../src/storage/index.js';
import { readCheckpoint } from '../support/checkpoint.js';
import { describeDriverConformance } from '../support/conformance.js';
import { exportEnv } from '../support/harness.js';

/**
 * Real endpoints (`npm run test:cloud`): the conformance suite and one export against
 * whatever S3 / Azure account the environment names. Skipped, with the missing variables
 * in the title, when it names none.
 */
const env = process.env;
const run = `cloudtest-${Date.now().toString(36)}`;
const s3Missing = ['S3_BUCKET', 'AWS_REGION'].filter((v) => !env[v]);
if (!env.AWS_ACCESS_KEY_ID && !env.AWS_PROFILE && !env.AWS_WEB_IDENTITY_TOKEN_FILE) s3Missing.push('AWS credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE or AWS_WEB_IDENTITY_TOKEN_FILE)');
const azureMissing = ['AZURE_CONTAINER'].filter((v) => !env[v]);
if (!env.AZURE_STORAGE_CONNECTION_STRING && !env.AZURE_STORAGE_ACCOUNT) azureMissing.push('AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT');

const targets = [
  {
    name: 's3',
    missing: s3Missing,
    dest: () => `s3://${env.S3_BUCKET}/${run}`,
    options: () => ({ s3Endpoint: env.S3_ENDPOINT, s3ForcePathStyle: Boolean(env.S3_ENDPOINT), s3Region: env.AWS_REGION, uploadPartMb: 5 }),
  },
  {
    name: 'azure',
    missing: azureMissing,
    dest: () => `https://${env.AZURE_STORAGE_ACCOUNT ?? 'devstoreaccount1'}.blob.core.windows.net/${env.AZURE_CONTAINER}/${run}`,
    options: () => ({ azureConnectionString: env.AZURE_STORAGE_CONNECTION_STRING, uploadPartMb: 1 }),
  },
];

let server: DevServer;
beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: 500 });
});
afterAll(async () => server?.close());

for (const t of targets) {
  if (t.missing.length > 0) {
    describe.skip(`${t.name} real endpoint (skipped: set ${t.missing.join(', ')})`, () => {
      it('runs the conformance suite and one export', () => {});
    });
    continue;
  }
  describeDriverConformance(`${t.name} (real endpoint)`, () => openDestination(t.dest() + '/conformance', t.options()));
  describe(`${t.name} real endpoint`, () => {
    it('exports a collection and reads the checkpoint back', async () => {
      const settings = loadSettings({
        flags: { collections: ['col_pdf_pages'], dest: t.dest(), safetyLagSeconds: 0, ...t.options() },
        env: { ...exportEnv(server.url), AZURE_STORAGE_CONNECTION_STRING: env.AZURE_STORAGE_CONNECTION_STRING },
      });
      const result = await runExport(settings);
      expect(result.error).toBeUndefined();
      expect(result.collections[0]!.runs[0]!.rows).toBe(500);
      const driver = await openDestination(t.dest(), t.options());
      expect((await readCheckpoint(driver, 'col_pdf_pages')).active).toBeNull();
    });
  });
}
