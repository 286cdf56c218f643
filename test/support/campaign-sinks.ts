/**
 * The sink side of the fault campaign: every run of the campaign notifies a webhook receiver
 * (test/support/sinks/webhook.ts, which verifies each delivery with the standardwebhooks
 * library) that fails a seeded share of the runs' deliveries, and the campaign's kills land
 * on the notification's own steps too (`sink-delivering`, `sink-delivered`). At the end:
 * every run that published files was delivered, verified, at least once; nothing is left
 * pending in the checkpoint; and no delivery failed to verify.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseManifest } from '../../src/commit/manifest.js';
import { checkpointSchema } from '../../src/commit/schema.js';
import type { Rng } from '../../src/devserver/prng.js';
import type { StagedStore } from './consumers.js';
import { startWebhookReceiver, type WebhookReceiver } from './sinks/webhook.js';

const SECRET = 'whsec_c2lua3MtY2FtcGFpZ24tc2VjcmV0LTAxMjM0NTY3';

/** What the campaign found about its notifications. */
export interface SinkCheck {
  /** Runs with files (their manifests). */
  runs: number;
  /** Runs the receiver took (verified, 2xx), and how many deliveries were repeats of a run already taken. */
  delivered: number;
  redelivered: number;
  /** Deliveries the receiver was told to fail (500) in the fault phase. */
  failedOnPurpose: number;
  /** Runs never delivered; pending notifications left in the checkpoint; deliveries that did not verify. */
  missing: string[];
  pending: string[];
  unverified: number;
}

export interface CampaignSink {
  /** The environment that turns the webhook sink on. */
  env: Record<string, string>;
  /** Before a fault-phase run: with `share`, the receiver fails its next 1..12 requests (500), more than one run's retries at times. */
  beforeRun(rng: Rng, share: number): void;
  /** Faults off, before the clean run (which then delivers everything pending). */
  calm(): void;
  check(store: StagedStore, collectionId: string, dir: string): Promise<SinkCheck>;
  close(): Promise<void>;
}

export async function startCampaignSink(): Promise<CampaignSink> {
  const receiver: WebhookReceiver = await startWebhookReceiver({ secret: SECRET });
  let failedOnPurpose = 0;
  return {
    env: { MIXPEEK_EXPORT_WEBHOOK_URL: receiver.url, MIXPEEK_EXPORT_WEBHOOK_SECRET: SECRET },
    beforeRun(rng, share) {
      if (rng.float() >= share) return receiver.failNext(0, 500);
      const n = rng.range(1, 12);
      failedOnPurpose += n;
      receiver.failNext(n, 500);
    },
    calm: () => receiver.failNext(0, 500),
    check: (store, collectionId, dir) => checkDeliveries(receiver, store, collectionId, dir, failedOnPurpose),
    close: () => receiver.close(),
  };
}

async function checkDeliveries(receiver: WebhookReceiver, store: StagedStore, collectionId: string, dir: string, failedOnPurpose: number): Promise<SinkCheck> {
  const runs: string[] = [];
  for (const m of (await store.list(`${collectionId}/_manifests/`)).filter((o) => o.key.endsWith('.json'))) {
    const local = path.join(dir, 'sink-check', ...m.key.split('/'));
    await store.download(m.key, local);
    const manifest = parseManifest(readFileSync(local), m.key);
    if (manifest.files.length > 0) runs.push(manifest.runId);
  }
  const taken = receiver.deliveries.filter((d) => d.verified && d.status >= 200 && d.status < 300);
  const runOf = (body: string) => (JSON.parse(body) as { data: { collection_id: string; run_id: string } }).data;
  const delivered = new Set(taken.map((d) => runOf(d.body)).filter((r) => r.collection_id === collectionId).map((r) => r.run_id));
  const checkpointKey = `${collectionId}/_state/checkpoint.json`;
  const local = path.join(dir, 'sink-check', 'checkpoint.json');
  await store.download(checkpointKey, local);
  const checkpoint = checkpointSchema.parse(JSON.parse(readFileSync(local, 'utf8')));
  return {
    runs: runs.length,
    delivered: delivered.size,
    redelivered: taken.length - delivered.size,
    failedOnPurpose,
    missing: runs.filter((id) => !delivered.has(id)),
    pending: (checkpoint.notifications ?? []).map((n) => `${n.sink}:${n.runId} (${n.lastError ?? 'not tried'})`),
    // Every request must verify, faults included (the receiver checks before it answers).
    unverified: receiver.deliveries.filter((d) => !d.verified).length,
  };
}
