/**
 * The part of a file encoder's life that Parquet and NDJSON share: one operation at a time
 * (a `write` waits while the previous row group or chunk is still being handed on), no `write`
 * or `end` after `end`, and one failure that wins: the first error is the one every later
 * call rejects with, and `done` rejects with it, so no caller waits on a dead file.
 */
import type { Stream } from 'node:stream';
import { InternalError } from '../errors.js';

/** A promise with its settle functions. Its rejection is always observed (never "unhandled"). */
export interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

export function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/**
 * Write guard of one encoder. `label` names the format in messages (`[parquet] write() after end()`);
 * `onFail` runs once, with the first error, to tear the encoder's streams down.
 */
export class WriteGuard {
  /** Resolves when the file's bytes are complete (and checked); rejects with the first failure. */
  readonly done = deferred();
  #busy: Promise<void> | undefined;
  #ended = false;
  #failed: Error | undefined;

  constructor(
    private readonly label: string,
    private readonly onFail: (error: Error) => void,
  ) {}

  /** The first failure, if any. */
  get failed(): Error | undefined {
    return this.#failed;
  }

  /** Waits for the operation in flight, then throws if the encoder failed or `end()` was called. */
  async turn(what: 'write' | 'end'): Promise<void> {
    while (this.#busy) await this.#busy;
    if (this.#failed) throw this.#failed;
    if (this.#ended) throw new InternalError(`[${this.label}] ${what}() after end()`);
    if (what === 'end') this.#ended = true;
  }

  /** Runs `operation` as the one in flight: the next `turn()` waits until it has settled. */
  run(operation: () => Promise<void>): Promise<void> {
    const running = operation().finally(() => {
      this.#busy = undefined;
    });
    this.#busy = running;
    return running;
  }

  /** Fails the encoder with `error` unless it already failed. */
  fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = error;
    this.done.reject(error);
    this.onFail(error);
  }

  /** The error for an output that closed before the file was complete (the failure, if there was one). */
  closedEarly(): Error {
    return this.#failed ?? new InternalError(`[${this.label}] output closed before the file was complete`);
  }

  /**
   * Fails the encoder when `output` errors, or closes while `complete()` is still false (its
   * consumer destroyed it): either way the file cannot be finished.
   */
  watch(output: Stream, complete: () => boolean): void {
    output.on('error', (error: Error) => this.fail(error));
    output.on('close', () => {
      if (!complete()) this.fail(this.closedEarly());
    });
  }
}
