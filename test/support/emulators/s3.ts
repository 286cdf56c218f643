import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { stopProcess } from './process.js';

export interface S3rverProcess {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  pid: number;
  /** SIGTERM, then SIGKILL after 2 s; resolves once the process has exited and its data folder is gone. */
  stop(): Promise<void>;
}

const SHIM = fileURLToPath(new URL('../s3rver-plus.cjs', import.meta.url));
const READY = /S3rver listening on [^:\s]+:(\d+)/;
const START_TIMEOUT_MS = 30_000;

/**
 * Spawns s3rver behind the s3rver-plus shim (reference/emulators.md §3) on a free port, with
 * its data in a fresh temp folder. `node <file>` rather than npx, so the PID we stop is the
 * server itself. `--silent` turns off the request log; the ready line is still printed.
 */
export async function startS3rver(): Promise<S3rverProcess> {
  const directory = mkdtempSync(path.join(tmpdir(), 'mxp-s3rver-'));
  const args = [SHIM, '--directory', directory, '--address', '127.0.0.1', '--port', '0', '--silent'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = async () => {
    await stopProcess(child);
    rmSync(directory, { recursive: true, force: true });
  };
  return new Promise<S3rverProcess>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => fail(new Error(`s3rver-plus did not start within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
    const fail = (error: Error) => {
      clearTimeout(timer);
      void stop();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = READY.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stdout?.resume(); // keep draining, so a chatty child never blocks on a full pipe
      child.off('exit', onExit);
      resolve({ endpoint: `http://127.0.0.1:${match[1]}`, pid: child.pid as number, stop });
    };
    const onExit = (code: number | null) => fail(new Error(`s3rver-plus exited early (code ${code}):\n${output}`));
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
    child.once('exit', onExit);
    child.once('error', fail);
  });
}

/**
 * A client for the emulator. s3rver accepts only the key id `S3RVER` (and checks no
 * signature). The SDK's default checksum settings are kept on purpose: the shim decodes the
 * aws-chunked bodies they produce, so tests run the same requests as production.
 */
export function s3TestClient(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
}

/** Creates a bucket on the emulator. */
export async function createBucket(endpoint: string, name: string): Promise<void> {
  const client = s3TestClient(endpoint);
  try {
    await client.send(new CreateBucketCommand({ Bucket: name }));
  } finally {
    client.destroy();
  }
}
