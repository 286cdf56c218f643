import { ConfigError } from '../errors.js';
import type { Checkpoint } from '../commit/checkpoint.js';
import type { Settings } from '../config/schema.js';
import { canonicalFromDate, canonicalTimestamp } from '../rows/time.js';

const SPAN_RE = /^(\d+)\s*(s|m|h|d|w)$/;
const SPAN_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `T` of `--since`/`--until`: ISO-8601 (zone-less = UTC) or a span back from now (`24h`, `7d`). */
export function parseTimeArg(value: string, now: Date, flag: string): string {
  const span = SPAN_RE.exec(value.trim());
  if (span) return canonicalFromDate(new Date(now.getTime() - Number(span[1]) * SPAN_MS[span[2] as string]!));
  const parsed = canonicalTimestamp(value);
  if (!parsed) {
    throw new ConfigError(`--${flag} ${JSON.stringify(value)} is not a time; use ISO-8601 (2026-11-01 or 2026-11-01T00:00:00Z) or a span like 24h, 7d`);
  }
  return parsed;
}

/**
 * The next window `[lo, hi)`: `hi` = run start minus the safety lag, capped by `--until`;
 * `lo` = `--since`, else the checkpoint's last `hi`, else the beginning of time.
 * `null` when there is nothing new. `resumedLo` is the `lo` of a run just resumed: the
 * same `--since` is not exported twice when a killed backfill is re-run as it was.
 */
export function planWindow(settings: Settings, checkpoint: Checkpoint, now: Date, resumedLo?: string): { lo: string | null; hi: string } | null {
  let hi = canonicalFromDate(new Date(now.getTime() - settings.safetyLagSeconds * 1000));
  if (settings.until) {
    const until = parseTimeArg(settings.until, now, 'until');
    if (until < hi) hi = until;
  }
  let lo: string | null = checkpoint.lastHi;
  if (settings.since) {
    const since = parseTimeArg(settings.since, now, 'since');
    if (since !== resumedLo) lo = since;
  }
  if (lo !== null && lo >= hi) return null;
  return { lo, hi };
}
