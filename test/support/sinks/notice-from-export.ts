/**
 * What the webhook and command sink tests deliver: the RunNotice of a real export (the dev
 * server, a local folder), read back from the manifest the run wrote, and a SinkEnv with the
 * project's retry policy made fast and every sleep recorded.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readManifest } from '../../../src/commit/manifest.js';
import { loadSettings } from '../../../src/config/load.js';
import type { DevServer } from '../../../src/devserver/index.js';
import { runExport } from '../../../src/run/export.js';
import type { RunNotice, SinkEnv } from '../../../src/sinks/index.js';
import { openDestination, parseDestination } from '../../../src/storage/index.js';
import { createLogger, type Level } from '../../../src/util/log.js';
import { sleep } from '../../../src/util/retry.js';
import { exportEnv } from '../harness.js';

export const COLLECTION = 'col_video_frames';

/** Exports COLLECTION from `server` into a fresh folder and returns the run's notice. */
export async function exportedNotice(server: DevServer): Promise<RunNotice> {
  const dest = mkdtempSync(path.join(tmpdir(), 'mxp-sink-'));
  const result = await runExport(loadSettings({ flags: { collections: [COLLECTION], dest, safetyLagSeconds: 0 }, env: exportEnv(server.url) }));
  if (result.error) throw result.error;
  const run = result.collections[0]?.runs[0];
  if (!run) throw new Error('the export made no run');
  const driver = await openDestination(dest);
  const manifest = await readManifest(driver, run.manifestKey);
  if (!manifest) throw new Error(`no manifest at ${run.manifestKey}`);
  return { collectionId: COLLECTION, runId: run.runId, kind: 'export', manifest, manifestKey: run.manifestKey, url: (k) => driver.url(k), dest, destination: parseDestination(dest) };
}

export interface LogRecord {
  level: Level;
  event: string;
  [field: string]: unknown;
}

/** A SinkEnv for tests: real fetch, retries after 1-5 ms, sleeps recorded, log records captured (debug and up). */
export function testSinkEnv(overrides: Partial<SinkEnv> = {}): SinkEnv & { logs: LogRecord[]; sleeps: number[] } {
  const logs: LogRecord[] = [];
  const sleeps: number[] = [];
  return {
    fetch,
    logger: createLogger((r) => logs.push(r), { level: 'debug' }),
    retry: { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 5 },
    now: () => new Date(),
    sleep: (ms, signal) => {
      sleeps.push(ms);
      return sleep(ms, signal);
    },
    ...overrides,
    logs,
    sleeps,
  };
}
