import { describe, expect, it } from 'vitest';
import { emptyCheckpoint } from '../../src/commit/checkpoint.js';
import { buildManifest } from '../../src/commit/manifest.js';
import { checkpointSchema, type FileRecord } from '../../src/commit/schema.js';
import { beginReconcile, completeRun, recordIntent, recordListing, recordPublished, recordSnapshot } from '../../src/commit/transitions.js';

const T = '2026-11-01T12:00:00.000000Z';
const file = (seq: number, lastId: string): FileRecord => ({
  key: `col/data/dt=2026-11-01/part-R-${seq}.parquet`, seq, dt: '2026-11-01', rows: 2, bytes: 10, sha256: 'x', minUpdatedAt: T, maxUpdatedAt: T, columns: ['document_id', '_deleted'], endPosition: null, lastId,
});

describe('reconciliation transitions', () => {
  it('begin a reconcile run with the empty window [T, T), no position, and a schema-valid checkpoint', () => {
    const cp = beginReconcile({ ...emptyCheckpoint('col'), lastHi: '2026-11-01T11:00:00.000000Z' }, { runId: 'R', startedAt: T, listedAt: T, format: 'parquet', compression: 'zstd' });
    expect(cp.active.kind).toBe('reconcile');
    expect(cp.active.window).toEqual({ lo: T, hi: T });
    expect(cp.active.reconcile).toEqual({ listedAt: T, position: null, idsListed: 0 });
    expect(checkpointSchema.safeParse(cp).success).toBe(true);
  });

  it('move the position to the last id of each committed tombstone file', () => {
    let cp = beginReconcile(emptyCheckpoint('col'), { runId: 'R', startedAt: T, listedAt: T, format: 'parquet', compression: 'zstd' });
    cp = recordIntent(cp, file(0, 'doc_b'));
    cp = recordPublished(cp, file(0, 'doc_b'), { rejected: 0, untyped: 0 });
    expect(cp.active.reconcile?.position).toBe('doc_b');
    cp = recordPublished(cp, file(1, 'doc_k'), { rejected: 0, untyped: 0 });
    expect(cp.active.reconcile?.position).toBe('doc_k');
    expect(cp.active.nextSeq).toBe(2);
  });

  it('complete a reconciliation into lastReconcile, leaving lastHi and the export history untouched', () => {
    const lastHi = '2026-11-01T11:00:00.000000Z';
    let cp = beginReconcile({ ...emptyCheckpoint('col'), lastHi }, { runId: 'R', startedAt: T, listedAt: T, format: 'parquet', compression: 'zstd' });
    cp = recordPublished(cp, file(0, 'doc_b'), { rejected: 0, untyped: 0 });
    cp = recordListing(cp, { runId: 'E', finishedAt: T }, 40);
    expect(() => completeRun(cp, buildManifest('col', cp.active, T), 'col/_manifests/R.json')).toThrow(/snapshot/);
    cp = recordSnapshot(cp, 'col/_state/reconcile/snapshot-R.json.gz');
    const manifest = buildManifest('col', cp.active, '2026-11-01T12:05:00.000000Z');
    expect(manifest).toMatchObject({ kind: 'reconcile', listedAt: T, idsListed: 40, tombstones: 2 });
    const done = completeRun(cp, manifest, 'col/_manifests/R.json');
    expect(done.lastHi).toBe(lastHi);
    expect(done.history).toEqual([]);
    expect(done.active).toBeNull();
    expect(done.lastReconcile).toEqual({
      runId: 'R', listedAt: T, snapshot: 'col/_state/reconcile/snapshot-R.json.gz', includedThrough: { runId: 'E', finishedAt: T }, idsListed: 40, tombstones: 2,
      finishedAt: '2026-11-01T12:05:00.000000Z', manifest: 'col/_manifests/R.json',
    });
    expect(checkpointSchema.safeParse(done).success).toBe(true);
  });

  it('refuse a snapshot on an export run', () => {
    const cp = { ...emptyCheckpoint('col'), active: { ...beginReconcile(emptyCheckpoint('col'), { runId: 'R', startedAt: T, listedAt: T, format: 'parquet', compression: 'zstd' }).active, kind: 'export' as const } };
    expect(() => recordSnapshot(cp, 'k')).toThrow(/not a reconciliation/);
  });
});
