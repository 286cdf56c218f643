import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Lease } from '../../src/commit/lease.js';
import { AlreadyExistsError, LeaseHeldError, PreconditionFailedError } from '../../src/errors.js';
import { silentLogger } from '../../src/util/log.js';
import type { StorageDriver } from '../../src/storage/types.js';

/**
 * One conformance suite for every storage driver (STYLE.md items 2 and 11, after
 * unstorage's testDriver): the semantics the commit protocol relies on.
 */
export function describeDriverConformance(name: string, makeDriver: () => Promise<StorageDriver> | StorageDriver): void {
  describe(`${name} driver conformance`, () => {
    const fresh = async () => {
      const driver = await makeDriver();
      const prefix = `t${Math.random().toString(36).slice(2, 8)}/`;
      return { driver, k: (key: string) => prefix + key, prefix };
    };
    const text = async (driver: StorageDriver, key: string) => (await driver.read(key))?.body.toString('utf8');

    it('publishes create-only and never overwrites', async () => {
      const { driver, k } = await fresh();
      const info = await driver.publish(k('data/a.parquet'), Buffer.from('first'));
      expect(info.size).toBe(5);
      await expect(driver.publish(k('data/a.parquet'), Buffer.from('second!'))).rejects.toBeInstanceOf(AlreadyExistsError);
      expect(await text(driver, k('data/a.parquet'))).toBe('first');
    });

    it('lets exactly one of 32 concurrent creates of one name win', async () => {
      const { driver, k } = await fresh();
      const results = await Promise.allSettled(Array.from({ length: 32 }, (_, i) => driver.publish(k('race.bin'), Buffer.from(`writer ${i}`))));
      const winners = results.filter((r) => r.status === 'fulfilled');
      expect(winners).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(AlreadyExistsError);
      const small = await Promise.allSettled(Array.from({ length: 32 }, (_, i) => driver.writeIf(k('lease.json'), Buffer.from(`${i}`), { ifNoneMatch: '*' })));
      expect(small.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    });

    it('streams a multi-megabyte body and reports its size', async () => {
      const { driver, k } = await fresh();
      const chunk = Buffer.alloc(256 * 1024, 7);
      const body = Readable.from((function* () { for (let i = 0; i < 24; i++) yield chunk; })());
      const info = await driver.publish(k('big.bin'), body);
      expect(info.size).toBe(24 * chunk.length);
      expect((await driver.head(k('big.bin')))?.size).toBe(info.size);
    });

    it('publishes nothing when the body fails or the intent hook throws', async () => {
      const { driver, k } = await fresh();
      const failing = new Readable({ read() { this.push(Buffer.alloc(1024)); this.destroy(new Error('encoder failed')); } });
      await expect(driver.publish(k('x.parquet'), failing)).rejects.toThrow();
      expect(await driver.head(k('x.parquet'))).toBeNull();
      await expect(driver.publish(k('x.parquet'), Buffer.from('a'), { beforeCommit: async () => { throw new Error('no intent'); } })).rejects.toThrow('no intent');
      expect(await driver.head(k('x.parquet'))).toBeNull();
      let hookSawObject: unknown = 'unset';
      await driver.publish(k('x.parquet'), Buffer.from('b'), { beforeCommit: async () => { hookSawObject = await driver.head(k('x.parquet')); } });
      expect(hookSawObject).toBeNull();
      expect(await text(driver, k('x.parquet'))).toBe('b');
    });

    it('publishes nothing and rejects with the abort reason when the run is aborted before the commit', async () => {
      const { driver, k } = await fresh();
      const reason = new Error('run interrupted');
      await expect(driver.publish(k('a.parquet'), Buffer.from('a'), { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      expect(await driver.head(k('a.parquet'))).toBeNull();
      // Aborted while the body streams, on its third read: past the first part on s3 and azure.
      const streaming = new AbortController();
      let reads = 0;
      const body = new Readable({
        read() {
          if (++reads === 3) streaming.abort(reason);
          this.push(reads > 24 ? null : Buffer.alloc(256 * 1024, reads));
        },
      });
      await expect(driver.publish(k('b.parquet'), body, { signal: streaming.signal })).rejects.toBe(reason);
      expect(reads).toBeLessThan(24);
      expect(await driver.head(k('b.parquet'))).toBeNull();
      // Aborted in the intent hook: every byte is staged, but the commit is never sent.
      const late = new AbortController();
      const publishing = driver.publish(k('c.parquet'), Buffer.alloc(600 * 1024, 1), { signal: late.signal, beforeCommit: async () => late.abort(reason) });
      await expect(publishing).rejects.toBe(reason);
      expect(await driver.head(k('c.parquet'))).toBeNull();
      expect(driver.capabilities.queueSize).toBeGreaterThanOrEqual(1);
    });

    it('swaps a small object only when its etag still matches', async () => {
      const { driver, k } = await fresh();
      const first = await driver.writeIf(k('_state/checkpoint.json'), Buffer.from('v1'), { ifNoneMatch: '*' });
      await expect(driver.writeIf(k('_state/checkpoint.json'), Buffer.from('v1b'), { ifNoneMatch: '*' })).rejects.toBeInstanceOf(AlreadyExistsError);
      const second = await driver.writeIf(k('_state/checkpoint.json'), Buffer.from('v2'), { ifMatch: first.etag });
      expect(second.etag).not.toBe(first.etag);
      await expect(driver.writeIf(k('_state/checkpoint.json'), Buffer.from('v3'), { ifMatch: first.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
      await expect(driver.writeIf(k('_state/missing.json'), Buffer.from('v'), { ifMatch: first.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
      const read = await driver.read(k('_state/checkpoint.json'));
      expect(read?.body.toString()).toBe('v2');
      expect(read?.etag).toBe(second.etag);
    });

    it('deletes only the version it holds', async () => {
      const { driver, k } = await fresh();
      const v1 = await driver.writeIf(k('lease.json'), Buffer.from('a'), { ifNoneMatch: '*' });
      await driver.writeIf(k('lease.json'), Buffer.from('b'), { ifMatch: v1.etag });
      await driver.deleteIf(k('lease.json'), v1.etag);
      expect(await text(driver, k('lease.json'))).toBe('b');
      const current = (await driver.head(k('lease.json')))!.etag;
      await driver.deleteIf(k('lease.json'), current);
      expect(await driver.read(k('lease.json'))).toBeNull();
    });

    it('lists past 1,000 keys in lexical order under a prefix', async () => {
      const { driver, k, prefix } = await fresh();
      const keys = Array.from({ length: 1100 }, (_, i) => k(`data/dt=2026-11-21/part-${String(i).padStart(6, '0')}.json`));
      for (let i = 0; i < keys.length; i += 100) await Promise.all(keys.slice(i, i + 100).map((key) => driver.publish(key, Buffer.from('x'))));
      await driver.publish(k('_state/other.json'), Buffer.from('y'));
      const listed: string[] = [];
      for await (const info of driver.list(prefix + 'data/')) listed.push(info.key);
      expect(listed).toEqual(keys);
    });

    it('holds a lease, renews it, and lets another run take it over only once it expired', async () => {
      const { driver, prefix } = await fresh();
      const collection = prefix.replace(/\/$/, '');
      let clock = Date.now();
      const now = () => clock;
      const first = new Lease(driver, collection, { ttlSeconds: 30, runId: 'run-1', logger: silentLogger, now });
      await first.acquire();
      const second = new Lease(driver, collection, { ttlSeconds: 30, runId: 'run-2', logger: silentLogger, now });
      await expect(second.acquire()).rejects.toBeInstanceOf(LeaseHeldError);
      clock += 20_000;
      await first.renew(); // what the timer does every ttl/3
      clock += 20_000; // 40 s after the first write, 20 s after the renewal: still held
      await expect(second.acquire()).rejects.toBeInstanceOf(LeaseHeldError);
      clock += 15_000; // past the renewed expiry
      await second.acquire();
      expect(() => second.assertHeld()).not.toThrow();
      await second.release();
      await first.release(); // its etag is stale: the release must not delete anything
      expect(await driver.head(`${collection}/_state/lease.json`)).toBeNull();
    });

    it('answers null for absent objects', async () => {
      const { driver, k } = await fresh();
      expect(await driver.read(k('nope'))).toBeNull();
      expect(await driver.head(k('nope'))).toBeNull();
    });
  });
}
