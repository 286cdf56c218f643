import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import { EarlyExitError, stopProcess, waitForPort } from './process.js';

/**
 * Azurite's well-known development account. The key is public (it is printed in Azure's
 * own docs), so it is fine in tests; a real key never belongs here.
 */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteServer {
  /** `http://127.0.0.1:<port>/devstoreaccount1` */
  accountUrl: string;
  connectionString: string;
  pid: number;
  /** SIGTERM, then SIGKILL after 2 s; resolves once the process has exited. */
  stop(): Promise<void>;
}

const READY = /successfully listens on http:\/\/[^:]+:(\d+)/;

/**
 * Spawns Azurite's blob service (only) in memory on a free port. Flags, per
 * reference/emulators.md §4: `--skipApiVersionCheck` is mandatory with
 * @azure/storage-blob 12.34 (it sends an API version newer than Azurite 3.37 accepts);
 * `--silent` turns off the access log, the ready line is still printed.
 *
 * The entry file is spawned with `node` (not `npx azurite-blob`) so the PID we kill is the
 * server itself; `require('azurite')` does not work (its `main` is the VS Code extension).
 */
export async function startAzurite(): Promise<AzuriteServer> {
  const entry = path.join(path.dirname(createRequire(import.meta.url).resolve('azurite/package.json')), 'dist/src/blob/main.js');
  try {
    return await spawnAzurite(entry, 0);
  } catch (error) {
    // If this build cannot listen on port 0 it exits at once: pick a free port ourselves.
    if (!(error instanceof EarlyExitError)) throw error;
    return spawnAzurite(entry, await freePort());
  }
}

async function spawnAzurite(entry: string, port: number): Promise<AzuriteServer> {
  const args = [
    entry,
    '--blobHost', '127.0.0.1',
    '--blobPort', String(port),
    '--inMemoryPersistence',
    '--extentMemoryLimit', '512',
    '--skipApiVersionCheck',
    '--disableTelemetry',
    '--silent',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const accountUrl = `http://127.0.0.1:${await waitForPort(child, READY, 'Azurite')}/${AZURITE_ACCOUNT}`;
  return {
    accountUrl,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${accountUrl};`,
    pid: child.pid as number,
    stop: () => stopProcess(child),
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A container client on the emulator, for test setup and for looking behind a driver. */
export function containerClient(connectionString: string, name: string): ContainerClient {
  return BlobServiceClient.fromConnectionString(connectionString).getContainerClient(name);
}

/** Creates a container (fine if it already exists) and returns its client. */
export async function createContainer(connectionString: string, name: string): Promise<ContainerClient> {
  const client = containerClient(connectionString, name);
  await client.createIfNotExists();
  return client;
}
