/**
 * One error base class for the whole exporter (STYLE.md item 7).
 *
 * Every error carries a stable `code`, whether it is `transient` (worth retrying) and the
 * exit code the CLI maps it to. Messages name the thing and the fix; they never contain a
 * secret (API keys and cloud credentials are redacted before an error is built).
 */
export type ExitCode = 0 | 2 | 3 | 4 | 5 | 6 | 7 | 130 | 143;

export interface ErrorContext {
  [key: string]: unknown;
}

export abstract class ExportError extends Error {
  abstract readonly code: string;
  abstract readonly exitCode: ExitCode;
  readonly transient: boolean = false;
  readonly context: ErrorContext;

  constructor(message: string, options: { cause?: unknown; context?: ErrorContext } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.context = options.context ?? {};
  }
}

/** Bad flags, config file or environment: exit 2, nothing was touched. */
export class ConfigError extends ExportError {
  readonly code = 'ERR_CONFIG';
  readonly exitCode = 2 as const;
}

/** The Mixpeek API failed in a way retries did not (or must not) fix: exit 3. */
export class SourceError extends ExportError {
  readonly code: string;
  readonly exitCode = 3 as const;
  override readonly transient: boolean;
  readonly status: number | undefined;

  constructor(
    message: string,
    options: { cause?: unknown; context?: ErrorContext; status?: number; transient?: boolean; code?: string } = {},
  ) {
    super(message, options);
    this.status = options.status;
    this.transient = options.transient ?? false;
    this.code = options.code ?? 'ERR_SOURCE';
  }
}

/** A storage operation failed: exit 4. `transient` marks throttling and resets. */
export class StorageError extends ExportError {
  readonly code: string;
  readonly exitCode = 4 as const;
  override readonly transient: boolean;

  constructor(message: string, options: { cause?: unknown; context?: ErrorContext; transient?: boolean; code?: string } = {}) {
    super(message, options);
    this.transient = options.transient ?? false;
    this.code = options.code ?? 'ERR_STORAGE';
  }
}

/** A create-only write found the key already there. Handled by the resume logic. */
export class AlreadyExistsError extends StorageError {
  override readonly code = 'ERR_ALREADY_EXISTS';
}

/** A compare-and-swap lost: the object changed (or appeared, or vanished) since it was read. */
export class PreconditionFailedError extends StorageError {
  override readonly code = 'ERR_PRECONDITION_FAILED';
}

/** Another run holds the destination's lease: exit 5. */
export class LeaseHeldError extends ExportError {
  readonly code = 'ERR_LEASE_HELD';
  readonly exitCode = 5 as const;
}

/** Staged data does not match its manifest or checkpoint (`verify`, and a resume that finds a pending file of another size): exit 6. */
export class IntegrityError extends ExportError {
  readonly code: string = 'ERR_INTEGRITY';
  readonly exitCode = 6 as const;
}

/**
 * A checkpoint, manifest or lease at the destination is not valid JSON or not the shape the
 * exporter writes (corrupt or hand-edited): exit 6. The message names the object's URL, the
 * field and the fix; the run stops before writing anything, so the object stays as it is.
 */
export class CorruptStateError extends IntegrityError {
  override readonly code = 'ERR_STATE_CORRUPT';
}

/**
 * A sink (src/sinks) could not deliver a run's notification: exit 7, "exported; a sink failed
 * and will be retried". The export's files and checkpoint are committed; the notification
 * stays pending in the checkpoint and the next run delivers it again with the same run id.
 * The message names the sink, the endpoint and the fix; `transient` failures are retried
 * within the run first (util/retry.ts).
 */
export class SinkError extends ExportError {
  readonly code: string;
  readonly exitCode = 7 as const;
  override readonly transient: boolean;
  /** The sink's name (its `type` unless the config names it). */
  readonly sink: string;
  /** What was called, without secrets: a URL (no query string) or a command. */
  readonly endpoint: string;
  /** The HTTP status or exit code that failed, when there was one. */
  readonly status: number | undefined;
  /** Server-suggested wait before a retry (Retry-After), as given. */
  readonly retryAfter: string | undefined;

  constructor(
    sink: string,
    endpoint: string,
    message: string,
    options: { cause?: unknown; context?: ErrorContext; transient?: boolean; status?: number; code?: string; retryAfter?: string } = {},
  ) {
    super(`[sink ${sink}] ${endpoint}: ${message}`, options);
    this.sink = sink;
    this.endpoint = endpoint;
    this.transient = options.transient ?? false;
    this.status = options.status;
    this.retryAfter = options.retryAfter;
    this.code = options.code ?? 'ERR_SINK';
  }
}

/** The run was cancelled through its AbortSignal (SIGINT/SIGTERM); the checkpoint is valid. */
export class AbortedError extends ExportError {
  readonly code = 'ERR_ABORTED';
  readonly exitCode: 130 | 143;
  constructor(message: string, signal: 'SIGINT' | 'SIGTERM' = 'SIGTERM') {
    super(message);
    this.exitCode = signal === 'SIGINT' ? 130 : 143;
  }
}

/** A bug or broken invariant in the exporter itself. Exits 4 to be safe (nothing lost: the checkpoint is valid). */
export class InternalError extends ExportError {
  readonly code = 'ERR_INTERNAL';
  readonly exitCode = 4 as const;
}
