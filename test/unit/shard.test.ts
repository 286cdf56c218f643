import { describe, expect, it } from 'vitest';
import { emptyCheckpoint } from '../../src/commit/checkpoint.js';
import { layout, newRunId, parseShardStateKey, shardOfRunId, shardTag } from '../../src/commit/layout.js';
import { flagHelp, parseFlags } from '../../src/cli/flags.js';
import { loadSettings } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { fromEpochMicros, toEpochMicros } from '../../src/rows/time.js';
import { shardBounds } from '../../src/config/range.js';
import { planWindow } from '../../src/run/window.js';
import { processBudget } from '../../src/run/export.js';

const ENV = { MIXPEEK_API_KEY: 'sk_test', MIXPEEK_NAMESPACE: 'ns_1' };
const load = (flags: Record<string, unknown>, env: Record<string, string> = {}) =>
  loadSettings({ flags: { collections: ['col_a'], dest: '/tmp/x', ...flags }, env: { ...ENV, ...env } });

/** Ranges whose length does not divide evenly (sub-microsecond remainders), tiny ones with empty slices, and ones with microseconds at the ends. */
const RANGES: [string, string][] = [
  ['2026-01-01T00:00:00.000000Z', '2026-07-01T00:00:00.000000Z'],
  ['2026-03-01T00:00:00.000001Z', '2026-03-01T00:00:01.000000Z'], // 999,999 µs
  ['2026-03-01T00:00:00.000000Z', '2026-03-01T00:00:00.000005Z'], // 5 µs: with n > 5 some slices are empty
  ['2026-02-28T23:59:59.999999Z', '2026-03-01T00:00:00.000000Z'], // 1 µs
  ['1999-12-31T23:59:59.123457Z', '2031-10-17T04:05:06.789013Z'],
];

describe('--shard slices', () => {
  for (const n of [1, 2, 3, 7, 16]) {
    it(`covers [since, until) exactly once with ${n} slice(s), for every range`, () => {
      for (const [since, until] of RANGES) {
        const slices = Array.from({ length: n }, (_, i) => shardBounds(since, until, i, n));
        expect(slices[0]!.lo).toBe(since);
        expect(slices[n - 1]!.hi).toBe(until);
        for (let i = 1; i < n; i++) expect(slices[i]!.lo).toBe(slices[i - 1]!.hi);
        const widths = slices.map((s) => toEpochMicros(s.hi) - toEpochMicros(s.lo));
        expect(widths.every((w) => w >= 0n)).toBe(true);
        expect(widths.reduce((a, b) => a + b, 0n)).toBe(toEpochMicros(until) - toEpochMicros(since));
        const [min, max] = [widths.reduce((a, b) => (b < a ? b : a)), widths.reduce((a, b) => (b > a ? b : a))];
        expect(max - min <= 1n).toBe(true);
        // Every instant of the range (sampled, plus each boundary and the microsecond before it) is in exactly one slice.
        const start = toEpochMicros(since);
        const span = toEpochMicros(until) - start;
        const probes = [...Array.from({ length: 50 }, (_, k) => (span * BigInt(k)) / 50n), ...slices.flatMap((s) => [toEpochMicros(s.lo) - start, toEpochMicros(s.lo) - start - 1n])];
        for (const offset of probes.filter((p) => p >= 0n && p < span)) {
          const at = fromEpochMicros(start + offset)!;
          expect(slices.filter((s) => s.lo <= at && at < s.hi), at).toHaveLength(1);
        }
      }
    });
  }

  it('reads --shard as a flag (also --shard=i/n) and from MIXPEEK_EXPORT_SHARD, the flag winning', () => {
    expect(parseFlags(['--shard=3/16']).settings.shard).toBe('3/16');
    expect(flagHelp()).toContain('--shard <value>');
    const since = '2026-01-01T00:00:00Z';
    const until = '2026-01-01T00:00:16Z';
    expect(load({ since, until }, { MIXPEEK_EXPORT_SHARD: '2/16' }).range.shard).toEqual({
      index: 2, count: 16, since: '2026-01-01T00:00:00.000000Z', until: '2026-01-01T00:00:16.000000Z', lo: '2026-01-01T00:00:02.000000Z', hi: '2026-01-01T00:00:03.000000Z',
    });
    expect(load({ since, until, shard: '15/16' }, { MIXPEEK_EXPORT_SHARD: '2/16' }).range.shard?.hi).toBe('2026-01-01T00:00:16.000000Z');
    expect(load({ since: '7d' }).range.shard).toBeNull();
  });

  it('refuses a spec that is not i/n with 0 <= i < n, before any I/O (exit 2)', () => {
    const range = { since: '2026-01-01', until: '2026-02-01' };
    const cases: [string, RegExp][] = [
      ['3/3', /--shard 3\/3: i counts from 0, so it must be 0\.\.2/],
      ['16/16', /must be 0\.\.15/],
      ['0/0', /n must be 1\.\.100000/],
      ['1/100001', /n must be 1\.\.100000/],
      ['1.5/4', /expected i\/n, two whole numbers with i counting from 0/],
      ['1/4.0', /expected i\/n/],
      ['-1/4', /expected i\/n/],
      ['a/b', /expected i\/n/],
      ['3', /expected i\/n/],
      ['', /expected i\/n/],
      ['$(JOB_COMPLETION_INDEX)/16', /the Kubernetes variable was not expanded/],
    ];
    for (const [shard, message] of cases) {
      const attempt = () => load({ ...range, shard });
      expect(attempt, shard).toThrow(ConfigError);
      expect(attempt, shard).toThrow(message);
    }
    expect(() => load({ ...range, shard: '4/4' })).toThrow(expect.objectContaining({ exitCode: 2 }));
  });

  it('refuses --shard without absolute --since and --until: spans would differ from pod to pod', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ until: '2026-02-01' }, /--shard 0\/4 needs --since and --until/],
      [{ since: '2026-01-01' }, /--shard 0\/4 needs --since and --until/],
      [{ since: '7d', until: '2026-02-01' }, /needs an absolute --since \(ISO-8601.*not the span 7d: each shard would measure it from its own start time/],
      [{ since: '2026-01-01', until: '24h' }, /needs an absolute --until .*not the span 24h/],
      [{ since: '2026-02-01', until: '2026-02-01' }, /--since 2026-02-01T00:00:00.000000Z is not before --until/],
      [{ since: '2026-03-01', until: '2026-02-01' }, /is not before --until/],
      [{ since: 'last tuesday', until: '2026-02-01' }, /--since "last tuesday" is not a time/],
    ];
    for (const [flags, message] of cases) expect(() => load({ ...flags, shard: '0/4' }), JSON.stringify(flags)).toThrow(message);
  });

  it('plans the rest of the shard\'s slice from the shard\'s own checkpoint, capped by the safety lag', () => {
    const base = load({ since: '2026-11-01T00:00:00Z', until: '2026-11-01T04:00:00Z', shard: '1/4', safetyLagSeconds: 60 });
    const later = new Date('2026-12-01T00:00:00Z');
    expect(planWindow(base, emptyCheckpoint('col_a'), later)).toEqual({ lo: '2026-11-01T01:00:00.000000Z', hi: '2026-11-01T02:00:00.000000Z' });
    // A --since given with the shard is the range's start, not a re-export: a resumed shard carries on.
    expect(planWindow(base, { ...emptyCheckpoint('col_a'), lastHi: '2026-11-01T01:30:00.000000Z' }, later, '2026-11-01T00:00:00.000000Z')).toEqual({
      lo: '2026-11-01T01:30:00.000000Z',
      hi: '2026-11-01T02:00:00.000000Z',
    });
    expect(planWindow(base, { ...emptyCheckpoint('col_a'), lastHi: '2026-11-01T02:00:00.000000Z' }, later)).toBeNull();
    // The slice reaches past "now minus the lag": this run stops there, the next run of the shard carries on.
    expect(planWindow(base, emptyCheckpoint('col_a'), new Date('2026-11-01T01:31:00Z'))).toEqual({ lo: '2026-11-01T01:00:00.000000Z', hi: '2026-11-01T01:30:00.000000Z' });
  });
});

describe('shard state paths and run ids', () => {
  const shard = { index: 3, count: 16, since: '2026-01-01T00:00:00.000000Z', until: '2026-07-01T00:00:00.000000Z' };

  it('keeps each shard\'s checkpoint and lease in a folder of its own, named by range and shard', () => {
    expect(layout.checkpoint('col_a', shard)).toBe('col_a/_state/shards/20260101T000000Z--20260701T000000Z/s03of16/checkpoint.json');
    expect(layout.lease('col_a', shard)).toBe('col_a/_state/shards/20260101T000000Z--20260701T000000Z/s03of16/lease.json');
    expect(layout.checkpoint('col_a')).toBe('col_a/_state/checkpoint.json');
    expect(layout.checkpoint('col_a', null)).toBe('col_a/_state/checkpoint.json');
    const micros = { ...shard, since: '2026-01-01T00:00:00.000001Z' };
    expect(layout.statePrefix('col_a', micros)).toBe('col_a/_state/shards/20260101T000000.000001Z--20260701T000000Z/s03of16/');
    for (const ref of [shard, micros, { ...shard, index: 7, count: 100 }]) {
      expect(parseShardStateKey('col_a', layout.checkpoint('col_a', ref))).toEqual({ shard: ref, file: 'checkpoint' });
      expect(parseShardStateKey('col_a', layout.lease('col_a', ref))).toEqual({ shard: ref, file: 'lease' });
    }
    expect(parseShardStateKey('col_a', 'col_a/_state/checkpoint.json')).toBeNull();
    expect(parseShardStateKey('col_a', 'col_a/_state/shards/20260101T000000Z--20260701T000000Z/s3of16/checkpoint.json')).toBeNull();
    expect(parseShardStateKey('col_b', layout.checkpoint('col_a', shard))).toBeNull();
  });

  it('names the shard in the run id, so file names cannot collide, and keeps run ids sorted by time', () => {
    const at = new Date('2026-11-21T15:30:00.500Z');
    const id = newRunId(at, () => 0.5, shard);
    expect(id).toBe('20261121T153000Z-s03of16-8000');
    expect(shardOfRunId(id)).toEqual({ index: 3, count: 16, tag: 's03of16' });
    expect(shardOfRunId(newRunId(at, () => 0.5))).toBeNull();
    expect(shardTag({ index: 7, count: 100 })).toBe('s007of100');
    const ids = [newRunId(new Date('2026-11-21T15:30:01Z'), () => 0, shard), newRunId(at, () => 0.9), newRunId(at, () => 0.1, { index: 0, count: 16 })];
    expect([...ids].sort().at(-1)).toBe(ids[0]); // the later second sorts last, shard or not
    expect(layout.dataFile('col_a', '2026-01-02', id, 0, '.parquet')).toBe('col_a/data/dt=2026-01-02/part-20261121T153000Z-s03of16-8000-000000.parquet');
  });

  it("gives a shard 1/n of the request budget (the API key's, spent by all n at once), at least one a minute, and leaves no budget alone", () => {
    const shard = (count: number) => ({ since: null, until: null, shard: { index: 0, count, lo: '', hi: '' } }) as never;
    expect(processBudget({ requestsPerMinute: 600, range: shard(16) })).toBe(37);
    expect(processBudget({ requestsPerMinute: 2400, range: shard(16) })).toBe(150);
    expect(processBudget({ requestsPerMinute: 10, range: shard(16) })).toBe(1);
    expect(processBudget({ requestsPerMinute: 0, range: shard(16) })).toBe(0);
    expect(processBudget({ requestsPerMinute: 600, range: { since: null, until: null, shard: null } as never })).toBe(600);
  });
});
