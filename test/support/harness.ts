import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { canonicalTimestamp } from '../../src/rows/time.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const API_KEY = 'sk_test_devserver';
export const NAMESPACE = 'ns_dev';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The harness sent its kill (`killOnMatch` matched, or the `killAfterMs` timer fired). Always set by runCli. */
  killSent?: boolean;
}

/**
 * Options of {@link runCli}. A kill that a test needs to land at a known point uses
 * `killOnMatch` (an observed log event) or `MIXPEEK_EXPORT_TEST_CRASH_AT` (a commit-protocol
 * step). `killAfterMs` is only for random-moment kills whose assertions hold whichever way
 * the race goes (the process may finish first).
 */
export interface RunCliOptions {
  /**
   * Send `signal` as soon as a whole stderr line matches this (the `killOnMatchNth`-th such
   * line, default the first), e.g. `/"event":"FilePublished"/`. The kill lands right after
   * that log event, whatever the machine's load. Never matched: never killed.
   */
  killOnMatch?: RegExp;
  /** Which matching line sends the kill, 1-based. Default 1. */
  killOnMatchNth?: number;
  /**
   * Called with each whole stderr line as it arrives, and the child: for a test that acts on
   * an observed log event in its own way (e.g. pauses the lease holder with SIGSTOP).
   */
  onStderrLine?: (line: string, child: ChildProcess) => void;
  /**
   * Random-moment kills only: send `signal` this many ms after spawn (or after
   * `killAfterMatch` matched, when given).
   */
  killAfterMs?: number;
  /** Default SIGKILL. */
  signal?: NodeJS.Signals;
  /**
   * Start the `killAfterMs` timer only once stderr matches this (e.g. the run's first
   * `RunStarted` log line), so a kill lands in the work rather than in tsx's start-up.
   * Never matched: never killed.
   */
  killAfterMatch?: RegExp;
}

/** Runs the real CLI in a child process (tsx, no build step). */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, options: RunCliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src/cli/main.ts'), ...args], {
      cwd: REPO,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let killSent = false;
    const kill = () => {
      if (killSent) return;
      killSent = true;
      child.kill(options.signal ?? 'SIGKILL');
    };
    let timer: NodeJS.Timeout | null = null;
    const arm = () => (timer ??= setTimeout(kill, options.killAfterMs));
    let nthMatch = 0;
    const onLine = (line: string) => {
      if (options.killOnMatch && matches(options.killOnMatch, line) && ++nthMatch === (options.killOnMatchNth ?? 1)) kill();
      options.onStderrLine?.(line, child);
    };
    const lines = lineSplitter(onLine);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      lines(stderr);
      if (timer === null && options.killAfterMs !== undefined && options.killAfterMatch?.test(stderr)) arm();
    });
    if (options.killAfterMs !== undefined && !options.killAfterMatch) arm();
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, killSent });
    });
  });
}

/** `pattern.test(line)` without the `lastIndex` state a /g or /y pattern would carry between calls. */
function matches(pattern: RegExp, line: string): boolean {
  pattern.lastIndex = 0;
  return pattern.test(line);
}

/**
 * Calls `onLine` once per complete line of a text that only grows (the stderr seen so far),
 * so a log line split across two chunks is seen once, whole.
 */
function lineSplitter(onLine: (line: string) => void): (text: string) => void {
  let scanned = 0;
  return (text) => {
    for (let end = text.indexOf('\n', scanned); end !== -1; end = text.indexOf('\n', scanned)) {
      onLine(text.slice(scanned, end));
      scanned = end + 1;
    }
  };
}

/** Environment for an export against the dev server. */
export function exportEnv(baseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return { MIXPEEK_API_KEY: API_KEY, MIXPEEK_NAMESPACE: NAMESPACE, MIXPEEK_BASE_URL: baseUrl, ...extra };
}

let duck: Promise<import('@duckdb/node-api').DuckDBConnection> | null = null;

/** One DuckDB connection per test file: the independent reader of staged files. */
export async function duckdb() {
  duck ??= DuckDBInstance.create(':memory:').then((i) => i.connect());
  return duck;
}

export async function query(sql: string): Promise<Record<string, unknown>[]> {
  const con = await duckdb();
  return (await con.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
}

/** Every data file under `<root>/<collection>/data/`, sorted. */
export function dataFiles(root: string, collectionId: string): string[] {
  const dir = path.join(root, collectionId, 'data');
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const full = path.join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else out.push(full);
    }
  };
  try {
    walk(dir);
  } catch {
    return [];
  }
  return out.sort();
}

/** One staged row read back: a document version (`_deleted` false) or a tombstone. Times canonical UTC micros. */
export interface StagedRowRead {
  document_id: string;
  updated_at: string;
  _exported_at: string;
  _deleted: boolean;
}

/**
 * Every staged row (versions and tombstones), read back with DuckDB. A file staged before
 * tombstones existed has no `_deleted` column: its rows read as versions (`_deleted` false).
 */
export async function stagedRows(root: string, collectionId: string): Promise<StagedRowRead[]> {
  const files = dataFiles(root, collectionId);
  const parquet = files.filter((f) => f.endsWith('.parquet'));
  const json = files.filter((f) => /\.json(\.gz|\.zst)?$/.test(f));
  const rows: StagedRowRead[] = [];
  const list = (fs: string[]) => `[${fs.map((f) => `'${f}'`).join(',')}]`;
  const utc = (column: string, from = column) => `strftime(${from} AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') AS ${column}`;
  const picked = (from: string) => `SELECT document_id, ${from}, coalesce(_deleted, false) AS _deleted`;
  if (parquet.length) {
    // UNION BY NAME with a typed empty row: `_deleted` exists even if no file has it.
    const source = `(SELECT * FROM read_parquet(${list(parquet)}, union_by_name=true) UNION ALL BY NAME SELECT NULL::BOOLEAN AS _deleted WHERE false)`;
    rows.push(...((await query(`${picked(`${utc('updated_at')}, ${utc('_exported_at')}`)} FROM ${source}`)) as never[]));
  }
  if (json.length) {
    const source = `read_json(${list(json)}, format='newline_delimited', columns={document_id:'VARCHAR', updated_at:'VARCHAR', _exported_at:'VARCHAR', _deleted:'BOOLEAN'})`;
    rows.push(...((await query(`${picked('updated_at, _exported_at')} FROM ${source}`)) as never[]));
  }
  return rows;
}

/**
 * (document_id, updated_at) of every staged document version, read back with DuckDB.
 * Tombstones are left out: the exactly-once checks count versions (see {@link stagedTombstones}).
 */
export async function stagedVersions(root: string, collectionId: string): Promise<{ document_id: string; updated_at: string }[]> {
  return (await stagedRows(root, collectionId)).filter((r) => !r._deleted).map(({ document_id, updated_at }) => ({ document_id, updated_at }));
}

/** (document_id, updated_at = when the deletion was observed) of every staged tombstone. */
export async function stagedTombstones(root: string, collectionId: string): Promise<{ document_id: string; updated_at: string }[]> {
  return (await stagedRows(root, collectionId)).filter((r) => r._deleted).map(({ document_id, updated_at }) => ({ document_id, updated_at }));
}

/**
 * The exactly-once check: every current source version is staged exactly once, and no
 * staged version is unknown (old versions are fine only for documents that changed).
 */
export function compareVersions(source: Iterable<{ document_id: string; updated_at: string }>, staged: { document_id: string; updated_at: string }[]) {
  const key = (id: string, ts: string) => `${id}@${canonicalTimestamp(ts)}`;
  const counts = new Map<string, number>();
  for (const r of staged) counts.set(key(r.document_id, r.updated_at), (counts.get(key(r.document_id, r.updated_at)) ?? 0) + 1);
  const duplicates = [...counts.entries()].filter(([, n]) => n > 1).map(([k]) => k);
  const current = new Set<string>();
  const sourceIds = new Set<string>();
  for (const v of source) {
    current.add(key(v.document_id, v.updated_at));
    sourceIds.add(v.document_id);
  }
  const missing = [...current].filter((k) => !counts.has(k));
  const unknown = [...counts.keys()].filter((k) => !current.has(k) && !sourceIds.has(k.split('@')[0] as string));
  return { duplicates, missing, unknown, staged: staged.length, current: current.size };
}

export function readJson(file: string): any {
  return JSON.parse(readFileSync(file, 'utf8'));
}
