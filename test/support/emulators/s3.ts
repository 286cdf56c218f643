import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { stopProcess, waitForPort } from './process.js';

export interface S3rverProcess {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  pid: number;
  /** SIGTERM, then SIGKILL after 2 s; resolves once the process has exited and its data folder is gone. */
  stop(): Promise<void>;
}

const SHIM = fileURLToPath(new URL('../s3rver-plus.cjs', import.meta.url));
const READY = /S3rver listening on [^:\s]+:(\d+)/;

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
  const port = await waitForPort(child, READY, 's3rver-plus', async () => rmSync(directory, { recursive: true, force: true }));
  return { endpoint: `http://127.0.0.1:${port}`, pid: child.pid as number, stop };
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
