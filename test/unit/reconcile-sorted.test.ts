import { readdir } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { externalSort, mergeJoin, mergeSorted, newestPerId } from '../../src/reconcile/sorted.js';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
async function* from<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}
const id = (r: { id: string }) => r.id;

describe('externalSort', () => {
  it('sorts a stream of many chunks of 3 through a temp folder and removes the folder afterwards', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'sort-test-'));
    const ids = Array.from({ length: 20 }, (_, i) => `d${String((i * 7) % 20).padStart(2, '0')}`);
    const sorted = await collect(externalSort(from(ids.map((i) => ({ id: i }))), id, { chunkRows: 3, tmpDir: parent }));
    expect(sorted.map(id)).toEqual([...ids].sort());
    expect(await readdir(parent)).toEqual([]);
  });

  it('keeps equal keys in input order across chunks (a stable sort)', async () => {
    const input = [{ id: 'b', n: 1 }, { id: 'a', n: 2 }, { id: 'b', n: 3 }, { id: 'a', n: 4 }, { id: 'b', n: 5 }, { id: 'a', n: 6 }, { id: 'b', n: 7 }];
    const sorted = await collect(externalSort(from(input), id, { chunkRows: 3 }));
    expect(sorted.map((r) => `${r.id}${r.n}`)).toEqual(['a2', 'a4', 'a6', 'b1', 'b3', 'b5', 'b7']);
  });

  it('removes its temp folder when the consumer stops early', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'sort-test-'));
    for await (const r of externalSort(from(Array.from({ length: 10 }, (_, i) => ({ id: `x${9 - i}` }))), id, { chunkRows: 3, tmpDir: parent })) {
      expect(r.id).toBe('x0');
      break;
    }
    expect(await readdir(parent)).toEqual([]);
  });

  it('handles an empty stream and refuses a chunk size below 1', async () => {
    expect(await collect(externalSort(from([]), id, { chunkRows: 3 }))).toEqual([]);
    await expect(collect(externalSort(from([{ id: 'a' }]), id, { chunkRows: 0 }))).rejects.toThrow(/chunkRows/);
  });
});

describe('mergeSorted and newestPerId', () => {
  it('merges sorted streams and keeps the newest record per id', async () => {
    const a = [{ id: 'a', u: 1 }, { id: 'c', u: 5 }];
    const b = [{ id: 'a', u: 3 }, { id: 'b', u: 1 }, { id: 'c', u: 2 }];
    const merged = mergeSorted([from(a), from(b)], id);
    const newest = await collect(newestPerId(merged, id, (x, y) => x.u > y.u));
    expect(newest).toEqual([{ id: 'a', u: 3 }, { id: 'b', u: 1 }, { id: 'c', u: 5 }]);
  });

  it('refuses an unsorted stream in newestPerId', async () => {
    await expect(collect(newestPerId(from([{ id: 'b' }, { id: 'a' }]), id, () => true))).rejects.toThrow(/sorted/);
  });
});

describe('mergeJoin', () => {
  it('pairs two ascending streams into left-only, both and right-only keys', async () => {
    const joined = await collect(mergeJoin(from([{ id: 'a' }, { id: 'b' }, { id: 'd' }]), from(['b', 'c', 'd', 'e']), { left: id, right: (s) => s }, () => new Error('unsorted')));
    expect(joined.map((j) => `${j.key}:${j.left ? 'L' : ''}${j.right ? 'R' : ''}`)).toEqual(['a:L', 'b:LR', 'c:R', 'd:LR', 'e:R']);
  });

  it('throws the refusal naming the side when a stream is not strictly ascending', async () => {
    const run = collect(mergeJoin(from([{ id: 'a' }]), from(['b', 'b']), { left: id, right: (s) => s }, (side, p, n) => new Error(`${side} ${p} ${n}`)));
    await expect(run).rejects.toThrow('right b b');
  });
});
