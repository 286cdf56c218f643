import { createLogger, type Level, type Logger, type LogSink } from '../util/log.js';
import type { TtyProgress } from './progress.js';

export { TtyProgress, type TtyProgressOptions } from './progress.js';

/**
 * JSON lines when stderr is not a terminal (cron, Kubernetes); short human lines on a terminal,
 * written above the live progress line when one is drawn (`progress.log`), so they never break it.
 */
export function cliLogger(stream: NodeJS.WriteStream, level: Level, redact: (t: string) => string, progress?: TtyProgress): Logger {
  const sink: LogSink = stream.isTTY
    ? (record) => {
        const { ts: _ts, level: lvl, event, ...fields } = record;
        const detail = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
        const text = `${lvl === 'info' ? '' : `${lvl.toUpperCase()} `}${event} ${detail}`;
        if (!progress?.log(text)) stream.write(`${text}\n`);
      }
    : (record) => stream.write(JSON.stringify(record) + '\n');
  return createLogger(sink, { level, redact });
}
