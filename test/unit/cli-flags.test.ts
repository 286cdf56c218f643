/**
 * Each command's flags: one loader with a subset of the schema per command, help derived
 * from the schema (allowed values and defaults), and the export summary's counts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandUsage, usage } from '../../src/cli/commands/help.js';
import { summary } from '../../src/cli/commands/export.js';
import { flagHelp, parseFlags } from '../../src/cli/flags.js';
import { TtyProgress } from '../../src/cli/output.js';
import { loadDdlSettings, loadSettings, loadStorageSettings } from '../../src/config/load.js';
import { AbortedError } from '../../src/errors.js';

const env = { MIXPEEK_API_KEY: 'sk_test_x', MIXPEEK_NAMESPACE: 'ns_env' };

describe('flags per command', () => {
  it('refuses a flag the command does not take with exit 2, naming the command', () => {
    for (const [command, argv] of [
      ['status', ['--vectors']],
      ['verify', ['--page-size', '10']],
      ['ddl', ['--since', '24h']],
      ['export', ['--json']],
    ] as const) {
      expect(() => parseFlags([...argv], command), command).toThrow(expect.objectContaining({ exitCode: 2, message: expect.stringContaining(`${command} does not take --${argv[0].slice(2)}`) }));
    }
  });

  it('refuses the same through the loader, for a library caller that skips the flag parser', () => {
    expect(() => loadStorageSettings('status', { flags: { dest: '/tmp/x', collections: ['a'], vectors: true }, env })).toThrow(/status does not take --vectors/);
  });

  it('gives status and verify --all-collections and --exclude-collection, and requires the API key and namespace only with all', () => {
    for (const command of ['status', 'verify'] as const) {
      expect(flagHelp(command)).toMatch(/--all-collections\s+every collection of the namespace \(collections: all\), instead of --collection/);
      expect(flagHelp(command)).toContain('--exclude-collection <id>');
      const flags = parseFlags(['--dest', 's3://acme/p', '--all-collections', '--exclude-collection', 'col_b'], command).settings;
      expect(() => loadStorageSettings(command, { flags, env: {} })).toThrow(expect.objectContaining({ exitCode: 2, message: expect.stringContaining(`${command} --all-collections lists the namespace's collections through the Mixpeek API: set MIXPEEK_API_KEY`) }));
      expect(() => loadStorageSettings(command, { flags, env: { MIXPEEK_API_KEY: 'sk_x' } })).toThrow(/set MIXPEEK_NAMESPACE or pass --namespace/);
      expect(() => loadStorageSettings(command, { flags: { ...flags, baseUrl: 'http://api.example.com' }, env })).toThrow(/--base-url http:\/\/api\.example\.com is plain http/);
      expect(loadStorageSettings(command, { flags, env })).toMatchObject({ collections: 'all', excludeCollections: ['col_b'], apiKey: 'sk_test_x', namespace: 'ns_env' });
    }
  });

  it('leaves the API settings out of status and verify when the collections are given as ids', () => {
    const settings = loadStorageSettings('status', { flags: { dest: '/tmp/x', collections: ['col_a'], namespace: 'ns_flag' }, env });
    expect(settings).not.toHaveProperty('apiKey');
    expect(settings).not.toHaveProperty('namespace');
    expect(settings.collections).toEqual(['col_a']);
  });

  it('loads status and verify without an API key, reading only their subset of a shared config file', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'cli-flags-')), 'c.yaml');
    writeFileSync(file, 'namespace: ns_file\ncollections: [col_a]\ndest: s3://acme/p\ntargetFileMb: 64\ns3Region: eu-west-1\n');
    const settings = loadStorageSettings('verify', { flags: {}, env: { AZURE_STORAGE_KEY: 'k3y-value' }, configFile: file });
    expect(settings).toEqual({
      dest: 's3://acme/p', collections: ['col_a'], s3Region: 'eu-west-1', s3ForcePathStyle: false, azureAccountKey: 'k3y-value', destination: { kind: 's3', bucket: 'acme', prefix: 'p' },
    });
    writeFileSync(file, 'collections: [col_a]\ndest: s3://acme/p\npageSise: 10\n');
    expect(() => loadStorageSettings('status', { flags: {}, env: {}, configFile: file })).toThrow(/unknown setting "pageSise"; did you mean "pageSize"/);
    expect(() => loadStorageSettings('status', { flags: { collections: ['a'] }, env: {} })).toThrow(/dest is required: pass --dest URL or set MIXPEEK_EXPORT_DEST/);
  });

  it('resolves once: the codec in force, the parsed range and the parsed destination', () => {
    const now = new Date('2026-11-21T12:00:00Z');
    const s = loadSettings({ flags: { collections: ['a'], dest: 'abfss://raw@acme.dfs.core.windows.net/x', format: 'ndjson', since: '24h' }, env, now });
    expect(s.compression).toBe('gzip');
    expect(s.range).toEqual({ since: '2026-11-20T12:00:00.000000Z', until: null, shard: null });
    expect(s.destination).toMatchObject({ kind: 'azure', container: 'raw', account: 'acme' });
    expect(s.since).toBe('24h'); // the setting as given stays, for messages
    expect(() => loadSettings({ flags: { collections: ['a'], dest: '/tmp/x', format: 'ndjson', compression: 'snappy' }, env })).toThrow(/--compression snappy: compression "snappy" is not valid for ndjson/);
    expect(loadDdlSettings({ flags: { collections: ['a'], dest: 's3://b/p', format: 'parquet' }, env: {} }).compression).toBe('zstd');
  });
});

describe('help', () => {
  it('lists the commands at the top level', () => {
    for (const command of ['export', 'status', 'verify', 'ddl']) expect(usage()).toContain(`mixpeek-export ${command} [flags]`);
    expect(usage()).toContain('Exit codes:');
  });

  it("prints a command's flags only, each with its allowed values and default", () => {
    const exportHelp = commandUsage('export');
    expect(exportHelp).toMatch(/--format parquet\|ndjson\s+file format \(default parquet\)/);
    expect(exportHelp).toMatch(/--compression zstd\|snappy\|gzip\|none\s/);
    expect(exportHelp).toMatch(/--page-size <n>\s+.*\(default 1000\)/);
    expect(exportHelp).toMatch(/--log-level debug\|info\|warn\|error\s+log level \(default info\)/);
    const status = flagHelp('status');
    expect(status).toContain('--dest <value>');
    expect(status).toContain('--s3-endpoint <value>');
    expect(status).toContain('--json');
    expect(status).not.toContain('--vectors');
    expect(status).not.toContain('--format');
    const ddl = commandUsage('ddl');
    expect(ddl).toContain('--target <value>');
    expect(ddl).toMatch(/--format parquet\|ndjson/);
    expect(ddl).not.toContain('--page-size');
  });
});

describe('the export summary', () => {
  it('counts the files and rows that were published, also when the run was interrupted before any run completed', () => {
    const progress = new TtyProgress(null);
    for (let seq = 0; seq < 9; seq++) progress.filePublished({ key: `k${seq}`, seq, rows: 100, bytes: 2_000_000, sha256: '', endPosition: null } as never);
    const line = summary({ collections: ['col_a'], dest: '/tmp/x' }, { collections: [], error: new AbortedError('the run was interrupted', 'SIGTERM') }, progress);
    expect(line).toMatch(/^export failed \(exit 143\): the run was interrupted; 1 collection\(s\), 0 run\(s\), 9 files, 900 rows, 18\.0 MB, /);
  });

  it('counts the collections the run chose with --all-collections, and says plainly when there were none', () => {
    const progress = new TtyProgress(null);
    const listed = summary({ collections: 'all', dest: '/tmp/x' }, { collections: [], collectionIds: ['col_a', 'col_b'] }, progress);
    expect(listed).toMatch(/^export ok, nothing new; 2 collection\(s\), 0 run\(s\)/);
    const none = summary({ collections: 'all', dest: '/tmp/x' }, { collections: [], collectionIds: [] }, progress);
    expect(none).toBe('export ok, nothing to do: no collections in the namespace (after exclusions); nothing written to /tmp/x');
  });
});
