/**
 * `npm run demo`: starts the Mixpeek dev server on a free port, exports two collections into
 * ./staging with the real CLI (video frames as Parquet with vectors, PDF pages as NDJSON),
 * lists the staged files, reads the row counts back with DuckDB, and stops the server.
 *
 * For tests (test/integ/security.integ.test.ts), all optional; without them the demo is as above:
 * - `MIXPEEK_DEMO_DIR`: stage there instead of ./staging. It must be empty or absent (the
 *   demo deletes nothing it did not create there), whereas ./staging is emptied first.
 * - `MIXPEEK_DEMO_API_KEY`: the key the dev server expects and the CLI sends.
 * - `MIXPEEK_DEMO_LOG_DIR`: keep each export's stderr (its JSON log lines) in
 *   `<dir>/<collection>.log` instead of dropping it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { startDevServer } from '../src/devserver/index.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const staging = process.env.MIXPEEK_DEMO_DIR ? path.resolve(process.env.MIXPEEK_DEMO_DIR) : path.join(repo, 'staging');
const shownStaging = process.env.MIXPEEK_DEMO_DIR ? staging : './staging';
const apiKey = process.env.MIXPEEK_DEMO_API_KEY || 'sk_test_devserver';
const logDir = process.env.MIXPEEK_DEMO_LOG_DIR;
const exports = [
  { collection: 'col_video_frames', args: ['--format', 'parquet', '--vectors'] },
  { collection: 'col_pdf_pages', args: ['--format', 'ndjson'] },
];

/** Runs the CLI; its stdout (the summary line) is shown, its stderr goes to `log` or nowhere. */
async function cli(args: string[], env: Record<string, string>, log?: string): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'src/cli/main.ts'), ...args], {
    stdio: ['ignore', 'inherit', log ? 'pipe' : 'ignore'],
    env: { ...process.env, ...env },
  });
  const logged = log && child.stderr ? pipeline(child.stderr, createWriteStream(log)) : Promise.resolve();
  const [[code]] = (await Promise.all([once(child, 'close'), logged])) as [[number | null], void];
  return code ?? 1;
}

/** ./staging is the demo's own and is emptied; a folder named by MIXPEEK_DEMO_DIR must be empty already. */
function prepareStaging(): void {
  if (!process.env.MIXPEEK_DEMO_DIR) return rmSync(staging, { recursive: true, force: true });
  if (existsSync(staging) && readdirSync(staging).length > 0) throw new Error(`MIXPEEK_DEMO_DIR ${staging} is not empty; name an empty or new folder`);
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)])).sort();
}

const server = await startDevServer({ documentsPerCollection: 2000, apiKey });
try {
  console.log(`dev server on ${server.url}; demo output goes to ${shownStaging}${process.env.MIXPEEK_DEMO_DIR ? '' : ' (emptied first)'}\n`);
  prepareStaging();
  if (logDir) mkdirSync(logDir, { recursive: true });
  const env = { MIXPEEK_API_KEY: apiKey, MIXPEEK_NAMESPACE: 'ns_dev', MIXPEEK_BASE_URL: server.url };
  for (const e of exports) {
    console.log(`$ mixpeek-export export --collection ${e.collection} --dest ${shownStaging} ${e.args.join(' ')}`);
    const code = await cli(['export', '--collection', e.collection, '--dest', staging, ...e.args], env, logDir && path.join(logDir, `${e.collection}.log`));
    if (code !== 0) throw new Error(`export of ${e.collection} exited ${code}`);
  }
  console.log('\nstaged files (data files are one per dt= day here; the dev server spreads documents over 30 days):');
  for (const e of exports) {
    const all = files(path.join(staging, e.collection));
    const data = all.filter((f) => f.includes(`${path.sep}data${path.sep}`));
    const shown = [...all.filter((f) => !data.includes(f)), ...data.slice(0, 2), ...data.slice(-1)];
    for (const f of shown) console.log(`  ${path.relative(path.dirname(staging), f).padEnd(90)} ${statSync(f).size.toString().padStart(9)} bytes`);
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
    const described = (await con.runAndReadAll(`DESCRIBE SELECT * EXCLUDE (dt) FROM ${reader}`)).getRowObjectsJson();
    const names = described.map((c) => String(c.column_name));
    const typed = described.slice(names.indexOf('internal') + 1).filter((c) => !/^(vec_|_)/.test(String(c.column_name)));
    console.log(`    ${typed.length} typed columns from the collection's output_schema, e.g. ${typed.slice(0, 4).map((c) => `${c.column_name} ${c.column_type}`).join(', ')}`);
  }
  console.log(`\nPoint Auto Loader or a Snowflake stage at ${shownStaging}/<collection_id>/data/ (see README).`);
} finally {
  await server.close();
}
