import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Readable } from 'node:stream';
import { inspect } from 'node:util';
import { ContainerClient, ContainerSASPermissions, StorageSharedKeyCredential, generateBlobSASQueryParameters } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlreadyExistsError, ConfigError, StorageError } from '../../src/errors.js';
import { azureDriver, parseAzureUrl, type AzureDriverOptions } from '../../src/storage/drivers/azure/index.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, createContainer, startAzurite, type AzuriteServer } from '../support/emulators/azurite.js';
import { describeDriverConformance } from '../support/conformance.js';
import { azuriteConnectionStringVia, blobEndpointOf, startFaultProxy } from '../support/fault-proxy.js';

const random = () => Math.random().toString(36).slice(2, 10);
const BLOCK = 256 * 1024;

let azurite: AzuriteServer;
let container: ContainerClient;
const containerName = `c${random()}`;

beforeAll(async () => {
  azurite = await startAzurite();
  container = await createContainer(azurite.connectionString, containerName);
});
afterAll(async () => azurite?.stop());

/** A driver on the test container; a lowered block size so bodies over 256 KiB are staged. */
const driverWith = (overrides: Partial<AzureDriverOptions> = {}) =>
  azureDriver({
    accountUrl: azurite.accountUrl,
    container: containerName,
    prefix: `p-${random()}`,
    credential: { connectionString: azurite.connectionString },
    blockSizeBytes: BLOCK,
    ...overrides,
  });

/** A streamed body of `blocks` full blocks, optionally failing after `failAfter` of them. */
function bodyOf(blocks: number, options: { failAfter?: number; fill?: number } = {}): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (options.failAfter !== undefined && sent === options.failAfter) return void this.destroy(new Error('encoder failed'));
      if (sent === blocks) return void this.push(null);
      sent++;
      this.push(Buffer.alloc(BLOCK, options.fill ?? sent));
    },
  });
}

/** The blob's block lists, or null when the service has never heard of it. */
async function blockLists(name: string) {
  try {
    const list = await container.getBlockBlobClient(name).getBlockList('all');
    return { committed: list.committedBlocks ?? [], uncommitted: list.uncommittedBlocks ?? [] };
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return null;
    throw error;
  }
}

describeDriverConformance('azure', () =>
  azureDriver({
    accountUrl: azurite.accountUrl,
    container: containerName,
    prefix: `conf-${random()}`,
    credential: { connectionString: azurite.connectionString },
    blockSizeBytes: BLOCK,
    listPageSize: 300,
  }),
);

describe('parseAzureUrl', () => {
  it('reads an ADLS Gen2 abfss URL and writes it through the Blob endpoint', () => {
    expect(parseAzureUrl('abfss://raw@acme.dfs.core.windows.net/mixpeek/exports')).toMatchObject({
      accountUrl: 'https://acme.blob.core.windows.net',
      account: 'acme',
      container: 'raw',
      prefix: 'mixpeek/exports',
    });
  });

  it('reads a Blob https URL with and without a prefix', () => {
    expect(parseAzureUrl('https://acme.blob.core.windows.net/raw/mixpeek/')).toMatchObject({
      accountUrl: 'https://acme.blob.core.windows.net',
      account: 'acme',
      container: 'raw',
      prefix: 'mixpeek',
    });
    expect(parseAzureUrl('https://acme.blob.core.windows.net/raw').prefix).toBe('');
  });

  it('refuses a SAS in the URL without repeating it, and URLs that are not Azure storage', () => {
    const attempt = () => parseAzureUrl('https://acme.blob.core.windows.net/raw/p?sv=2024-01-01&sig=SECRETSIG');
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/query string/);
    expect(attempt).not.toThrow(/SECRETSIG/);
    expect(() => parseAzureUrl('https://example.com/raw/p')).toThrow(ConfigError);
    expect(() => parseAzureUrl('abfss://acme.dfs.core.windows.net/p')).toThrow(ConfigError);
  });
});

describe('azure driver', () => {
  it('stages every block before calling beforeCommit and leaves only uncommitted blocks when the hook throws', async () => {
    const driver = driverWith({ prefix: 'hook' });
    const key = `${random()}.parquet`;
    let seen: Awaited<ReturnType<typeof blockLists>> = null;
    const publishing = driver.publish(key, bodyOf(5), {
      beforeCommit: async () => {
        seen = await blockLists(`hook/${key}`);
        throw new Error('no intent');
      },
    });
    await expect(publishing).rejects.toThrow('no intent');
    expect(seen).toEqual({ committed: [], uncommitted: expect.any(Array) });
    expect(seen!.uncommitted).toHaveLength(5);
    expect(await driver.head(key)).toBeNull();
    const after = await blockLists(`hook/${key}`);
    expect(after?.committed ?? []).toEqual([]);
  });

  it('commits nothing when the body fails after some blocks were staged', async () => {
    const driver = driverWith({ prefix: 'bodyfail' });
    const key = `${random()}.parquet`;
    let hookCalled = false;
    await expect(driver.publish(key, bodyOf(10, { failAfter: 6 }), { beforeCommit: async () => void (hookCalled = true) })).rejects.toThrow('encoder failed');
    expect(hookCalled).toBe(false);
    expect(await driver.head(key)).toBeNull();
    const lists = await blockLists(`bodyfail/${key}`);
    expect(lists?.committed ?? []).toEqual([]);
  });

  it('refuses to commit a block list over an existing blob and leaves the original intact', async () => {
    const driver = driverWith();
    const key = `${random()}.parquet`;
    const original = await driver.publish(key, Buffer.from('original'));
    let hookCalled = false;
    const second = driver.publish(key, bodyOf(3), { beforeCommit: async () => void (hookCalled = true) });
    await expect(second).rejects.toBeInstanceOf(AlreadyExistsError);
    await expect(second).rejects.toThrow(/PutBlockList .*already exists/);
    expect(hookCalled).toBe(true);
    const read = await driver.read(key);
    expect(read?.body.toString()).toBe('original');
    expect(read?.etag).toBe(original.etag);
  });

  it('publishes a staged body whose size is an exact multiple of the block size, with its content type', async () => {
    const driver = driverWith({ prefix: 'exact' });
    const key = `${random()}.parquet`;
    const info = await driver.publish(key, bodyOf(4), { contentType: 'application/vnd.apache.parquet' });
    expect(info.size).toBe(4 * BLOCK);
    const lists = await blockLists(`exact/${key}`);
    expect(lists?.committed).toHaveLength(4);
    const props = await container.getBlobClient(`exact/${key}`).getProperties();
    expect(props.contentType).toBe('application/vnd.apache.parquet');
    expect(props.etag).toBe(info.etag);
    const read = await driver.read(key);
    expect(read?.body.subarray(BLOCK * 3, BLOCK * 3 + 4)).toEqual(Buffer.alloc(4, 4));
  });

  it('reassembles a body whose chunks straddle block boundaries byte for byte', async () => {
    const driver = driverWith({ prefix: 'straddle', concurrency: 2 });
    const data = randomBytes(3 * BLOCK + 12_345);
    const sizes = [1, 700_000, 13, BLOCK - 14, 5, 100_000];
    const chunks: Buffer[] = [];
    for (let at = 0, i = 0; at < data.length; i++) {
      const size = sizes[i % sizes.length] as number;
      chunks.push(data.subarray(at, at + size));
      at += size;
    }
    const info = await driver.publish('mixed.bin', Readable.from(chunks));
    expect(info.size).toBe(data.length);
    expect((await blockLists('straddle/mixed.bin'))?.committed).toHaveLength(4);
    expect((await driver.read('mixed.bin'))?.body.equals(data)).toBe(true);
    const streamed: Buffer[] = [];
    for await (const chunk of await driver.readStream('mixed.bin')) streamed.push(chunk as Buffer);
    expect(Buffer.concat(streamed).equals(data)).toBe(true);
  });

  it('sends a body of one block or less as a single Put Blob', async () => {
    const driver = driverWith({ prefix: 'single' });
    const key = `${random()}.json`;
    await driver.publish(key, bodyOf(1));
    const committed = (await blockLists(`single/${key}`))?.committed ?? [];
    // Put Blob leaves no block list of ours (at most one block the service named itself).
    expect(committed.length).toBeLessThanOrEqual(1);
    for (const block of committed) expect(Buffer.from(block.name, 'base64').toString()).not.toMatch(/^[0-9a-f-]{36}-\d{6}$/);
    expect((await driver.head(key))?.size).toBe(BLOCK);
  });

  it('stops staging and rejects at once, committing nothing, when the run is aborted while a block is uploading', async () => {
    const controller = new AbortController();
    const reason = new Error('run interrupted');
    const seen: string[] = [];
    // A recording proxy in front of Azurite (SDK pipeline policies cannot be added without
    // breaking shared-key signing): it sees each request arrive, and the abort fires as the
    // second Put Block reaches it. No fault is ever injected (the matcher answers false).
    const proxy = await startFaultProxy({ upstream: blobEndpointOf(azurite.connectionString), flavor: 'azure', seed: 1 });
    proxy.force('busy', (req) => {
      seen.push(new URL(req.url, proxy.url).searchParams.get('comp') ?? req.method);
      if (seen.filter((c) => c === 'block').length === 2) controller.abort(reason);
      return false;
    });
    try {
      const connectionString = azuriteConnectionStringVia(proxy);
      const driver = driverWith({ prefix: 'abort', accountUrl: `${proxy.url}/${AZURITE_ACCOUNT}`, credential: { connectionString } });
      const key = `${random()}.parquet`;
      let reads = 0;
      const body = new Readable({ highWaterMark: 1, read() { this.push(++reads <= 10 ? Buffer.alloc(BLOCK, reads) : null); } });
      let hookCalled = false;
      await expect(driver.publish(key, body, { signal: controller.signal, beforeCommit: async () => void (hookCalled = true) })).rejects.toBe(reason);
      expect(hookCalled).toBe(false);
      expect(reads).toBeLessThan(10);
      expect(seen).not.toContain('blocklist');
      expect(await driver.head(key)).toBeNull();
      expect((await blockLists(`abort/${key}`))?.committed ?? []).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('states its block size and concurrency as capability flags', () => {
    expect(driverWith({ concurrency: 3 }).capabilities).toEqual({ partBytes: BLOCK, minPartBytes: 0, maxParts: 50_000, queueSize: 3 });
  });

  it('lists keys relative to the driver prefix', async () => {
    const driver = driverWith({ prefix: `rel-${random()}/nested/` });
    await driver.publish('a/1.json', Buffer.from('1'));
    await driver.publish('a/2.json', Buffer.from('2'));
    await driver.publish('b/3.json', Buffer.from('3'));
    const keys: string[] = [];
    for await (const info of driver.list('a/')) keys.push(info.key);
    expect(keys).toEqual(['a/1.json', 'a/2.json']);
  });

  it('reports a wrong account key as a storage error naming the operation, container and key, without the key', async () => {
    const wrongKey = Buffer.from('this is not the account key at all').toString('base64');
    const driver = driverWith({ prefix: 'auth', credential: { accountName: AZURITE_ACCOUNT, accountKey: wrongKey } });
    const error = await driver.publish('data/x.parquet', Buffer.from('x')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    const storageError = error as StorageError;
    expect(storageError.exitCode).toBe(4);
    expect(storageError.transient).toBe(false);
    expect(storageError.message).toContain('[azure] PutBlob');
    expect(storageError.message).toContain(`/${containerName}/auth/data/x.parquet`);
    expect(storageError.message).toMatch(/Storage Blob Data Contributor|credentials/);
    const everything = `${storageError.message}\n${inspect(storageError, { depth: 5 })}\n${JSON.stringify(storageError.context)}`;
    expect(everything).not.toContain(wrongKey);
    expect(everything).not.toContain(AZURITE_KEY);
  });

  it('tells the user to create a missing container, on writes and on reads', async () => {
    const driver = driverWith({ container: `missing${random()}` });
    await expect(driver.publish('x.json', Buffer.from('x'))).rejects.toThrow(/PutBlob .*ContainerNotFound; create the container or fix --dest/);
    await expect(driver.head('x.json')).rejects.toThrow(/GetBlobProperties .*create the container/);
    await expect(driver.read('x.json')).rejects.toThrow(/create the container/);
  });

  it('works with a SAS token and asks to refresh an expired one, never showing its signature', async () => {
    const key = new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY);
    const sas = (expiresOn: Date) =>
      generateBlobSASQueryParameters(
        { containerName, permissions: ContainerSASPermissions.parse('racwdl'), startsOn: new Date(Date.now() - 3_600_000), expiresOn },
        key,
      ).toString();
    const good = driverWith({ prefix: 'sas', credential: { sasToken: sas(new Date(Date.now() + 3_600_000)) } });
    await good.publish('ok.json', Buffer.from('{}'));
    expect((await good.read('ok.json'))?.body.toString()).toBe('{}');
    expect(good.url('ok.json')).not.toMatch(/sig=|\?/);

    const expiredToken = sas(new Date(Date.now() - 60_000));
    const expired = driverWith({ prefix: 'sas', credential: { sasToken: expiredToken } });
    const error = (await expired.publish('late.json', Buffer.from('{}')).catch((e: unknown) => e)) as StorageError;
    expect(error).toBeInstanceOf(StorageError);
    expect(error.exitCode).toBe(4);
    expect(error.message).toMatch(/\[azure\] PutBlob .*\/sas\/late\.json: \w+; .*refresh them/);
    const signature = new URLSearchParams(expiredToken).get('sig') as string;
    expect(`${error.message}\n${inspect(error, { depth: 5 })}`).not.toContain(signature);
  });

  it('prints URLs with neither a SAS nor a key in them', () => {
    const byKey = azureDriver({ accountUrl: 'https://acme.blob.core.windows.net/', container: 'raw', prefix: 'mixpeek/', credential: { accountName: 'acme', accountKey: AZURITE_KEY } });
    expect(byKey.url('data/dt=2026-11-21/part-1.parquet')).toBe('https://acme.blob.core.windows.net/raw/mixpeek/data/dt=2026-11-21/part-1.parquet');
    const bySas = azureDriver({ accountUrl: 'https://acme.blob.core.windows.net?sv=1&sig=SECRETSIG', container: 'raw', credential: { sasToken: '?sv=1&sig=SECRETSIG' } });
    expect(bySas.url('k')).toBe('https://acme.blob.core.windows.net/raw/k');
    for (const url of [byKey.url('k'), bySas.url('k')]) {
      expect(url).not.toMatch(/sig=|SECRETSIG|AccountKey/);
      expect(url).not.toContain(AZURITE_KEY);
    }
  });

  it('uses an injected client factory, once, on first use', async () => {
    let made = 0;
    const driver = driverWith({
      prefix: 'injected',
      credential: undefined,
      client: () => {
        made++;
        return new ContainerClient(azurite.connectionString, containerName);
      },
    });
    expect(made).toBe(0);
    await driver.writeIf('a.json', Buffer.from('a'), { ifNoneMatch: '*' });
    await driver.head('a.json');
    expect(made).toBe(1);
    expect((await container.getBlobClient('injected/a.json').downloadToBuffer()).toString()).toBe('a');
  });

  it('marks a refused connection as transient', async () => {
    const port = await closedPort();
    const driver = driverWith({
      client: () => new ContainerClient(`http://127.0.0.1:${port}/${AZURITE_ACCOUNT}/${containerName}`, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY), { retryOptions: { maxTries: 1 } }),
    });
    const error = (await driver.head('x.json').catch((e: unknown) => e)) as StorageError;
    expect(error).toBeInstanceOf(StorageError);
    expect(error.transient).toBe(true);
    expect(error.message).toContain('[azure] GetBlobProperties');
  });
});

/** A port nothing listens on: bind one, then close it. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
