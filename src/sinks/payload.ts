/**
 * The JSON a run's notification carries (the webhook's body, the command's stdin). Shaped as
 * Standard Webhooks recommends (`type`, `timestamp`, `data`); built from the run's manifest
 * only, so every redelivery of a run sends the same bytes (the webhook signs a fresh
 * timestamp in its headers, never in the body).
 */
import type { RunNotice } from './types.js';

export const RUN_COMPLETED_EVENT = 'export.run.completed';

export interface RunPayload {
  type: typeof RUN_COMPLETED_EVENT;
  /** When the run finished (the manifest's `finishedAt`). */
  timestamp: string;
  data: {
    collection_id: string;
    /** The idempotency key: the same on every redelivery (also the webhook's `webhook-id`). */
    run_id: string;
    /** `export`: document versions; `reconcile`: tombstones of deleted documents (`_deleted = true`). */
    kind: 'export' | 'reconcile';
    window: { lo: string | null; hi: string };
    format: 'parquet' | 'ndjson';
    compression: string;
    destination: string;
    files: { key: string; url: string; dt: string; rows: number; bytes: number; sha256: string }[];
    totals: { files: number; rows: number; bytes: number; rejected: number };
    manifest_key: string;
    manifest_url: string;
  };
}

export function runPayload(notice: RunNotice): RunPayload {
  const { manifest } = notice;
  return {
    type: RUN_COMPLETED_EVENT,
    timestamp: manifest.finishedAt,
    data: {
      collection_id: notice.collectionId,
      run_id: notice.runId,
      kind: notice.kind,
      window: manifest.window,
      format: manifest.format,
      compression: manifest.compression,
      destination: notice.dest,
      files: manifest.files.map((f) => ({ key: f.key, url: notice.url(f.key), dt: f.dt, rows: f.rows, bytes: f.bytes, sha256: f.sha256 })),
      totals: { files: manifest.totals.files, rows: manifest.totals.rows, bytes: manifest.totals.bytes, rejected: manifest.totals.rejected },
      manifest_key: notice.manifestKey,
      manifest_url: notice.url(notice.manifestKey),
    },
  };
}
