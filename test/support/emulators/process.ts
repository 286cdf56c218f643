import type { ChildProcess } from 'node:child_process';

/** Stops an emulator child by its PID: SIGTERM, then SIGKILL if it is still there after 2 s. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
  await exited;
  clearTimeout(timer);
}

/** The emulator exited before it printed its ready line. */
export class EarlyExitError extends Error {}

const START_TIMEOUT_MS = 30_000;

/**
 * Waits for an emulator child to print its ready line and returns the port captured by
 * `ready`'s first group. On a timeout or an early exit the child is stopped, `cleanup` runs,
 * and the error carries everything the child printed.
 */
export function waitForPort(child: ChildProcess, ready: RegExp, name: string, cleanup: () => Promise<void> = async () => {}): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => fail(new Error(`${name} did not start within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
    const fail = (error: Error) => {
      clearTimeout(timer);
      void stopProcess(child).then(cleanup);
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = ready.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stdout?.resume(); // keep draining, so a chatty child never blocks on a full pipe
      child.off('exit', onExit);
      resolve(Number(match[1]));
    };
    const onExit = (code: number | null) => fail(new EarlyExitError(`${name} exited before it listened (code ${code}):\n${output}`));
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.once('exit', onExit);
    child.once('error', fail);
  });
}
