import type { Readable } from 'node:stream';
import { AlreadyExistsError, PreconditionFailedError, StorageError } from '../../errors.js';
import type { ObjectInfo, PublishOptions, StorageDriver, WriteCondition } from '../types.js';
import { Readable as NodeReadable } from 'node:stream';

/**
 * An in-process driver for tests and dry runs. Same semantics as the real ones:
 * create-only publish, compare-and-swap, sorted listing.
 */
export function memoryDriver(options: { name?: string } = {}): StorageDriver & { objects: Map<string, Buffer> } {
  const objects = new Map<string, Buffer>();
  const etags = new Map<string, string>();
  let version = 0;
  const store = (key: string, body: Buffer): string => {
    const etag = `"m${++version}"`;
    objects.set(key, body);
    etags.set(key, etag);
    return etag;
  };
  const info = (key: string): ObjectInfo | null => {
    const body = objects.get(key);
    return body ? { key, size: body.length, etag: etags.get(key) as string } : null;
  };
  return {
    kind: 'memory',
    capabilities: { partBytes: 0, minPartBytes: 0, maxParts: Infinity, queueSize: 1 },
    objects,
    url: (key) => `memory://${options.name ?? 'default'}/${key}`,
    async publish(key: string, body: Readable | Uint8Array, opts?: PublishOptions) {
      opts?.signal?.throwIfAborted();
      const bytes = body instanceof Uint8Array ? Buffer.from(body) : await collect(body, opts?.signal);
      await opts?.beforeCommit?.();
      opts?.signal?.throwIfAborted();
      if (objects.has(key)) throw new AlreadyExistsError(`[memory] ${key} already exists`, { context: { key } });
      store(key, bytes);
      return info(key) as ObjectInfo;
    },
    async read(key) {
      const body = objects.get(key);
      return body ? { body: Buffer.from(body), etag: etags.get(key) as string } : null;
    },
    async readStream(key) {
      const body = objects.get(key);
      if (!body) throw new StorageError(`[memory] ${key} does not exist`, { code: 'ERR_NOT_FOUND' });
      return NodeReadable.from([body]);
    },
    async writeIf(key: string, body: Uint8Array, condition: WriteCondition) {
      const current = etags.get(key);
      if ('ifNoneMatch' in condition && current) throw new AlreadyExistsError(`[memory] ${key} already exists`, { context: { key } });
      if ('ifMatch' in condition && current !== condition.ifMatch) {
        throw new PreconditionFailedError(`[memory] ${key} changed since it was read`, { context: { key } });
      }
      return { etag: store(key, Buffer.from(body)) };
    },
    async deleteIf(key, etag) {
      if (etags.get(key) === etag) {
        objects.delete(key);
        etags.delete(key);
      }
    },
    async head(key) {
      return info(key);
    },
    async *list(prefix) {
      const keys = [...objects.keys()].filter((k) => k.startsWith(prefix)).sort();
      for (const key of keys) {
        const i = info(key);
        if (i) yield i;
      }
    },
  };
}

async function collect(stream: Readable, signal?: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    signal?.throwIfAborted();
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}
