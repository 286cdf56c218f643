/**
 * What `verify` reports: per collection, one finding per check or problem, in the order
 * the checks ran, and what was checked. The report is data; the CLI prints it and maps
 * `consistent` to the exit code (0, or 6 when any problem was found).
 */

/** `ok`: a check passed. `info`: worth knowing, not wrong (an interrupted run, a re-export). `problem`: inconsistent. */
export type Severity = 'ok' | 'info' | 'problem';

/** Which check produced a finding. */
export type Check = 'lease' | 'manifest' | 'file' | 'run' | 'checkpoint' | 'orphans' | 'windows' | 'tombstones' | 'collection';

export interface Finding {
  severity: Severity;
  check: Check;
  /** One line, naming the object (its URL) and, for a problem, what to do. */
  message: string;
  /** The object the finding is about, when there is one (no credentials in it). */
  url?: string;
}

export interface CollectionReport {
  collectionId: string;
  /** The collection's folder at the destination. */
  url: string;
  /** True when no finding is a problem. */
  consistent: boolean;
  /** Nothing at all at the destination for this collection (not a problem). */
  nothingExported: boolean;
  /** What was read: manifests parsed, data files streamed, rows counted in them, bytes streamed. */
  checked: { manifests: number; files: number; rows: number; bytes: number };
  /** Tombstones (rows with `_deleted = true`) in the files of completed reconcile manifests; only reconciliations write them. */
  tombstones: number;
  /** The checkpoint's last completed reconciliation, null before the first. */
  lastReconcile: { runId: string; listedAt: string; finishedAt: string; idsListed: number; tombstones: number; snapshot: string; snapshotExists: boolean } | null;
  problems: number;
  findings: Finding[];
}

export interface VerifyReport {
  consistent: boolean;
  problems: number;
  collections: CollectionReport[];
}

export interface VerifyOptions {
  /**
   * Data files streamed at once. Memory: per file in flight, one read chunk plus, for
   * Parquet, up to `FOOTER_TAIL_BYTES` (16 MiB) of its end, or for zstd one 128 KiB block.
   * Default 4.
   */
  concurrency?: number;
  /** Clock, for the lease's expiry. Default `() => new Date()`. */
  now?: () => Date;
}

/** Collects findings and counters for one collection. */
export class Findings {
  readonly list: Finding[] = [];
  readonly checked = { manifests: 0, files: 0, rows: 0, bytes: 0 };
  /** Tombstones counted in reconcile manifests' files. */
  tombstones = 0;

  ok(check: Check, message: string, url?: string): void {
    this.add({ severity: 'ok', check, message, url });
  }

  info(check: Check, message: string, url?: string): void {
    this.add({ severity: 'info', check, message, url });
  }

  problem(check: Check, message: string, url?: string): void {
    this.add({ severity: 'problem', check, message, url });
  }

  add(finding: Finding): void {
    this.list.push(finding.url === undefined ? { severity: finding.severity, check: finding.check, message: finding.message } : finding);
  }

  get problems(): number {
    return this.list.filter((f) => f.severity === 'problem').length;
  }
}

/** A window bound for messages: `null` (no lower bound) reads "the beginning". */
export function bound(value: string | null): string {
  return value ?? 'the beginning';
}

export function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}
