import { describe, expect, it } from 'vitest';
import { type Checkpoint, emptyCheckpoint, type FileRecord, HISTORY_LIMIT } from '../../src/commit/checkpoint.js';
import { buildManifest } from '../../src/commit/manifest.js';
import { checkpointSchema } from '../../src/commit/schema.js';
import {
  activeRun,
  beginRun,
  completeRun,
  type NewRun,
  recordCounts,
  recordIntent,
  recordPublished,
  resolvePending,
} from '../../src/commit/transitions.js';
import { IntegrityError, InternalError } from '../../src/errors.js';

const COL = 'col_t';
const t = (hour: number, minute = 0) => `2026-11-01T${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:00.000000Z`;
const newRun = (runId: string, lo: string | null, hi: string): NewRun => ({ runId, startedAt: hi, window: { lo, hi }, format: 'parquet', compression: 'zstd', vectors: false });

function file(seq: number, at: string, rows = 10): FileRecord {
  return {
    key: `${COL}/data/dt=2026-11-01/part-r-${String(seq).padStart(6, '0')}.parquet`,
    seq,
    dt: '2026-11-01',
    rows,
    bytes: 100 + seq,
    sha256: 'ab'.repeat(32),
    minUpdatedAt: at,
    maxUpdatedAt: at,
    columns: ['document_id'],
    endPosition: { updatedAt: at, ids: [`doc_${seq}`] },
  };
}

/** A checkpoint that ran `runId` over [lo, hi) with one file, manifest written, completed. */
function completed(cp: Checkpoint, runId: string, lo: string | null, hi: string, maxUpdatedAt: string | null): Checkpoint {
  let next: Checkpoint = beginRun(cp, newRun(runId, lo, hi));
  if (maxUpdatedAt) next = recordPublished(recordIntent(next, file(0, maxUpdatedAt)), file(0, maxUpdatedAt), { rejected: 0, untyped: 0 });
  const manifest = buildManifest(COL, activeRun(next), hi);
  return completeRun(next, manifest, `${COL}/_manifests/${runId}.json`);
}

describe('checkpoint transitions', () => {
  it('begins a run with numbering, position, files and counts empty, and refuses a second while one is in progress', () => {
    const begun = beginRun(emptyCheckpoint(COL), newRun('run-a', null, t(1)));
    expect(begun.active).toEqual({ ...newRun('run-a', null, t(1)), nextSeq: 0, position: null, files: [], pending: null, rejected: 0, untyped: 0 });
    expect(checkpointSchema.safeParse(begun).success).toBe(true);
    expect(() => beginRun(begun, newRun('run-b', t(1), t(2)))).toThrow(InternalError);
    expect(() => beginRun(begun, newRun('run-b', t(1), t(2)))).toThrow(/run run-a of col_t is still in progress/);
  });

  it('records an intent as pending without moving the position or the numbering', () => {
    const begun = beginRun(emptyCheckpoint(COL), newRun('run-a', null, t(1)));
    const intent = recordIntent(begun, file(0, t(0, 10)));
    expect(intent.active.pending).toEqual(file(0, t(0, 10)));
    expect(intent.active).toMatchObject({ nextSeq: 0, position: null, files: [] });
    expect(begun.active.pending).toBeNull(); // pure: the input is unchanged
  });

  it('records a published file: listed, position and nextSeq past it, intent cleared, counts and vector dims taken', () => {
    const begun = beginRun(emptyCheckpoint(COL), { ...newRun('run-a', null, t(1)), vectors: true });
    const published = recordPublished(recordIntent(begun, file(0, t(0, 10))), file(0, t(0, 10)), { rejected: 2, untyped: 5 }, { vec_clip: 4 });
    expect(published.active).toMatchObject({ files: [file(0, t(0, 10))], position: { updatedAt: t(0, 10), ids: ['doc_0'] }, nextSeq: 1, pending: null, rejected: 2, untyped: 5, vectorDims: { vec_clip: 4 } });
    const second = recordPublished(published, file(1, t(0, 20)), { rejected: 3, untyped: 5 }, { vec_clip: 4 });
    expect(second.active).toMatchObject({ nextSeq: 2, position: { updatedAt: t(0, 20) }, rejected: 3 });
    expect(second.active.files.map((f) => f.seq)).toEqual([0, 1]);
  });

  it('records no vector dims for a run without vectors', () => {
    const begun = beginRun(emptyCheckpoint(COL), newRun('run-a', null, t(1)));
    expect(recordPublished(begun, file(0, t(0, 10)), { rejected: 0, untyped: 0 }, {}).active.vectorDims).toBeUndefined();
  });

  it('adopts a pending file that exists with the recorded size', () => {
    const intent = recordIntent(beginRun(emptyCheckpoint(COL), newRun('run-a', null, t(1))), file(0, t(0, 10)));
    const { checkpoint, outcome } = resolvePending(intent, { size: file(0, t(0, 10)).bytes }, 'memory://x/key');
    expect(outcome).toBe('adopted');
    expect(checkpoint.active).toMatchObject({ files: [file(0, t(0, 10))], position: file(0, t(0, 10)).endPosition, nextSeq: 1, pending: null });
  });

  it('discards a pending file that never became visible: position and numbering stay, so its rows are written again', () => {
    const intent = recordIntent(beginRun(emptyCheckpoint(COL), newRun('run-a', null, t(1))), file(0, t(0, 10)));
    const { checkpoint, outcome } = resolvePending(intent, null, 'memory://x/key');
    expect(outcome).toBe('discarded');
    expect(checkpoint.active).toMatchObject({ files: [], position: null, nextSeq: 0, pending: null });
  });

  it('refuses a pending file that exists with another size, naming the object and both sizes', () => {
    const intent = recordIntent(beginRun(emptyCheckpoint(COL), newRun('run-a', null, t(1))), file(0, t(0, 10)));
    const attempt = () => resolvePending(intent, { size: 7 }, 'memory://x/col_t/data/part.parquet');
    expect(attempt).toThrow(IntegrityError);
    expect(attempt).toThrow("[commit] memory://x/col_t/data/part.parquet exists with 7 bytes but the checkpoint's intent says 100; inspect it before re-running");
  });

  it('records the final counts of a run', () => {
    const begun = beginRun(emptyCheckpoint(COL), newRun('run-a', null, t(1)));
    expect(recordCounts(begun, { rejected: 4, untyped: 9 }).active).toMatchObject({ rejected: 4, untyped: 9 });
  });

  it('throws an InternalError for a step that needs a run in progress when there is none', () => {
    const idle = emptyCheckpoint(COL);
    expect(() => recordIntent(idle, file(0, t(0)))).toThrow(InternalError);
    expect(() => recordPublished(idle, file(0, t(0)), { rejected: 0, untyped: 0 })).toThrow(/has no run in progress/);
    expect(() => resolvePending(idle, null, 'u')).toThrow(InternalError);
    expect(() => recordCounts(idle, { rejected: 0, untyped: 0 })).toThrow(InternalError);
    const begun = beginRun(idle, newRun('run-a', null, t(1)));
    expect(() => resolvePending(begun, null, 'u')).toThrow(/no pending file/);
  });

  it('completes a run: no run in progress, lastHi at its hi, a history entry with the totals and the manifest key', () => {
    const done = completed(emptyCheckpoint(COL), 'run-a', null, t(1), t(0, 30));
    expect(done.active).toBeNull();
    expect(done.lastHi).toBe(t(1));
    expect(done.history).toEqual([
      { runId: 'run-a', window: { lo: null, hi: t(1) }, files: 1, rows: 10, bytes: 100, finishedAt: t(1), manifest: `${COL}/_manifests/run-a.json`, newestUpdatedAt: t(0, 30) },
    ]);
  });

  it('never moves lastHi back when a backfill of an older window completes after later runs', () => {
    const scheduled = completed(emptyCheckpoint(COL), 'run-a', null, t(5), t(4));
    const backfill = completed(scheduled, 'run-b', t(1), t(2), t(1, 30));
    expect(backfill.lastHi).toBe(t(5));
    expect(backfill.history.map((h) => h.runId)).toEqual(['run-a', 'run-b']);
    expect(completed(backfill, 'run-c', t(5), t(6), null).lastHi).toBe(t(6));
  });

  it('keeps newestUpdatedAt a running max through runs that found nothing and through an older backfill', () => {
    const first = completed(emptyCheckpoint(COL), 'run-a', null, t(5), t(4));
    const empty = completed(first, 'run-b', t(5), t(6), null);
    expect(empty.history.at(-1)?.newestUpdatedAt).toBe(t(4));
    const backfill = completed(empty, 'run-c', t(1), t(2), t(1, 30));
    expect(backfill.history.at(-1)?.newestUpdatedAt).toBe(t(4));
    // A history written before the field existed starts the max afresh from the next run.
    const legacy: Checkpoint = { ...emptyCheckpoint(COL), lastHi: t(1), history: [{ runId: 'old', window: { lo: null, hi: t(1) }, files: 0, rows: 0, bytes: 0, finishedAt: t(1), manifest: 'm' }] };
    expect(completed(legacy, 'run-d', t(1), t(2), null).history.at(-1)?.newestUpdatedAt).toBeNull();
  });

  it(`keeps only the newest ${HISTORY_LIMIT} runs in the history`, () => {
    let cp: Checkpoint = emptyCheckpoint(COL);
    for (let hour = 1; hour <= HISTORY_LIMIT + 3; hour++) cp = completed(cp, `run-${String(hour).padStart(2, '0')}`, hour === 1 ? null : t(hour - 1), t(hour), null);
    expect(cp.history).toHaveLength(HISTORY_LIMIT);
    expect(cp.history[0]?.runId).toBe('run-04');
    expect(cp.history.at(-1)?.runId).toBe(`run-${HISTORY_LIMIT + 3}`);
    expect(cp.lastHi).toBe(t(HISTORY_LIMIT + 3));
  });

  it('refuses to complete a run with the manifest of another run', () => {
    const begun = beginRun(emptyCheckpoint(COL), newRun('run-a', null, t(1)));
    const other = buildManifest(COL, { ...activeRun(begun), runId: 'run-z' }, t(1));
    expect(() => completeRun(begun, other, 'k')).toThrow(InternalError);
  });
});
