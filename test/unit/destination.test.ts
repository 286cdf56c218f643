/**
 * `parseDestination`, the one SDK-free parser of `--dest` that storage, ddl and metrics
 * share, and the layering it allows: ddl and metrics parse URLs without a cloud SDK.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { settingsSchema } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { DEST_FORMS, parseDestination } from '../../src/storage/destination.js';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('parseDestination', () => {
  it('parses every form --dest accepts into its parts', () => {
    expect(parseDestination('s3://acme-lake/mixpeek/exports/')).toEqual({ kind: 's3', bucket: 'acme-lake', prefix: 'mixpeek/exports' });
    expect(parseDestination('s3://acme-lake')).toEqual({ kind: 's3', bucket: 'acme-lake', prefix: '' });
    expect(parseDestination('abfss://raw@acmelake.dfs.core.windows.net/mixpeek')).toEqual({
      kind: 'azure', form: 'abfss', account: 'acmelake', accountUrl: 'https://acmelake.blob.core.windows.net', container: 'raw', prefix: 'mixpeek',
    });
    expect(parseDestination('https://acmelake.blob.core.windows.net/raw/mixpeek/')).toEqual({
      kind: 'azure', form: 'blob', account: 'acmelake', accountUrl: 'https://acmelake.blob.core.windows.net', container: 'raw', prefix: 'mixpeek',
    });
    expect(parseDestination('file:///srv/staging')).toEqual({ kind: 'fs', root: '/srv/staging' });
    expect(parseDestination('./staging')).toEqual({ kind: 'fs', root: path.resolve('./staging') });
    expect(parseDestination('memory://t1')).toEqual({ kind: 'memory', name: 't1' });
  });

  it('refuses a URL it cannot open with exit 2, naming --dest and the forms to use, never echoing a query string', () => {
    const cases: [string, RegExp][] = [
      ['gs://bucket/p', /^--dest gs:\/\/bucket\/p: unsupported destination; use s3:\/\/bucket\/prefix, abfss:/],
      ['https://example.com/raw/p', /unsupported destination/],
      ['s3:///p', /name the bucket, as s3:\/\/bucket\/prefix/],
      ['abfss://acmelake.dfs.core.windows.net/p', /not an Azure Blob or ADLS Gen2 URL; use abfss:/],
      ['https://acmelake.blob.core.windows.net/raw/p?sv=2024-01-01&sig=SECRETSIG', /remove the query string: a SAS goes in the credential/],
    ];
    for (const [dest, message] of cases) {
      const attempt = () => parseDestination(dest);
      expect(attempt, dest).toThrow(ConfigError);
      expect(attempt, dest).toThrow(message);
      expect(attempt, dest).toThrow(expect.objectContaining({ exitCode: 2, message: expect.not.stringContaining('SECRETSIG') }));
    }
  });

  it('is what the dest setting documents: every accepted form is in its description', () => {
    const doc = settingsSchema.shape.dest.description ?? '';
    for (const form of DEST_FORMS.split(/, (?:or )?/)) expect(doc).toContain(form);
    expect(doc).toContain('memory://');
  });
});

/** The relative imports (static and dynamic) of every module under src/`folder`. */
function importsOf(folder: string): { file: string; target: string }[] {
  const dir = path.join(root, 'src', folder);
  const out: { file: string; target: string }[] = [];
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    if (!name.endsWith('.ts')) continue;
    const file = path.join(dir, name);
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:from|import\()\s*'([^']+)'/g)) {
      out.push({ file: path.relative(root, file), target: spec!.startsWith('.') ? path.relative(root, path.resolve(path.dirname(file), spec!)) : spec! });
    }
  }
  return out;
}

describe('layering', () => {
  it('keeps config/ from importing run/, and ddl/ from importing cli/', () => {
    expect(importsOf('config').filter((i) => i.target.startsWith('src/run/'))).toEqual([]);
    expect(importsOf('ddl').filter((i) => i.target.startsWith('src/cli/'))).toEqual([]);
  });

  it('keeps ddl/, metrics/ and config/ away from the drivers and the cloud SDKs', () => {
    for (const folder of ['ddl', 'metrics', 'config']) {
      expect(importsOf(folder).filter((i) => /^src\/storage\/drivers\/|^@azure\/|^@aws-sdk\//.test(i.target)), folder).toEqual([]);
    }
  });

  it('keeps settings resolution, ddl and verify off the encoders (codec rules live in encode/codecs.ts, which loads no wasm)', () => {
    for (const folder of ['config', 'ddl', 'verify']) {
      expect(importsOf(folder).filter((i) => /^src\/encode\/(index|parquet|ndjson)|^parquet-wasm/.test(i.target)), folder).toEqual([]);
    }
  });

  it('generates DDL for an abfss destination without loading @azure/storage-blob (a child process whose loader refuses the SDKs)', async () => {
    // A module hook that makes any cloud SDK unloadable: ddl must not need one. The control
    // run (verify, which opens the Azure driver) proves the hook bites.
    const hooks = `export async function resolve(spec, context, next) { if (/^@azure\\/|^@aws-sdk\\//.test(spec)) throw new Error('cloud SDK loaded: ' + spec); return next(spec, context); }`;
    const registrar = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)}, ${JSON.stringify(pathToFileURL(root + '/').href)});`;
    const run = (args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', '--import', `data:text/javascript,${encodeURIComponent(registrar)}`, path.join(root, 'src/cli/main.ts'), ...args], {
        cwd: root,
        env: { PATH: process.env.PATH },
      }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    const dest = 'abfss://raw@acmelake.dfs.core.windows.net/mixpeek';
    const ddl = await run(['ddl', '--target', 'databricks', '--dest', dest, '--collection', 'col_abc', '--columns', 'json']);
    expect(ddl.code, ddl.stderr).toBe(0);
    expect(ddl.stdout).toContain('abfss://raw@acmelake.dfs.core.windows.net/mixpeek/col_abc/data/');
    const control = await run(['verify', '--dest', dest, '--collection', 'col_abc']);
    expect(control.code).not.toBe(0);
    expect(control.stderr).toContain('cloud SDK loaded: @azure/storage-blob');
  }, 60_000);
});
