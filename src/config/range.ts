/**
 * The time range of a run as the settings give it: `--since`/`--until` (ISO-8601 or a span
 * back from now) and `--shard i/n`, a slice of an absolute `[since, until)`. Parsed once, by
 * `resolveSettings`; `run/window.ts` plans windows from the parsed values.
 */
import type { ShardRef } from '../commit/layout.js';
import { ConfigError } from '../errors.js';
import { canonicalFromDate, canonicalTimestamp, fromEpochMicros, toEpochMicros } from '../rows/time.js';

const SPAN_RE = /^(\d+)\s*(s|m|h|d|w)$/;
const SPAN_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `T` of `--since`/`--until`: ISO-8601 (zone-less = UTC) or a span back from now (`24h`, `7d`). */
export function parseTimeArg(value: string, now: Date, flag: string): string {
  const span = SPAN_RE.exec(value.trim());
  if (span) return canonicalFromDate(new Date(now.getTime() - Number(span[1]) * SPAN_MS[span[2] as string]!));
  return parseIsoArg(value, flag);
}

function parseIsoArg(value: string, flag: string): string {
  const parsed = canonicalTimestamp(value);
  if (!parsed) {
    throw new ConfigError(`--${flag} ${JSON.stringify(value)} is not a time; use ISO-8601 (2026-11-01 or 2026-11-01T00:00:00Z) or a span like 24h, 7d`);
  }
  return parsed;
}

/** A shard of a backfill and its slice `[lo, hi)` of `[since, until)`. */
export interface Shard extends ShardRef {
  lo: string;
  hi: string;
}

/** Most shards of one range: a Kubernetes Indexed Job allows 100,000 completions. */
export const MAX_SHARDS = 100_000;

/**
 * `--shard i/n` (env MIXPEEK_EXPORT_SHARD): the `i`-th (0-based, as Kubernetes'
 * JOB_COMPLETION_INDEX) of `n` slices of `[--since, --until)`, or `null` without `--shard`.
 * Both bounds must be absolute: a span like `7d` is measured from each process's own start,
 * so the pods of one Job would slice different ranges. Throws a ConfigError (exit 2).
 */
export function shardOf(settings: { shard?: string; since?: string; until?: string }): Shard | null {
  if (settings.shard === undefined) return null;
  const spec = settings.shard;
  const { index, count } = parseShardSpec(spec);
  const since = absoluteTime(settings.since, 'since', spec);
  const until = absoluteTime(settings.until, 'until', spec);
  if (since >= until) throw new ConfigError(`--shard ${spec}: --since ${since} is not before --until ${until}, so there is no range to split`);
  return { index, count, since, until, ...shardBounds(since, until, index, count) };
}

/** `i/n` → `{ index: i, count: n }`; whole numbers, `0 <= i < n <= MAX_SHARDS`. */
export function parseShardSpec(spec: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(spec.trim());
  if (!m) {
    const unexpanded = spec.includes('$(') ? '; the Kubernetes variable was not expanded: declare it in the container\'s env (see deploy/k8s/backfill-job.yaml)' : '';
    throw new ConfigError(`--shard ${JSON.stringify(spec)}: expected i/n, two whole numbers with i counting from 0 (e.g. 3/16)${unexpanded}`);
  }
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > MAX_SHARDS) throw new ConfigError(`--shard ${spec}: n must be 1..${MAX_SHARDS}`);
  if (index >= count) throw new ConfigError(`--shard ${spec}: i counts from 0, so it must be 0..${count - 1}`);
  return { index, count };
}

/**
 * Slice `index` of `count` of `[since, until)`, in whole microseconds: boundary k is
 * `since + floor(k * span / count)`, so slice 0 starts at `since`, the last ends at `until`,
 * each starts where the previous ended, and widths differ by at most 1 µs.
 */
export function shardBounds(since: string, until: string, index: number, count: number): { lo: string; hi: string } {
  const start = toEpochMicros(since);
  const span = toEpochMicros(until) - start;
  const boundary = (k: number) => fromEpochMicros(start + (span * BigInt(k)) / BigInt(count)) as string;
  return { lo: boundary(index), hi: boundary(index + 1) };
}

function absoluteTime(value: string | undefined, flag: 'since' | 'until', spec: string): string {
  if (value === undefined) {
    throw new ConfigError(`--shard ${spec} needs --since and --until (ISO-8601): it exports one of the slices of [since, until)`);
  }
  if (SPAN_RE.test(value.trim())) {
    throw new ConfigError(
      `--shard ${spec} needs an absolute --${flag} (ISO-8601, e.g. 2026-01-01T00:00:00Z), not the span ${value}: each shard would measure it from its own start time and the shards would slice different ranges`,
    );
  }
  return parseIsoArg(value, flag);
}
