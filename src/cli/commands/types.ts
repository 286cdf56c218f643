import type { ExitCode } from '../../errors.js';

/** What `main` gives a command. Commands never read process.argv or call process.exit. */
export interface CommandIo {
  env: NodeJS.ProcessEnv;
  /** Writes to stdout as is; commands redact what may hold a secret. */
  stdout(text: string): void;
  /** Removes every secret the process holds from `text`. */
  redact(text: string): string;
  /** Installs the SIGINT/SIGTERM handlers (only commands that can stop cleanly call it). */
  interrupts(): Interrupts;
  /** Ends the process now with `code` (serve, when exports did not stop within its shutdown timeout). */
  exit(code: ExitCode): never;
}

/**
 * SIGINT/SIGTERM as an AbortSignal: the first signal calls the listeners, then aborts with
 * `{ signal }` as the reason; a second one exits at once (130 / 143).
 */
export interface Interrupts {
  signal: AbortSignal;
  onInterrupt(listener: (signal: 'SIGINT' | 'SIGTERM') => void): void;
}
