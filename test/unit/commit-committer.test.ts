import { describe, expect, it } from 'vitest';
import { CheckpointStore, type FileRecord } from '../../src/commit/checkpoint.js';
import { Committer, type CommitterDeps, type StepHook } from '../../src/commit/committer.js';
import { layout } from '../../src/commit/layout.js';
import { readManifest } from '../../src/commit/manifest.js';
import { beginRun, recordIntent } from '../../src/commit/transitions.js';
import { IntegrityError, InternalError, LeaseHeldError } from '../../src/errors.js';
import type { Row } from '../../src/rows/types.js';
import { FileRoller } from '../../src/run/files.js';
import { memoryDriver } from '../../src/storage/drivers/memory.js';
import { createLogger } from '../../src/util/log.js';

const COL = 'col_c';
const RUN = '20261101T010000Z-abcd';
const t = (minute: number) => `2026-11-01T00:${String(minute).padStart(2, '0')}:00.000000Z`;
const WINDOW = { lo: null, hi: '2026-11-01T01:00:00.000000Z' };

function row(i: number): Row {
  return {
    document_id: `doc_${i}`, collection_id: COL, namespace_id: 'ns', created_at: t(0), updated_at: t(i), root_object_id: null, source_object_id: null,
    fields: { n: i }, internal: null, vectors: {}, _run_id: RUN, _exported_at: t(59), _deleted: false,
  };
}

/** A destination with a run begun (staged, as a new run is) and a committer over it, recording steps, logs and the stored checkpoint at each step. */
async function setup(options: { lease?: CommitterDeps['lease'] } = {}) {
  const driver = memoryDriver({ name: 'commit' });
  const store = await CheckpointStore.load(driver, COL);
  store.stage((cp) => beginRun(cp, { runId: RUN, startedAt: t(59), window: WINDOW, format: 'ndjson', compression: 'none', vectors: false }));
  const logs: Record<string, unknown>[] = [];
  const steps: { step: string; n: number; stored: any; objects: string[] }[] = [];
  const stored = () => {
    const body = driver.objects.get(layout.checkpoint(COL));
    return body ? JSON.parse(body.toString('utf8')) : null;
  };
  const onStep: StepHook = (step, n) => steps.push({ step, n, stored: stored(), objects: [...driver.objects.keys()] });
  const counts = { committed: { rejected: 1, untyped: 2 }, vectorDims: {} };
  const published: FileRecord[] = [];
  const deps: CommitterDeps = {
    driver, logger: createLogger((r) => logs.push(r)), onStep, counts, now: () => new Date('2026-11-01T01:00:05Z'),
    lease: options.lease ?? { assertHeld() {} }, published: (r) => published.push(r),
  };
  return { driver, store, committer: new Committer(store, deps), logs, steps, stored, published, counts };
}

const rollSettings = { format: 'ndjson' as const, compression: 'none' as const, targetFileBytes: 1 << 20, maxRowsPerFile: 3, rowGroupRows: 100 };

describe('the committer', () => {
  it('commits each file in order (intent, visible, checkpoint), then the manifest, then completes the run', async () => {
    const { driver, store, committer, logs, steps, stored, published } = await setup();
    const roller = new FileRoller(driver, COL, RUN, rollSettings, committer);
    let position = null as { updatedAt: string; ids: string[] } | null;
    for (let i = 0; i < 5; i++) {
      await roller.write(row(i), () => position);
      position = { updatedAt: t(i), ids: [`doc_${i}`] };
    }
    await roller.close(position);
    expect(steps.map((s) => `${s.step} ${s.n}`)).toEqual(['intent-recorded 0', 'file-visible 0', 'checkpoint-advanced 0', 'intent-recorded 1', 'file-visible 1', 'checkpoint-advanced 1']);
    const [intent, visible, advanced] = steps;
    const key0 = layout.dataFile(COL, '2026-11-01', RUN, 0, '.json');
    expect(intent!.stored.active.pending).toMatchObject({ key: key0, seq: 0, rows: 3 });
    expect(intent!.objects).not.toContain(key0);
    expect(visible!.objects).toContain(key0);
    expect(visible!.stored.active.pending.key).toBe(key0);
    expect(advanced!.stored.active).toMatchObject({ pending: null, nextSeq: 1, position: { updatedAt: t(2), ids: ['doc_2'] }, rejected: 1, untyped: 2 });
    expect(advanced!.stored.active.files.map((f: FileRecord) => f.key)).toEqual([key0]);
    expect(published.map((f) => f.seq)).toEqual([0, 1]);
    expect(logs.filter((l) => l.event === 'FilePublished')[0]).toMatchObject({ collection_id: COL, run_id: RUN, key: key0, rows: 3, bytes: driver.objects.get(key0)!.length, seq: 0 });

    const done = await committer.finish({ rejected: 4, untyped: 5 });
    const manifestStep = steps.at(-1)!;
    expect(manifestStep.step).toBe('manifest-written');
    expect(manifestStep.objects).toContain(layout.manifest(COL, RUN));
    expect(manifestStep.stored.active).toMatchObject({ runId: RUN, rejected: 4, untyped: 5 }); // the checkpoint completes the run only after the manifest
    const manifest = await readManifest(driver, layout.manifest(COL, RUN));
    expect(manifest).toEqual(done.manifest);
    expect(manifest).toMatchObject({ runId: RUN, totals: { files: 2, rows: 5, rejected: 4, untyped: 5 } });
    expect(stored()).toMatchObject({ lastHi: WINDOW.hi, active: null, history: [{ runId: RUN, files: 2, rows: 5, manifest: layout.manifest(COL, RUN), newestUpdatedAt: t(4) }] });
    expect(store.value).toEqual(stored());
    expect(logs.find((l) => l.event === 'RunCompleted')).toMatchObject({ collection_id: COL, run_id: RUN, files: 2, rows: 5, rejected: 4, untyped: 5, manifest: layout.manifest(COL, RUN) });
  });

  it('checks the lease before recording an intent, and writes nothing when it is lost', async () => {
    const lost = new LeaseHeldError('[lease] col_c: the lease was taken by another run; stopping before the next commit');
    const { committer, stored, steps } = await setup({ lease: { assertHeld: () => { throw lost; } } });
    const record = { key: 'k', seq: 0, dt: '2026-11-01', rows: 1, bytes: 1, sha256: '', minUpdatedAt: null, maxUpdatedAt: null, columns: [], endPosition: null };
    await expect(committer.beforeCommit(record)).rejects.toBe(lost);
    expect(stored()).toBeNull();
    expect(steps).toEqual([]);
  });

  it('refuses to record a visible file whose size is not the size written, and leaves the checkpoint at the intent', async () => {
    const { committer, stored, steps } = await setup();
    const record = { key: `${COL}/data/dt=2026-11-01/part.json`, seq: 0, dt: '2026-11-01', rows: 1, bytes: 10, sha256: '', minUpdatedAt: t(1), maxUpdatedAt: t(1), columns: [], endPosition: null };
    await committer.beforeCommit(record);
    const attempt = committer.committed(record, { key: record.key, size: 9, etag: 'e' });
    await expect(attempt).rejects.toBeInstanceOf(IntegrityError);
    await expect(attempt).rejects.toThrow(`[commit] memory://commit/${record.key} has 9 bytes, 10 were written; not recording it`);
    expect(stored().active).toMatchObject({ files: [], pending: { key: record.key } });
    expect(steps.map((s) => s.step)).toEqual(['intent-recorded']);
  });

  /** A destination whose stored checkpoint has a pending intent for `record`; `body` is what is at its key (undefined: nothing). */
  async function interrupted(body?: Buffer) {
    const ctx = await setup();
    const record = { key: `${COL}/data/dt=2026-11-01/part-${RUN}-000000.json`, seq: 0, dt: '2026-11-01', rows: 7, bytes: 12, sha256: '', minUpdatedAt: t(1), maxUpdatedAt: t(3), columns: ['document_id'], endPosition: { updatedAt: t(3), ids: ['doc_3'] } };
    await ctx.store.update((cp) => recordIntent(cp, record));
    if (body) await ctx.driver.publish(record.key, body);
    const store = await CheckpointStore.load(ctx.driver, COL);
    const logs: Record<string, unknown>[] = [];
    const committer = new Committer(store, { driver: ctx.driver, logger: createLogger((r) => logs.push(r)), onStep: () => {}, lease: { assertHeld() {} }, counts: ctx.counts, now: () => new Date() });
    return { ...ctx, record, committer, logs };
  }

  it('adopts a pending file found with the recorded size on resume, and logs it', async () => {
    const { committer, record, stored, logs } = await interrupted(Buffer.alloc(12, 'x'));
    await committer.recoverPending();
    expect(stored().active).toMatchObject({ files: [{ key: record.key }], pending: null, nextSeq: 1, position: record.endPosition });
    expect(committer.nextSeq()).toBe(1);
    expect(logs.map((l) => [l.event, l.key, l.rows])).toEqual([['PendingFileAdopted', record.key, 7]]);
  });

  it('discards a pending file that is absent on resume, so its rows are exported again, and logs it', async () => {
    const { committer, record, stored, logs } = await interrupted();
    await committer.recoverPending();
    expect(stored().active).toMatchObject({ files: [], pending: null, nextSeq: 0, position: null });
    expect(logs.map((l) => [l.event, l.key, l.rows])).toEqual([['PendingFileDiscarded', record.key, 7]]);
  });

  it('stops on a pending file found with another size, and leaves the checkpoint as it was', async () => {
    const { committer, driver, logs } = await interrupted(Buffer.alloc(13, 'x'));
    const before = Buffer.from(driver.objects.get(layout.checkpoint(COL))!);
    await expect(committer.recoverPending()).rejects.toThrow(/exists with 13 bytes but the checkpoint's intent says 12; inspect it before re-running/);
    expect(driver.objects.get(layout.checkpoint(COL))).toEqual(before);
    expect(logs).toEqual([]);
  });

  it('does nothing on resume when there is no pending intent', async () => {
    const { committer, stored } = await setup();
    await committer.recoverPending();
    expect(stored()).toBeNull();
  });

  it('never writes a checkpoint that the next run would refuse', async () => {
    const { store, stored } = await setup();
    await expect(store.update((cp) => ({ ...cp, lastHi: 'yesterday' }))).rejects.toBeInstanceOf(InternalError);
    await expect(store.update((cp) => ({ ...cp, lastHi: 'yesterday' }))).rejects.toThrow(/refusing to write memory:\/\/commit\/col_c\/_state\/checkpoint\.json: lastHi: expected a canonical UTC timestamp/);
    expect(stored()).toBeNull();
  });
});
