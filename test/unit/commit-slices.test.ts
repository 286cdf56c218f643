import { describe, expect, it } from 'vitest';
import { emptyCheckpoint, type FileRecord } from '../../src/commit/checkpoint.js';
import { buildManifest } from '../../src/commit/manifest.js';
import { checkpointSchema, manifestSchema } from '../../src/commit/schema.js';
import {
  activeRun,
  beginRun,
  finishSlice,
  freeSeqs,
  type NewRun,
  recordIntent,
  recordPublished,
  resolvePending,
  splitSlice,
  withSlices,
} from '../../src/commit/transitions.js';
import { InternalError } from '../../src/errors.js';
import { memoryDriver } from '../../src/storage/drivers/memory.js';
import { checkListing, type RunFiles } from '../../src/verify/files.js';
import { Findings } from '../../src/verify/findings.js';

const COL = 'col_s';
const t = (hour: number, minute = 0) => `2026-11-01T${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:00.000000Z`;
const newRun = (typed = false): NewRun => ({
  runId: 'run-s', startedAt: t(23), window: { lo: t(0), hi: t(20) }, format: 'parquet', compression: 'zstd', vectors: false,
  ...(typed ? { typedColumns: [{ name: 'n', field: 'n', type: 'int64' as const, declared: 'integer' }] } : {}),
});

function file(seq: number, slice: number, at: string, rows = 10): FileRecord {
  return {
    key: `${COL}/data/dt=2026-11-01/part-run-s-${String(seq).padStart(6, '0')}.parquet`,
    seq, dt: '2026-11-01', rows, bytes: 100 + seq, sha256: 'ab'.repeat(32), minUpdatedAt: at, maxUpdatedAt: at, columns: ['document_id'],
    endPosition: { updatedAt: at, ids: [`doc_${seq}`] }, slice,
  };
}

const sliced = (typed = false) => withSlices(beginRun(emptyCheckpoint(COL), newRun(typed)));

describe('slices in the checkpoint', () => {
  it('begins a run as one slice over its window, and turns a run begun without slices into one that keeps its position, intent and counters', () => {
    const fresh = sliced();
    expect(fresh.active.slices).toEqual([{ id: 0, lo: t(0), hi: t(20), position: null, pending: null, counts: { rejected: 0, untyped: 0 }, done: false }]);
    expect(checkpointSchema.safeParse(fresh).success).toBe(true);

    const legacyFile = { ...file(3, 0, t(2)) };
    delete legacyFile.slice;
    const begun = beginRun(emptyCheckpoint(COL), newRun());
    const legacy = { ...begun, active: { ...begun.active, nextSeq: 3, position: { updatedAt: t(1), ids: ['doc_a'] }, pending: legacyFile, rejected: 2, untyped: 1 } };
    const converted = withSlices(legacy).active;
    expect(converted).toMatchObject({ position: null, pending: null, nextSeq: 3, rejected: 2, untyped: 1 });
    expect(converted.slices).toEqual([{ id: 0, lo: t(0), hi: t(20), position: { updatedAt: t(1), ids: ['doc_a'] }, pending: { ...legacyFile, slice: 0 }, counts: { rejected: 2, untyped: 1 }, done: false }]);
    expect(withSlices({ ...legacy, active: converted }).active).toEqual(converted); // already sliced: unchanged
  });

  it('splits a slice after its position: the slice keeps [lo, at), a new slice takes [at, hi), and a split at or before the position or at the end is refused', () => {
    let cp = sliced();
    cp = recordPublished(recordIntent(cp, file(0, 0, t(2))), file(0, 0, t(2)), { rejected: 0, untyped: 0 });
    const { checkpoint, slice } = splitSlice(cp, 0, t(10));
    expect(slice).toEqual({ id: 1, lo: t(10), hi: t(20), position: null, pending: null, counts: { rejected: 0, untyped: 0 }, done: false, splitFrom: 0 });
    expect(checkpoint.active.slices!.map((s) => [s.lo, s.hi])).toEqual([[t(0), t(10)], [t(10), t(20)]]);
    expect(checkpointSchema.safeParse(checkpoint).success).toBe(true);
    expect(cp.active.slices).toHaveLength(1); // pure
    expect(() => splitSlice(cp, 0, t(2))).toThrow(InternalError); // at the position: rows there are the slice's
    expect(() => splitSlice(cp, 0, t(1))).toThrow(InternalError);
    expect(() => splitSlice(cp, 0, t(20))).toThrow(InternalError);
    expect(() => splitSlice(cp, 5, t(12))).toThrow(/no slice 5/);
    const done = finishSlice(checkpoint, 1, { rejected: 0, untyped: 0 });
    expect(() => splitSlice(done, 1, t(15))).toThrow(InternalError);
  });

  it("records each slice's intent, file and counters on that slice, keeps the files in seq order, and sums the counters for the run", () => {
    let cp = splitSlice(sliced(true), 0, t(10)).checkpoint;
    cp = recordIntent(cp, file(1, 1, t(11)));
    expect(cp.active.slices![1]!.pending?.seq).toBe(1);
    expect(cp.active.pending).toBeNull();
    cp = recordPublished(cp, file(1, 1, t(11)), { rejected: 1, untyped: 0, rescued: 2, rescuedFields: { n: 2 } });
    cp = recordPublished(recordIntent(cp, file(0, 0, t(3))), file(0, 0, t(3)), { rejected: 0, untyped: 4, rescued: 1, rescuedFields: { n: 1 } });
    const run = activeRun(cp);
    expect(run.files.map((f) => f.seq)).toEqual([0, 1]);
    expect(run.nextSeq).toBe(2);
    expect(run.slices!.map((s) => s.position?.updatedAt)).toEqual([t(3), t(11)]);
    expect(run.slices!.map((s) => s.pending)).toEqual([null, null]);
    expect(run).toMatchObject({ rejected: 1, untyped: 4, rescued: 3, rescuedFields: { n: 3 }, position: null });
    expect(checkpointSchema.safeParse(cp).success).toBe(true);
  });

  it("adopts or discards one slice's pending file and leaves the others' alone", () => {
    let cp = splitSlice(sliced(), 0, t(10)).checkpoint;
    cp = recordIntent(recordIntent(cp, file(0, 0, t(2))), file(1, 1, t(12)));
    const adopted = resolvePending(cp, { size: file(1, 1, t(12)).bytes }, 'mem://x', 1);
    expect(adopted.outcome).toBe('adopted');
    expect(adopted.checkpoint.active.slices!.map((s) => s.pending?.seq ?? null)).toEqual([0, null]);
    expect(adopted.checkpoint.active.slices![1]!.position?.updatedAt).toBe(t(12));
    expect(adopted.checkpoint.active.files.map((f) => [f.seq, f.slice])).toEqual([[1, 1]]);
    const discarded = resolvePending(adopted.checkpoint, null, 'mem://y', 0);
    expect(discarded.outcome).toBe('discarded');
    expect(discarded.checkpoint.active.slices![0]).toMatchObject({ pending: null, position: null });
    expect(freeSeqs(discarded.checkpoint.active)).toEqual([0]); // its number goes to the next file
  });

  it('gives out the numbers of files that never became visible first, and a finished slice cannot have a file pending', () => {
    let cp = splitSlice(sliced(), 0, t(10)).checkpoint;
    cp = recordPublished(recordIntent(cp, file(2, 1, t(12))), file(2, 1, t(12)), { rejected: 0, untyped: 0 });
    cp = recordIntent(cp, file(4, 0, t(4)));
    expect(activeRun(cp).nextSeq).toBe(3);
    expect(freeSeqs(activeRun(cp))).toEqual([0, 1]);
    expect(() => finishSlice(cp, 0, { rejected: 0, untyped: 0 })).toThrow(/pending/);
    const finished = finishSlice(cp, 1, { rejected: 3, untyped: 0 });
    expect(finished.active.slices![1]).toMatchObject({ done: true, counts: { rejected: 3, untyped: 0 } });
    expect(finished.active.rejected).toBe(3);
  });

  it("writes the manifest's unused numbers and slice count, and verify takes them, gaps in an interrupted sliced run, but no dropped record", () => {
    let cp = splitSlice(sliced(), 0, t(10)).checkpoint;
    for (const [seq, slice, at] of [[0, 0, t(1)], [2, 1, t(12)], [3, 0, t(4)]] as const) cp = recordPublished(recordIntent(cp, file(seq, slice, at)), file(seq, slice, at), { rejected: 0, untyped: 0 });
    const manifest = buildManifest(COL, activeRun(cp), t(23));
    expect(manifest).toMatchObject({ unusedSeqs: [1], slices: 2 });
    expect(manifestSchema.safeParse(manifest).success).toBe(true);
    const driver = memoryDriver({ name: 'verify' });
    const listing = (over: Partial<RunFiles>): number => {
      const run: RunFiles = { runId: 'run-s', label: 'manifest m', window: manifest.window, format: 'parquet', compression: 'zstd', files: manifest.files, ...over };
      return checkListing(driver, COL, run, new Findings());
    };
    expect(listing({ unusedSeqs: manifest.unusedSeqs })).toBe(0);
    expect(listing({})).toBe(1); // without them, seq 1 is missing
    expect(listing({ unusedSeqs: [1], files: manifest.files.filter((f) => f.seq !== 2) })).toBe(1); // a dropped record
    expect(listing({ inProgress: true })).toBe(0);
    expect(listing({ inProgress: true, files: [...manifest.files, manifest.files[0]!] })).toBe(1); // a repeated seq
  });
});
