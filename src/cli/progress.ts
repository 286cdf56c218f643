/**
 * The CLI's progress: the run's counters (the summary reads them), and on a terminal one live
 * line per collection, drawn in place by cli-progress:
 *
 *     col_video_frames [████████████░░░░░░░░░░░░░░░░░░] 40% 40000/100000 docs | 9876 docs/s | 12 files, 3.1 MB | elapsed 0:04 | ETA 0:06
 *
 * The total is what the API said (`totalKnown`, added up over a run's slices); without one
 * the line has no bar, percentage or ETA. Log lines go above the live line (`log`). When a
 * collection finishes its last line stays on screen and the next collection gets a new one.
 */
import cliProgress from 'cli-progress';
import type { FileRecord } from '../commit/checkpoint.js';
import type { ProgressSink } from '../run/types.js';

/** Options of {@link TtyProgress}. */
export interface TtyProgressOptions {
  /** The clock, in ms (tests inject one). Default `Date.now`. */
  now?: () => number;
  /** Redraws per second of the live line. Default 5. */
  fps?: number;
}

/** One collection's progress in this process. */
interface CollectionProgress {
  collectionId: string;
  startedAt: number;
  finishedAt: number | null;
  /** Documents fetched (the pages' documents), the last page's arrival. */
  documents: number;
  lastPageAt: number | null;
  /** Documents the API said the run's listings match; null until it says. */
  total: number | null;
  files: number;
  bytes: number;
}

const BAR_WIDTH = 30;
const MIN_BAR_WIDTH = 10;
/** What a line shows, widest first. */
const NARROWER = [{ files: true, elapsed: true }, { files: false, elapsed: true }, { files: false, elapsed: false }];

/** Counters of a run, and on a TTY the live progress line of the collection being exported. */
export class TtyProgress implements ProgressSink {
  documents = 0;
  /** Rows written to files, including a file still open (the live rate). */
  rows = 0;
  files = 0;
  bytes = 0;
  /** What was published (files recorded in the checkpoint): the summary's counts, also after an interrupt. */
  readonly published = { files: 0, rows: 0, bytes: 0 };
  private readonly now: () => number;
  private readonly fps: number;
  private readonly started: number;
  private current: CollectionProgress | null = null;
  /** The live line (on a TTY, between a collection's start and finish). */
  private bars: cliProgress.MultiBar | null = null;

  /** `stream`: where the live line goes (nothing is drawn unless it is a TTY); null: counters only. */
  constructor(private readonly stream: NodeJS.WriteStream | null, options: TtyProgressOptions = {}) {
    this.now = options.now ?? Date.now;
    this.fps = options.fps ?? 5;
    this.started = this.now();
  }

  collectionStarted(collectionId: string): void {
    this.begin(collectionId);
  }

  totalKnown(collectionId: string, documents: number): void {
    const c = this.of(collectionId);
    c.total = (c.total ?? 0) + documents;
  }

  pageFetched(documents: number, collectionId?: string): void {
    this.documents += documents;
    const c = this.of(collectionId);
    if (c) {
      c.documents += documents;
      c.lastPageAt = this.now();
    }
  }

  rowWritten(): void {
    this.rows++;
  }

  filePublished(record: FileRecord, collectionId?: string): void {
    this.files++;
    this.bytes += record.bytes;
    this.published.files++;
    this.published.rows += record.rows;
    this.published.bytes += record.bytes;
    const c = this.of(collectionId);
    if (c) {
      c.files++;
      c.bytes += record.bytes;
    }
  }

  collectionFinished(collectionId: string): void {
    if (this.current?.collectionId === collectionId) this.finish();
  }

  /** Seconds since this progress was made (the run's wall time). */
  get seconds(): number {
    return (this.now() - this.started) / 1000;
  }

  /**
   * The collection's progress line (the run's counters before any collection started). On a
   * narrow terminal the bar gets shorter, then the files part and then the elapsed time are
   * left out, so that the ETA fits.
   */
  line(): string {
    const c = this.current;
    if (!c) return `${this.documents} documents, ${this.rows} rows, ${this.files} files, ${(this.bytes / 1e6).toFixed(1)} MB, ${Math.round(this.rows / Math.max(this.seconds, 0.001))} docs/s`;
    const room = (this.stream?.columns ?? Infinity) - 1;
    const now = this.now();
    for (const parts of NARROWER) {
      const over = compose(c, now, { ...parts, width: BAR_WIDTH }).length - room;
      if (over <= 0) return compose(c, now, { ...parts, width: BAR_WIDTH });
      if (c.total && BAR_WIDTH - over >= MIN_BAR_WIDTH) return compose(c, now, { ...parts, width: BAR_WIDTH - over });
    }
    return compose(c, now, { width: MIN_BAR_WIDTH, files: false, elapsed: false }); // the terminal cuts the rest
  }

  /**
   * Writes a log line above the live line and redraws it; false when no line is live (the
   * caller writes the text itself).
   */
  log(text: string): boolean {
    if (!this.bars) return false;
    this.bars.log(text.endsWith('\n') ? text : `${text}\n`);
    this.bars.update();
    return true;
  }

  /** Ends the live line (its last state stays on screen), e.g. before the summary is printed. */
  clear(): void {
    if (this.bars) this.finish();
  }

  /** Redraws the live line now (it also redraws `fps` times a second). */
  draw(): void {
    this.bars?.update();
  }

  /** The collection's progress; a new collection's events begin its line (also without `collectionStarted`). */
  private of(collectionId: string): CollectionProgress;
  private of(collectionId: string | undefined): CollectionProgress | null;
  private of(collectionId: string | undefined): CollectionProgress | null {
    if (collectionId === undefined || this.current?.collectionId === collectionId) return this.current;
    return this.begin(collectionId);
  }

  private begin(collectionId: string): CollectionProgress {
    if (this.current) this.finish();
    this.current = { collectionId, startedAt: this.now(), finishedAt: null, documents: 0, lastPageAt: null, total: null, files: 0, bytes: 0 };
    if (this.stream?.isTTY) {
      this.bars = new cliProgress.MultiBar({
        stream: this.stream,
        format: () => this.line(),
        fps: this.fps,
        // Redraw also when the text did not change: a log line written above moved the line down.
        forceRedraw: true,
        // Long lines are cut at the terminal's width instead of wrapping (and no escape code turns wrapping off).
        linewrap: true,
        hideCursor: false,
        gracefulExit: false,
      });
      this.bars.create(0, 0);
    }
    return this.current;
  }

  private finish(): void {
    if (this.current) this.current.finishedAt ??= this.now();
    this.bars?.stop(); // draws the final line, then a newline: it stays above what comes next
    this.bars = null;
    this.current = null;
  }
}

/** A collection's line: a bar `width` cells wide when the total is known; the files part and the elapsed time when asked. */
function compose(c: CollectionProgress, now: number, show: { width: number; files: boolean; elapsed: boolean }): string {
  const elapsed = ((c.finishedAt ?? now) - c.startedAt) / 1000;
  // Up to the last page: the rate holds still while the collection's reconciliation or last file runs.
  const paging = ((c.lastPageAt ?? now) - c.startedAt) / 1000;
  const rate = paging > 0 ? c.documents / paging : 0;
  const total = c.total !== null && c.total > 0 ? c.total : null;
  const done = total ? `${bar(c.documents / total, show.width)} ${c.documents}/${total} docs` : `${c.documents} docs`;
  const parts = [`${c.collectionId} ${done}`, `${Math.round(rate)} docs/s`];
  if (show.files) parts.push(`${c.files} files, ${(c.bytes / 1e6).toFixed(1)} MB`);
  if (show.elapsed || !total) parts.push(`elapsed ${clock(elapsed)}`);
  if (total) parts.push(`ETA ${eta(c.documents, total, rate)}`);
  return parts.join(' | ');
}

/** A bar of `width` cells and the whole percentage, e.g. `[███░░░] 50%`. */
function bar(share: number, width: number): string {
  const s = Math.min(1, Math.max(0, share));
  const full = Math.round(s * width);
  return `[${'█'.repeat(full)}${'░'.repeat(width - full)}] ${Math.floor(s * 100)}%`;
}

/** Remaining time at the current rate: `0:00` when done, `?` before anything arrived. */
function eta(done: number, total: number, rate: number): string {
  if (done >= total) return clock(0);
  return rate > 0 ? clock((total - done) / rate) : '?';
}

/** Seconds as `m:ss`, or `h:mm:ss` from an hour. */
function clock(seconds: number): string {
  const s = Math.round(seconds);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}
