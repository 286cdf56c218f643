/**
 * Where everything lands under the destination root (DESIGN.md section 3):
 *
 *   <collection_id>/data/dt=YYYY-MM-DD/part-<run_id>-<seq>.<ext>   consumers read only this
 *   <collection_id>/_manifests/<run_id>.json                       one per run
 *   <collection_id>/_state/checkpoint.json                         where the next run resumes
 *   <collection_id>/_state/lease.json                              one writer at a time
 */
export const SEQ_DIGITS = 6;

export const layout = {
  dataPrefix: (collectionId: string) => `${collectionId}/data/`,
  dataFile: (collectionId: string, dt: string, runId: string, seq: number, extension: string) =>
    `${collectionId}/data/dt=${dt}/part-${runId}-${String(seq).padStart(SEQ_DIGITS, '0')}${extension}`,
  manifest: (collectionId: string, runId: string) => `${collectionId}/_manifests/${runId}.json`,
  manifestPrefix: (collectionId: string) => `${collectionId}/_manifests/`,
  checkpoint: (collectionId: string) => `${collectionId}/_state/checkpoint.json`,
  lease: (collectionId: string) => `${collectionId}/_state/lease.json`,
};

/** A run id: UTC start time plus a short random suffix, e.g. `20261121T153000Z-7f3a`. Sorts in time order. */
export function newRunId(now: Date, random: () => number = Math.random): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const suffix = Math.floor(random() * 0x10000).toString(16).padStart(4, '0');
  return `${stamp}-${suffix}`;
}

/** Collection ids become path segments: refuse anything that could escape the root. */
export function isSafeCollectionId(id: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/.test(id) && !id.includes('..');
}
