import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { FileRecord } from '../../src/commit/checkpoint.js';
import { cliLogger, TtyProgress } from '../../src/cli/output.js';

/** A stream that says it is a terminal `columns` wide; `text()` is everything written to it so far. */
function fakeTerminal(isTTY = true, columns = 200): { stream: NodeJS.WriteStream; text: () => string } {
  const stream = Object.assign(new PassThrough({ highWaterMark: 1 << 24 }), { isTTY, columns });
  let written = '';
  return {
    stream: stream as unknown as NodeJS.WriteStream,
    text: () => {
      for (let chunk = stream.read(); chunk !== null; chunk = stream.read()) written += String(chunk);
      return written;
    },
  };
}

/**
 * What a terminal shows after `output`: the lines of the screen, trailing spaces cut. Knows
 * what readline and cli-progress write: \r, \n (the tty's onlcr: also to column 0), cursor
 * up/down/column (A, B, G), erase in line (K) and below (J); other escapes are ignored.
 */
function screen(output: string): string[] {
  const rows: string[][] = [[]];
  let row = 0;
  let col = 0;
  const line = () => (rows[row] ??= []);
  for (let i = 0; i < output.length; i++) {
    const ch = output[i] as string;
    if (ch === '\n') [row, col] = [row + 1, 0];
    else if (ch === '\r') col = 0;
    else if (ch === '\x1b') {
      const m = /^\x1b\[(\??)(\d*)([A-Za-z])/.exec(output.slice(i));
      if (!m) continue;
      i += m[0].length - 1;
      const n = m[2] === '' ? undefined : Number(m[2]);
      if (m[1] === '?') continue;
      if (m[3] === 'A') row = Math.max(0, row - (n ?? 1));
      else if (m[3] === 'B') row += n ?? 1;
      else if (m[3] === 'G') col = (n ?? 1) - 1;
      else if (m[3] === 'K') eraseInLine(line(), col, n ?? 0);
      else if (m[3] === 'J') {
        rows.splice(row + 1);
        line().splice(col);
      }
    } else {
      const l = line();
      while (l.length < col) l.push(' ');
      l[col++] = ch;
    }
  }
  for (let r = 0; r <= row; r++) rows[r] ??= [];
  return rows.map((r) => Array.from(r, (c) => c ?? ' ').join('').trimEnd());
}

/** ESC [ n K: 0 erases right of the cursor (and under it), 1 left of it (and under it), 2 the whole line. */
function eraseInLine(line: string[], col: number, n: number): void {
  if (n === 0) line.splice(col);
  else if (n === 1) line.fill(' ', 0, col + 1);
  else line.length = 0;
}

/** A clock the test moves. */
function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

const file = (rows: number, bytes: number) => ({ key: 'k', seq: 0, rows, bytes, sha256: '', endPosition: null }) as unknown as FileRecord;

let progress: TtyProgress | null = null;
afterEach(() => progress?.clear()); // stops the live line's redraw timer

describe('the progress line on a terminal', () => {
  it('shows documents done of the total, a bar with its percentage, docs/s, elapsed and ETA', () => {
    const term = fakeTerminal();
    const clock = fakeClock();
    progress = new TtyProgress(term.stream, { now: clock.now });
    progress.collectionStarted('col_a');
    progress.totalKnown('col_a', 600);
    progress.totalKnown('col_a', 400);
    clock.advance(2000);
    progress.pageFetched(400, 'col_a');
    progress.filePublished(file(400, 1_500_000), 'col_a');
    progress.draw();
    const last = screen(term.text()).at(-1) ?? '';
    expect(last).toMatch(/^col_a \[█{12}░{18}\] 40% 400\/1000 docs \| 200 docs\/s \| 1 files, 1\.5 MB \| elapsed 0:02 \| ETA 0:03$/);
  });

  it('shows documents, docs/s up to the last page and elapsed, without a bar or ETA, when the API did not say the total', () => {
    const term = fakeTerminal();
    const clock = fakeClock();
    progress = new TtyProgress(term.stream, { now: clock.now });
    progress.collectionStarted('col_a');
    clock.advance(4000);
    progress.pageFetched(1000, 'col_a');
    clock.advance(2000); // the last file and the reconciliation: the paging rate holds
    progress.draw();
    const last = screen(term.text()).at(-1) ?? '';
    expect(last).toBe('col_a 1000 docs | 250 docs/s | 0 files, 0.0 MB | elapsed 0:06');
  });

  it('writes log lines from cliLogger above the live line, each on its own line, and redraws the line below them', () => {
    const term = fakeTerminal();
    const clock = fakeClock();
    progress = new TtyProgress(term.stream, { now: clock.now });
    const logger = cliLogger(term.stream, 'info', (t) => t, progress);
    progress.collectionStarted('col_a');
    progress.totalKnown('col_a', 2000);
    clock.advance(1000);
    progress.pageFetched(1000, 'col_a');
    progress.draw();
    logger.info('FilePublished', { key: 'col_a/dt=2026-01-01/part-1.parquet' });
    clock.advance(1000);
    progress.pageFetched(500, 'col_a');
    progress.draw();
    logger.warn('RequestRetried', { attempt: 1 });
    expect(screen(term.text())).toEqual([
      'FilePublished key=col_a/dt=2026-01-01/part-1.parquet',
      'WARN RequestRetried attempt=1',
      `col_a [${'█'.repeat(23)}${'░'.repeat(7)}] 75% 1500/2000 docs | 750 docs/s | 0 files, 0.0 MB | elapsed 0:02 | ETA 0:01`,
    ]);
  });

  it('keeps the last line of a finished collection on screen and draws the next collection on a new line', () => {
    const term = fakeTerminal();
    const clock = fakeClock();
    progress = new TtyProgress(term.stream, { now: clock.now });
    progress.collectionStarted('col_a');
    progress.totalKnown('col_a', 1000);
    clock.advance(1000);
    progress.pageFetched(1000, 'col_a');
    progress.collectionFinished('col_a');
    clock.advance(5000); // not counted in col_a's elapsed: it finished
    progress.collectionStarted('col_b');
    clock.advance(1000);
    progress.pageFetched(10, 'col_b');
    progress.draw();
    const lines = screen(term.text());
    expect(lines[0]).toMatch(/^col_a \[█{30}\] 100% 1000\/1000 docs \| 1000 docs\/s \| .* \| elapsed 0:01 \| ETA 0:00$/);
    expect(lines[1]).toBe('col_b 10 docs | 10 docs/s | 0 files, 0.0 MB | elapsed 0:01');
    expect(progress.documents).toBe(1010);
  });

  it('fits the line to a narrow terminal: a shorter bar, then no files part, then no elapsed time, and the ETA still shows', () => {
    const lineAt = (columns: number) => {
      const term = fakeTerminal(true, columns);
      const clock = fakeClock();
      const p = new TtyProgress(term.stream, { now: clock.now });
      p.collectionStarted('col_video_frames');
      p.totalKnown('col_video_frames', 1_000_000);
      clock.advance(10_000);
      p.pageFetched(100_000, 'col_video_frames');
      p.draw();
      p.clear();
      return screen(term.text()).filter(Boolean).at(-1) ?? '';
    };
    const wide = lineAt(140);
    expect(wide).toMatch(/^col_video_frames \[█{3}░{27}\] 10% 100000\/1000000 docs \| 10000 docs\/s \| 0 files, 0\.0 MB \| elapsed 0:10 \| ETA 1:30$/);
    expect(lineAt(100)).toMatch(/^col_video_frames \[█+░+\] 10% 100000\/1000000 docs \| 10000 docs\/s \| elapsed 0:10 \| ETA 1:30$/);
    const narrow = lineAt(80);
    expect(narrow.length).toBeLessThan(80);
    expect(narrow).toMatch(/^col_video_frames \[█+░+\] 10% 100000\/1000000 docs \| 10000 docs\/s \| ETA 1:30$/);
  });

  it('keeps the run counters the summary reads, whatever the terminal', () => {
    progress = new TtyProgress(null);
    progress.pageFetched(3, 'col_a');
    progress.rowWritten();
    progress.filePublished(file(3, 100), 'col_a');
    expect([progress.documents, progress.rows, progress.files, progress.bytes]).toEqual([3, 1, 1, 100]);
    expect(progress.published).toEqual({ files: 1, rows: 3, bytes: 100 });
    expect(progress.log('a line')).toBe(false);
  });
});

describe('the progress line off a terminal', () => {
  it('draws nothing when the stream is not a TTY: only the JSON log lines are written', () => {
    const term = fakeTerminal(false);
    const clock = fakeClock();
    progress = new TtyProgress(term.stream, { now: clock.now });
    const logger = cliLogger(term.stream, 'info', (t) => t, progress);
    progress.collectionStarted('col_a');
    progress.totalKnown('col_a', 10);
    progress.pageFetched(10, 'col_a');
    progress.draw();
    logger.info('FilePublished', { key: 'k' });
    progress.collectionFinished('col_a');
    const lines = term.text().trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ level: 'info', event: 'FilePublished', key: 'k' });
  });
});
