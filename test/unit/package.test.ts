/**
 * The package boundary (issue 9 item 5): what `npm pack` ships, what `import 'mixpeek-export'`
 * resolves to, and that the dev server stays out of both the package and the Docker image.
 *
 * The build runs once into a temporary package folder (package.json, bin/, config/ and a
 * fresh dist/ from tsconfig.build.json), so a stale `dist/` in the working tree cannot hide
 * or fake a result. `npm pack --dry-run` then lists exactly what `npm publish` would upload.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = path.join(REPO, 'src');
const DEVSERVER = path.join(SRC, 'devserver');
const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));

let dir: string;
let packed: string[];

/** Runs node with `args` in the temporary package; stdout, trimmed. */
const node = (args: string[]) => execFileSync(process.execPath, args, { cwd: dir, encoding: 'utf8' }).trim();

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'mxp-package-'));
  cpSync(path.join(REPO, 'package.json'), path.join(dir, 'package.json'));
  cpSync(path.join(REPO, 'bin'), path.join(dir, 'bin'), { recursive: true });
  mkdirSync(path.join(dir, 'config'));
  cpSync(path.join(REPO, 'config/example.yaml'), path.join(dir, 'config/example.yaml'));
  // Dependencies as an installed package would find them.
  symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  node([path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', path.join(REPO, 'tsconfig.build.json'), '--outDir', path.join(dir, 'dist')]);
  // --ignore-scripts: `prepare` would build into the working tree's dist/; the build above is the one packed.
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false' },
  });
  packed = (JSON.parse(out) as [{ files: { path: string }[] }])[0].files.map((f) => f.path);
}, 120_000);
afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

/** Every `.ts` file under `dir`. */
function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? tsFiles(full) : name.endsWith('.ts') ? [full] : [];
  });
}

/** Relative module specifiers of static imports, re-exports and dynamic `import()`s. */
function relativeImports(source: string): string[] {
  const found = source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g);
  return [...found].map((m) => m[1] as string);
}

describe('the npm package', () => {
  it('ships the CLI entry point, the compiled library with its type declarations, and the example config', () => {
    expect(packed).toEqual(expect.arrayContaining(['package.json', 'bin/mixpeek-export.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'config/example.yaml']));
  });

  it('ships no file of the dev server, no source, no test and no script', () => {
    expect(packed.filter((f) => /devserver/i.test(f))).toEqual([]);
    expect(packed.filter((f) => /^(src|test|scripts)\//.test(f))).toEqual([]);
    // The build itself leaves the dev server out, so the Docker image (which copies dist/) has none either.
    expect(readdirSync(path.join(dir, 'dist'))).not.toContain('devserver');
  });

  it('declares an exports field whose "." entry is the public API with its types, and keeps the bin', () => {
    expect(pkg.exports).toEqual({ '.': { types: './dist/index.d.ts', default: './dist/index.js' }, './package.json': './package.json' });
    expect(pkg.types).toBe('./dist/index.d.ts');
    expect(pkg.bin).toEqual({ 'mixpeek-export': 'bin/mixpeek-export.js' });
  });

  it('resolves import("mixpeek-export") to dist/index.js, with the run, status, verify, ddl, storage and error API', () => {
    writeFileSync(
      path.join(dir, 'probe.mjs'),
      `const api = await import('mixpeek-export');
       console.log(JSON.stringify({ resolved: import.meta.resolve('mixpeek-export'), api: Object.fromEntries(Object.entries(api).map(([k, v]) => [k, typeof v])) }));`,
    );
    const { resolved, api } = JSON.parse(node(['probe.mjs']));
    expect(resolved).toBe(`file://${dir}/dist/index.js`);
    for (const name of ['runExport', 'loadSettings', 'statusReport', 'verifyCollections', 'generateDdl', 'openDestination', 'fsDriver', 'memoryDriver']) {
      expect(api[name], name).toBe('function');
    }
    for (const name of ['ExportError', 'ConfigError', 'SourceError', 'StorageError', 'AlreadyExistsError', 'PreconditionFailedError', 'LeaseHeldError', 'IntegrityError', 'AbortedError', 'InternalError']) {
      expect(api[name], name).toBe('function');
    }
  });

  it('gives TypeScript users the declarations of the public API through the exports field', () => {
    writeFileSync(
      path.join(dir, 'consumer.ts'),
      `import { type ExportResult, loadSettings, runExport, type StorageDriver, memoryDriver } from 'mixpeek-export';
       const driver: StorageDriver = memoryDriver();
       const result: Promise<ExportResult> = runExport(loadSettings({ flags: { collections: ['col_a'], dest: 'memory://x' }, env: {} }), { driver });
       export { result };`,
    );
    const tsc = path.join(REPO, 'node_modules/typescript/bin/tsc');
    node([tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', '--skipLibCheck', 'consumer.ts']);
  });

  it('refuses deep imports into dist/ (only the exports field is public) but serves package.json', () => {
    writeFileSync(
      path.join(dir, 'deep.mjs'),
      `let code = 'resolved';
       try { await import('mixpeek-export/dist/cli/main.js'); } catch (error) { code = error.code; }
       const { createRequire } = await import('node:module');
       console.log(JSON.stringify({ code, name: createRequire(import.meta.url)('mixpeek-export/package.json').name }));`,
    );
    expect(JSON.parse(node(['deep.mjs']))).toEqual({ code: 'ERR_PACKAGE_PATH_NOT_EXPORTED', name: 'mixpeek-export' });
  });

  it('runs the installed CLI from the built package without the dev server', () => {
    expect(node(['bin/mixpeek-export.js', '--help'])).toMatch(/mixpeek-export/);
  });
});

describe('the dev server boundary', () => {
  it('is imported by nothing in src/ outside src/devserver/', () => {
    const offenders = tsFiles(SRC)
      .filter((file) => !file.startsWith(DEVSERVER + path.sep))
      .flatMap((file) =>
        relativeImports(readFileSync(file, 'utf8'))
          .filter((spec) => path.resolve(path.dirname(file), spec).startsWith(DEVSERVER))
          .map((spec) => `${path.relative(REPO, file)} imports ${spec}`),
      );
    expect(offenders).toEqual([]);
  });

  it('is left out of the build by tsconfig.build.json, which `npm run build` and the Dockerfile use', () => {
    // tsconfig files are JSON with comments.
    const build = JSON.parse(readFileSync(path.join(REPO, 'tsconfig.build.json'), 'utf8').replace(/^\s*\/\/.*$/gm, ''));
    expect(build.exclude).toContain('src/devserver');
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json');
    expect(readFileSync(path.join(REPO, 'Dockerfile'), 'utf8')).toMatch(/^RUN npm run build$/m);
  });

  it('still serves npm run devserver, demo and bench, which run src/ through tsx', () => {
    expect(pkg.scripts).toMatchObject({ devserver: 'tsx src/devserver/main.ts', demo: 'tsx scripts/demo.ts', bench: 'tsx scripts/bench.ts' });
  });
});
