import type { Readable } from 'node:stream';

/** One piece of a body: `size` bytes (the last one may be shorter), and whether it is the last. */
export interface Chunk {
  data: Buffer;
  last: boolean;
}

/**
 * Cuts a publish body into chunks of exactly `size` bytes (the last one shorter), for S3
 * parts and Azure blocks alike. A full chunk is held back until the next byte arrives, so
 * the consumer knows which chunk is the last, and a body of one chunk or less can go out as
 * a single PutObject / Put Blob. An empty body yields one empty last chunk.
 *
 * Pulling is driven by the consumer: the body is read only when the next chunk is asked
 * for, so a slow upload pauses the body stream. Memory held here: the chunk held back plus
 * the unconsumed rest of the body's latest read, i.e. at most `size` + one stream chunk.
 * A `Uint8Array` body is sliced without copying.
 *
 * @example for await (const { data, last } of chunksOf(body, 8 * 1024 * 1024)) ...
 */
export async function* chunksOf(body: Readable | Uint8Array, size: number): AsyncGenerator<Chunk, void, undefined> {
  if (body instanceof Uint8Array) {
    const all = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    let offset = 0;
    do {
      yield { data: all.subarray(offset, offset + size), last: offset + size >= all.length };
      offset += size;
    } while (offset < all.length);
    return;
  }
  let parts: Buffer[] = [];
  let filled = 0;
  let held: Buffer | null = null;
  for await (const chunk of body) {
    let rest = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (rest.length > 0) {
      if (held) {
        yield { data: held, last: false };
        held = null;
      }
      const take = Math.min(size - filled, rest.length);
      parts.push(rest.subarray(0, take));
      filled += take;
      rest = rest.subarray(take);
      if (filled === size) {
        held = Buffer.concat(parts, size);
        parts = [];
        filled = 0;
      }
    }
  }
  if (held && filled === 0) return void (yield { data: held, last: true });
  if (held) yield { data: held, last: false };
  yield { data: Buffer.concat(parts, filled), last: true };
}
