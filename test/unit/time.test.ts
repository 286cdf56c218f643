import { describe, expect, it } from 'vitest';
import { canonicalTimestamp, partitionDate, toEpochMicros } from '../../src/rows/time.js';

describe('timestamps', () => {
  it('keeps microseconds and normalises Z, offsets and zone-less values to UTC', () => {
    expect(canonicalTimestamp('2025-10-31T10:00:00Z')).toBe('2025-10-31T10:00:00.000000Z');
    expect(canonicalTimestamp('2025-10-10T14:53:50.351000')).toBe('2025-10-10T14:53:50.351000Z');
    expect(canonicalTimestamp('2025-10-10T14:53:50.123456789Z')).toBe('2025-10-10T14:53:50.123456Z');
    expect(canonicalTimestamp('2025-10-10T16:53:50+02:00')).toBe('2025-10-10T14:53:50.000000Z');
    expect(canonicalTimestamp('2026-11-01')).toBe('2026-11-01T00:00:00.000000Z');
  });

  it('returns null for unparseable and impossible values', () => {
    for (const bad of ['yesterday', '2025-13-01T00:00:00Z', '2025-02-30T00:00:00Z', '', null, undefined, {}]) expect(canonicalTimestamp(bad)).toBeNull();
  });

  it('converts to epoch microseconds exactly', () => {
    expect(toEpochMicros('1970-01-01T00:00:01.000001Z')).toBe(1_000_001n);
    expect(toEpochMicros(canonicalTimestamp('2026-11-21T15:30:00.123456Z') as string)).toBe(BigInt(Date.parse('2026-11-21T15:30:00Z')) * 1000n + 123456n);
  });

  it('sorts lexically in time order', () => {
    const values = ['2025-10-10T14:53:50.351000', '2025-10-10T14:53:50.35Z', '2024-01-01T00:00:00+05:00'].map(canonicalTimestamp) as string[];
    expect([...values].sort()).toEqual([values[2], values[1], values[0]]);
  });

  it('partitions by the UTC date', () => {
    expect(partitionDate('2026-11-21T23:59:59.999999Z')).toBe('2026-11-21');
    expect(partitionDate(null)).toBe('unknown');
  });
});
