/**
 * serve's pure parts: the delivery parser, the secret check, the event-id memory, the
 * interval, the per-collection queue (with an injected clock and runs the test ends), and
 * serve's settings (which flags it takes, the secret's rules).
 */
import { describe, expect, it } from 'vitest';
import { parseFlags } from '../../src/cli/flags.js';
import { loadServeSettings, loadSettings } from '../../src/config/load.js';
import { collectionOf, intervalMs, parseEvent, RecentEventIds, secretMatches } from '../../src/serve/event.js';
import { type PendingRun, RunScheduler } from '../../src/serve/scheduler.js';

const env = { MIXPEEK_API_KEY: 'sk_x', MIXPEEK_NAMESPACE: 'ns_x', MIXPEEK_INBOUND_WEBHOOK_SECRET: 'a-long-enough-secret-123' };

describe('a webhook delivery', () => {
  it('names its collection by subject.id for a collection subject, else metadata.collection_id, else cache_scope.collection_id', () => {
    expect(collectionOf({ subject: { type: 'collection', id: 'col_a' }, metadata: { collection_id: 'col_b' } })).toBe('col_a');
    expect(collectionOf({ subject: { type: 'bucket', id: 'bkt_1' }, metadata: { collection_id: 'col_b' } })).toBe('col_b');
    expect(collectionOf({ cache_scope: { scope: 'collection', collection_id: 'col_c' } })).toBe('col_c');
    expect(collectionOf({ subject: 'col_a' })).toBeNull();
  });

  it('is malformed when it is not a JSON object with a string event_id and event_type', () => {
    for (const body of ['{', '[]', 'null', '{"event_type":"x"}', '{"event_id":"","event_type":"x"}', '{"event_id":"e","event_type":7}']) {
      expect(parseEvent(Buffer.from(body)), body).toHaveProperty('malformed');
    }
    expect(parseEvent(Buffer.from('{"event_id":"evt_1","event_type":"collection.documents.written","subject":{"type":"collection","id":"col_a"}}'))).toEqual({ eventId: 'evt_1', eventType: 'collection.documents.written', collectionId: 'col_a', occurredAt: null });
  });

  it('is authenticated only by the exact secret, whatever the length of what was sent', () => {
    expect(secretMatches('s3cret-s3cret-s3cret', 's3cret-s3cret-s3cret')).toBe(true);
    for (const given of ['s3cret-s3cret-s3cre', 's3cret-s3cret-s3cret ', '', 'x'.repeat(10_000)]) expect(secretMatches(given, 's3cret-s3cret-s3cret'), given.slice(0, 20)).toBe(false);
    expect(secretMatches(undefined, 's3cret-s3cret-s3cret')).toBe(false);
    expect(secretMatches(['s3cret-s3cret-s3cret'], 's3cret-s3cret-s3cret')).toBe(false);
  });

  it('is a duplicate while its id is among the last ids accepted, oldest forgotten first', () => {
    const ids = new RecentEventIds(3);
    for (const id of ['a', 'b', 'c', 'd']) ids.add(id);
    expect(['a', 'b', 'c', 'd'].map((id) => ids.has(id))).toEqual([false, true, true, true]);
  });
});

describe('the interval', () => {
  it('reads 30s, 15m, 1h and 0 (off) in ms', () => {
    expect(['30s', '15m', '1h', '0', '250ms'].map(intervalMs)).toEqual([30_000, 900_000, 3_600_000, 0, 250]);
  });
});

/** A scheduler whose runs end when the test says, on a clock the test moves. */
function harness(concurrentRuns = 1, maxDeferMs = 0) {
  let now = 1_000;
  const started: PendingRun[] = [];
  const ends: (() => void)[] = [];
  const scheduler = new RunScheduler({ concurrentRuns, maxDeferMs, now: () => now, run: (p) => new Promise<void>((resolve) => (started.push(p), ends.push(resolve))) });
  const finish = async (i: number) => {
    ends[i]!();
    await new Promise((r) => setImmediate(r));
  };
  return { scheduler, started, finish, tick: (ms: number) => (now += ms), at: () => now };
}

describe('the run queue', () => {
  it('runs a burst during a run as exactly one more run, which answers every event of the burst', async () => {
    const h = harness();
    expect(h.scheduler.request({ collectionId: 'a', trigger: 'event', eventId: 'e0', receivedAt: h.at(), dueAt: h.at() })).toBe('started');
    const admissions = Array.from({ length: 49 }, (_, i) => h.scheduler.request({ collectionId: 'a', trigger: 'event', eventId: `e${i + 1}`, receivedAt: h.at(), dueAt: h.at() }));
    expect(admissions.filter((a) => a === 'queued')).toHaveLength(1);
    expect(admissions.filter((a) => a === 'coalesced')).toHaveLength(48);
    expect([h.scheduler.running, h.scheduler.queued]).toEqual([1, 1]);
    await h.finish(0);
    expect(h.started).toHaveLength(2);
    expect(h.started[1]).toMatchObject({ events: 49, triggers: ['event'] });
    expect(h.started[1]!.eventIds).toHaveLength(20);
    await h.finish(1);
    expect([h.scheduler.running, h.scheduler.queued, h.started.length]).toEqual([0, 0, 2]);
  });

  it('keeps a run waiting until it is due, and folds a later request into the later due time', async () => {
    const h = harness(1, 10_000);
    expect(h.scheduler.request({ collectionId: 'a', trigger: 'event', dueAt: h.at() + 5_000 })).toBe('queued');
    expect(h.scheduler.request({ collectionId: 'a', trigger: 'interval', dueAt: h.at() })).toBe('coalesced');
    expect(h.started).toHaveLength(0);
    h.tick(5_000);
    // Any request (or the timer armed for the due time) pumps the queue: 'a' was asked for first and is due now.
    expect(h.scheduler.request({ collectionId: 'b', trigger: 'interval', dueAt: h.at() })).toBe('queued');
    expect(h.started.map((p) => [p.collectionId, p.triggers])).toEqual([['a', ['event', 'interval']]]);
    await h.finish(0);
    expect(h.started.map((p) => p.collectionId)).toEqual(['a', 'b']);
  });

  it('never puts a run off more than maxDeferMs past its first request, and follows an early start with one run at the last due time', async () => {
    const h = harness(1, 5_000);
    const t0 = h.at();
    for (const at of [0, 4_000, 8_000]) {
      h.tick(at - (h.at() - t0));
      h.scheduler.request({ collectionId: 'a', trigger: 'event', eventId: `e${at}`, receivedAt: h.at(), dueAt: h.at() + 5_000 });
    }
    h.tick(t0 + 10_000 - h.at()); // the first due time plus maxDeferMs, not the last due time (13 s)
    h.scheduler.request({ collectionId: 'z', trigger: 'interval', dueAt: h.at() });
    expect(h.started.map((p) => p.collectionId)).toEqual(['a']);
    expect(h.started[0]).toMatchObject({ events: 3, dueAt: t0 + 10_000 });
    await h.finish(0); // z's turn; a's follow-up is due at 13 s
    expect(h.started.map((p) => p.collectionId)).toEqual(['a', 'z']);
    h.tick(t0 + 13_000 - h.at());
    await h.finish(1);
    expect(h.started.map((p) => p.collectionId)).toEqual(['a', 'z', 'a']);
    expect(h.started[2]).toMatchObject({ triggers: ['event'], dueAt: t0 + 13_000, oldestReceivedAt: t0 + 8_000 });
    await h.finish(2);
    expect([h.scheduler.running, h.scheduler.queued]).toEqual([0, 0]);
  });

  it('runs different collections one after another with concurrentRuns 1, and at once with 2, never one collection twice at once', async () => {
    const one = harness(1);
    for (const id of ['a', 'b', 'a']) one.scheduler.request({ collectionId: id, trigger: 'interval', dueAt: one.at() });
    expect(one.started.map((p) => p.collectionId)).toEqual(['a']);
    await one.finish(0);
    expect(one.started.map((p) => p.collectionId)).toEqual(['a', 'b']);
    await one.finish(1);
    expect(one.started.map((p) => p.collectionId)).toEqual(['a', 'b', 'a']);
    const two = harness(2);
    for (const id of ['a', 'a', 'b']) two.scheduler.request({ collectionId: id, trigger: 'interval', dueAt: two.at() });
    expect(two.started.map((p) => p.collectionId)).toEqual(['a', 'b']);
  });

  it('takes nothing after stop, drops what waits, and resolves once the runs in flight have ended', async () => {
    const h = harness();
    h.scheduler.request({ collectionId: 'a', trigger: 'event', dueAt: h.at() });
    h.scheduler.request({ collectionId: 'a', trigger: 'event', dueAt: h.at() });
    let stopped = false;
    const stopping = h.scheduler.stop().then(() => (stopped = true));
    expect(h.scheduler.queued).toBe(0);
    expect(h.scheduler.request({ collectionId: 'b', trigger: 'event', dueAt: h.at() })).toBeNull();
    await new Promise((r) => setImmediate(r));
    expect(stopped).toBe(false);
    await h.finish(0);
    await stopping;
    expect(h.started).toHaveLength(1);
  });
});

describe('serve settings', () => {
  it('takes the server flags that export refuses, and refuses the flags of a fixed window', () => {
    expect(parseFlags(['--port', '0', '--interval', '1s', '--inbound-secret-header', 'X-Hook', '--shutdown-timeout-seconds', '5'], 'serve').settings).toEqual({ port: 0, interval: '1s', inboundSecretHeader: 'X-Hook', shutdownTimeoutSeconds: 5 });
    expect(() => parseFlags(['--port', '8080'], 'export')).toThrow(/export does not take --port/);
    for (const flag of ['--since', '--until', '--shard', '--dry-run', '--reconcile', '--metrics-pushgateway']) {
      expect(() => parseFlags([flag, ...(flag === '--dry-run' || flag === '--reconcile' ? [] : ['x'])], 'serve'), flag).toThrow(new RegExp(`serve does not take ${flag}`));
    }
    expect(() => parseFlags(['--inbound-webhook-secret', 'x'], 'serve')).toThrow(/unknown flag --inbound-webhook-secret/);
  });

  it('loads with the secret from the environment, refuses to start without it or with a short one, and export ignores it', () => {
    const flags = { collections: ['col_a'], dest: '/tmp/x' };
    expect(loadServeSettings({ flags, env })).toMatchObject({ port: 8080, interval: '15m', inboundSecretHeader: 'X-Mixpeek-Secret', shutdownTimeoutSeconds: 30, concurrentRuns: 1, inboundWebhookSecret: env.MIXPEEK_INBOUND_WEBHOOK_SECRET });
    const { MIXPEEK_INBOUND_WEBHOOK_SECRET: _, ...noSecret } = env;
    expect(() => loadServeSettings({ flags, env: noSecret })).toThrow(expect.objectContaining({ exitCode: 2, message: expect.stringContaining('serve needs MIXPEEK_INBOUND_WEBHOOK_SECRET') }));
    expect(() => loadServeSettings({ flags, env: { ...env, MIXPEEK_INBOUND_WEBHOOK_SECRET: 'short' } })).toThrow(/shorter than 16 characters/);
    expect(() => loadServeSettings({ flags: { ...flags, interval: '15 minutes' }, env })).toThrow(/--interval: expected a span such as 30s, 15m or 1h/);
    expect(loadSettings({ flags, env }).inboundWebhookSecret).toBeUndefined();
  });
});
