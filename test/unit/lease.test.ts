import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { Lease } from '../../src/commit/lease.js';
import { LeaseHeldError } from '../../src/errors.js';
import { memoryDriver } from '../../src/storage/drivers/memory.js';
import { createLogger } from '../../src/util/log.js';

const records: Record<string, unknown>[] = [];
const logs: string[] = [];
const logger = createLogger((r) => {
  records.push(r);
  logs.push(r.event);
});

describe('the lease', () => {
  it('keeps a second run out and names the holder and its expiry', async () => {
    const driver = memoryDriver();
    const first = new Lease(driver, 'col', { ttlSeconds: 60, runId: 'run-a', logger });
    await first.acquire();
    const second = new Lease(driver, 'col', { ttlSeconds: 60, runId: 'run-b', logger });
    const error = await second.acquire().catch((e) => e);
    expect(error).toBeInstanceOf(LeaseHeldError);
    expect(error.exitCode).toBe(5);
    expect(error.message).toMatch(new RegExp(`being exported by ${hostname()}:${process.pid}:run-a until \\d{4}-\\d\\d-\\d\\dT\\S+Z \\(in (59|60) s\\)`));
    expect(records.find((r) => r.event === 'LeaseAcquired')).toMatchObject({ holder: `${hostname()}:${process.pid}:run-a`, expires_at: expect.any(String) });
    await first.release();
    await second.acquire();
    await second.release();
  });

  it('takes over an expired lease and logs the takeover', async () => {
    const driver = memoryDriver();
    let clock = Date.parse('2026-11-21T10:00:00Z');
    const now = () => clock;
    const stale = { holder: 'other-host:1:run-old', host: 'other-host', pid: 1, runId: 'run-old', acquiredAt: '', expiresAt: new Date(clock + 5000).toISOString() };
    await driver.writeIf('col/_state/lease.json', Buffer.from(JSON.stringify(stale)), { ifNoneMatch: '*' });
    const early = new Lease(driver, 'col', { ttlSeconds: 60, runId: 'run-new', logger, now });
    await expect(early.acquire()).rejects.toBeInstanceOf(LeaseHeldError);
    clock += 6000;
    logs.length = 0;
    records.length = 0;
    const late = new Lease(driver, 'col', { ttlSeconds: 60, runId: 'run-new', logger, now });
    await late.acquire();
    expect(logs).toContain('LeaseTakenOver');
    expect(records.find((r) => r.event === 'LeaseTakenOver')).toMatchObject({
      level: 'warn',
      reason: 'expired',
      previous_holder: stale.holder,
      previous_run_id: 'run-old',
      previous_expires_at: stale.expiresAt,
      expires_at: new Date(clock + 60_000).toISOString(),
    });
    await late.release();
  });

  it('takes over at once a lease whose expiry cannot be read, which would otherwise never expire', async () => {
    for (const body of ['{"holder":"h:1:r","expiresAt":"soon"}', '{"holder":"h:1:r"}', '42', 'null', '{not json']) {
      const driver = memoryDriver();
      await driver.writeIf('col/_state/lease.json', Buffer.from(body), { ifNoneMatch: '*' });
      records.length = 0;
      const lease = new Lease(driver, 'col', { ttlSeconds: 60, runId: 'run-new', logger });
      await lease.acquire();
      expect(records.find((r) => r.event === 'LeaseTakenOver'), body).toMatchObject({ reason: 'unreadable lease' });
      await lease.release();
    }
  });

  it('takes over at once a lease of a process on this host that is gone', async () => {
    const driver = memoryDriver();
    const dead = { holder: 'x', host: hostname(), pid: 2 ** 22 + 12345, runId: 'run-dead', acquiredAt: '', expiresAt: new Date(Date.now() + 3600_000).toISOString() };
    await driver.writeIf('col/_state/lease.json', Buffer.from(JSON.stringify(dead)), { ifNoneMatch: '*' });
    records.length = 0;
    const lease = new Lease(driver, 'col', { ttlSeconds: 60, runId: 'run-new', logger });
    await lease.acquire();
    lease.assertHeld();
    expect(records.find((r) => r.event === 'LeaseTakenOver')).toMatchObject({ reason: 'holder process is gone', previous_holder: 'x', previous_run_id: 'run-dead' });
    await lease.release();
  });
});
