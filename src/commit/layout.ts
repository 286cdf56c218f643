/**
 * Where everything lands under the destination root (DESIGN.md section 3):
 *
 *   <collection_id>/data/dt=YYYY-MM-DD/part-<run_id>-<seq>.<ext>   consumers read only this
 *   <collection_id>/_manifests/<run_id>.json                       one per run
 *   <collection_id>/_state/checkpoint.json                         where the next run resumes
 *   <collection_id>/_state/lease.json                              one writer at a time
 *   <collection_id>/_state/reconcile/snapshot-<run_id>.json.gz     staged state a reconciliation left
 *
 * A shard of a backfill (`--shard i/n` over `--since`/`--until`) keeps its own checkpoint
 * and lease, so shards never contend with each other or with the scheduled runs:
 *
 *   <collection_id>/_state/shards/<since>--<until>/s<ii>of<nn>/checkpoint.json
 *   <collection_id>/_state/shards/<since>--<until>/s<ii>of<nn>/lease.json
 *
 * e.g. `col_abc/_state/shards/20260101T000000Z--20260701T000000Z/s03of16/checkpoint.json`.
 */
export const SEQ_DIGITS = 6;

/** The `i`-th (0-based) of `count` slices of `[since, until)`; `since`/`until` are canonical timestamps. */
export interface ShardRef {
  index: number;
  count: number;
  since: string;
  until: string;
}

export const layout = {
  dataPrefix: (collectionId: string) => `${collectionId}/data/`,
  dataFile: (collectionId: string, dt: string, runId: string, seq: number, extension: string) =>
    `${collectionId}/data/dt=${dt}/part-${runId}-${String(seq).padStart(SEQ_DIGITS, '0')}${extension}`,
  manifest: (collectionId: string, runId: string) => `${collectionId}/_manifests/${runId}.json`,
  manifestPrefix: (collectionId: string) => `${collectionId}/_manifests/`,
  /** The folder of a run's checkpoint and lease: `_state/` for scheduled runs, a folder of its own for each shard. */
  statePrefix: (collectionId: string, shard?: ShardRef | null) =>
    shard ? `${collectionId}/_state/shards/${pathStamp(shard.since)}--${pathStamp(shard.until)}/${shardTag(shard)}/` : `${collectionId}/_state/`,
  /** Where every shard's state folder lives (verify lists it). */
  shardStatePrefix: (collectionId: string) => `${collectionId}/_state/shards/`,
  checkpoint: (collectionId: string, shard?: ShardRef | null) => `${layout.statePrefix(collectionId, shard)}checkpoint.json`,
  lease: (collectionId: string, shard?: ShardRef | null) => `${layout.statePrefix(collectionId, shard)}lease.json`,
  /** A reconciliation's snapshot of the staged state (one sorted `{id,u,e,d}` line per document, gzip). */
  reconcileSnapshot: (collectionId: string, runId: string) => `${collectionId}/_state/reconcile/snapshot-${runId}.json.gz`,
};

/**
 * A run id: UTC start time plus a short random suffix, e.g. `20261121T153000Z-7f3a`; a
 * shard's run also names its shard, `20261121T153000Z-s03of16-7f3a`, so file names of
 * shards started in the same second cannot collide. Sorts in time order.
 */
export function newRunId(now: Date, random: () => number = Math.random, shard?: Pick<ShardRef, 'index' | 'count'> | null): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const suffix = Math.floor(random() * 0x10000).toString(16).padStart(4, '0');
  return shard ? `${stamp}-${shardTag(shard)}-${suffix}` : `${stamp}-${suffix}`;
}

/** `s03of16`: the index zero-padded to the width of the count (at least 2), so tags sort by index. */
export function shardTag(shard: Pick<ShardRef, 'index' | 'count'>): string {
  const width = Math.max(2, String(shard.count).length);
  return `s${String(shard.index).padStart(width, '0')}of${String(shard.count).padStart(width, '0')}`;
}

const SHARD_RUN_RE = /^\d{8}T\d{6}Z-(s(\d+)of(\d+))-[0-9a-f]{4}$/;

/** The shard a run id names (`20261121T153000Z-s03of16-7f3a` → 3 of 16), or null for a scheduled run's id. */
export function shardOfRunId(runId: string): { index: number; count: number; tag: string } | null {
  const m = SHARD_RUN_RE.exec(runId);
  return m ? { tag: m[1] as string, index: Number(m[2]), count: Number(m[3]) } : null;
}

const STATE_RE = /^_state\/shards\/(\d{8}T\d{6}(?:\.\d{6})?Z)--(\d{8}T\d{6}(?:\.\d{6})?Z)\/s(\d+)of(\d+)\/(checkpoint|lease)\.json$/;

/** The shard (and which file) of a key under `<collection>/_state/shards/`, or null when the key is not one the exporter writes. */
export function parseShardStateKey(collectionId: string, key: string): { shard: ShardRef; file: 'checkpoint' | 'lease' } | null {
  if (!key.startsWith(`${collectionId}/`)) return null;
  const m = STATE_RE.exec(key.slice(collectionId.length + 1));
  if (!m) return null;
  const shard = { since: fromPathStamp(m[1] as string), until: fromPathStamp(m[2] as string), index: Number(m[3]), count: Number(m[4]) };
  // Only the exact name the exporter would write (no other padding) is one of its folders.
  if (layout.statePrefix(collectionId, shard) !== key.slice(0, key.lastIndexOf('/') + 1)) return null;
  return { shard, file: m[5] as 'checkpoint' | 'lease' };
}

/**
 * A canonical timestamp as a path segment: `2026-01-01T00:00:00.000000Z` → `20260101T000000Z`,
 * with `.123456` before the `Z` only when there are microseconds. No `:` (awkward in URLs and
 * on Windows), sorts in time order.
 */
function pathStamp(canonical: string): string {
  const compact = canonical.replace(/[-:]/g, '');
  return compact.endsWith('.000000Z') ? `${compact.slice(0, -'.000000Z'.length)}Z` : compact;
}

function fromPathStamp(stamp: string): string {
  const [, y, mo, d, h, mi, s, frac = '000000'] = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:\.(\d{6}))?Z$/.exec(stamp) as RegExpExecArray;
  return `${y}-${mo}-${d}T${h}:${mi}:${s}.${frac}Z`;
}

/** Collection ids become path segments: refuse anything that could escape the root. */
export function isSafeCollectionId(id: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/.test(id) && !id.includes('..');
}
