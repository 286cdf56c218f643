/**
 * Timestamps as canonical UTC strings with microseconds: `2026-11-21T15:30:00.123456Z`.
 *
 * The API sends ISO-8601 with `Z`, with an offset, or zone-less with up to 9 fraction digits
 * (real captures show `2025-10-10T14:53:50.351000`). Zone-less values are taken as UTC.
 * The canonical form sorts lexically in time order, which the checkpoint relies on.
 */
const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}:?\d{2})?$/;

/** Lowest and highest instants we accept: Parquet INT64 micros and every consumer handle these. */
const MIN_YEAR = 1;
const MAX_YEAR = 9999;

/** Parse an API timestamp into canonical form; `null` when it is missing, unparseable or out of range. */
export function canonicalTimestamp(value: unknown): string | null {
  if (typeof value === 'number' && Number.isFinite(value)) return fromEpochMicros(BigInt(Math.round(value * 1e6)));
  if (typeof value !== 'string') return null;
  const m = ISO_RE.exec(value.trim());
  if (!m) return null;
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone] = m;
  const year = Number(y), month = Number(mo), day = Number(d);
  const hour = Number(h), minute = Number(mi), second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const micros = Number((frac + '000000').slice(0, 6));
  let offsetMinutes = 0;
  if (zone && zone.toUpperCase() !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const [oh, om] = [Number(digits.slice(0, 2)), Number(digits.slice(2, 4))];
    if (oh > 23 || om > 59) return null;
    offsetMinutes = sign * (oh * 60 + om);
  }
  // UTC already (`Z`, zone-less, `+00:00`): the canonical text is the fields themselves, with
  // no Date and no BigInt (the API's usual form; this is the mapper's hottest path).
  if (offsetMinutes === 0) return year < MIN_YEAR ? null : `${y}-${mo}-${d}T${h}:${mi}:${s}.${(frac + '000000').slice(0, 6)}Z`;
  const ms = utcMillis(year, month, day, hour, minute, second) - offsetMinutes * 60_000;
  const epochMicros = BigInt(ms) * 1000n + BigInt(micros);
  return fromEpochMicros(epochMicros);
}

/** Canonical string from microseconds since the epoch; `null` outside years 1..9999. */
export function fromEpochMicros(us: bigint): string | null {
  const ms = Number(us / 1000n) - (us % 1000n < 0n ? 1 : 0);
  const sub = Number(((us % 1_000_000n) + 1_000_000n) % 1_000_000n);
  const date = new Date(ms);
  const year = date.getUTCFullYear();
  if (!Number.isFinite(ms) || Number.isNaN(date.getTime()) || year < MIN_YEAR || year > MAX_YEAR) return null;
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  return `${iso.slice(0, 19)}.${String(sub).padStart(6, '0')}Z`;
}

const CANONICAL_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** Is `value` already a canonical timestamp (`YYYY-MM-DDTHH:MM:SS.ffffffZ`)? The encoders take nothing else. */
export function isCanonicalTimestamp(value: unknown): value is string {
  return typeof value === 'string' && CANONICAL_RE.test(value);
}

/** Microseconds since the epoch of a canonical timestamp (for Parquet INT64 columns). */
export function toEpochMicros(canonical: string): bigint {
  const year = digits(canonical, 0, 4), month = digits(canonical, 5, 2), day = digits(canonical, 8, 2);
  const hour = digits(canonical, 11, 2), minute = digits(canonical, 14, 2), second = digits(canonical, 17, 2);
  // A date of the calendar: arithmetic, and one exact number when it fits in 2^53 (years 1685..2255).
  if (month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) && hour <= 23 && minute <= 59 && second <= 59) {
    const ms = daysFromCivil(year, month, day) * 86_400_000 + ((hour * 60 + minute) * 60 + second) * 1000;
    const micros = ms * 1000 + digits(canonical, 20, 6);
    if (Number.isSafeInteger(micros)) return BigInt(micros);
  }
  const ms = Date.parse(canonical.slice(0, 19) + 'Z');
  return BigInt(ms) * 1000n + BigInt(Number(canonical.slice(20, 26)));
}

/** The decimal number of `length` ASCII digits of `text` from `start` (the caller checked they are digits). */
function digits(text: string, start: number, length: number): number {
  let n = 0;
  for (let i = start; i < start + length; i++) n = n * 10 + (text.charCodeAt(i) - 48);
  return n;
}

/** Days since 1970-01-01 of a date of the proleptic Gregorian calendar (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

/** Canonical timestamp of a JS Date. */
export function canonicalFromDate(date: Date): string {
  return fromEpochMicros(BigInt(date.getTime()) * 1000n) as string;
}

/** The `dt=` partition value of a canonical timestamp: its UTC date. */
export function partitionDate(canonical: string | null): string {
  return canonical ? canonical.slice(0, 10) : 'unknown';
}

/** Days in a month of the proleptic Gregorian calendar (as JavaScript's Date counts them, for every year). */
function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * `Date.UTC` for every year: `Date.UTC` itself reads years 0..99 as 1900..1999, which would
 * silently turn `0099-01-01` into 1999.
 */
function utcMillis(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second));
  date.setUTCFullYear(year, month - 1, day);
  return date.getTime();
}
