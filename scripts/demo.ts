/**
 * `npm run demo`: starts the Mixpeek dev server on a free port, exports two collections into
 * ./staging with the real CLI (video frames as Parquet with vectors, PDF pages as NDJSON),
 * lists the staged files, reads the row counts back with DuckDB, and stops the server.
 */
import { spawn } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { startDevServer } from '../src/devserver/index.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const staging = path.join(repo, 'staging');
const exports = [
  { collection: 'col_video_frames', args: ['--format', 'parquet', '--vectors'] },
  { collection: 'col_pdf_pages', args: ['--format', 'ndjson'] },
];

function cli(args: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'src/cli/main.ts'), ...args], {
      stdio: ['ignore', 'inherit', 'ignore'],
      env: { ...process.env, ...env },
    });
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)])).sort();
}

const server = await startDevServer({ documentsPerCollection: 2000 });
try {
  console.log(`dev server on ${server.url}; demo output goes to ./staging (emptied first)\n`);
  rmSync(staging, { recursive: true, force: true });
  const env = { MIXPEEK_API_KEY: 'sk_test_devserver', MIXPEEK_NAMESPACE: 'ns_dev', MIXPEEK_BASE_URL: server.url };
  for (const e of exports) {
    console.log(`$ mixpeek-export export --collection ${e.collection} --dest ./staging ${e.args.join(' ')}`);
    const code = await cli(['export', '--collection', e.collection, '--dest', staging, ...e.args], env);
    if (code !== 0) throw new Error(`export of ${e.collection} exited ${code}`);
  }
  console.log('\nstaged files (data files are one per dt= day here; the dev server spreads documents over 30 days):');
  for (const e of exports) {
    const all = files(path.join(staging, e.collection));
    const data = all.filter((f) => f.includes(`${path.sep}data${path.sep}`));
    const shown = [...all.filter((f) => !data.includes(f)), ...data.slice(0, 2), ...data.slice(-1)];
    for (const f of shown) console.log(`  ${path.relative(repo, f).padEnd(90)} ${statSync(f).size.toString().padStart(9)} bytes`);
    console.log(`  (${data.length} data files, ${data.reduce((n, f) => n + statSync(f).size, 0)} bytes in all)`);
  }
  const con = await (await DuckDBInstance.create(':memory:')).connect();
  console.log('\nread back with DuckDB:');
  for (const e of exports) {
    const glob = path.join(staging, e.collection, 'data', '**', '*');
    const reader = e.args.includes('parquet') ? `read_parquet('${glob}.parquet')` : `read_json('${glob}.json.gz', format='newline_delimited')`;
    const rows = (await con.runAndReadAll(`SELECT count(*) AS n, count(DISTINCT document_id) AS ids, min(updated_at) AS lo, max(updated_at) AS hi FROM ${reader}`)).getRowObjectsJson();
    const r = rows[0]!;
    console.log(`  ${e.collection}: ${r.n} rows, ${r.ids} distinct documents, updated_at ${r.lo} .. ${r.hi}`);
  }
  console.log(`\nPoint Auto Loader or a Snowflake stage at ./staging/<collection_id>/data/ (see README).`);
} finally {
  await server.close();
}
