import { type RowContext, toRow } from '../rows/map.js';
import type { Row } from '../rows/types.js';
import type { Logger } from '../util/log.js';

/** Log lines per event and run before the rest are only counted (a bad collection must not flood the log). */
export const LOGGED_PER_EVENT = 20;

/** A document the run can place: a row with a readable `updated_at`. */
export interface Admitted {
  row: Row & { updated_at: string };
  untyped: number;
  notes: string[];
  /** Fields whose values did not fit their typed column (kept in `fields`). */
  rescued: string[];
}

export interface IntakeCounts {
  rejected: number;
  untyped: number;
  /** Values rescued into `fields` (typed runs). */
  rescued: number;
  /** The same per field. */
  rescuedFields: Record<string, number>;
}

/** What a run's counters start from (an interrupted run's, or zeros); rescue counts are absent before typed columns existed. */
export type StartCounts = Pick<IntakeCounts, 'rejected' | 'untyped'> & Partial<Pick<IntakeCounts, 'rescued' | 'rescuedFields'>> & { vectorDims?: Record<string, number> };

/**
 * Documents → rows for one run: the mapping, the run's own admission rule, the counters the
 * checkpoint and manifest report, and warnings capped per event.
 *
 * The run's rule on top of the mapper's: a document whose `updated_at` is missing or not a
 * timestamp (unparseable, out of range) is rejected, counted and logged. The run's window,
 * its order check and its checkpoint position are all instants of `updated_at`; a version
 * without one belongs to no window, so no run could export it exactly once (an API that lists
 * it anyway would have every run and every resume export it again).
 */
export class Intake {
  readonly counts: IntakeCounts;
  /** Counts as of the last row written: what the checkpoint records with a file (see `written`). */
  private atLastRow: IntakeCounts;
  private readonly logged: Map<string, number>;
  private readonly context: RowContext;

  /**
   * `shared`: what the intakes of one run's slices have in common: the warnings logged per
   * event (the cap is per run) and the dims fixed per vector column (one per run). Default:
   * this intake's own, the dims from `start.vectorDims`.
   */
  constructor(
    private readonly logger: Logger,
    private readonly collectionId: string,
    context: Omit<RowContext, 'vectorDims' | 'collectionId'>,
    start: StartCounts,
    shared: IntakeShared = sharedIntake(start),
  ) {
    this.logged = shared.logged;
    this.context = { ...context, collectionId, vectorDims: shared.vectorDims };
    this.counts = { rejected: start.rejected, untyped: start.untyped, rescued: start.rescued ?? 0, rescuedFields: { ...start.rescuedFields } };
    this.atLastRow = copy(this.counts);
  }

  /** Maps a document; null when it is rejected (counted and logged). */
  admit(doc: unknown): Admitted | null {
    const mapped = toRow(doc, this.context);
    let reason = mapped.ok ? null : mapped.reason;
    if (mapped.ok && mapped.row.updated_at === null) reason = 'updated_at is missing or not a timestamp';
    if (reason === null && mapped.ok) return mapped as Admitted;
    this.counts.rejected++;
    const id = mapped.ok ? mapped.row.document_id : stringId(doc);
    this.warn('DocumentRejected', { reason, ...(id ? { document_id: id } : {}), ...(mapped.ok ? { updated_at: rawUpdatedAt(doc) } : {}) });
    return null;
  }

  /** Counts (and logs the notes of) a row that was written. */
  written(admitted: Admitted): void {
    this.counts.untyped += admitted.untyped;
    for (const note of admitted.notes) this.warn('ValueLeftUntyped', { document_id: admitted.row.document_id, note });
    for (const field of admitted.rescued) {
      this.counts.rescued++;
      this.counts.rescuedFields[field] = (this.counts.rescuedFields[field] ?? 0) + 1;
      this.warn('ValueRescued', { document_id: admitted.row.document_id, field, note: "the value does not fit its typed column's type: kept in fields, the column is null" });
    }
    this.atLastRow = copy(this.counts);
  }

  /** A row the API returned outside the window it was asked for: skipped here, it belongs to another run. */
  outside(row: Row, window: { lo: string | null; hi: string }): void {
    this.warn('DocumentOutsideWindow', { document_id: row.document_id, updated_at: row.updated_at, lo: window.lo, hi: window.hi });
  }

  /**
   * Counts to record with a file that is being committed. Rows are counted after they are
   * written, so this excludes documents after the file's last row: a resume re-reads those
   * and counts them then, not twice. (A document an API lists in every window, such as one
   * without a readable `updated_at`, is counted by every run and resume that sees it.)
   */
  get committed(): IntakeCounts {
    return copy(this.atLastRow);
  }

  /** Dims fixed so far per vector column, for the checkpoint: a resumed run keeps them. */
  get vectorDims(): Record<string, number> {
    return Object.fromEntries(this.context.vectorDims ?? []);
  }

  /** Logs how many warnings were counted but not logged. */
  finish(runId: string): void {
    const suppressed = Object.fromEntries([...this.logged].filter(([, n]) => n > LOGGED_PER_EVENT).map(([event, n]) => [event, n - LOGGED_PER_EVENT]));
    if (Object.keys(suppressed).length > 0) this.logger.warn('WarningsSuppressed', { collection_id: this.collectionId, run_id: runId, suppressed });
  }

  private warn(event: string, fields: Record<string, unknown>): void {
    const n = (this.logged.get(event) ?? 0) + 1;
    this.logged.set(event, n);
    if (n <= LOGGED_PER_EVENT) this.logger.warn(event, { collection_id: this.collectionId, ...fields });
  }
}

/** The state the intakes of one run's slices share (see the Intake constructor). */
export interface IntakeShared {
  logged: Map<string, number>;
  vectorDims: Map<string, number>;
}

/** Fresh shared state for a run: no warnings yet, the dims the run has fixed so far. */
export function sharedIntake(start: Pick<StartCounts, 'vectorDims'>): IntakeShared {
  return { logged: new Map(), vectorDims: new Map(Object.entries(start.vectorDims ?? {})) };
}

function copy(counts: IntakeCounts): IntakeCounts {
  return { ...counts, rescuedFields: { ...counts.rescuedFields } };
}

function stringId(doc: unknown): string | null {
  const id = (doc as { document_id?: unknown } | null)?.document_id;
  return typeof id === 'string' && id.length > 0 ? id.slice(0, 200) : null;
}

/** The raw `updated_at` the document carried, shortened, for the log. */
function rawUpdatedAt(doc: unknown): string {
  const root = doc as Record<string, any>;
  const raw = root._internal?.updated_at ?? root.updated_at;
  return (JSON.stringify(raw) ?? 'undefined').slice(0, 80);
}
