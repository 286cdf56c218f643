/**
 * The fault campaign: one collection exported to one destination by the real CLI while
 * everything goes wrong at once — the dev server injects 5xx, 429 + Retry-After, resets,
 * cut-off bodies and slow pages and mutates documents while they are paged, a fault proxy
 * in front of the storage emulator injects 503s, resets before and after the request was
 * applied, and latency, and the exporter is SIGKILLed at seeded moments — with Auto Loader
 * and COPY INTO consumers ingesting the data folder between and during runs. Then faults
 * and mutations stop, a clean run picks up the last changes, and the campaign checks:
 * every current version staged exactly once, nothing staged the source never listed, every
 * manifest verified, and both consumers' tables (and their latest views) equal to the source.
 * Documents are also deleted between runs and every run reconciles (`--reconcile`), so the
 * reconciliation runs under the same faults and kills: each deleted document that was staged
 * gets exactly one tombstone, no live one gets any, and the consumers' latest views hold
 * exactly the live documents.
 *
 * Kills are seeded: the PRNG fixes each run's plan (a step of the commit protocol via
 * MIXPEEK_EXPORT_TEST_CRASH_AT, a delay after the run's start, or a delay into start-up),
 * while wall-clock timing decides where exactly a timed kill lands.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Manifest, parseManifest } from '../../src/commit/manifest.js';
import { type DevServer, type FaultOptions, type RateLimitOptions, startDevServer } from '../../src/devserver/index.js';
import { Rng, seedOf } from '../../src/devserver/prng.js';
import { type CampaignDestination, type DestinationKind, type Emulators, prepareDestination } from './campaign-destination.js';
import { type CampaignReport, type ConsumerCheck, emptyReport, type ManifestCheck, summaryLine } from './campaign-report.js';
import { checkLatest, checkVersions, Consumer, type ConsumerMode, countRows, sourceTruth, type SourceTruth, type StagedObject, type StagedStore } from './consumers.js';
import type { StorageFaultRates } from './fault-proxy.js';
import { type CampaignSink, startCampaignSink } from './campaign-sinks.js';
import { type CliResult, exportEnv, runCli, stagedTombstones, stagedVersions } from './harness.js';

export type { CampaignReport } from './campaign-report.js';
export type { DestinationKind } from './campaign-destination.js';

export interface CampaignOptions {
  kind: DestinationKind;
  emulators: Emulators;
  collectionId: string;
  documents: number;
  seed: number;
  /** SIGKILLs to land while faults are on (at least). */
  kills: number;
  /** Fault-phase runs after which the campaign gives up. Default `kills × 4`. */
  maxRuns?: number;
  /** Timed kills: a seeded delay in this range (skewed short) after the run's first RunResumed / RunStarted / NothingNew line. */
  killDelayMs: [number, number];
  /**
   * Fixed kinds for the first runs, e.g. `['file-visible:2', 'timed', 'startup']`: a
   * commit-protocol step (MIXPEEK_EXPORT_TEST_CRASH_AT, deterministic), or a timed or
   * start-up kill with a seeded delay. Later runs draw their kind from the shares below.
   */
  schedule?: string[];
  /** Share of runs killed at a seeded commit-protocol step (MIXPEEK_EXPORT_TEST_CRASH_AT). */
  stepKillShare: number;
  /** Share of runs killed at a seeded moment of start-up (lease, checkpoint load), 0..startupKillMs after spawn. */
  startupKillShare: number;
  startupKillMs: number;
  apiFaults: FaultOptions;
  /** The dev server's token bucket (429 + Retry-After when empty); off in the calm phase. Default none. */
  rateLimit?: RateLimitOptions;
  storageFaults: StorageFaultRates;
  mutateWhilePaging: { everyNPages: number; count: number };
  /** Documents mutated between two runs. */
  mutateBetweenRuns: number;
  /** Documents deleted between two runs (found by the next run's reconciliation). */
  deleteBetweenRuns: number;
  /** Share of fault-phase runs before which the webhook sink's receiver fails its next 1..12 requests (campaign-sinks.ts). */
  sinkFailShare: number;
  /** COPY INTO after every Nth run; Auto Loader after every run and once during it. */
  copyIntoEvery: number;
  format: 'parquet' | 'ndjson';
  /** Exporter flags on top of the destination's: small pages and files, so files roll often. */
  exportFlags: string[];
  /** A run not done after this long is killed and reported as hung. Default 180 s. */
  watchdogMs?: number;
  /** Progress lines (one per run). Default: none. */
  log?: (line: string) => void;
}

/**
 * What the small and the full campaign share: fault rates, the kill mix, mutations, and
 * exporter flags that make files roll often (small pages, 300-row files, 64 KiB upload
 * parts so S3 multipart and Azure block uploads run). Tests add the size, seed and kills.
 */
export const CAMPAIGN_DEFAULTS = {
  killDelayMs: [100, 3000],
  stepKillShare: 0.3,
  startupKillShare: 0.1,
  startupKillMs: 2500,
  apiFaults: { errorRate: 0.08, throttleRate: 0.04, throttleRetryAfterSeconds: 1, resetRate: 0.04, truncateRate: 0.04, slowRate: 0.05, slowMs: 800 },
  storageFaults: { busyRate: 0.04, resetBeforeRate: 0.02, resetAfterRate: 0.03, latencyRate: 0.1, latencyMs: 100 },
  mutateWhilePaging: { everyNPages: 5, count: 10 },
  mutateBetweenRuns: 40,
  deleteBetweenRuns: 5,
  copyIntoEvery: 4,
  sinkFailShare: 0.3,
  format: 'parquet',
  exportFlags: [
    // Four slices split whenever fewer are in flight: every run pages its window as slices (kills land with several in flight).
    '--reconcile', '--page-size', '50', '--max-rows-per-file', '300', '--target-file-mb', '0.15', '--row-group-rows', '100', '--parallel-slices', '4', '--split-slices', 'always',
    '--upload-part-mb', '0.0625', '--s3-min-part-mb', '0.0625', '--retry-base-delay-ms', '50', '--retry-max-delay-ms', '1000', '--requests-per-minute', '1200',
  ],
} satisfies Partial<CampaignOptions>;

/** Runs a campaign and prints its summary line (and a line per run when MXP_FAULTS_LOG is set). */
export async function runAndSummarise(o: CampaignOptions): Promise<CampaignReport> {
  const report = await runCampaign({ ...o, log: o.log ?? (process.env.MXP_FAULTS_LOG ? console.log : undefined) });
  console.log(summaryLine(report));
  return report;
}

const WORK_STARTED = /"event":"(RunResumed|RunStarted|NothingNew|ReconcileResumed)"/;
const STEPS = ['page', 'intent-recorded', 'file-visible', 'checkpoint-advanced', 'manifest-written', 'listing-started', 'listing-page', 'candidates-checked', 'snapshot-written', 'sink-delivering', 'sink-delivered'] as const;
/**
 * Exits a run under faults may end with: done, the API or the storage gave up after its
 * retries (the next run resumes), a sink gave up (7: exported, the notification pending). Not 5: no second exporter ever runs here, so a lease or
 * checkpoint conflict would mean the exporter mistook its own retried write for another's.
 */
const ACCEPTED_EXITS = new Set([0, 3, 4, 7]);

export async function runCampaign(o: CampaignOptions): Promise<CampaignReport> {
  const started = Date.now();
  const server = await startDevServer({
    documentsPerCollection: { [o.collectionId]: o.documents },
    seed: o.seed,
    faults: { ...o.apiFaults, seed: o.seed },
    rateLimit: o.rateLimit ?? null,
    mutateWhilePaging: o.mutateWhilePaging,
  });
  const destination = await prepareDestination(o.kind, o.emulators, o.seed, o.storageFaults);
  const sink = await startCampaignSink();
  const work = mkdtempSync(path.join(tmpdir(), `mxp-faults-${o.kind}-`));
  const consumer = (mode: ConsumerMode) => new Consumer(destination.store, o.collectionId, mode, `${o.kind}_${mode.replace('-', '_')}`, work);
  const c: Campaign = {
    o, server, destination,
    rng: new Rng(seedOf(o.seed, 0xc4a1)),
    autoLoader: consumer('auto-loader'),
    copyInto: consumer('copy-into'),
    report: emptyReport(o),
    args: ['export', '--collection', o.collectionId, '--dest', destination.dest, '--format', o.format, '--safety-lag-seconds', '0', ...o.exportFlags, ...destination.flags],
    env: exportEnv(server.url, { ...destination.env, ...sink.env }),
    sink,
    watchdogMs: o.watchdogMs ?? 180_000,
  };
  try {
    await faultPhase(c);
    await calmPhase(c);
    await check(c, work);
  } finally {
    await destination.close();
    await server.close();
    await sink.close();
  }
  const { report } = c;
  Object.assign(report, { apiFaults: server.stats().faults, mutations: server.stats().mutations, storageFaults: destination.proxy?.counts() ?? null, wallMs: Date.now() - started });
  // Keep what was staged and downloaded when something broke, to look at; else tidy up.
  if (report.failures.length > 0) report.failures.push(`files kept in ${work}${o.kind === 'fs' ? ` and ${destination.dest}` : ''}`);
  else for (const dir of [work, ...(o.kind === 'fs' ? [destination.dest] : [])]) rmSync(dir, { recursive: true, force: true });
  return report;
}

/** One campaign's moving parts. */
interface Campaign {
  o: CampaignOptions;
  rng: Rng;
  server: DevServer;
  destination: CampaignDestination;
  autoLoader: Consumer;
  copyInto: Consumer;
  report: CampaignReport;
  args: string[];
  env: Record<string, string>;
  sink: CampaignSink;
  watchdogMs: number;
}

/** Runs are killed (or end on their own) until enough kills have landed; consumers ingest between and during runs. */
async function faultPhase(c: Campaign): Promise<void> {
  const { o, report } = c;
  const maxRuns = o.maxRuns ?? o.kills * 4;
  while (report.kills.total < o.kills) {
    if (report.runs >= maxRuns) throw new Error(`${o.kind}: only ${report.kills.total} kills in ${report.runs} runs; lengthen the export or shorten the kill delays`);
    const plan = planRun(c.rng, o, o.schedule?.[report.runs]);
    c.sink.beforeRun(c.rng, o.sinkFailShare);
    const run = timedRun(c, plan);
    // One Auto Loader pass while the exporter is (probably) publishing, one after it stopped.
    const during = Promise.race([sleep(c.rng.range(1000, 5000)), run]).then(() => c.autoLoader.pass());
    const result = await run;
    await during;
    record(c, result, plan);
    await c.autoLoader.pass();
    if (report.runs % o.copyIntoEvery === 0) await c.copyInto.pass();
    c.server.mutate(o.collectionId, o.mutateBetweenRuns);
    c.server.delete(o.collectionId, o.deleteBetweenRuns);
  }
}

/** No faults, no mutations: a clean run picks up the last changes, then the consumers' last passes. */
async function calmPhase(c: Campaign): Promise<void> {
  c.server.setOptions({ faults: {}, rateLimit: null, mutateWhilePaging: null });
  c.destination.proxy?.setRates({ busyRate: 0, resetBeforeRate: 0, resetAfterRate: 0, latencyRate: 0 });
  c.sink.calm();
  const clean: RunPlan = { label: 'clean' };
  for (let attempt = 1; ; attempt++) {
    const result = await timedRun(c, clean);
    record(c, result, clean);
    if (result.code === 0) break;
    if (attempt === 3) throw new Error(`${c.o.kind}: no clean run after the faults stopped: ${result.stderr.slice(-2000)}`);
  }
  await c.autoLoader.pass();
  await c.copyInto.pass();
}

interface RunPlan {
  label: string;
  crashAt?: string;
  /** Kill this long after spawn (`fromWork` false) or after the run's first work line. */
  killAfterMs?: number;
  fromWork?: boolean;
}

function planRun(rng: Rng, o: CampaignOptions, fixed?: string): RunPlan {
  const r = rng.float();
  const step = rng.pick(STEPS);
  // Small counts: an incremental run publishes one or two files, a resumed one a few more.
  const n = step === 'sink-delivering' || step === 'sink-delivered' || step === 'manifest-written' || step === 'snapshot-written' || step === 'listing-started' || step === 'candidates-checked' ? 1 : rng.range(1, step === 'page' ? 8 : 3);
  const kind = fixed ?? (r < o.stepKillShare ? `${step}:${n}` : r < o.stepKillShare + o.startupKillShare ? 'startup' : 'timed');
  if (kind.includes(':')) return { label: `kill at ${kind}`, crashAt: kind };
  if (kind === 'startup') {
    const ms = rng.range(0, o.startupKillMs);
    return { label: `kill ${ms} ms after spawn`, killAfterMs: ms, fromWork: false };
  }
  // Skewed short (median about a quarter of the range): incremental runs take well under a second.
  const ms = Math.round(o.killDelayMs[0] + (o.killDelayMs[1] - o.killDelayMs[0]) * rng.float() ** 2);
  return { label: `kill ${ms} ms into the run`, killAfterMs: ms, fromWork: true };
}

async function timedRun(c: Campaign, plan: RunPlan): Promise<CliResult & { ms: number }> {
  const t0 = Date.now();
  const env = plan.crashAt ? { ...c.env, MIXPEEK_EXPORT_TEST_CRASH_AT: plan.crashAt } : c.env;
  const result = await runCli(c.args, env, plan.killAfterMs === undefined
    ? { killAfterMs: c.watchdogMs }
    : { killAfterMs: plan.killAfterMs, killAfterMatch: plan.fromWork ? WORK_STARTED : undefined });
  return { ...result, ms: Date.now() - t0 };
}

/** Counts the run's outcome; an exit outside ACCEPTED_EXITS or a hang becomes a failure. */
function record(c: Campaign, result: CliResult & { ms: number }, plan: RunPlan): void {
  const { report } = c;
  report.runs++;
  c.o.log?.(`${c.o.kind} run ${report.runs}: ${plan.label} -> ${result.signal ?? `exit ${result.code}`} after ${result.ms} ms; ${lastLine(result)}`);
  if (result.signal === 'SIGKILL' && plan.killAfterMs === undefined && !plan.crashAt && result.ms >= c.watchdogMs) {
    report.hung++;
    report.failures.push(`run ${report.runs} hung for ${result.ms} ms: ${result.stderr.slice(-1500)}`);
    return;
  }
  if (result.signal === 'SIGKILL') {
    report.kills.total++;
    report.kills[plan.crashAt ? 'step' : plan.fromWork ? 'timed' : 'startup']++;
    return;
  }
  if (result.code === 2) throw new Error(`the exporter refused its flags: ${result.stderr.slice(-500)}`);
  const code = String(result.code ?? result.signal);
  report.exits[code] = (report.exits[code] ?? 0) + 1;
  if (!ACCEPTED_EXITS.has(result.code ?? -1)) report.failures.push(`run ${report.runs} (${plan.label}) ended with ${code}: ${result.stderr.slice(-1500)}`);
}

/** The final checks; every broken invariant becomes a line in `report.failures`. */
async function check(c: Campaign, work: string): Promise<void> {
  const { o, report } = c;
  const truth = sourceTruth(c.server.currentVersions(o.collectionId), c.server.supersededVersions(o.collectionId));
  const mirror = path.join(work, 'truth');
  const data = await mirrorData(c.destination.store, o.collectionId, mirror);
  const staged = await stagedVersions(mirror, o.collectionId);
  report.staged = checkVersions(staged, truth);
  report.tombstones = checkTombstones(await stagedTombstones(mirror, o.collectionId), staged, c.server.deletedIds(o.collectionId));
  report.manifests = await verifyDestination(c.destination, o.collectionId, mirror);
  report.manifests.problems.push(...(await cliVerify(c.destination, o.collectionId)));
  const sha = new Map(data.map((f) => [f.key, sha256(path.join(mirror, ...f.key.split('/')))]));
  for (const consumer of [c.autoLoader, c.copyInto]) report.consumers.push(await checkConsumer(consumer, truth, sha));
  report.sinks = await c.sink.check(c.destination.store, o.collectionId, work);
  const fail = (what: string, list: string[]) => list.length && report.failures.push(`${what}: ${list.length} (${list.slice(0, 5).join(', ')})`);
  fail('staged duplicates', report.staged.duplicates);
  fail('staged missing', report.staged.missing);
  fail('staged unknown', report.staged.unknown);
  fail('tombstones missing', report.tombstones.missing);
  fail('tombstones repeated', report.tombstones.repeated);
  fail('tombstones false', report.tombstones.false);
  fail('manifest problems', report.manifests.problems);
  fail('runs never delivered to the webhook', report.sinks.missing);
  fail('notifications left pending after the clean run', report.sinks.pending);
  if (report.sinks.unverified > 0) report.failures.push(`webhook deliveries that did not verify: ${report.sinks.unverified}`);
  for (const r of report.consumers) {
    for (const key of ['duplicates', 'missing', 'unknown', 'reloaded', 'notLoaded', 'changed', 'contentMismatch', 'latestWrong'] as const) fail(`${r.mode} ${key}`, r[key]);
  }
}

/**
 * Each deleted document that was ever staged has exactly one tombstone (one deleted before
 * its first export was never staged, so it needs none); no document that is still live has
 * one (the campaign never re-creates a deleted id).
 */
function checkTombstones(tombstones: { document_id: string }[], staged: { document_id: string }[], deleted: string[]): CampaignReport['tombstones'] {
  const stagedIds = new Set(staged.map((r) => r.document_id));
  const deletedIds = new Set(deleted);
  const counts = new Map<string, number>();
  for (const t of tombstones) counts.set(t.document_id, (counts.get(t.document_id) ?? 0) + 1);
  return {
    deleted: deleted.length,
    written: tombstones.length,
    missing: deleted.filter((id) => stagedIds.has(id) && !counts.has(id)),
    repeated: [...counts].filter(([, n]) => n > 1).map(([id]) => id),
    false: [...counts.keys()].filter((id) => !deletedIds.has(id)),
  };
}

async function checkConsumer(c: Consumer, truth: SourceTruth, finalSha: Map<string, string>): Promise<ConsumerCheck> {
  const loads = [...c.files.values()];
  return {
    mode: c.mode,
    passes: c.passes,
    files: loads.length,
    ...checkVersions(await c.rows(), truth),
    reloaded: loads.filter((f) => f.loads !== 1).map((f) => f.key),
    notLoaded: [...finalSha.keys()].filter((k) => !c.files.has(k)),
    changed: loads.filter((f) => f.changed).map((f) => f.key),
    contentMismatch: loads.filter((f) => finalSha.get(f.key) !== f.sha256).map((f) => f.key),
    latestWrong: checkLatest(await c.latest(), truth),
  };
}

/** Downloads every data file of the collection (straight from the store) under `dir`, mirroring keys. */
async function mirrorData(store: StagedStore, collectionId: string, dir: string): Promise<StagedObject[]> {
  const objects = await store.list(`${collectionId}/data/`);
  for (const o of objects) await store.download(o.key, path.join(dir, ...o.key.split('/')));
  return objects;
}

/**
 * The product's own `mixpeek-export verify --json`, straight against the store (not through
 * the fault proxy): its problems, or none when it exits 0.
 */
async function cliVerify(destination: CampaignDestination, collectionId: string): Promise<string[]> {
  const res = await runCli(['verify', '--collection', collectionId, '--dest', destination.dest, '--json', ...destination.directFlags], destination.directEnv);
  if (res.code === 0) return [];
  try {
    const report = JSON.parse(res.stdout) as { collections: { findings: { severity: string; message: string }[] }[] };
    return report.collections.flatMap((c) => c.findings.filter((f) => f.severity === 'problem').map((f) => `verify: ${f.message}`));
  } catch {
    return [`verify exited ${res.code}: ${res.stderr.trim().slice(0, 500)}`];
  }
}

/**
 * The test's own, independent check of the manifests (beside the CLI's `verify`): each listed
 * file exists with the recorded size, sha256 and row count (counted by DuckDB); no file is
 * listed twice; the manifests' files are exactly the data files; totals add up. `mirror`
 * holds local copies of the data files (missing ones are downloaded).
 */
export async function verifyDestination(destination: CampaignDestination, collectionId: string, mirror: string): Promise<ManifestCheck> {
  const { store } = destination;
  const result: ManifestCheck = { manifests: 0, files: 0, rows: 0, problems: [] };
  const data = new Map((await store.list(`${collectionId}/data/`)).map((o) => [o.key, o]));
  const listedBy = new Map<string, string>();
  for (const m of (await store.list(`${collectionId}/_manifests/`)).filter((o) => o.key.endsWith('.json'))) {
    const local = path.join(mirror, ...m.key.split('/'));
    await store.download(m.key, local);
    const manifest = parseManifest(readFileSync(local), m.key);
    const problem = (text: string) => result.problems.push(`${m.key}: ${text}`);
    result.manifests++;
    for (const f of manifest.files) {
      result.files++;
      result.rows += f.rows;
      if (listedBy.has(f.key)) problem(`${f.key} is also listed by ${listedBy.get(f.key)}`);
      listedBy.set(f.key, m.key);
      await checkListedFile(f, data.get(f.key), store, path.join(mirror, ...f.key.split('/')), problem);
    }
    const sum = (pick: (f: Manifest['files'][number]) => number) => manifest.files.reduce((n, f) => n + pick(f), 0);
    if (manifest.totals.files !== manifest.files.length || manifest.totals.rows !== sum((f) => f.rows) || manifest.totals.bytes !== sum((f) => f.bytes)) {
      problem(`totals ${JSON.stringify(manifest.totals)} do not add up over its files`);
    }
  }
  for (const key of data.keys()) if (!listedBy.has(key)) result.problems.push(`${key} is in no manifest`);
  return result;
}

/** One manifest entry against its object: present, same size, same sha256, same row count. */
async function checkListedFile(f: Manifest['files'][number], object: StagedObject | undefined, store: StagedStore, local: string, problem: (text: string) => void): Promise<void> {
  if (!object) return problem(`${f.key} is missing`);
  if (object.size !== f.bytes) problem(`${f.key} has ${object.size} bytes, the manifest says ${f.bytes}`);
  if (!existsSync(local)) await store.download(f.key, local);
  if (sha256(local) !== f.sha256) problem(`${f.key} sha256 differs from the manifest's`);
  const rows = await countRows(local);
  if (rows !== f.rows) problem(`${f.key} has ${rows} rows, the manifest says ${f.rows}`);
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lastLine = (r: CliResult) => (r.stdout.trim().split('\n').pop() || r.stderr.trim().split('\n').pop() || '').slice(0, 300);
