/**
 * Instants as integer microseconds since the epoch, and the three string forms the real API
 * emits: `…T10:00:00.123Z`, `…T10:00:00.123456Z` and the zone-less Mongo form
 * `…T10:00:00.123456` (reference §2a and open question 9). Zone-less means UTC everywhere.
 *
 * Microseconds fit a JS number exactly until the year 2255, so no bigint is needed.
 */

/** How one timestamp is rendered. `ms` requires a whole-millisecond instant. */
export type TimeFormat = 'ms' | 'us' | 'naive';

const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}:?\d{2})?$/;

/** Render an instant. */
export function formatMicros(micros: number, format: TimeFormat): string {
  const ms = Math.floor(micros / 1000);
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  if (format === 'ms') return iso;
  const frac = String(micros - Math.floor(micros / 1e6) * 1e6).padStart(6, '0');
  const head = `${iso.slice(0, 19)}.${frac}`;
  return format === 'naive' ? head : `${head}Z`;
}

/**
 * Parse an ISO-8601 string (date only, `Z`, `±hh:mm` or zone-less) into microseconds.
 * Fractions beyond microseconds are truncated. `null` when it is not a timestamp.
 */
export function parseInstant(value: string): number | null {
  const m = ISO_RE.exec(value.trim());
  if (!m) return null;
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone] = m;
  const check = new Date(Date.UTC(2000, Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)));
  check.setUTCFullYear(Number(y), Number(mo) - 1, Number(d)); // Date.UTC alone reads years 0..99 as 19xx
  const ms = check.getTime();
  if (Number.isNaN(ms) || check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d) || check.getUTCHours() !== Number(h)) return null;
  let offsetMinutes = 0;
  if (zone && zone.toUpperCase() !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const sign = zone[0] === '-' ? -1 : 1;
    offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4)));
  }
  return (ms - offsetMinutes * 60_000) * 1000 + Number((frac + '000000').slice(0, 6));
}

/**
 * The server clock for mutations: microsecond resolution, strictly increasing across calls
 * even when the wall clock stalls or steps back, so a mutated document always sorts after
 * every earlier mutation.
 */
export class MonotonicClock {
  private last = 0;

  now(): number {
    const wall = Date.now() * 1000 + Math.floor((performance.now() % 1) * 1000);
    this.last = Math.max(wall, this.last + 1);
    return this.last;
  }
}

/**
 * Where the base (never mutated) documents sit in time. Document i belongs to group
 * floor(i / groupSize); all documents of a group share one `updated_at` string (the client
 * must handle ties), and group instants strictly increase, so a time window maps to a
 * contiguous range of groups found by binary search.
 */
export class BaseTimeline {
  readonly groupCount: number;
  private readonly step: number;

  /**
   * @param startMicros first group's instant
   * @param endMicros   last group's instant (approximately; tiny timelines are stretched so
   *                    that every group gets its own instant)
   * @param formatOf    the string form of group g, a pure function of g
   */
  constructor(
    readonly docCount: number,
    readonly groupSize: number,
    private readonly startMicros: number,
    endMicros: number,
    private readonly formatOf: (group: number) => TimeFormat,
  ) {
    this.groupCount = Math.ceil(docCount / groupSize);
    const span = Math.max(0, endMicros - startMicros);
    // A step below 2 µs could collapse neighbouring groups after float rounding.
    this.step = this.groupCount > 1 ? Math.max(2, Math.floor(span / (this.groupCount - 1))) : 0;
  }

  /** Instant before the millisecond rounding: strictly increasing in g. */
  private raw(group: number): number {
    return this.startMicros + group * this.step;
  }

  /** Format of group g. `ms` falls back to `us` when rounding down would break the order. */
  format(group: number): TimeFormat {
    const wanted = this.formatOf(group);
    if (wanted !== 'ms') return wanted;
    const floored = Math.floor(this.raw(group) / 1000) * 1000;
    return group === 0 || floored > this.raw(group - 1) ? 'ms' : 'us';
  }

  /** Instant of group g; strictly increasing in g. */
  micros(group: number): number {
    const raw = this.raw(group);
    return this.format(group) === 'ms' ? Math.floor(raw / 1000) * 1000 : raw;
  }

  /** First group whose instant is >= t (groupCount when none). */
  firstAtOrAfter(t: number): number {
    let lo = 0;
    let hi = this.groupCount;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.micros(mid) >= t) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Last group whose instant is <= t (-1 when none). */
  lastAtOrBefore(t: number): number {
    return this.firstAtOrAfter(t + 1) - 1;
  }

  /** Document indices of group g. */
  members(group: number): [first: number, end: number] {
    const first = group * this.groupSize;
    return [first, Math.min(first + this.groupSize, this.docCount)];
  }
}
