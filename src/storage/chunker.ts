import type { Readable } from 'node:stream';

/** One piece of a body: `size` bytes (the last one may be shorter), and whether it is known to be the last. */
export interface Chunk {
  data: Buffer;
  /**
   * Exact for the first chunk, so a body of one chunk or less can go out as a single
   * PutObject / Put Blob. After that a full chunk is yielded as soon as it is complete
   * (`last: false`) and may turn out to be the final one: the generator then simply ends.
   */
  last: boolean;
}

/**
 * Cuts a publish body into chunks of exactly `size` bytes (the last one shorter), for S3
 * parts and Azure blocks alike. Only the first full chunk is held back until the next byte
 * arrives (that decides single request or multipart); later chunks go out as soon as they
 * are full, so nothing is buffered beyond what the upload queue asks for. An empty body
 * yields one empty last chunk. A `Uint8Array` body is sliced without copying.
 *
 * Pulling is driven by the consumer: the body is read only when the next chunk is asked
 * for, so a slow upload pauses the body stream. Memory held here between pulls: less than
 * `size` of a chunk being filled, plus the unconsumed rest of the body's latest read.
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
  let yielded = false;
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
        const full = Buffer.concat(parts, size);
        parts = [];
        filled = 0;
        if (yielded) yield { data: full, last: false };
        else held = full; // the first one waits: is there more?
        yielded = true;
      }
    }
  }
  if (held) yield { data: held, last: filled === 0 };
  if (filled > 0 || !yielded) yield { data: Buffer.concat(parts, filled), last: true };
}
