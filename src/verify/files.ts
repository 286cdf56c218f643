/**
 * Checks of data files against the records that list them (a manifest, or the checkpoint's
 * interrupted run): the object exists, has the recorded size and sha256, and holds the
 * recorded number of rows; and of the lists themselves: totals add up, sequence numbers run
 * 0..n-1, keys follow the layout.
 */
import type { FileRecord } from '../commit/checkpoint.js';
import { layout } from '../commit/layout.js';
import type { Manifest } from '../commit/manifest.js';
import { extensionFor } from '../encode/codecs.js';
import type { Compression, Format } from '../encode/types.js';
import type { StorageDriver } from '../storage/types.js';
import type { Findings } from './findings.js';
import { digestObject } from './object.js';

/** A file as a manifest or the checkpoint records it. */
export type RecordedFile = Omit<FileRecord, 'endPosition'>;

/** A list of files of one run, as found in a manifest or in the checkpoint. */
export interface RunFiles {
  runId: string;
  /** How findings name the list: `manifest <url>` or `interrupted run <id>`. */
  label: string;
  window: { lo: string | null; hi: string };
  format: string;
  compression: string;
  files: RecordedFile[];
  /** Seqs the run gave out to files that never became visible (a manifest's `unusedSeqs`): not expected among `files`. */
  unusedSeqs?: number[];
  /** An interrupted run paged as slices: seqs are unique and increasing, with gaps where a slice's file is still to come. */
  inProgress?: boolean;
}

/**
 * Streams each file (at most `concurrency` at once) and records a problem for every
 * mismatch; returns how many problems were found. Findings keep the list's order.
 */
export async function checkFiles(driver: StorageDriver, run: RunFiles, findings: Findings, concurrency: number): Promise<number> {
  const results = await mapLimit(run.files, concurrency, (file) => checkFile(driver, run, file));
  let problems = 0;
  for (const result of results) {
    findings.checked.files += result.streamed ? 1 : 0;
    findings.checked.bytes += result.bytes;
    findings.checked.rows += result.rows;
    for (const message of result.problems) findings.problem('file', message, driver.url(result.key));
    problems += result.problems.length;
  }
  return problems;
}

interface FileResult {
  key: string;
  streamed: boolean;
  bytes: number;
  rows: number;
  problems: string[];
}

async function checkFile(driver: StorageDriver, run: RunFiles, file: RecordedFile): Promise<FileResult> {
  const url = driver.url(file.key);
  const result: FileResult = { key: file.key, streamed: false, bytes: 0, rows: 0, problems: [] };
  const restore = `restore it from a backup or bucket versioning, or re-export its rows with export --since ${file.minUpdatedAt ?? bound0} --until ${run.window.hi}`;
  const info = await driver.head(file.key);
  if (!info) {
    result.problems.push(`${url} is listed by ${run.label} (${file.rows} rows) but does not exist; ${restore}`);
    return result;
  }
  if (info.size !== file.bytes) {
    result.problems.push(`${url} has ${info.size} bytes but ${run.label} records ${file.bytes}; the exporter never rewrites a published file, so something else changed it: ${restore}`);
    return result;
  }
  const digest = await digestObject(driver, file.key);
  Object.assign(result, { streamed: true, bytes: digest.bytes, rows: digest.rows ?? 0 });
  if (digest.bytes !== file.bytes) {
    result.problems.push(`${url}: reading it returned ${digest.bytes} bytes but its size is ${file.bytes}; read it again, and if it stays short, ${restore}`);
  } else if (digest.sha256 !== file.sha256) {
    result.problems.push(`${url}: sha256 ${digest.sha256.slice(0, 12)}… but ${run.label} records ${file.sha256.slice(0, 12)}… (same size); the bytes changed after publishing: ${restore}`);
  }
  if (digest.rowError !== null) {
    result.problems.push(`${url}: its rows cannot be read (${digest.rowError}); ${restore}`);
  } else if (digest.rows !== file.rows) {
    result.problems.push(`${url} holds ${digest.rows} rows but ${run.label} records ${file.rows}; ${digest.sha256 === file.sha256 ? 'the bytes match, so the record was edited: restore the manifest or checkpoint from a backup' : restore}`);
  }
  return result;
}

/** The oldest `--since` (for a file without timestamps). */
const bound0 = '1970-01-01T00:00:00Z';

/**
 * Structure of a run's list: seq numbers 0..n-1 in order but the run's `unusedSeqs` (an
 * interrupted sliced run: increasing, gaps allowed), keys follow the layout and the run's codec.
 */
export function checkListing(driver: StorageDriver, collectionId: string, run: RunFiles, findings: Findings): number {
  let problems = 0;
  const seqs = run.files.map((f) => f.seq);
  const unused = new Set(run.unusedSeqs ?? []);
  const expected = run.inProgress ? [...new Set(seqs)].sort((a, b) => a - b) : Array.from({ length: seqs.length + unused.size }, (_, i) => i).filter((n) => !unused.has(n));
  if (seqs.join(',') !== expected.join(',')) {
    const missing = expected.filter((n) => !seqs.includes(n));
    const duplicated = seqs.filter((n, i) => seqs.indexOf(n) !== i);
    findings.problem('manifest', `${run.label} lists seq ${summarise(seqs)}, not 0..${seqs.length - 1}${missing.length ? `; missing ${summarise(missing)}` : ''}${duplicated.length ? `; repeated ${summarise(duplicated)}` : ''}; it was edited or a file record was dropped: restore it from a backup`);
    problems++;
  }
  let extension: string | null = null;
  try {
    extension = extensionFor(run.format as Format, run.compression as Compression);
  } catch (error) {
    findings.problem('manifest', `${run.label}: ${(error as Error).message}; restore it from a backup`);
    return problems + 1;
  }
  for (const file of run.files) {
    const want = layout.dataFile(collectionId, file.dt, run.runId, file.seq, extension);
    if (file.key !== want || !/^\d{4}-\d{2}-\d{2}$/.test(file.dt)) {
      findings.problem('manifest', `${run.label} lists ${driver.url(file.key)}, which is not where run ${run.runId} puts seq ${file.seq} of dt=${file.dt} (${want}); restore the record from a backup`, driver.url(file.key));
      problems++;
    }
  }
  return problems;
}

/** Manifest totals equal the sums of its files. */
export function checkTotals(manifest: Manifest, label: string, findings: Findings): number {
  const sums = { files: manifest.files.length, rows: 0, bytes: 0 };
  for (const f of manifest.files) {
    sums.rows += f.rows;
    sums.bytes += f.bytes;
  }
  const wrong = (['files', 'rows', 'bytes'] as const).filter((k) => manifest.totals?.[k] !== sums[k]);
  for (const k of wrong) findings.problem('manifest', `${label}: totals.${k} is ${manifest.totals?.[k]} but its files add up to ${sums[k]}; the manifest was edited: restore it from a backup`);
  return wrong.length;
}

/** `0-3,5,7-9` */
function summarise(numbers: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < numbers.length; i++) {
    let j = i;
    while (j + 1 < numbers.length && numbers[j + 1] === numbers[j]! + 1) j++;
    parts.push(j > i ? `${numbers[i]}-${numbers[j]}` : String(numbers[i]));
    i = j;
  }
  return parts.join(',') || 'none';
}

/** Runs `fn` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
