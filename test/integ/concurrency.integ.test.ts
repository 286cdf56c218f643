import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { azureDestination, fsDestination, localCopy, s3Destination, type TestDestination } from '../support/destinations.js';
import { type CliResult, compareVersions, exportEnv, runCli, stagedVersions } from '../support/harness.js';

const COL = 'col_audio_transcripts';
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: 1500, seed: 41 });
});
afterAll(async () => server?.close());

/** Small pages and files: a run makes many requests (each slowed by the server's latency) and commits many files. */
const exportArgs = (d: TestDestination, extra: string[] = []) => [
  'export', '--collection', COL, '--dest', d.dest, '--safety-lag-seconds', '0', '--page-size', '150', '--max-rows-per-file', '400', '--reconcile-every-hours', '0', ...d.flags, ...extra,
];

/** The CLI's JSON log lines (stderr is not a TTY here). */
function events(result: CliResult, event: string): Record<string, unknown>[] {
  return result.stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => record.event === event);
}

async function expectExactlyOnce(d: TestDestination): Promise<void> {
  const cmp = compareVersions(server.currentVersions(COL), await stagedVersions(await localCopy(d, COL), COL));
  expect(cmp).toMatchObject({ duplicates: [], missing: [], unknown: [] });
  expect(cmp.staged).toBe(1500);
}

const destinations: [string, () => Promise<TestDestination>][] = [
  ['a folder', async () => fsDestination()],
  ['S3 (s3rver-plus: If-None-Match: * on the lease)', () => s3Destination(inject('s3Endpoint'))],
  ["Azure Blob (Azurite: ifNoneMatch '*' on the lease)", () => azureDestination(inject('azuriteConnectionString'))],
];

/**
 * Starts two runs together. The first to log `LeaseAcquired` is paused (SIGSTOP) on that line
 * until the other has exited, then continued: the other always meets a held lease, however
 * far apart the two processes' starts fall on a loaded machine (an observed log event, not
 * a timer, decides it). A paused process is alive, so its lease is not taken over as "gone".
 */
async function runTogether(args: string[], env: Record<string, string>): Promise<CliResult[]> {
  let paused: ChildProcess | null = null;
  let settled = false;
  const pauseHolder = (line: string, child: ChildProcess) => {
    if (!settled && paused === null && line.includes('"event":"LeaseAcquired"')) {
      paused = child;
      child.kill('SIGSTOP');
    }
  };
  const runs = [runCli(args, env, { onStderrLine: pauseHolder }), runCli(args, env, { onStderrLine: pauseHolder })];
  await Promise.race(runs); // only the run not paused can end
  settled = true;
  (paused as ChildProcess | null)?.kill('SIGCONT');
  return Promise.all(runs);
}

describe('two exports of the same collection to the same destination, started together', () => {
  // Each page takes 150 ms, so the first run holds the lease for seconds.
  beforeAll(() => server.setOptions({ latencyMs: 150 }));
  afterAll(() => server.setOptions({ latencyMs: 0 }));

  for (const [name, make] of destinations) {
    it(`on ${name}: one exports, the other exits 5 naming the lease holder and its expiry, and every version lands once`, async () => {
      const d = await make();
      const env = exportEnv(server.url, d.env);
      const results = await runTogether(exportArgs(d), env);
      expect(results.map((r) => r.code).sort(), results.map((r) => r.stdout + r.stderr.slice(-1500)).join('\n---\n')).toEqual([0, 5]);
      const winner = results.find((r) => r.code === 0) as CliResult;
      const loser = results.find((r) => r.code === 5) as CliResult;

      const [acquired] = events(winner, 'LeaseAcquired');
      const holder = acquired?.holder as string;
      expect(holder).toMatch(new RegExp(`^${hostname()}:\\d+:`));
      const message = /export failed \(exit 5\): (.*)/.exec(loser.stdout)?.[1] ?? '';
      expect(message).toContain(`${COL} is being exported by ${holder}`);
      const until = /until (\S+) \(in (\d+) s\)/.exec(message);
      expect(Date.parse(until?.[1] ?? '')).toBeGreaterThanOrEqual(Date.parse(acquired?.expires_at as string)); // renewals only push it later
      expect(events(loser, 'RunFailed')[0]).toMatchObject({ error_type: 'ERR_LEASE_HELD' });
      expect(events(loser, 'RunStarted')).toEqual([]);

      await expectExactlyOnce(d);
      const keys = [...(await d.objects()).keys()];
      expect(keys.filter((k) => k.includes('/_manifests/'))).toHaveLength(1); // the loser wrote nothing
      expect(keys).not.toContain(`${COL}/_state/lease.json`); // the winner released it
    });
  }
});

describe('a lease left by a SIGKILLed run', () => {
  const leaseFile = (d: TestDestination) => path.join(d.dest, COL, '_state', 'lease.json');
  const killedRun = async (d: TestDestination, extra: string[]) => {
    const killed = await runCli(exportArgs(d, extra), exportEnv(server.url, { MIXPEEK_EXPORT_TEST_CRASH_AT: 'intent-recorded:2' }));
    expect(killed.signal, killed.stderr.slice(-1500)).toBe('SIGKILL');
    return JSON.parse(readFileSync(leaseFile(d), 'utf8')) as { holder: string; host: string; pid: number; runId: string; expiresAt: string };
  };

  it('keeps re-runs out until it expires when it names another host, then is taken over with a LeaseTakenOver log line, and every version lands once', async () => {
    const d = fsDestination();
    const lease = await killedRun(d, []);
    // As a run on another pod or machine leaves it: its pid cannot be checked from here. The
    // test sets its expiry (an hour ahead, then just past) instead of waiting for a short TTL
    // to run out, so which side of the expiry each re-run falls on never depends on load.
    const foreign = { ...lease, host: 'exporter-7d9f4-pod-b', pid: 1, holder: `exporter-7d9f4-pod-b:1:${lease.runId}`, expiresAt: new Date(Date.now() + 3_600_000).toISOString() };
    writeFileSync(leaseFile(d), JSON.stringify(foreign));

    const early = await runCli(exportArgs(d), exportEnv(server.url));
    expect(early.code, early.stderr.slice(-1500)).toBe(5);
    expect(early.stdout).toContain(`is being exported by ${foreign.holder} until ${foreign.expiresAt}`);
    expect(Date.now()).toBeLessThan(Date.parse(foreign.expiresAt)); // it really ran before the expiry
    expect(JSON.parse(readFileSync(leaseFile(d), 'utf8'))).toEqual(foreign); // and left the lease alone

    // The same lease once its hour has passed: expired a second ago.
    const expired = { ...foreign, expiresAt: new Date(Date.now() - 1000).toISOString() };
    writeFileSync(leaseFile(d), JSON.stringify(expired));
    const late = await runCli(exportArgs(d), exportEnv(server.url));
    expect(late.code, late.stderr.slice(-1500)).toBe(0);
    expect(events(late, 'LeaseTakenOver')).toEqual([
      expect.objectContaining({ level: 'warn', collection_id: COL, reason: 'expired', previous_holder: foreign.holder, previous_run_id: foreign.runId, previous_expires_at: expired.expiresAt }),
    ]);
    expect(events(late, 'RunResumed')).toHaveLength(1);
    await expectExactlyOnce(d);
  });

  it('is taken over at once when it names a process on this host that is gone, and every version lands once', async () => {
    const d = fsDestination();
    const lease = await killedRun(d, []);
    expect(lease.host).toBe(hostname());
    expect(Date.parse(lease.expiresAt)).toBeGreaterThan(Date.now() + 60_000); // default TTL: far from expired

    const rerun = await runCli(exportArgs(d), exportEnv(server.url));
    expect(rerun.code, rerun.stderr.slice(-1500)).toBe(0);
    expect(events(rerun, 'LeaseTakenOver')).toEqual([expect.objectContaining({ reason: 'holder process is gone', previous_holder: lease.holder })]);
    await expectExactlyOnce(d);
  });
});
