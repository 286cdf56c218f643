import { afterAll, describe, expect, inject, it } from 'vitest';
import { AlreadyExistsError, PreconditionFailedError } from '../../src/errors.js';
import { azureDriver } from '../../src/storage/drivers/azure/index.js';
import { s3Driver } from '../../src/storage/drivers/s3/index.js';
import type { StorageDriver } from '../../src/storage/types.js';
import { CAMPAIGN_DEFAULTS, type CampaignOptions, runAndSummarise } from '../support/campaign.js';
import { createContainer } from '../support/emulators/azurite.js';
import { createBucket, s3TestClient } from '../support/emulators/s3.js';
import { azuriteConnectionStringVia, blobEndpointOf, type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';

/**
 * The small, fixed-seed fault campaign (the full one is `npm run test:faults`): 3,000
 * documents per destination, API and storage faults, mutations while paging, a webhook sink
 * that fails at seeded runs, and seven SIGKILLs (six at fixed commit-protocol steps, two of
 * them around the notification, one at a seeded moment), then a clean run and every
 * exactly-once and delivered-at-least-once check.
 */
const SMALL = {
  ...CAMPAIGN_DEFAULTS,
  collectionId: 'col_pdf_pages',
  documents: 3000,
  seed: 4242,
  kills: 7,
  maxRuns: 16,
  schedule: ['file-visible:2', 'intent-recorded:3', 'timed', 'checkpoint-advanced:2', 'manifest-written:1', 'sink-delivering:1', 'sink-delivered:1'],
  killDelayMs: [150, 1500],
  copyIntoEvery: 2,
  sinkFailShare: 0.6,
} satisfies Omit<CampaignOptions, 'kind' | 'emulators'>;

describe('the small fault campaign', () => {
  for (const kind of ['fs', 's3', 'azure'] as const) {
    it(`stages every version exactly once on ${kind} through API and storage faults, mutations and SIGKILLs`, async () => {
      const emulators = { s3Endpoint: inject('s3Endpoint'), azuriteConnectionString: inject('azuriteConnectionString') };
      const report = await runAndSummarise({ ...SMALL, kind, emulators, format: kind === 's3' ? 'ndjson' : 'parquet' });
      expect(report.failures).toEqual([]);
      expect(report.kills.total).toBeGreaterThanOrEqual(SMALL.kills);
      expect(report.staged.rows).toBeGreaterThanOrEqual(SMALL.documents);
    });
  }
});

interface Cloud {
  name: 's3' | 'azure';
  /** A driver on a fresh bucket or container, through the proxy; 64 KiB parts or blocks. */
  open(proxy: FaultProxy): Promise<StorageDriver>;
  upstream(): string;
  /** The request that makes a multipart or block upload visible. */
  isCommit(req: { method: string; url: string }): boolean;
  /** A whole-object PUT (PutObject, Put Blob). */
  isPut(req: { method: string; url: string }): boolean;
}

const PART = 64 * 1024;
const unique = (first: string) => `${first}${Math.random().toString(36).slice(2, 10)}`;
const clouds: Cloud[] = [
  {
    name: 's3',
    async open(proxy) {
      const bucket = unique('lost');
      await createBucket(inject('s3Endpoint'), bucket);
      return s3Driver({ bucket, prefix: 'p', client: s3TestClient(proxy.url), partSizeBytes: PART, minPartBytes: 1 });
    },
    upstream: () => inject('s3Endpoint'),
    isCommit: (req) => req.method === 'POST' && req.url.includes('uploadId='),
    isPut: (req) => req.method === 'PUT' && !req.url.includes('partNumber=') && !req.url.includes('uploadId='),
  },
  {
    name: 'azure',
    async open(proxy) {
      const container = unique('lost');
      await createContainer(inject('azuriteConnectionString'), container);
      const connectionString = azuriteConnectionStringVia(proxy);
      return azureDriver({ accountUrl: `${proxy.url}/devstoreaccount1`, container, prefix: 'p', credential: { connectionString }, blockSizeBytes: PART });
    },
    upstream: () => blobEndpointOf(inject('azuriteConnectionString')),
    isCommit: (req) => req.method === 'PUT' && req.url.includes('comp=blocklist'),
    isPut: (req) => req.method === 'PUT' && !req.url.includes('comp='),
  },
];

const proxies: FaultProxy[] = [];
afterAll(async () => Promise.all(proxies.map((p) => p.close())));

for (const cloud of clouds) {
  describe(`the ${cloud.name} driver when a response is lost after the store applied the request`, () => {
    it('takes its own landed create, swap and publish as done, and still refuses real conflicts', async () => {
      const proxy = await startFaultProxy({ upstream: cloud.upstream(), flavor: cloud.name, seed: 1 });
      proxies.push(proxy);
      const driver = await cloud.open(proxy);
      const text = (t: string) => Buffer.from(t);

      proxy.force('resetAfter', cloud.isPut);
      const created = await driver.writeIf('c/_state/checkpoint.json', text('v1'), { ifNoneMatch: '*' });
      proxy.force('resetAfter', cloud.isPut);
      const swapped = await driver.writeIf('c/_state/checkpoint.json', text('v2'), { ifMatch: created.etag });
      const next = await driver.writeIf('c/_state/checkpoint.json', text('v3'), { ifMatch: swapped.etag });
      expect((await driver.read('c/_state/checkpoint.json'))?.body.toString()).toBe('v3');
      await expect(driver.writeIf('c/_state/checkpoint.json', text('v4'), { ifMatch: swapped.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
      await expect(driver.writeIf('c/_state/checkpoint.json', text('other'), { ifNoneMatch: '*' })).rejects.toBeInstanceOf(AlreadyExistsError);
      expect(next.etag).not.toBe(swapped.etag);

      const small = Buffer.alloc(1000, 7);
      proxy.force('resetAfter', cloud.isPut);
      expect((await driver.publish('c/data/a.parquet', small)).size).toBe(1000);
      const large = Buffer.alloc(3 * PART + 10, 9);
      proxy.force('resetAfter', cloud.isCommit);
      expect((await driver.publish('c/data/b.parquet', large)).size).toBe(large.length);
      expect((await driver.head('c/data/b.parquet'))?.size).toBe(large.length);
      await expect(driver.publish('c/data/a.parquet', Buffer.alloc(1000, 8))).rejects.toBeInstanceOf(AlreadyExistsError);
      await expect(driver.publish('c/data/b.parquet', Buffer.alloc(3 * PART + 10, 8))).rejects.toBeInstanceOf(AlreadyExistsError);

      expect(proxy.counts().resetAfter).toBe(4);
      await driver.close?.();
    });
  });
}
