/**
 * Structured logging. Event names are bounded and past tense (`FilePublished`,
 * `CheckpointAdvanced`); fields are snake_case. The sink decides the rendering: JSON lines
 * on stderr when not a TTY, short human lines (plus a progress line) on a TTY.
 * Every string that passes through is run through the redactor, so a secret that slipped
 * into an error message is still never printed.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

export type LogSink = (record: { ts: string; level: Level; event: string } & Record<string, unknown>) => void;

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

// The redactor lives in its own module (the drivers use it without the logger); it is
// re-exported here because the CLI and the metrics push import it from this file.
export { makeRedactor } from './redact.js';

export function createLogger(sink: LogSink, options: { level?: Level; redact?: (text: string) => string } = {}): Logger {
  const min = ORDER[options.level ?? 'info'];
  const redact = options.redact ?? ((t: string) => t);
  const emit = (level: Level, event: string, fields: Record<string, unknown> = {}) => {
    if (ORDER[level] < min) return;
    // Each string value is redacted as it is, not in its JSON-escaped form, where a secret
    // with a quote or backslash in it would not match.
    const clean = JSON.parse(JSON.stringify(fields ?? {}), (_key, value: unknown) => (typeof value === 'string' ? redact(value) : value)) as Record<string, unknown>;
    sink({ ts: new Date().toISOString(), level, event, ...clean });
  };
  return {
    debug: (e, f) => emit('debug', e, f),
    info: (e, f) => emit('info', e, f),
    warn: (e, f) => emit('warn', e, f),
    error: (e, f) => emit('error', e, f),
  };
}

/** A logger that drops everything (library default). */
export const silentLogger: Logger = createLogger(() => {});
