import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseFlags } from '../../src/cli/flags.js';
import { loadSettings } from '../../src/config/load.js';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { createLogger, makeRedactor } from '../../src/util/log.js';
import { AZURITE_ACCOUNT } from '../support/emulators/azurite.js';
import { azureDestination, filesUnder, fsDestination, s3Destination, type TestDestination } from '../support/destinations.js';
import { readCheckpointBytes } from '../support/checkpoint.js';
import { type CliResult, exportEnv, REPO, runCli } from '../support/harness.js';

/**
 * Secrets never appear in output or at the destination (DESIGN.md §7). Every value is random
 * per test run, so a match anywhere is a leak, not a coincidence. The CLI runs are searched:
 * stdout, stderr (the JSON log), and every byte of every object under the destination
 * (data, manifests, checkpoint, lease, temp and lock files), with data written uncompressed
 * so that a secret inside a row would be seen.
 */
const SECRETS = {
  'API key': `sk_live_${randomBytes(24).toString('hex')}`,
  'rejected API key': `sk_live_${randomBytes(24).toString('hex')}`,
  'demo API key': `sk_demo_${randomBytes(24).toString('hex')}`,
  'AWS secret access key': randomBytes(30).toString('base64'),
  'AWS session token': randomBytes(96).toString('base64'),
  'Azure account key': randomBytes(64).toString('base64'),
  'SAS signature': randomBytes(32).toString('base64'),
};

/** The forms a secret could leak in: as is, URL-encoded, base64-encoded, and for a base64 key its raw bytes. */
function leakForms(secret: string): [string, Buffer][] {
  const forms: [string, Buffer][] = [
    ['as is', Buffer.from(secret)],
    ['URL-encoded', Buffer.from(encodeURIComponent(secret))],
    ['base64', Buffer.from(Buffer.from(secret).toString('base64'))],
  ];
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(secret) && secret.length % 4 === 0) forms.push(['decoded bytes', Buffer.from(secret, 'base64')]);
  return forms;
}

/** `<secret> (<form>) in <place>` for every secret found in any place. */
function leaks(places: Map<string, Buffer>): string[] {
  const found: string[] = [];
  for (const [name, secret] of Object.entries(SECRETS)) {
    for (const [form, needle] of leakForms(secret)) {
      for (const [place, bytes] of places) if (bytes.includes(needle)) found.push(`${name} (${form}) in ${place}`);
    }
  }
  return found;
}

/** Both streams of each CLI run, and every object under each destination given. */
async function everything(runs: Record<string, CliResult>, destinations: TestDestination[] = []): Promise<Map<string, Buffer>> {
  const places = new Map<string, Buffer>();
  for (const [name, run] of Object.entries(runs)) {
    places.set(`stdout of ${name}`, Buffer.from(run.stdout));
    places.set(`stderr of ${name}`, Buffer.from(run.stderr));
  }
  for (const d of destinations) for (const [key, body] of await d.objects()) places.set(`${d.name} ${key}`, body);
  return places;
}

const COL = 'col_audio_transcripts';

/**
 * An Azure connection string from its parts. Every credential in this file is made up at run
 * time (SECRETS) or is a fixed dummy; building them from parts keeps credential-shaped
 * literals out of the source.
 */
const connectionString = (parts: Record<string, string>) => Object.entries(parts).map(([k, v]) => `${k}=${v}`).join(';');
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: 1200, seed: 53, apiKey: SECRETS['API key'] });
});
afterAll(async () => server?.close());

const env = (extra: Record<string, string> = {}) => exportEnv(server.url, { MIXPEEK_API_KEY: SECRETS['API key'], ...extra });
const exportArgs = (d: TestDestination, extra: string[] = []) => [
  'export', '--collection', COL, '--dest', d.dest, '--safety-lag-seconds', '0', '--max-rows-per-file', '300', '--compression', 'none', ...d.flags, ...extra,
];
/** A run SIGKILLed after its second file: it leaves its lease, and a checkpoint with an active run. */
const CRASH = { MIXPEEK_EXPORT_TEST_CRASH_AT: 'checkpoint-advanced:2' };

describe('secrets', () => {
  it('are found by the search in every form it looks for, so an empty result means something', () => {
    for (const [name, secret] of Object.entries(SECRETS)) {
      for (const [form, needle] of leakForms(secret)) {
        const place = Buffer.concat([Buffer.from('{"message":"'), needle, Buffer.from('"}')]);
        expect(leaks(new Map([['a probe', place]]))).toContain(`${name} (${form}) in a probe`);
      }
    }
  });

  it('are redacted by the log even with JSON-special characters in them, and SAS signatures, account keys and bearer tokens by their shape', () => {
    const lines: string[] = [];
    const logger = createLogger((record) => lines.push(JSON.stringify(record)), { redact: makeRedactor(['pa"ss\\word-4f1c']) });
    logger.error('RunFailed', {
      message: 'key pa"ss\\word-4f1c rejected by https://acct.blob.core.windows.net/c/k?sv=2021-08-06&sig=Ab%2Bcd%3D&se=2099',
      // Dummies: base64 of "foobarbaz" as the account key, a three-part token as the bearer.
      detail: { connection: connectionString({ AccountName: 'acct', AccountKey: Buffer.from('foobarbaz').toString('base64'), BlobEndpoint: 'http://x' }), header: `Authorization: Bearer ${['eyJhbGciOiJSUzI1NiJ9', 'e30', 'c2ln'].join('.')}` },
    });
    const record = JSON.parse(lines[0] as string);
    expect(record.message).toBe('key *** rejected by https://acct.blob.core.windows.net/c/k?sv=2021-08-06&sig=***&se=2099');
    expect(record.detail).toEqual({ connection: 'AccountName=acct;AccountKey=***;BlobEndpoint=http://x', header: 'Authorization: Bearer ***' });
  });

  it('npm run demo (into a temp folder) prints, logs and stages no API key', async () => {
    const staging = path.join(mkdtempSync(path.join(tmpdir(), 'mxp-demo-')), 'staging');
    const logs = mkdtempSync(path.join(tmpdir(), 'mxp-demo-logs-'));
    const demoEnv = { PATH: process.env.PATH, HOME: process.env.HOME, MIXPEEK_DEMO_DIR: staging, MIXPEEK_DEMO_LOG_DIR: logs, MIXPEEK_DEMO_API_KEY: SECRETS['demo API key'] };
    const demo = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(REPO, 'scripts/demo.ts')], { cwd: REPO, env: demoEnv, maxBuffer: 16 << 20 });
    expect(demo.stdout).toMatch(/col_pdf_pages: 2000 rows, 2000 distinct documents/);
    expect(readFileSync(path.join(logs, 'col_video_frames.log'), 'utf8')).toContain('"event":"RunCompleted"'); // the logs were kept
    const places = await everything({ demo: { code: 0, signal: null, stdout: demo.stdout, stderr: demo.stderr } });
    for (const [key, body] of filesUnder(staging)) places.set(`staging ${key}`, body);
    for (const [key, body] of filesUnder(logs)) places.set(`log ${key}`, body);
    expect(leaks(places)).toEqual([]);
  });

  it('an export with a rejected API key exits 3 with the API message, a missing collection exits 3, the checkpoint stays as it was, and no key is printed or stored', async () => {
    const d = fsDestination();
    const killed = await runCli(exportArgs(d, ['--format', 'ndjson']), env(CRASH));
    expect(killed.signal, killed.stderr.slice(-1500)).toBe('SIGKILL');
    expect(existsSync(path.join(d.dest, COL, '_state', 'lease.json'))).toBe(true);
    expect(leaks(await everything({ 'the killed run': killed }, [d]))).toEqual([]);

    const ok = await runCli(exportArgs(d, ['--format', 'ndjson']), env());
    expect(ok.code, ok.stderr.slice(-1500)).toBe(0);
    const checkpoint = await readCheckpointBytes(d.dest, COL);
    expect(checkpoint).not.toBeNull();
    const denied = await runCli(exportArgs(d), env({ MIXPEEK_API_KEY: SECRETS['rejected API key'] }));
    expect(denied.code).toBe(3);
    expect(denied.stdout).toMatch(/HTTP 401: UnauthorizedError: Invalid or missing API key; check MIXPEEK_API_KEY/);
    const notFound = await runCli(['export', '--collection', 'col_nope', '--dest', d.dest, '--safety-lag-seconds', '0'], env());
    expect(notFound.code).toBe(3);
    expect(notFound.stderr).toMatch(/Collection not found/);
    expect(await readCheckpointBytes(d.dest, COL)).toEqual(checkpoint);
    expect(leaks(await everything({ 'the finished run': ok, 'the run with a rejected key': denied, 'the run on a missing collection': notFound }, [d]))).toEqual([]);
  });

  it('an S3 export with a wrong secret key and a session token prints and stores neither (s3rver-plus checks the key id but not SigV4 signatures, so this export succeeds)', async () => {
    const d = await s3Destination(inject('s3Endpoint'));
    const awsEnv = env({ ...d.env, AWS_SECRET_ACCESS_KEY: SECRETS['AWS secret access key'], AWS_SESSION_TOKEN: SECRETS['AWS session token'] });
    const killed = await runCli(exportArgs(d), { ...awsEnv, ...CRASH });
    expect(killed.signal, killed.stderr.slice(-1500)).toBe('SIGKILL');
    expect((await d.objects()).has(`${COL}/_state/lease.json`)).toBe(true);
    expect(leaks(await everything({ 'the killed run': killed }, [d]))).toEqual([]);
    const finished = await runCli(exportArgs(d), awsEnv);
    expect(finished.code, finished.stderr.slice(-1500)).toBe(0);
    expect(leaks(await everything({ 'the finished run': finished }, [d]))).toEqual([]);
  });

  it('an S3 export with an access key id the endpoint does not know exits 4, says so, and prints no secret', async () => {
    const d = await s3Destination(inject('s3Endpoint'));
    const denied = await runCli(exportArgs(d), env({ ...d.env, AWS_ACCESS_KEY_ID: 'MXP-UNKNOWN-TEST-KEY-ID', AWS_SECRET_ACCESS_KEY: SECRETS['AWS secret access key'] }));
    expect(denied.code, denied.stderr.slice(-1500)).toBe(4);
    expect(denied.stdout).toMatch(/InvalidAccessKeyId/);
    expect(leaks(await everything({ 'the denied run': denied }, [d]))).toEqual([]);
  });

  it('an Azure export with a wrong AccountKey in AZURE_STORAGE_CONNECTION_STRING exits 4, writes nothing and prints no key', async () => {
    const d = await azureDestination(inject('azuriteConnectionString'));
    const accountUrl = inject('azuriteAccountUrl');
    const wrong = connectionString({ DefaultEndpointsProtocol: 'http', AccountName: AZURITE_ACCOUNT, AccountKey: SECRETS['Azure account key'], BlobEndpoint: accountUrl });
    const denied = await runCli(exportArgs(d), env({ AZURE_STORAGE_CONNECTION_STRING: wrong }));
    expect(denied.code, denied.stderr.slice(-1500)).toBe(4);
    expect(denied.stdout).toMatch(/\[azure\].*(AuthorizationFailure|AuthenticationFailed|403)/);
    expect([...(await d.objects()).keys()]).toEqual([]);
    expect(leaks(await everything({ 'the denied run': denied }, [d]))).toEqual([]);
  });

  it('an Azure export with a forged SAS in AZURE_STORAGE_CONNECTION_STRING exits 4, writes nothing and prints no signature', async () => {
    const d = await azureDestination(inject('azuriteConnectionString'));
    const sas = `sv=2021-08-06&ss=b&srt=sco&sp=rwdlac&st=2020-01-01T00:00:00Z&se=2099-01-01T00:00:00Z&spr=https,http&sig=${encodeURIComponent(SECRETS['SAS signature'])}`;
    const denied = await runCli(exportArgs(d), env({ AZURE_STORAGE_CONNECTION_STRING: connectionString({ BlobEndpoint: inject('azuriteAccountUrl'), SharedAccessSignature: sas }) }));
    expect(denied.code, denied.stderr.slice(-1500)).toBe(4);
    expect(denied.stdout).toMatch(/\[azure\].*(AuthorizationFailure|AuthenticationFailed|403)/);
    expect([...(await d.objects()).keys()]).toEqual([]);
    expect(leaks(await everything({ 'the denied run': denied }, [d]))).toEqual([]);
  });
});

describe('a plain-http MIXPEEK_BASE_URL', () => {
  /**
   * Loaded into the CLI with NODE_OPTIONS: any TCP connection or DNS lookup is reported on
   * stderr and fails, so "no traffic was sent" is observed, not assumed. Unix sockets are
   * let through (tsx talks to its own pipe).
   */
  let networkGuard: string;
  beforeAll(() => {
    networkGuard = path.join(mkdtempSync(path.join(tmpdir(), 'mxp-guard-')), 'no-network.mjs');
    writeFileSync(
      networkGuard,
      `import dns from 'node:dns';
import net from 'node:net';
const refuse = (what) => { process.stderr.write('NETWORK_USE_REFUSED ' + what + '\\n'); throw new Error('network use refused by the test: ' + what); };
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const options = Array.isArray(args[0]) ? args[0][0] : args[0];
  if (typeof options === 'string' || options?.path) return connect.apply(this, args);
  refuse('connect ' + options?.host + ':' + options?.port);
};
dns.lookup = () => refuse('dns.lookup');
dns.promises.lookup = async () => refuse('dns.promises.lookup');
`,
    );
  });
  const guarded = (baseUrl: string) => env({ MIXPEEK_BASE_URL: baseUrl, NODE_OPTIONS: `--import ${networkGuard}` });

  it('to a host that is not loopback is refused at config time with exit 2 naming --allow-insecure-http, before any I/O', async () => {
    const d = fsDestination();
    const dest = path.join(d.dest, 'never-created');
    const refused = await runCli(['export', '--collection', COL, '--dest', dest], guarded('http://mixpeek.example.com'));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/http:\/\/mixpeek\.example\.com is plain http.*--allow-insecure-http/);
    expect(refused.stderr).not.toContain('NETWORK_USE_REFUSED');
    expect(refused.stderr).not.toContain('"event"'); // refused before the run (and its logger) started
    expect(existsSync(dest)).toBe(false);
    // The guard does catch a connection: the same CLI against the dev server.
    const control = await runCli(['export', '--collection', COL, '--dest', dest, '--max-retries', '0'], guarded(server.url));
    expect(control.stderr).toContain('NETWORK_USE_REFUSED connect');
  });

  it('is accepted with --allow-insecure-http: by the config loader for any host, and end to end for loopback written as an IPv4-mapped IPv6 address', async () => {
    // No traffic may leave this machine, so a real non-loopback host is checked only at the
    // config-loading level (flags parsed as the CLI parses them, then loadSettings).
    const settingsEnv = { MIXPEEK_API_KEY: 'k', MIXPEEK_NAMESPACE: 'ns', MIXPEEK_BASE_URL: 'http://mixpeek.example.com' };
    const load = (argv: string[]) => () => loadSettings({ flags: parseFlags(argv).settings, env: settingsEnv });
    expect(load(['--collection', COL, '--dest', '/tmp/x'])).toThrow(/--allow-insecure-http/);
    expect(load(['--collection', COL, '--dest', '/tmp/x', '--allow-insecure-http'])()).toMatchObject({ baseUrl: 'http://mixpeek.example.com', allowInsecureHttp: true });
    // End to end: [::ffff:127.0.0.1] is this machine, but the loopback check does not
    // recognise that spelling, so it stands in for a remote host without leaving the machine.
    const mapped = server.url.replace('127.0.0.1', '[::ffff:127.0.0.1]');
    const d = fsDestination();
    const refused = await runCli(['export', '--collection', COL, '--dest', d.dest, '--dry-run'], env({ MIXPEEK_BASE_URL: mapped }));
    expect(refused.code).toBe(2);
    const allowed = await runCli(['export', '--collection', COL, '--dest', d.dest, '--dry-run', '--allow-insecure-http'], env({ MIXPEEK_BASE_URL: mapped }));
    expect(allowed.code, allowed.stderr.slice(-1500)).toBe(0);
    expect(allowed.stdout).toMatch(/^dry run col_audio_transcripts: .* 1200 documents/);
  });
});
