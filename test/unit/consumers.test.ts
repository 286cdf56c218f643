/**
 * The consumer simulation applies tombstones as docs/ddl.md tells a consumer to: `liveSet` on
 * hand-made rows, and the DuckDB `_latest` view of a `Consumer` over real encoded files (a
 * folder destination: no network) agreeing with it.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEncoder } from '../../src/encode/index.js';
import type { Format } from '../../src/encode/types.js';
import { toRow } from '../../src/rows/map.js';
import { tombstoneRow } from '../../src/rows/tombstone.js';
import type { Row } from '../../src/rows/types.js';
import { Consumer, countRows, fsStore, liveSet, type StagedRow } from '../support/consumers.js';
import { stagedRows, stagedTombstones, stagedVersions } from '../support/harness.js';

const t = (day: number, hour = 0) => `2026-11-${String(day).padStart(2, '0')}T${String(hour).padStart(2, '0')}:00:00.000000Z`;
const v = (id: string, updated: string, exported: string): StagedRow => ({ document_id: id, updated_at: updated, _exported_at: exported, _deleted: false });
const gone = (id: string, observed: string, exported: string): StagedRow => ({ document_id: id, updated_at: observed, _exported_at: exported, _deleted: true });

describe('liveSet: what a consumer applying tombstones holds', () => {
  it('keeps the newest version of each document and drops a document whose newest row is a tombstone', () => {
    const rows = [v('a', t(1), t(1, 1)), v('a', t(2), t(2, 1)), v('b', t(1), t(1, 1)), gone('b', t(3), t(3, 1)), v('c', t(1), t(1, 1))];
    expect(liveSet(rows)).toEqual([
      { document_id: 'a', updated_at: t(2) },
      { document_id: 'c', updated_at: t(1) },
    ]);
  });

  it('keeps a document re-created after its tombstone, and ignores row order', () => {
    const rows = [v('a', t(5), t(5, 1)), gone('a', t(3), t(3, 1)), v('a', t(1), t(1, 1))];
    expect(liveSet(rows)).toEqual([{ document_id: 'a', updated_at: t(5) }]);
    expect(liveSet([...rows].reverse())).toEqual([{ document_id: 'a', updated_at: t(5) }]);
  });

  it('breaks a tie on updated_at by _exported_at, whichever row is a tombstone', () => {
    expect(liveSet([v('a', t(2), t(2, 1)), gone('a', t(2), t(2, 5))])).toEqual([]);
    expect(liveSet([gone('a', t(2), t(2, 1)), v('a', t(2), t(2, 5))])).toEqual([{ document_id: 'a', updated_at: t(2) }]);
  });

  it('counts a tombstone twice (a re-run) and a tombstone alone as nothing live', () => {
    expect(liveSet([v('a', t(1), t(1, 1)), gone('a', t(2), t(2, 1)), gone('a', t(2), t(2, 1)), gone('z', t(2), t(2, 1))])).toEqual([]);
  });
});

describe('the Consumer simulation over files with tombstones', () => {
  let root: string;
  const COL = 'col_sim';
  const ctx = (run: string, exportedAt: string) => ({ runId: run, exportedAt, namespace: 'ns', vectors: false, collectionId: COL });
  const version = (id: string, updated: string, run: string, exported: string): Row => {
    const result = toRow({ document_id: id, _internal: { updated_at: updated } }, ctx(run, exported));
    if (!result.ok) throw new Error(result.reason);
    return result.row;
  };
  const tomb = (id: string, observed: string, exported: string) => tombstoneRow({ documentId: id, collectionId: COL, namespaceId: 'ns', runId: 'rcn', exportedAt: exported, observedAt: observed });

  async function stageFile(format: Format, name: string, rows: Row[]): Promise<void> {
    const encoder = createEncoder({ format, compression: format === 'parquet' ? 'zstd' : 'gzip', vectorKeys: [] });
    const dir = join(root, COL, 'data', 'dt=2026-11-02');
    await mkdir(dir, { recursive: true });
    const sink = pipeline(encoder.output, createWriteStream(join(dir, `part-${name}${encoder.extension}`)));
    for (const row of rows) await encoder.write(row);
    await Promise.all([encoder.end(), sink]);
  }

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'consumers-test-'));
    await stageFile('parquet', 'r1-000001', [version('a', t(1), 'r1', t(1, 1)), version('b', t(1), 'r1', t(1, 1)), version('c', t(1), 'r1', t(1, 1))]);
    await stageFile('ndjson', 'r2-000001', [version('a', t(2), 'r2', t(2, 1)), tomb('b', t(2, 3), t(2, 4)), tomb('c', t(2, 3), t(2, 4))]);
    await stageFile('parquet', 'r3-000001', [version('c', t(3), 'r3', t(3, 1))]);
    // A file staged before tombstones existed: no _deleted key at all (read as a version).
    await writeFile(join(root, COL, 'data', 'dt=2026-11-02', 'part-r0-000001.json'), JSON.stringify({ document_id: 'old', updated_at: t(1), _exported_at: t(1, 1) }) + '\n');
  });
  afterAll(async () => rm(root, { recursive: true, force: true }));

  for (const mode of ['copy-into', 'auto-loader'] as const) {
    it(`${mode}: the _latest view holds exactly liveSet of the rows loaded, and rows() counts versions only`, async () => {
      const consumer = new Consumer(fsStore(root), COL, mode, `sim_${mode.replace('-', '_')}`, join(root, 'work'));
      expect(await consumer.pass()).toHaveLength(4);
      const latest = (await consumer.latest()).sort((x, y) => (x.document_id < y.document_id ? -1 : 1));
      expect(latest).toEqual([
        { document_id: 'a', updated_at: t(2) },
        { document_id: 'c', updated_at: t(3) },
        { document_id: 'old', updated_at: t(1) },
      ]);
      expect(liveSet(await consumer.allRows())).toEqual(latest);
      expect(await consumer.rows()).toHaveLength(6);
      expect((await consumer.tombstones()).map((r) => r.document_id).sort()).toEqual(['b', 'c']);
    });
  }

  it('reads staged rows back with tombstones apart from versions, and counts every row of a file', async () => {
    expect(await stagedRows(root, COL)).toHaveLength(8);
    expect((await stagedVersions(root, COL)).map((r) => r.document_id).sort()).toEqual(['a', 'a', 'b', 'c', 'c', 'old']);
    expect(await stagedTombstones(root, COL)).toEqual(expect.arrayContaining([{ document_id: 'b', updated_at: t(2, 3) }, { document_id: 'c', updated_at: t(2, 3) }]));
    expect(await countRows(join(root, COL, 'data', 'dt=2026-11-02', 'part-r2-000001.json.gz'))).toBe(3);
  });
});
