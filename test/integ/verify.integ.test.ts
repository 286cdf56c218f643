import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { openDestination } from '../../src/storage/index.js';
import { createBucket } from '../support/emulators/s3.js';
import { API_KEY, dataFiles, exportEnv, runCli } from '../support/harness.js';

const COL = 'col_pdf_pages';
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: 1200, seed: 41 });
});
afterAll(async () => server?.close());

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'mxp-verify-'));
/** No scheduled reconciliation (the first export of a destination would run one by default): these exports stage versions only. */
const exportArgs = (dest: string, extra: string[] = []) => ['export', '--collection', COL, '--dest', dest, '--safety-lag-seconds', '0', '--max-rows-per-file', '300', '--reconcile-every-hours', '0', ...extra];
const verifyArgs = (dest: string, extra: string[] = []) => ['verify', '--collection', COL, '--dest', dest, ...extra];

describe('the verify command', () => {
  it('exits 0 after real exports to a folder, with one line per check, and exits 6 naming each broken object', async () => {
    const dest = tempDir();
    const first = await runCli(exportArgs(dest), exportEnv(server.url));
    expect(first.code, first.stderr).toBe(0);
    server.mutate(COL, 20);
    const second = await runCli(exportArgs(dest, ['--format', 'ndjson', '--compression', 'zstd']), exportEnv(server.url));
    expect(second.code, second.stderr).toBe(0);

    const ok = await runCli(verifyArgs(dest), {});
    expect(ok.code, ok.stderr).toBe(0);
    const lines = ok.stdout.trim().split('\n');
    expect(lines[0]).toBe(`${COL} (${pathToFileURL(dest).href}/${COL}/)`);
    expect(lines.slice(1, -2).map((l) => l.trim().split(/\s+/).slice(0, 2).join(' '))).toEqual(['ok manifest:', 'ok manifest:', 'ok checkpoint:', 'ok orphans:', 'ok windows:']);
    expect(lines.at(-2)).toMatch(new RegExp(`^ {2}${COL}: consistent; checked 2 manifest\\(s\\), ${dataFiles(dest, COL).length} file\\(s\\), 1220 rows, \\d+\\.\\d MB$`));
    expect(lines.at(-1)).toBe('verify ok: 1 collection(s) consistent');

    const [parquet, secondParquet] = dataFiles(dest, COL).filter((f) => f.endsWith('.parquet'));
    const zst = dataFiles(dest, COL).find((f) => f.endsWith('.json.zst'))!;
    const bytes = readFileSync(parquet!);
    bytes[200] ^= 0xff; // same size, other bytes
    writeFileSync(parquet!, bytes);
    rmSync(secondParquet!);
    appendFileSync(zst, Buffer.from('x')); // one byte longer
    const orphan = path.join(path.dirname(parquet!), 'stray.parquet');
    writeFileSync(orphan, 'not parquet');

    const broken = await runCli(verifyArgs(dest), {});
    expect(broken.code, broken.stderr).toBe(6);
    const problems = broken.stdout.split('\n').filter((l) => l.startsWith('  PROBLEM'));
    expect(problems).toHaveLength(4);
    expect(problems[0]).toContain(`PROBLEM file: ${pathToFileURL(parquet!).href}: sha256 `);
    expect(problems.join('\n')).toContain(`${pathToFileURL(secondParquet!).href} is listed by manifest`);
    expect(problems.join('\n')).toContain(`${pathToFileURL(zst).href} has ${readFileSync(zst).length} bytes but manifest`);
    expect(problems.at(-1)).toContain(`PROBLEM orphans: ${pathToFileURL(orphan).href} (11 bytes) is in no manifest`);
    expect(broken.stdout.trim().split('\n').at(-1)).toBe('verify failed: 4 problem(s) in 1 of 1 collection(s) (exit 6)');

    const json = await runCli(verifyArgs(dest, ['--json']), {});
    expect(json.code).toBe(6);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({ consistent: false, problems: 4, collections: [{ collectionId: COL, consistent: false }] });
    expect(report.collections[0].findings.filter((f: { severity: string }) => f.severity === 'problem').map((f: { check: string }) => f.check)).toEqual(['file', 'file', 'file', 'orphans']);
  });

  it('exits 0 with "nothing exported yet", 2 for bad flags, and never prints a secret', async () => {
    const dest = tempDir();
    const env = { MIXPEEK_API_KEY: API_KEY, AZURE_STORAGE_KEY: 'c2VjcmV0LWF6dXJlLWtleQ==' };
    const empty = await runCli(verifyArgs(dest), env);
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stdout).toContain(`${COL}: nothing exported yet; checked 0 manifest(s)`);
    const noDest = await runCli(['verify', '--collection', COL], env);
    expect(noDest.code).toBe(2);
    expect(noDest.stderr).toContain('dest is required');
    const badId = await runCli(['verify', '--collection', '../x', '--dest', dest], env);
    expect(badId.code).toBe(2);
    for (const out of [empty, noDest, badId].flatMap((r) => [r.stdout, r.stderr])) {
      expect(out).not.toContain(API_KEY);
      expect(out).not.toContain(env.AZURE_STORAGE_KEY);
    }
  });

  it('verifies through the S3 driver: 0 after an export, 6 after an object changes, 4 when the bucket is missing', async () => {
    const endpoint = inject('s3Endpoint');
    const bucket = `v${Math.random().toString(36).slice(2, 10)}`;
    await createBucket(endpoint, bucket);
    const dest = `s3://${bucket}/exports`;
    const flags = ['--s3-endpoint', endpoint, '--s3-force-path-style', '--s3-region', 'us-east-1'];
    const env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
    const exported = await runCli(exportArgs(dest, [...flags, '--upload-part-mb', '0.25', '--s3-min-part-mb', '0.0625']), exportEnv(server.url, env));
    expect(exported.code, exported.stderr.slice(-2000)).toBe(0);

    const ok = await runCli(verifyArgs(dest, flags), env);
    expect(ok.code, ok.stderr + ok.stdout).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`ok {6}manifest: s3://${bucket}/exports/${COL}/_manifests/`));

    Object.assign(process.env, env); // the SDK's default chain, for the test's own driver
    const driver = await openDestination(dest, { s3Endpoint: endpoint, s3ForcePathStyle: true, s3Region: 'us-east-1' });
    let victim = '';
    for await (const info of driver.list(`${COL}/data/`)) victim ||= info.key;
    const body = (await driver.read(victim))!;
    body.body[50] ^= 0xff;
    await driver.writeIf(victim, body.body, { ifMatch: body.etag });
    await driver.close?.();

    const broken = await runCli(verifyArgs(dest, flags), env);
    expect(broken.code).toBe(6);
    expect(broken.stdout).toContain(`PROBLEM file: s3://${bucket}/exports/${victim}: sha256 `);

    const missing = await runCli(verifyArgs(`s3://${bucket}-missing/exports`, flags), env);
    expect(missing.code, missing.stdout + missing.stderr).toBe(4);
    expect(missing.stderr).toMatch(/\[s3\]/);
  });

  it('counts the tombstones of a real reconciliation after deletions, and reports the last reconciliation and its snapshot', async () => {
    const dest = tempDir();
    const first = await runCli(exportArgs(dest), exportEnv(server.url));
    expect(first.code, first.stderr).toBe(0);
    const deleted = server.delete(COL, 25);
    const reconciled = await runCli(['reconcile', '--collection', COL, '--dest', dest, '--safety-lag-seconds', '0', '--max-rows-per-file', '10'], exportEnv(server.url));
    expect(reconciled.code, reconciled.stderr).toBe(0);

    const text = await runCli(verifyArgs(dest), {});
    expect(text.code, text.stdout).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines.filter((l) => l.includes(' tombstones: '))).toEqual([
      expect.stringMatching(/^ {2}ok {6}tombstones: reconcile manifest .*: reconciliation at \S+: \d+ ids listed, 25 tombstones, all rows _deleted = true, its window \[T, T\) empty$/),
      expect.stringMatching(/^ {2}ok {6}tombstones: last reconciliation \S+ at \S+ \(finished \S+\): \d+ ids listed, 25 tombstones; its snapshot file:.*snapshot-.*\.json\.gz exists$/),
    ]);
    expect(lines.at(-2)).toMatch(/; 25 tombstone\(s\) in reconcile runs$/);

    const json = JSON.parse((await runCli(verifyArgs(dest, ['--json']), {})).stdout);
    const [report] = json.collections;
    expect(report).toMatchObject({ consistent: true, tombstones: 25, lastReconcile: { tombstones: 25, idsListed: [...server.currentVersions(COL)].length, snapshotExists: true } });
    expect(deleted).toHaveLength(25);
  });
});
