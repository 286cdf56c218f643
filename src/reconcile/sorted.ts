/**
 * Sorted streams of small records keyed by `document_id`: the building blocks of a
 * reconciliation, which must never hold a collection's ids as a whole set (issue 10,
 * "Memory is bounded by settings").
 *
 * - {@link externalSort}: sorts any stream through a temp folder. Memory bound: at most
 *   `chunkRows` records in memory at once (`chunkRows` × record size: 20,000 × ~1 KB of
 *   `{id,u,e,d}` ≈ 20 MB by default), plus one read buffer per chunk file while merging.
 * - {@link mergeSorted}: a lazy k-way merge of sorted streams (one record per stream held).
 * - {@link mergeJoin}: pairs two strictly ascending streams by key (one record of each held).
 * - {@link newestPerId}: keeps the newest record of each run of equal keys (one held).
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { InternalError } from '../errors.js';

/** Options of {@link externalSort}. */
export interface ExternalSortOptions {
  /** Records sorted in memory at once (the memory bound). Setting `reconcileSortChunkRows`, default 20,000. */
  chunkRows: number;
  /** Parent of the temp folder; default `os.tmpdir()`. The folder is removed when the stream ends or is abandoned. */
  tmpDir?: string;
}

/** Compares keys in code-unit order, the order `document_id` listings and snapshots use. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Sorts `input` by `key` (stable: equal keys keep their input order). Records must survive
 * JSON. Up to `chunkRows` records are sorted in memory and written as one NDJSON temp
 * file; then the files are merged lazily. A stream that fits one chunk never touches disk.
 * @example for await (const r of externalSort(rows, (r) => r.id, { chunkRows: 200_000 })) ...
 */
export async function* externalSort<T>(input: AsyncIterable<T> | Iterable<T>, key: (record: T) => string, options: ExternalSortOptions): AsyncGenerator<T> {
  if (!Number.isInteger(options.chunkRows) || options.chunkRows < 1) throw new InternalError(`[reconcile] chunkRows must be a positive integer, got ${options.chunkRows}`);
  let dir: string | null = null;
  const files: string[] = [];
  let chunk: T[] = [];
  const byKey = (a: T, b: T) => compareKeys(key(a), key(b));
  try {
    for await (const record of input) {
      chunk.push(record);
      if (chunk.length < options.chunkRows) continue;
      dir ??= await mkdtemp(join(options.tmpDir ?? tmpdir(), 'mixpeek-reconcile-'));
      files.push(await writeChunk(dir, files.length, chunk.sort(byKey)));
      chunk = [];
    }
    chunk.sort(byKey);
    if (files.length === 0) {
      yield* chunk;
      return;
    }
    const sources: AsyncIterable<T>[] = files.map((file) => readChunk<T>(file));
    if (chunk.length > 0) sources.push(toAsync(chunk));
    chunk = [];
    yield* mergeSorted(sources, key);
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

async function writeChunk<T>(dir: string, index: number, records: T[]): Promise<string> {
  const file = join(dir, `chunk-${String(index).padStart(6, '0')}.ndjson`);
  const out = createWriteStream(file);
  for (const record of records) {
    if (!out.write(JSON.stringify(record) + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return file;
}

async function* readChunk<T>(file: string): AsyncGenerator<T> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  try {
    for await (const line of lines) if (line) yield JSON.parse(line) as T;
  } finally {
    lines.close();
  }
}

async function* toAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

/**
 * Merges streams each sorted by `key` into one sorted stream, lazily (one record per stream
 * in memory). Equal keys come out in the order of the streams (stable). k is small (chunk
 * files, or a snapshot plus new rows), so a linear scan beats a heap here.
 */
export async function* mergeSorted<T>(sources: readonly (AsyncIterable<T> | Iterable<T>)[], key: (record: T) => string): AsyncGenerator<T> {
  const iterators = sources.map((s) => (Symbol.asyncIterator in s ? s[Symbol.asyncIterator]() : toAsync(s as Iterable<T>)));
  const heads: (IteratorResult<T> | null)[] = await Promise.all(iterators.map((it) => it.next()));
  try {
    for (;;) {
      let best = -1;
      for (let i = 0; i < heads.length; i++) {
        const head = heads[i];
        if (!head || head.done) continue;
        if (best < 0 || compareKeys(key(head.value), key((heads[best] as IteratorYieldResult<T>).value)) < 0) best = i;
      }
      if (best < 0) return;
      const value = (heads[best] as IteratorYieldResult<T>).value;
      heads[best] = await (iterators[best] as AsyncIterator<T>).next();
      yield value;
    }
  } finally {
    await Promise.all(iterators.map((it, i) => (heads[i]?.done ? undefined : it.return?.(undefined))));
  }
}

/** One step of a merge-join: the key, with the left and/or right record that has it. */
export interface Joined<L, R> {
  key: string;
  left?: L;
  right?: R;
}

/**
 * Full outer merge-join of two streams sorted strictly ascending by key (one record of each
 * in memory). `refuse(side, previous, next)` builds the error thrown when a stream is not
 * strictly ascending (e.g. a listing whose API ignored the sort): never a wrong answer.
 */
export async function* mergeJoin<L, R>(
  left: AsyncIterable<L>,
  right: AsyncIterable<R>,
  keys: { left: (l: L) => string; right: (r: R) => string },
  refuse: (side: 'left' | 'right', previous: string, next: string) => Error,
): AsyncGenerator<Joined<L, R>> {
  const l = ascending(left, keys.left, (p, n) => refuse('left', p, n))[Symbol.asyncIterator]();
  const r = ascending(right, keys.right, (p, n) => refuse('right', p, n))[Symbol.asyncIterator]();
  let a = await l.next();
  let b = await r.next();
  try {
    while (!a.done || !b.done) {
      const order = a.done ? 1 : b.done ? -1 : compareKeys(keys.left(a.value), keys.right(b.value));
      if (order < 0) {
        const value = (a as IteratorYieldResult<L>).value;
        a = await l.next();
        yield { key: keys.left(value), left: value };
      } else if (order > 0) {
        const value = (b as IteratorYieldResult<R>).value;
        b = await r.next();
        yield { key: keys.right(value), right: value };
      } else {
        const [lv, rv] = [(a as IteratorYieldResult<L>).value, (b as IteratorYieldResult<R>).value];
        [a, b] = await Promise.all([l.next(), r.next()]);
        yield { key: keys.left(lv), left: lv, right: rv };
      }
    }
  } finally {
    await Promise.all([a.done ? undefined : l.return?.(undefined), b.done ? undefined : r.return?.(undefined)]);
  }
}

/** Passes a stream through, throwing `refuse(previous, next)` at the first key not strictly above the one before. */
export async function* ascending<T>(input: AsyncIterable<T>, key: (record: T) => string, refuse: (previous: string, next: string) => Error): AsyncGenerator<T> {
  let previous: string | null = null;
  for await (const record of input) {
    const k = key(record);
    if (previous !== null && compareKeys(previous, k) >= 0) throw refuse(previous, k);
    previous = k;
    yield record;
  }
}

/**
 * Reduces a stream sorted by key to one record per key: the one `newer(a, b)` prefers
 * (true when `a` is newer than `b`; on a tie the later record wins).
 */
export async function* newestPerId<T>(sorted: AsyncIterable<T>, key: (record: T) => string, newer: (a: T, b: T) => boolean): AsyncGenerator<T> {
  let held: T | undefined;
  let heldKey = '';
  for await (const record of sorted) {
    const k = key(record);
    if (held !== undefined && k === heldKey) {
      if (!newer(held, record)) held = record;
      continue;
    }
    if (held !== undefined) {
      if (compareKeys(heldKey, k) > 0) throw new InternalError(`[reconcile] newestPerId needs a sorted stream: ${JSON.stringify(k)} came after ${JSON.stringify(heldKey)}`);
      yield held;
    }
    held = record;
    heldKey = k;
  }
  if (held !== undefined) yield held;
}

/**
 * A temp NDJSON file of records, written in order and read back once (the snapshot's
 * inputs, collected during the pass so the data files are read only once). Memory: one write
 * buffer; disk: the records. `dispose` removes it.
 */
export class Spool<T> {
  private out: ReturnType<typeof createWriteStream> | null = null;
  private file: string | null = null;
  private dir: string | null = null;
  /** Records written so far. */
  size = 0;

  constructor(private readonly tmpDir?: string) {}

  /** Appends a record (waits when the file stream is full). */
  async write(record: T): Promise<void> {
    if (!this.out) {
      this.dir = await mkdtemp(join(this.tmpDir ?? tmpdir(), 'mixpeek-reconcile-'));
      this.file = join(this.dir, 'spool.ndjson');
      this.out = createWriteStream(this.file);
    }
    this.size++;
    if (!this.out.write(JSON.stringify(record) + '\n')) await once(this.out, 'drain');
  }

  /** Ends writing and streams the records back in the order written. */
  async *read(): AsyncGenerator<T> {
    if (!this.out || !this.file) return;
    this.out.end();
    await once(this.out, 'finish');
    yield* readChunk<T>(this.file);
  }

  async dispose(): Promise<void> {
    this.out?.destroy();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
