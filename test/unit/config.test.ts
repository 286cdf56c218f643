import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseFlags } from '../../src/cli/flags.js';
import { loadSettings } from '../../src/config/load.js';
import { emptyCheckpoint } from '../../src/commit/checkpoint.js';
import { planWindow } from '../../src/run/window.js';

const env = { MIXPEEK_API_KEY: 'sk_test_x', MIXPEEK_NAMESPACE: 'ns_env', MIXPEEK_EXPORT_DEST: './staging' };
const file = (text: string) => {
  const p = path.join(mkdtempSync(path.join(tmpdir(), 'cfg-')), 'c.yaml');
  writeFileSync(p, text);
  return p;
};

describe('settings', () => {
  it('takes flags over env over the config file over defaults', () => {
    const configFile = file('namespace: ns_file\ntargetFileMb: 64\npageSize: 500\ncollections: [col_a]\n');
    const s = loadSettings({ flags: parseFlags(['--page-size', '200']).settings, env, configFile });
    expect(s).toMatchObject({ namespace: 'ns_env', targetFileMb: 64, pageSize: 200, collections: ['col_a'], format: 'parquet', safetyLagSeconds: 60 });
  });

  it('rejects an unknown config key with the nearest valid name', () => {
    const configFile = file('collections: [a]\ntargetFileMB: 64\n');
    expect(() => loadSettings({ flags: {}, env, configFile })).toThrow(/unknown setting "targetFileMB"; did you mean "targetFileMb"/);
  });

  it('rejects an unknown flag with the nearest valid flag', () => {
    expect(() => parseFlags(['--colection', 'x'])).toThrow(/unknown flag --colection; did you mean --collection/);
  });

  it('refuses an API key in a config file', () => {
    expect(() => loadSettings({ flags: {}, env, configFile: file('apiKey: sk_live_abc\n') })).toThrow(/MIXPEEK_API_KEY/);
  });

  it('names what is missing and how to set it', () => {
    expect(() => loadSettings({ flags: {}, env: {}, configFile: undefined })).toThrow(/apiKey is required: set MIXPEEK_API_KEY/);
  });

  it('validates ranges before any I/O', () => {
    expect(() => loadSettings({ flags: parseFlags(['--collection', 'a', '--page-size', '5000']).settings, env })).toThrow(/--page-size/);
    expect(() => parseFlags(['--target-file-mb', 'big'])).toThrow(/expected a number/);
  });

  it('refuses a plain-http API outside loopback unless allowed', () => {
    const flags = parseFlags(['--collection', 'a', '--base-url', 'http://api.example.com']).settings;
    expect(() => loadSettings({ flags, env })).toThrow(/^--base-url http:\/\/api.example.com is plain http/);
    expect(loadSettings({ flags: { ...flags, allowInsecureHttp: true }, env }).baseUrl).toBe('http://api.example.com');
    expect(loadSettings({ flags: { ...flags, baseUrl: 'http://127.0.0.1:9999' }, env }).baseUrl).toBe('http://127.0.0.1:9999');
  });
});

describe('choosing collections', () => {
  it('takes collections: all from a config file, MIXPEEK_EXPORT_COLLECTIONS=all or --all-collections', () => {
    expect(loadSettings({ flags: {}, env, configFile: file('collections: all\n') }).collections).toBe('all');
    expect(loadSettings({ flags: {}, env: { ...env, MIXPEEK_EXPORT_COLLECTIONS: 'all' } }).collections).toBe('all');
    expect(loadSettings({ flags: parseFlags(['--all-collections']).settings, env }).collections).toBe('all');
    expect(loadSettings({ flags: parseFlags(['--all-collections']).settings, env, configFile: file('collections: [col_a]\n') }).collections).toBe('all');
    expect(loadSettings({ flags: parseFlags(['--collection', 'col_b']).settings, env, configFile: file('collections: all\n') }).collections).toEqual(['col_b']);
  });

  it('refuses --collection together with --all-collections with exit 2, naming both', () => {
    expect(() => parseFlags(['--collection', 'col_a', '--all-collections'])).toThrow(
      expect.objectContaining({ exitCode: 2, message: expect.stringMatching(/--collection and --all-collections contradict each other/) }),
    );
    for (const command of ['reconcile', 'status', 'verify'] as const) {
      expect(() => parseFlags(['--all-collections', '--collection', 'col_a'], command), command).toThrow(/--collection and --all-collections contradict each other/);
    }
  });

  it('reads the exclusions from repeated --exclude-collection or a comma-separated MIXPEEK_EXPORT_EXCLUDE_COLLECTIONS, empty by default', () => {
    expect(loadSettings({ flags: { collections: 'all' }, env }).excludeCollections).toEqual([]);
    const flags = parseFlags(['--all-collections', '--exclude-collection', 'col_a', '--exclude-collection', 'col_b']).settings;
    expect(loadSettings({ flags, env }).excludeCollections).toEqual(['col_a', 'col_b']);
    expect(loadSettings({ flags: { collections: 'all' }, env: { ...env, MIXPEEK_EXPORT_EXCLUDE_COLLECTIONS: 'col_a, col_c' } }).excludeCollections).toEqual(['col_a', 'col_c']);
    expect(() => loadSettings({ flags: parseFlags(['--all-collections', '--exclude-collection', '../x']).settings, env })).toThrow(/--exclude-collection: collection id "\.\.\/x" is not a plain id/);
  });

  it('names both ways of choosing collections when none is given, and refuses another word than all', () => {
    expect(() => loadSettings({ flags: {}, env })).toThrow(/collections are required: pass --collection ID \(repeatable\) or --all-collections, or set MIXPEEK_EXPORT_COLLECTIONS/);
    expect(() => loadSettings({ flags: {}, env, configFile: file('collections: every\n') })).toThrow(/expected a list of collection ids, or "all" for every collection of the namespace/);
    expect(() => loadSettings({ flags: {}, env, configFile: file('collections: [col_a, "a/b"]\n') })).toThrow(/collection id "a\/b" is not a plain id/);
  });
});

describe('window planning', () => {
  const now = new Date('2026-11-21T12:00:00Z');
  const load = (flags: Record<string, unknown> = {}) => loadSettings({ flags: { collections: ['a'], ...flags }, env, now });
  const base = load();

  it('ends the window one safety lag before the start and begins at the checkpoint', () => {
    const cp = { ...emptyCheckpoint('a'), lastHi: '2026-11-21T11:00:00.000000Z' };
    expect(planWindow(base, cp, now)).toEqual({ lo: '2026-11-21T11:00:00.000000Z', hi: '2026-11-21T11:59:00.000000Z' });
  });

  it('starts at the beginning of time without a checkpoint', () => {
    expect(planWindow(base, emptyCheckpoint('a'), now)?.lo).toBeNull();
  });

  it('applies --since (ISO or span) and --until, and says when there is nothing new', () => {
    expect(planWindow(load({ since: '7d' }), emptyCheckpoint('a'), now)?.lo).toBe('2026-11-14T12:00:00.000000Z');
    expect(planWindow(load({ since: '2026-11-01', until: '2026-11-02' }), emptyCheckpoint('a'), now)).toEqual({ lo: '2026-11-01T00:00:00.000000Z', hi: '2026-11-02T00:00:00.000000Z' });
    expect(planWindow(load({ until: '2026-11-02' }), { ...emptyCheckpoint('a'), lastHi: '2026-11-03T00:00:00.000000Z' }, now)).toBeNull();
    expect(() => load({ since: 'last tuesday' })).toThrow(/--since "last tuesday" is not a time/);
  });

  it('does not export a resumed backfill window twice', () => {
    const cp = { ...emptyCheckpoint('a'), lastHi: '2026-11-21T11:00:00.000000Z' };
    expect(planWindow(load({ since: '2026-11-01' }), cp, now, '2026-11-01T00:00:00.000000Z')?.lo).toBe('2026-11-21T11:00:00.000000Z');
  });
});

describe('the example config file', () => {
  it('is valid as shipped', () => {
    const s = loadSettings({ flags: {}, env: { MIXPEEK_API_KEY: 'sk_test_x' }, configFile: path.join(__dirname, '../../config/example.yaml') });
    expect(s).toMatchObject({ namespace: 'ns_your_namespace', collections: ['col_video_frames', 'col_pdf_pages'], targetFileMb: 128 });
  });
});
