/**
 * The command sink: runs an executable with the run's payload (payload.ts) on stdin, as
 * peepshow's "a sink is any executable that reads the JSON payload on stdin". No shell: the
 * argv is spawned as given, so nothing in it is expanded or quoted.
 *
 * Contract with the command:
 * - stdin: the JSON payload, then closed. stdout is ignored (its last line is logged at debug);
 *   stderr's last lines (at most 2 KB) go into the failure message.
 * - environment: this process's, minus the exporter's own secrets (STRIPPED_ENV_VARS), plus
 *   MIXPEEK_EXPORT_EVENT, _RUN_ID, _COLLECTION_ID and _MANIFEST_URL.
 * - exit 0: delivered. Exit 75 (EX_TEMPFAIL, sysexits.h): try again later; retried with the
 *   project's policy. Any other exit, or a signal: failed (pending; the next run runs it again).
 * - past `timeoutSeconds`: SIGTERM to its process group, SIGKILL 5 s later; failed (transient).
 *
 * The command is run again, with the same MIXPEEK_EXPORT_RUN_ID, whenever an earlier attempt
 * did not exit 0; a command that loads data must use the run id to stay idempotent.
 */
import { spawn } from 'node:child_process';
import { SinkError } from '../errors.js';
import { retryDelay } from '../util/retry.js';
import type { CommandSpec } from './config.js';
import { RUN_COMPLETED_EVENT, runPayload } from './payload.js';
import type { RunNotice, Sink, SinkEnv } from './types.js';

/** sysexits.h EX_TEMPFAIL: "temporary failure, the user is invited to retry". */
export const EX_TEMPFAIL = 75;
/** Between the SIGTERM of a timed-out (or cancelled) command and its SIGKILL. */
export const KILL_GRACE_MS = 5_000;
const STDERR_TAIL_BYTES = 2_048;

/**
 * Variables the command does not inherit: the exporter's own credentials, which a loader has
 * no use for (the Mixpeek API key) or which belong to other sinks. Cloud storage credentials
 * (AWS_*, AZURE_STORAGE_*, GOOGLE_APPLICATION_CREDENTIALS) are passed on: a command is run to
 * read or load the files just staged, with the same identity, under the names every SDK and
 * CLI reads (and an instance role or workload identity would reach it anyway). A command that
 * needs one of these values gets it under another name set for it (e.g. LOADER_DATABRICKS_TOKEN).
 */
export const STRIPPED_ENV_VARS = ['MIXPEEK_API_KEY', 'DATABRICKS_TOKEN', 'MIXPEEK_EXPORT_WEBHOOK_SECRET', 'SNOWFLAKE_PRIVATE_KEY_PASSPHRASE'] as const;

export interface CommandSinkOptions {
  /** The environment the command inherits (before STRIPPED_ENV_VARS are removed). Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** SIGTERM to SIGKILL, in ms. Default KILL_GRACE_MS. */
  killGraceMs?: number;
}

/** The command's environment for `notice`: see STRIPPED_ENV_VARS. */
export function commandEnv(base: Record<string, string | undefined>, notice: RunNotice): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(base)) if (value !== undefined && !(STRIPPED_ENV_VARS as readonly string[]).includes(key)) env[key] = value;
  return {
    ...env,
    MIXPEEK_EXPORT_EVENT: RUN_COMPLETED_EVENT,
    MIXPEEK_EXPORT_RUN_ID: notice.runId,
    MIXPEEK_EXPORT_COLLECTION_ID: notice.collectionId,
    MIXPEEK_EXPORT_MANIFEST_URL: notice.url(notice.manifestKey),
  };
}

/** Builds the command sink from its resolved spec (config.ts: `command` argv, `timeoutSeconds`). */
export function commandSink(spec: CommandSpec, options: CommandSinkOptions = {}): Sink {
  const endpoint = spec.command.join(' ');
  const fail = (message: string, extra: { transient?: boolean; status?: number; code?: string; cause?: unknown } = {}) => new SinkError(spec.name, endpoint, message, extra);
  return {
    name: spec.name,
    type: spec.type,
    endpoint,
    async deliver(notice, env) {
      const stdin = JSON.stringify(runPayload(notice));
      const childEnv = commandEnv(options.env ?? process.env, notice);
      for (let attempt = 0; ; attempt++) {
        const outcome = await runOnce(spec.command, stdin, childEnv, { timeoutMs: spec.timeoutSeconds * 1000, graceMs: options.killGraceMs ?? KILL_GRACE_MS, signal: env.signal });
        if (!outcome.spawnError) env.logger.debug('SinkCommandExited', { sink: spec.name, endpoint, attempt: attempt + 1, exit_code: outcome.code, signal: outcome.signal, stdout_last_line: outcome.stdoutLast });
        if (outcome.code === 0) {
          return { summary: `run ${notice.runId} delivered to ${endpoint} (exit 0)`, details: { exit_code: 0, attempts: attempt + 1 } };
        }
        const error = explain(outcome, spec, fail);
        if (outcome.code !== EX_TEMPFAIL) throw error;
        // EX_TEMPFAIL is the command's 503: back off as the HTTP sinks do.
        const delay = retryDelay({ kind: 'status', status: 503 }, attempt, env.retry);
        if (delay === null) throw error;
        env.logger.warn('SinkRetry', { sink: spec.name, endpoint, attempt: attempt + 1, delay_ms: delay, status: EX_TEMPFAIL, message: error.message });
        await sleepOrCancel(env, delay, fail);
      }
    },
  };
}

type Fail = (message: string, extra?: { transient?: boolean; status?: number; code?: string; cause?: unknown }) => SinkError;

/** How one run of the command ended. */
interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why it could not be started (ENOENT, EACCES), when it was not. */
  spawnError?: NodeJS.ErrnoException;
  timedOut: boolean;
  cancelled: boolean;
  stderrTail: string;
  stdoutLast: string;
}

/** The SinkError for an outcome that is not exit 0. */
function explain(outcome: Outcome, spec: CommandSpec, fail: Fail): SinkError {
  const program = spec.command[0] as string;
  const said = outcome.stderrTail ? `; its stderr ended with: ${outcome.stderrTail}` : '';
  const { spawnError } = outcome;
  if (spawnError?.code === 'ENOENT') {
    return fail(`cannot run ${program}: no such file (ENOENT); give an absolute path, or put it on PATH, in MIXPEEK_EXPORT_SINK_COMMAND (or command in the sinks entry)`, { code: 'ERR_SINK_COMMAND', cause: spawnError });
  }
  if (spawnError?.code === 'EACCES') {
    return fail(`cannot run ${program}: permission denied (EACCES); make it executable (chmod +x ${program}) or run it through its interpreter, e.g. ["node", "${program}"]`, { code: 'ERR_SINK_COMMAND', cause: spawnError });
  }
  if (spawnError) return fail(`cannot run ${program}: ${spawnError.code ?? spawnError.message}`, { code: 'ERR_SINK_COMMAND', cause: spawnError });
  if (outcome.cancelled) return fail(`cancelled before it finished (it was sent SIGTERM); the next run runs it again${said}`, { transient: true });
  if (outcome.timedOut) {
    return fail(`still running after ${spec.timeoutSeconds} s, so it was killed${said}; raise timeoutSeconds in its sinks entry if it needs longer (the next run runs it again)`, { transient: true, code: 'ERR_SINK_TIMEOUT' });
  }
  if (outcome.code === EX_TEMPFAIL) return fail(`exited with code 75 (EX_TEMPFAIL: try again later) and retries ran out${said}; the next run runs it again`, { transient: true, status: EX_TEMPFAIL });
  if (outcome.signal) return fail(`was killed by ${outcome.signal} (not by this exporter: out of memory, or another process?)${said}`, {});
  // 127 is how env(1) and shells say "not found": usually the interpreter on a script's #! line.
  const hint = outcome.code === 127 ? ' (command not found: is the interpreter on its #! line installed and on PATH?)' : '';
  return fail(`exited with code ${outcome.code}${hint}${said}; fix the command (exit 0: delivered; exit 75: retry later), then the next run runs it again`, { status: outcome.code ?? undefined });
}

/** Runs the command once: payload on stdin, killed (its whole process group) past the timeout or on cancel. */
function runOnce(argv: string[], stdin: string, env: Record<string, string>, limits: { timeoutMs: number; graceMs: number; signal?: AbortSignal }): Promise<Outcome> {
  return new Promise((resolve) => {
    const outcome: Outcome = { code: null, signal: null, timedOut: false, cancelled: false, stderrTail: '', stdoutLast: '' };
    // detached: its own process group, so a kill reaches what it started (a shell's children).
    const child = spawn(argv[0] as string, argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const stderr = tail(STDERR_TAIL_BYTES * 2);
    const stdout = tail(4_096);
    child.stderr.on('data', stderr.push);
    child.stdout.on('data', stdout.push);
    // A command that exits without reading stdin closes the pipe: EPIPE is not a failure.
    child.stdin.on('error', () => {});
    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), limits.graceMs);
    };
    const timer = setTimeout(() => {
      outcome.timedOut = true;
      stop();
    }, limits.timeoutMs);
    const onAbort = () => {
      outcome.cancelled = true;
      stop();
    };
    limits.signal?.addEventListener('abort', onAbort, { once: true });
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      limits.signal?.removeEventListener('abort', onAbort);
      outcome.stderrTail = lastLines(stderr.text(), STDERR_TAIL_BYTES);
      outcome.stdoutLast = (stdout.text().split(/\r?\n/).map((l) => l.trim()).filter(Boolean).at(-1) ?? '').slice(-500);
      resolve(outcome);
    };
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return; // a kill that failed; 'close' still comes
      outcome.spawnError = error;
      finish();
    });
    child.on('close', (code, signal) => {
      if (done) return;
      outcome.code = code;
      outcome.signal = signal;
      finish();
    });
    if (limits.signal?.aborted) onAbort();
    child.stdin.end(stdin);
  });
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** Keeps the last `max` bytes written to it. */
function tail(max: number): { push: (chunk: Buffer) => void; text: () => string } {
  let kept = Buffer.alloc(0);
  return {
    push: (chunk) => {
      kept = Buffer.concat([kept, chunk]);
      if (kept.length > max) kept = kept.subarray(kept.length - max);
    },
    text: () => kept.toString('utf8'),
  };
}

/** The last whole lines of `text` that fit in `max` characters, non-empty ones, joined with " | ". */
function lastLines(text: string, max: number): string {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const kept: string[] = [];
  let size = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] as string;
    if (size + line.length + 3 > max) {
      if (kept.length === 0) kept.unshift(`…${line.slice(line.length - max + 1)}`);
      break;
    }
    kept.unshift(line);
    size += line.length + 3;
  }
  return kept.join(' | ');
}

async function sleepOrCancel(env: SinkEnv, ms: number, fail: Fail): Promise<void> {
  try {
    await env.sleep(ms, env.signal);
  } catch (cause) {
    throw fail('cancelled while waiting to run it again; the next run runs it again', { transient: true, cause });
  }
}
