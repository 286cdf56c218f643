/** What a fault campaign found, and its one-line summary. */
import type { DevServerStats } from '../../src/devserver/index.js';
import type { DestinationKind } from './campaign-destination.js';
import type { ConsumerMode, VersionCheck } from './consumers.js';
import type { SinkCheck } from './campaign-sinks.js';
import type { StorageFaultCounts } from './fault-proxy.js';

export interface ManifestCheck {
  manifests: number;
  /** Files listed by manifests. */
  files: number;
  rows: number;
  /** Every way a manifest and the objects disagree; empty when all verify. */
  problems: string[];
}

export interface ConsumerCheck extends VersionCheck {
  mode: ConsumerMode;
  passes: number;
  files: number;
  /** Files loaded more than once. */
  reloaded: string[];
  /** Files the final listing has that this consumer never loaded. */
  notLoaded: string[];
  /** Files listed again later with another ETag (rewritten after loading). */
  changed: string[];
  /** Files whose loaded bytes differ from the object's final bytes. */
  contentMismatch: string[];
  /** Documents whose latest-view row is not their current version. */
  latestWrong: string[];
}

export interface CampaignReport {
  kind: DestinationKind;
  seed: number;
  documents: number;
  runs: number;
  kills: { total: number; timed: number; step: number; startup: number };
  /** Exit codes of the runs that were not killed, e.g. `{ '0': 9, '4': 1 }`. */
  exits: Record<string, number>;
  hung: number;
  apiFaults: DevServerStats['faults'];
  storageFaults: StorageFaultCounts | null;
  mutations: number;
  staged: VersionCheck;
  /** Documents the source deleted, tombstones staged, and what broke the exactly-once rule for them. */
  tombstones: { deleted: number; written: number; missing: string[]; repeated: string[]; false: string[] };
  manifests: ManifestCheck;
  consumers: ConsumerCheck[];
  /** The webhook sink every run notifies (campaign-sinks.ts). */
  sinks: SinkCheck;
  wallMs: number;
  /** Everything that broke an invariant; empty on success. */
  failures: string[];
}

/** One line per destination, e.g. `faults fs: kills 21 (...), api faults 340 (...), ..., manifests 23 verified`. */
export function summaryLine(r: CampaignReport): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const f = r.apiFaults;
  const api = f.error + f.throttled + f.reset + f.truncate + f.slow + f.rateLimited;
  const s = r.storageFaults;
  const storage = s ? `storage faults ${n(s.busy + s.resetBefore + s.resetAfter + s.latency)} of ${n(s.requests)} requests (503 ${s.busy}, reset before ${s.resetBefore}, reset after ${s.resetAfter}, latency ${s.latency})` : 'storage faults 0 (no proxy on fs)';
  const exits = Object.entries(r.exits).map(([code, count]) => `exit ${code} ×${count}`).join(', ');
  const consumers = r.consumers.map((c) => `${c.mode} ${n(c.files)} files/${n(c.rows)} rows in ${c.passes} passes`).join(', ');
  const verified = r.manifests.problems.length === 0 ? 'verified (and verify exit 0)' : `${r.manifests.problems.length} problems`;
  return `faults ${r.kind} (seed ${r.seed}): kills ${r.kills.total} (timed ${r.kills.timed}, step ${r.kills.step}, start-up ${r.kills.startup}), runs ${r.runs} (${exits}), ` +
    `api faults ${n(api)} (5xx ${f.error}, 429 ${f.throttled + f.rateLimited}, reset ${f.reset}, truncate ${f.truncate}, slow ${f.slow}), ${storage}, ` +
    `mutations ${n(r.mutations)}, rows ${n(r.staged.rows)}, duplicates ${r.staged.duplicates.length}, missing ${r.staged.missing.length}, unknown ${r.staged.unknown.length}, ` +
    `deleted ${n(r.tombstones.deleted)}, tombstones ${n(r.tombstones.written)} (missing ${r.tombstones.missing.length}, repeated ${r.tombstones.repeated.length}, false ${r.tombstones.false.length}), ` +
    `manifests ${r.manifests.manifests} ${verified}, ${consumers}, ` +
    `webhook ${r.sinks.delivered} of ${r.sinks.runs} runs delivered (${r.sinks.redelivered} redelivered, ${r.sinks.failedOnPurpose} failed on purpose, ${r.sinks.pending.length} pending), ${(r.wallMs / 1000).toFixed(0)} s`;
}

export function emptyReport(o: { kind: DestinationKind; seed: number; documents: number }): CampaignReport {
  const none: VersionCheck = { rows: 0, duplicates: [], missing: [], unknown: [] };
  return {
    kind: o.kind, seed: o.seed, documents: o.documents, runs: 0, kills: { total: 0, timed: 0, step: 0, startup: 0 }, exits: {}, hung: 0,
    apiFaults: { error: 0, reset: 0, truncate: 0, slow: 0, rateLimited: 0, throttled: 0 }, storageFaults: null, mutations: 0,
    staged: none, tombstones: { deleted: 0, written: 0, missing: [], repeated: [], false: [] }, manifests: { manifests: 0, files: 0, rows: 0, problems: [] }, consumers: [],
    sinks: { runs: 0, delivered: 0, redelivered: 0, failedOnPurpose: 0, missing: [], pending: [], unverified: 0 }, wallMs: 0, failures: [],
  };
}
