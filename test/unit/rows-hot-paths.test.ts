/**
 * The mapper's hot paths give what the slower code they replaced gave.
 *
 * The fast paths of rows/time.ts (UTC text assembled without Date, epoch micros by arithmetic)
 * give exactly what the Date-based conversion gives, on seeded values across years 1..9999,
 * every calendar edge (leap days, month ends) and the values that are not dates.
 */
import { describe, expect, it } from 'vitest';
import { toRow } from '../../src/rows/map.js';
import { canonicalTimestamp, fromEpochMicros, toEpochMicros } from '../../src/rows/time.js';

/** The conversion the fast paths replace: through Date and BigInt. */
function viaDate(text: string): { canonical: string | null; micros: bigint | null } {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})Z$/.exec(text);
  if (!m) return { canonical: null, micros: null };
  const [year, month, day, hour, minute, second, micro] = m.slice(1).map(Number) as number[];
  const date = new Date(Date.UTC(2000, month! - 1, day, hour, minute, second));
  date.setUTCFullYear(year!, month! - 1, day);
  const valid = date.getUTCMonth() === month! - 1 && date.getUTCDate() === day && date.getUTCHours() === hour && hour! <= 23 && minute! <= 59 && second! <= 59;
  const micros = BigInt(date.getTime()) * 1000n + BigInt(micro!);
  return { canonical: valid && year! >= 1 ? (fromEpochMicros(micros) as string) : null, micros: valid ? micros : null };
}

/** Seeded text timestamps: every field drawn over and past its range, so invalid ones occur too. */
function* samples(count: number): Generator<string> {
  let s = 12345;
  const next = (n: number) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % n;
  };
  const pad = (n: number, w: number) => String(n).padStart(w, '0');
  for (let i = 0; i < count; i++) {
    yield `${pad(next(10000), 4)}-${pad(next(14), 2)}-${pad(next(33), 2)}T${pad(next(25), 2)}:${pad(next(61), 2)}:${pad(next(61), 2)}.${pad(next(1_000_000), 6)}Z`;
  }
  for (const year of [1, 4, 99, 100, 400, 1582, 1600, 1685, 1900, 1970, 2000, 2024, 2100, 2255, 2256, 9999]) {
    for (const [month, day] of [[1, 1], [2, 28], [2, 29], [3, 1], [4, 30], [12, 31]] as const) yield `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T23:59:59.999999Z`;
  }
}

describe('timestamp fast paths', () => {
  it('normalise UTC text exactly as the Date-based conversion does, valid or not', () => {
    for (const text of samples(20_000)) {
      const expected = viaDate(text).canonical;
      expect(canonicalTimestamp(text), text).toBe(expected);
      expect(canonicalTimestamp(text.replace('Z', '')), text).toBe(expected);
      expect(canonicalTimestamp(text.slice(0, 23) + 'Z'), text).toBe(expected && expected.slice(0, 23) + '000Z');
    }
  });

  it('convert every canonical timestamp to the epoch microseconds Date gives', () => {
    for (const text of samples(20_000)) {
      const canonical = canonicalTimestamp(text);
      if (canonical !== null) expect(toEpochMicros(canonical), text).toBe(viaDate(canonical).micros);
    }
  });

  it('still convert canonical-looking text outside the calendar as Date.parse does', () => {
    expect(toEpochMicros('2025-02-30T00:00:00.000001Z')).toBe(BigInt(Date.parse('2025-02-30T00:00:00Z')) * 1000n + 1n);
    expect(() => toEpochMicros('2025-13-01T00:00:00.000000Z')).toThrow(RangeError);
  });
});

describe('the fields object', () => {
  const ctx = { runId: 'r', exportedAt: '2026-11-21T15:30:00.000000Z', namespace: 'ns', vectors: false };
  const fieldsOf = (text: string) => {
    const mapped = toRow(JSON.parse(text), ctx);
    if (!mapped.ok) throw new Error(mapped.reason);
    return mapped.row.fields;
  };

  it('keeps keys named like Object.prototype members as own fields, in document order', () => {
    const fields = fieldsOf('{"document_id":"d","constructor":"c","toString":1,"hasOwnProperty":null,"valueOf":{"x":1},"9":"nine"}');
    expect(Object.keys(fields)).toEqual(['9', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']);
    expect(JSON.stringify(fields)).toBe('{"9":"nine","constructor":"c","toString":1,"hasOwnProperty":null,"valueOf":{"x":1}}');
  });

  it('keeps a __proto__ key as an own field whose value is written, not a prototype', () => {
    const fields = fieldsOf('{"document_id":"d","a":1,"__proto__":{"polluted":true},"b":2}');
    expect(Object.getPrototypeOf(fields)).toBeNull();
    expect(JSON.stringify(fields)).toBe('{"a":1,"__proto__":{"polluted":true},"b":2}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
