import type { FileRecord } from '../commit/checkpoint.js';
import type { ProgressSink } from '../run/types.js';
import { createLogger, type Level, type Logger, type LogSink } from '../util/log.js';

/** JSON lines when stderr is not a terminal (cron, Kubernetes); short human lines on a terminal. */
export function cliLogger(stream: NodeJS.WriteStream, level: Level, redact: (t: string) => string, progress?: TtyProgress): Logger {
  const sink: LogSink = stream.isTTY
    ? (record) => {
        const { ts: _ts, level: lvl, event, ...fields } = record;
        const detail = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
        progress?.clear();
        stream.write(`${lvl === 'info' ? '' : `${lvl.toUpperCase()} `}${event} ${detail}\n`);
        progress?.draw();
      }
    : (record) => stream.write(JSON.stringify(record) + '\n');
  return createLogger(sink, { level, redact });
}

/** Counters of a run, and the live progress line on a TTY (documents, files, MB, docs/s). */
export class TtyProgress implements ProgressSink {
  documents = 0;
  /** Rows written to files, including a file still open (the live rate). */
  rows = 0;
  files = 0;
  bytes = 0;
  /** What was published (files recorded in the checkpoint): the summary's counts, also after an interrupt. */
  readonly published = { files: 0, rows: 0, bytes: 0 };
  private readonly started = Date.now();
  private lastDraw = 0;

  constructor(private readonly stream: NodeJS.WriteStream | null) {}

  pageFetched(documents: number): void {
    this.documents += documents;
    this.maybeDraw();
  }
  rowWritten(): void {
    this.rows++;
  }
  filePublished(record: FileRecord): void {
    this.files++;
    this.bytes += record.bytes;
    this.published.files++;
    this.published.rows += record.rows;
    this.published.bytes += record.bytes;
    this.maybeDraw();
  }

  get seconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  line(): string {
    const rate = this.rows / Math.max(this.seconds, 0.001);
    return `${this.documents} documents, ${this.rows} rows, ${this.files} files, ${(this.bytes / 1e6).toFixed(1)} MB, ${Math.round(rate)} docs/s`;
  }

  clear(): void {
    if (this.stream?.isTTY) this.stream.write('\r\x1b[2K');
  }

  draw(): void {
    if (this.stream?.isTTY) this.stream.write(`\r\x1b[2K${this.line()}`);
  }

  private maybeDraw(): void {
    const now = Date.now();
    if (now - this.lastDraw < 200) return;
    this.lastDraw = now;
    this.draw();
  }
}
