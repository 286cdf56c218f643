import type { Checkpoint } from '../commit/checkpoint.js';
import type { ResolvedRange } from '../config/resolve.js';
import { canonicalFromDate } from '../rows/time.js';

// The parsers live in config/range.ts (settings are resolved once); re-exported for callers of the old home.
export { MAX_SHARDS, parseShardSpec, parseTimeArg, type Shard, shardBounds, shardOf } from '../config/range.js';

/**
 * The next window `[lo, hi)`: `hi` = run start minus the safety lag, capped by `--until`;
 * `lo` = `--since`, else the checkpoint's last `hi`, else the beginning of time.
 * `null` when there is nothing new. `resumedLo` is the `lo` of a run just resumed: the
 * same `--since` is not exported twice when a killed backfill is re-run as it was.
 *
 * With `--shard`, `checkpoint` is the shard's own and the window is the rest of the
 * shard's slice: from where its last run ended (else the slice's start) to the slice's end
 * (or the safety lag, if that is earlier). A finished shard run again has nothing new.
 */
export function planWindow(
  settings: { range: ResolvedRange; safetyLagSeconds: number },
  checkpoint: Checkpoint,
  now: Date,
  resumedLo?: string,
): { lo: string | null; hi: string } | null {
  let hi = canonicalFromDate(new Date(now.getTime() - settings.safetyLagSeconds * 1000));
  const { since, until, shard } = settings.range;
  if (shard) {
    const lo = checkpoint.lastHi !== null && checkpoint.lastHi > shard.lo ? checkpoint.lastHi : shard.lo;
    if (shard.hi < hi) hi = shard.hi;
    return lo >= hi ? null : { lo, hi };
  }
  if (until !== null && until < hi) hi = until;
  let lo: string | null = checkpoint.lastHi;
  if (since !== null && since !== resumedLo) lo = since;
  if (lo !== null && lo >= hi) return null;
  return { lo, hi };
}
