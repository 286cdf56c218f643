import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { AlreadyExistsError, PreconditionFailedError, StorageError } from '../../errors.js';
import type { ObjectInfo, PublishOptions, StorageDriver, WriteCondition } from '../types.js';

/** A key lock older than this is taken to belong to a killed process and is broken. */
const STALE_LOCK_MS = 15_000;

/**
 * Local filesystem driver (`file:///abs/path` or a plain path).
 *
 * - publish: the body streams into `<root>/_tmp/<uuid>`, is fsynced, then hard-linked to
 *   its final name. `link(2)` fails with EEXIST instead of replacing, so a publish never
 *   overwrites; the object appears complete, in one step.
 * - writeIf: compare-and-swap under a per-key lock file created with O_EXCL; the new
 *   version is written to a temp file and renamed over the key (atomic replace).
 * - etag: `<inode>-<mtime ns>-<size>`: every write makes a new inode, so it changes on
 *   every write.
 */
export function fsDriver(options: { root: string }): StorageDriver {
  const root = path.resolve(options.root);
  const tmpDir = path.join(root, '_tmp');
  const file = (key: string) => path.join(root, ...key.split('/'));
  const fail = (op: string, key: string, error: unknown): never => {
    // Only file-system errors are translated; anything else (a failing body stream, the
    // commit hook) reaches the caller as it was thrown.
    if (!(error as NodeJS.ErrnoException)?.syscall) throw error;
    throw mapFsError(op, file(key), error);
  };

  async function writeTemp(body: Readable | Uint8Array, signal?: AbortSignal): Promise<string> {
    await fsp.mkdir(tmpDir, { recursive: true });
    const tmp = path.join(tmpDir, `${randomUUID()}.tmp`);
    try {
      const source = body instanceof Uint8Array ? Readable.from([body]) : body;
      await pipeline(source, createWriteStream(tmp, { flags: 'wx' }), { signal });
      const handle = await fsp.open(tmp, 'r');
      await handle.sync().finally(() => handle.close());
      return tmp;
    } catch (error) {
      await fsp.rm(tmp, { force: true });
      throw error;
    }
  }

  async function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const lock = file(key) + '.lock';
    await fsp.mkdir(path.dirname(lock), { recursive: true });
    for (let attempt = 0; ; attempt++) {
      try {
        await fsp.writeFile(lock, String(process.pid), { flag: 'wx' });
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        await breakIfStale(lock);
        await new Promise((r) => setTimeout(r, Math.min(50, 2 + attempt)));
      }
    }
    try {
      return await fn();
    } finally {
      await fsp.rm(lock, { force: true });
    }
  }

  return {
    kind: 'fs',
    capabilities: { partBytes: 0, minPartBytes: 0, maxParts: Infinity, queueSize: 1 },
    url: (key) => pathToFileURL(file(key)).href,
    async publish(key: string, body: Readable | Uint8Array, opts?: PublishOptions) {
      let tmp: string | null = null;
      try {
        tmp = await writeTemp(body, opts?.signal);
        await opts?.beforeCommit?.();
        opts?.signal?.throwIfAborted(); // the link below is the commit
        await fsp.mkdir(path.dirname(file(key)), { recursive: true });
        await fsp.link(tmp, file(key));
        await syncDir(path.dirname(file(key)));
        return await statInfo(key, file(key));
      } catch (error) {
        opts?.signal?.throwIfAborted(); // pipeline's AbortError wraps the reason; callers want the reason itself
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new AlreadyExistsError(`[fs] ${file(key)} already exists; a published file is never overwritten`, { context: { key } });
        }
        return fail('publish', key, error);
      } finally {
        if (tmp) await fsp.rm(tmp, { force: true });
      }
    },
    async read(key) {
      let handle: fsp.FileHandle;
      try {
        handle = await fsp.open(file(key), 'r');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        return fail('read', key, error);
      }
      try {
        const stat = await handle.stat({ bigint: true });
        return { body: await handle.readFile(), etag: etagOf(stat) };
      } finally {
        await handle.close();
      }
    },
    async readStream(key) {
      await fsp.access(file(key)).catch((error) => fail('read', key, error));
      return createReadStream(file(key));
    },
    async writeIf(key: string, body: Uint8Array, condition: WriteCondition) {
      return withLock(key, async () => {
        const current = await statInfo(key, file(key)).catch(() => null);
        if ('ifNoneMatch' in condition && current) {
          throw new AlreadyExistsError(`[fs] ${file(key)} already exists`, { context: { key } });
        }
        if ('ifMatch' in condition && current?.etag !== condition.ifMatch) {
          throw new PreconditionFailedError(`[fs] ${file(key)} changed since it was read (compare-and-swap lost)`, { context: { key } });
        }
        const tmp = await writeTemp(body);
        try {
          await fsp.rename(tmp, file(key));
        } catch (error) {
          await fsp.rm(tmp, { force: true });
          return fail('write', key, error);
        }
        await syncDir(path.dirname(file(key)));
        return { etag: (await statInfo(key, file(key))).etag };
      });
    },
    async deleteIf(key, etag) {
      await withLock(key, async () => {
        const current = await statInfo(key, file(key)).catch(() => null);
        if (current?.etag === etag) await fsp.rm(file(key), { force: true });
      });
    },
    async head(key) {
      return statInfo(key, file(key)).catch((error) => {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        return fail('head', key, error);
      });
    },
    list: (prefix) => listFiles(root, prefix),
  };
}

async function* listFiles(root: string, prefix: string): AsyncGenerator<ObjectInfo> {
  // Walk only the directory that holds the prefix, then filter by the full prefix.
  const dirKey = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
  const start = path.join(root, ...dirKey.split('/').filter(Boolean));
  const keys: string[] = [];
  const walk = async (dir: string, keyBase: string): Promise<void> => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      const key = keyBase ? `${keyBase}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (key !== '_tmp') await walk(path.join(dir, entry.name), key);
      } else if (entry.isFile() && key.startsWith(prefix) && !key.endsWith('.lock')) keys.push(key);
    }
  };
  await walk(start, dirKey);
  keys.sort();
  for (const key of keys) {
    const info = await statInfo(key, path.join(root, ...key.split('/'))).catch(() => null);
    if (info) yield info;
  }
}

async function statInfo(key: string, filePath: string): Promise<ObjectInfo> {
  const stat = await fsp.stat(filePath, { bigint: true });
  return { key, size: Number(stat.size), etag: etagOf(stat) };
}

function etagOf(stat: import('node:fs').BigIntStats): string {
  return `"${stat.ino.toString(16)}-${stat.mtimeNs.toString(16)}-${stat.size.toString(16)}"`;
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  await handle.sync().catch(() => {}).finally(() => handle.close());
}

async function breakIfStale(lock: string): Promise<void> {
  const stat = await fsp.stat(lock).catch(() => null);
  if (!stat || Date.now() - stat.mtimeMs < STALE_LOCK_MS) return;
  // Rename first: only one breaker wins the rename, so two never both delete a fresh lock.
  const aside = `${lock}.${randomUUID()}.stale`;
  if (await fsp.rename(lock, aside).then(() => true, () => false)) await fsp.rm(aside, { force: true });
}

function mapFsError(op: string, filePath: string, error: unknown): StorageError {
  if (error instanceof StorageError) return error;
  const code = (error as NodeJS.ErrnoException)?.code ?? 'EUNKNOWN';
  const hints: Record<string, string> = {
    EACCES: 'the exporter needs write permission on that folder',
    EPERM: 'the exporter needs write permission on that folder',
    ENOSPC: 'the disk is full',
    EROFS: 'the file system is read-only',
    ENOENT: 'the path does not exist',
    EXDEV: '_tmp and the data folder must be on one file system',
  };
  return new StorageError(`[fs] ${op} ${filePath}: ${code}${hints[code] ? `; ${hints[code]}` : ''}`, {
    cause: error,
    transient: code === 'EAGAIN' || code === 'EBUSY',
    code: `ERR_FS_${code}`,
    context: { op, path: filePath },
  });
}
