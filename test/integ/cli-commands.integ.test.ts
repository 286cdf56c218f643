/**
 * The thin CLI, as a user runs it: one file per command, each with its own flags and help,
 * "did you mean" for a mistyped command, and a summary that counts what was published even
 * when the run is interrupted.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/index.js';
import { exportEnv, runCli } from '../support/harness.js';

const COL = 'col_audio_transcripts';
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer({ documentsPerCollection: 2000, seed: 41 });
});
afterAll(async () => server?.close());

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'mxp-cli-commands-'));

describe('mixpeek-export commands', () => {
  it('suggests the nearest command for a mistyped one, with exit 2', async () => {
    const typo = await runCli(['exprot', '--collection', COL], {});
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('unknown command "exprot"; did you mean "export"?');
    const verify = await runCli(['verfiy'], {});
    expect(verify.stderr).toContain('did you mean "verify"?');
  });

  it('prints the commands for --help, and for <command> --help only that command\'s flags with values and defaults, exit 0', async () => {
    const top = await runCli(['--help'], {});
    expect(top.code).toBe(0);
    for (const command of ['export', 'status', 'verify', 'ddl']) expect(top.stdout).toContain(`mixpeek-export ${command} [flags]`);
    const exportHelp = await runCli(['export', '--help'], {});
    expect(exportHelp.code).toBe(0);
    expect(exportHelp.stdout).toMatch(/--format parquet\|ndjson\s+file format \(default parquet\)/);
    expect(exportHelp.stdout).not.toContain('--json');
    const status = await runCli(['status', '--help'], {});
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('--dest <value>');
    expect(status.stdout).toContain('--json');
    expect(status.stdout).not.toMatch(/--vectors|--format|--page-size/);
    const ddl = await runCli(['ddl', '--help'], {});
    expect(ddl.code).toBe(0);
    expect(ddl.stdout).toContain('--target <value>');
    expect(ddl.stdout).not.toContain('--page-size');
  });

  it('refuses a flag the command does not take, naming the command, with exit 2 and before any I/O', async () => {
    const dest = tempDir();
    const status = await runCli(['status', '--dest', dest, '--collection', COL, '--vectors'], {});
    expect(status.code).toBe(2);
    expect(status.stderr).toContain('status does not take --vectors; see mixpeek-export status --help');
    const verify = await runCli(['verify', '--dest', dest, '--collection', COL, '--page-size', '10'], {});
    expect(verify.code).toBe(2);
    expect(verify.stderr).toContain('verify does not take --page-size');
    const ddl = await runCli(['ddl', '--target', 'snowflake', '--dest', 's3://b/p', '--collection', COL, '--since', '24h'], {});
    expect(ddl.code).toBe(2);
    expect(ddl.stderr).toContain('ddl does not take --since');
  });

  it('lets status and verify read the same config file as export', async () => {
    const dest = tempDir();
    const config = path.join(tempDir(), 'shared.yaml');
    writeFileSync(config, `collections: [${COL}]\ndest: ${dest}\nsafetyLagSeconds: 0\npageSize: 500\nformat: ndjson\n`);
    const exported = await runCli(['export', '--config', config], exportEnv(server.url));
    expect(exported.code, exported.stderr).toBe(0);
    const status = await runCli(['status', '--config', config, '--json'], {});
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)[0]).toMatchObject({ collection_id: COL, interrupted_run: null, last_run: { rows: 2000 } });
    const verify = await runCli(['verify', '--config', config], {});
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it('counts the files and rows it published in the summary after SIGTERM, as status reports them', async () => {
    const dest = tempDir();
    // Small files and slow pages: the run is still paging when the third file is published.
    server.setOptions({ latencyMs: 100 });
    let interrupted;
    try {
      interrupted = await runCli(['export', '--collection', COL, '--dest', dest, '--safety-lag-seconds', '0', '--page-size', '50', '--max-rows-per-file', '100'], exportEnv(server.url), {
        killOnMatch: /"event":"FilePublished"/,
        killOnMatchNth: 3,
        signal: 'SIGTERM',
      });
    } finally {
      server.setOptions({ latencyMs: 0 });
    }
    expect(interrupted.code, interrupted.stderr.slice(-2000)).toBe(143);
    const published = interrupted.stderr
      .split('\n')
      .filter((line) => line.includes('"event":"FilePublished"'))
      .map((line) => JSON.parse(line) as { rows: number });
    expect(published.length).toBeGreaterThanOrEqual(3);
    const rows = published.reduce((n, p) => n + p.rows, 0);
    expect(interrupted.stdout).toMatch(new RegExp(`^export failed \\(exit 143\\): .*; 1 collection\\(s\\), 0 run\\(s\\), ${published.length} files, ${rows} rows, `));
    const status = await runCli(['status', '--dest', dest, '--collection', COL, '--json'], {});
    expect(JSON.parse(status.stdout)[0].interrupted_run).toMatchObject({ files: published.length, rows });
  });
});
