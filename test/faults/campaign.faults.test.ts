import { describe, expect, inject, it } from 'vitest';
import { CAMPAIGN_DEFAULTS, type CampaignOptions, runAndSummarise } from '../support/campaign.js';

/**
 * The full fault campaign (`npm run test:faults`): per destination, 20,000 documents
 * exported through API faults (5xx, 429 + Retry-After from injected throttling and from the
 * dev server's rate limit, resets, cut-off bodies, slow pages), storage faults (503 SlowDown
 * / ServerBusy, resets before and after the store applied the request, latency), documents
 * changing while they are paged, and at least 24 seeded SIGKILLs, with Auto Loader and COPY
 * INTO consumers ingesting between and during runs. MXP_FAULTS_LOG=1 prints a line per run.
 */
const FULL = {
  ...CAMPAIGN_DEFAULTS,
  collectionId: 'col_video_frames',
  documents: 20_000,
  seed: 20261121,
  kills: 24,
  maxRuns: 80,
  rateLimit: { requestsPerMinute: 900, burst: 20 },
} satisfies Omit<CampaignOptions, 'kind' | 'emulators'>;

/** Its own seed per destination (other faults, other kill moments); NDJSON on S3, Parquet elsewhere. */
const DESTINATIONS = [
  { kind: 'fs', seed: FULL.seed, format: 'parquet' },
  { kind: 's3', seed: FULL.seed + 1, format: 'ndjson' },
  { kind: 'azure', seed: FULL.seed + 2, format: 'parquet' },
] as const;

describe('the fault campaign', () => {
  for (const { kind, seed, format } of DESTINATIONS) {
    it(`stages every version exactly once on ${kind} through API and storage faults, mutations and at least ${FULL.kills} SIGKILLs`, async () => {
      const emulators = { s3Endpoint: inject('s3Endpoint'), azuriteConnectionString: inject('azuriteConnectionString') };
      const report = await runAndSummarise({ ...FULL, kind, seed, format, emulators });
      expect(report.failures).toEqual([]);
      expect(report.kills.total).toBeGreaterThanOrEqual(FULL.kills);
      expect(report.staged.rows).toBeGreaterThanOrEqual(FULL.documents);
    });
  }
});
