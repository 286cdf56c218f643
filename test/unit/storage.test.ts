import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/errors.js';
import { chunksOf } from '../../src/storage/chunker.js';
import { retryTransient, uploadPool } from '../../src/storage/pool.js';
import { fsDriver } from '../../src/storage/drivers/fs.js';
import { memoryDriver } from '../../src/storage/drivers/memory.js';
import { describeDriverConformance } from '../support/conformance.js';

describeDriverConformance('memory', () => memoryDriver());
describeDriverConformance('fs', () => fsDriver({ root: mkdtempSync(path.join(tmpdir(), 'mxp-fs-')) }));

describe('the body chunker', () => {
  const sizes = async (body: Readable | Uint8Array, size: number) => {
    const out: [number, boolean][] = [];
    for await (const { data, last } of chunksOf(body, size)) out.push([data.length, last]);
    return out;
  };

  it('cuts a stream into full chunks and a short last one, whatever the reads', async () => {
    const data = Buffer.from(Array.from({ length: 25 }, (_, i) => i));
    const chunks: Buffer[] = [];
    for await (const { data: chunk } of chunksOf(Readable.from([data.subarray(0, 3), data.subarray(3, 17), data.subarray(17)]), 10)) chunks.push(chunk);
    expect(chunks.map((c) => c.length)).toEqual([10, 10, 5]);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });

  it('knows whether the first chunk is the only one, for streams and buffers alike', async () => {
    expect(await sizes(Readable.from([Buffer.alloc(10)]), 10)).toEqual([[10, true]]);
    expect(await sizes(Readable.from([Buffer.alloc(4)]), 10)).toEqual([[4, true]]);
    expect(await sizes(Readable.from([]), 10)).toEqual([[0, true]]);
    expect(await sizes(Buffer.alloc(0), 10)).toEqual([[0, true]]);
    expect(await sizes(Buffer.alloc(20), 10)).toEqual([[10, false], [10, true]]);
    expect((await sizes(Readable.from([Buffer.alloc(11)]), 10))[0]).toEqual([10, false]);
  });

  it('reads the body only as far as the chunks asked for', async () => {
    let reads = 0;
    const body = new Readable({ highWaterMark: 1, read() { reads++; this.push(reads <= 10 ? Buffer.alloc(10) : null); } });
    const chunks = chunksOf(body, 10);
    await chunks.next(); // the first chunk waits for one more byte
    await chunks.next();
    expect(reads).toBeLessThanOrEqual(3);
    await chunks.return();
  });
});

describe('the upload pool', () => {
  it('holds at most queueSize uploads in flight and rethrows the first failure', async () => {
    const pool = uploadPool(2);
    let running = 0;
    let peak = 0;
    const gates: (() => void)[] = [];
    const task = () => new Promise<void>((resolve) => {
      peak = Math.max(peak, ++running);
      gates.push(() => { running--; resolve(); });
    });
    pool.add(task);
    await pool.ready();
    pool.add(task);
    let ready = false;
    const waiting = pool.ready().then(() => { ready = true; });
    await new Promise((r) => setImmediate(r));
    expect(ready).toBe(false);
    gates.shift()!();
    await waiting;
    pool.add(() => Promise.reject(new Error('part refused')));
    const draining = pool.drain();
    gates.shift()!();
    await expect(draining).rejects.toThrow('part refused');
    expect(peak).toBe(2);
  });

  it('rejects with the abort reason once the signal aborts', async () => {
    const controller = new AbortController();
    const pool = uploadPool(1, controller.signal);
    // Like an SDK request: rejects at once when it starts on an aborted signal, or when the signal aborts.
    pool.add(() => new Promise((_resolve, reject) => {
      const fail = () => reject(new Error('request aborted'));
      if (controller.signal.aborted) fail();
      else controller.signal.addEventListener('abort', fail, { once: true });
    }));
    const waiting = pool.ready();
    const reason = new Error('run interrupted');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    await pool.settle();
  });

  it('retries a transient storage error with backoff, and not a terminal one', async () => {
    let calls = 0;
    const transient = () => (++calls < 3 ? Promise.reject(new StorageError('reset', { transient: true })) : Promise.resolve('ok'));
    expect(await retryTransient(transient, undefined, { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 2 })).toBe('ok');
    expect(calls).toBe(3);
    await expect(retryTransient(() => Promise.reject(new StorageError('denied')), undefined, { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 2 })).rejects.toThrow('denied');
  });
});
