/**
 * parquet-wasm in an encoder thread: the same `ParquetStream` as `parquet-stream.ts`, but the
 * writer runs in a `worker_threads` Worker (`parquet-thread.ts`), so compressing and encoding a
 * row group overlaps with paging and mapping the next one on the main thread.
 *
 * What crosses: each row group as one Arrow IPC stream (the copy the in-thread route makes
 * anyway), transferred, not cloned; the file's bytes come back as transferred chunks. One
 * thread serves every file of the process (started on first use, `unref`ed while no file is
 * open, so it never keeps the process alive).
 *
 * The queue between is bounded: `writeRowGroup` for batch k first waits until the thread has
 * taken batch k-1, so at most two row groups are in the thread (one being encoded, one queued)
 * besides the one the builders hold. Memory: up to three row groups instead of two.
 *
 * `bytesOut` moves only when `writeRowGroup` resolves (or at the end), to the count the thread
 * reported when it took batch k-1: every row group but the newest two (in-thread: but the
 * newest one). So a file rolled on `bytesOut` can end up to two row groups past its target.
 *
 * Under tsx (tests, `npm run export`) the thread loads `parquet-thread.ts` through tsx's
 * loader; from dist/ it loads the compiled `parquet-thread.js`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type * as arrow from 'apache-arrow';
import { InternalError } from '../errors.js';
import { deferred, type Deferred } from './guard.js';
import type { FromThread, ToThread } from './parquet-thread.js';
import { batchToIPC, type ParquetStream, type WriterOptions } from './parquet-stream.js';

/** A ParquetStream whose writer runs in the shared encoder thread. */
export function openWorkerParquetStream(options: WriterOptions): ParquetStream {
  return new ThreadStream(encoderThread(), options);
}

class ThreadStream implements ParquetStream {
  readonly output: Promise<Readable>;
  readonly #thread: EncoderThread;
  readonly #id: number;
  readonly #bytes = new ThreadOutput(() => this.fail(new InternalError('[parquet] output closed before the file was complete')));
  /** Batches sent, and per batch sent a promise of the thread's `bytesOut` when it took it. */
  #sent = 0;
  readonly #taken: Array<Deferred & { bytesOut: number }> = [];
  #bytesOut = 0;
  #failed: Error | undefined;

  constructor(thread: EncoderThread, options: WriterOptions) {
    this.#thread = thread;
    this.#id = thread.open(this, options);
    this.output = Promise.resolve(this.#bytes);
  }

  get bytesOut(): number {
    return this.#bytesOut;
  }

  writeRowGroup(take: () => arrow.RecordBatch): Promise<void> {
    return this.writeIpc(() => batchToIPC(take()));
  }

  async writeIpc(take: () => Uint8Array): Promise<void> {
    const seq = this.#sent;
    // Batch seq-1 taken: row groups before it are counted, and at most one batch waits in the thread.
    if (seq > 0) await this.#taken[seq - 1]!.promise;
    await this.#bytes.wanted();
    if (this.#failed) throw this.#failed;
    let ipc: Uint8Array;
    try {
      ipc = take();
    } catch (cause) {
      throw new InternalError('[parquet] could not hand a row group to parquet-wasm', { cause });
    }
    this.#taken.push(Object.assign(deferred(), { bytesOut: 0 }));
    this.#sent++;
    if (seq > 0) this.#bytesOut = this.#taken[seq - 1]!.bytesOut;
    this.#thread.send({ type: 'batch', id: this.#id, seq, ipc }, ipc.byteOffset === 0 && ipc.byteLength === ipc.buffer.byteLength ? [ipc.buffer as ArrayBuffer] : []);
  }

  close(): void {
    if (!this.#failed) this.#thread.send({ type: 'close', id: this.#id });
  }

  fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = error;
    for (const taken of this.#taken) taken.reject(error);
    this.#bytes.destroy(error);
    this.#thread.send({ type: 'fail', id: this.#id, message: error.message });
    this.#thread.forget(this.#id);
  }

  /** A message of this file from the thread. */
  receive(message: FromThread): void {
    if (message.type === 'chunk') this.#bytes.push(Buffer.from(message.bytes.buffer, message.bytes.byteOffset, message.bytes.byteLength));
    else if (message.type === 'taken') {
      const taken = this.#taken[message.seq]!;
      taken.bytesOut = message.bytesOut;
      taken.resolve();
    } else if (message.type === 'end') {
      this.#bytesOut = message.bytesOut;
      this.#bytes.push(null);
      this.#thread.forget(this.#id);
    } else this.fail(new InternalError(`[parquet] the encoder thread failed: ${message.message}`));
  }
}

/** The file's bytes on the main thread; `wanted()` waits until the consumer has room (the bridge's backpressure). */
class ThreadOutput extends Readable {
  #demand = deferred();

  constructor(private readonly onEarlyClose: () => void) {
    super();
    this.#demand.resolve();
  }

  async wanted(): Promise<void> {
    if (this.destroyed) throw this.errored ?? new InternalError('[parquet] output closed before the file was complete');
    if (this.readableLength >= this.readableHighWaterMark) this.#demand = deferred();
    await this.#demand.promise;
  }

  override _read(): void {
    this.#demand.resolve();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#demand.reject(error ?? new InternalError('[parquet] output closed before the file was complete'));
    if (!this.readableEnded) this.onEarlyClose();
    callback(error);
  }
}

/** The encoder thread and the files open in it. */
class EncoderThread {
  readonly #worker: Worker;
  readonly #files = new Map<number, ThreadStream>();
  #nextId = 0;

  constructor() {
    this.#worker = startWorker();
    this.#worker.unref();
    this.#worker.on('message', (message: FromThread) => this.#files.get(message.id)?.receive(message));
    const down = (error: Error) => {
      if (thread === this) thread = undefined;
      for (const file of [...this.#files.values()]) file.fail(new InternalError(`[parquet] the encoder thread stopped: ${error.message}`, { cause: error }));
    };
    this.#worker.on('error', down);
    this.#worker.on('exit', (code) => down(new Error(`exit code ${code}`)));
  }

  open(file: ThreadStream, options: WriterOptions): number {
    const id = this.#nextId++;
    if (this.#files.size === 0) this.#worker.ref();
    this.#files.set(id, file);
    this.send({ type: 'open', id, ...options });
    return id;
  }

  forget(id: number): void {
    if (this.#files.delete(id) && this.#files.size === 0) this.#worker.unref();
  }

  send(message: ToThread, transfer: ArrayBuffer[] = []): void {
    this.#worker.postMessage(message, transfer);
  }
}

let thread: EncoderThread | undefined;

function encoderThread(): EncoderThread {
  thread ??= new EncoderThread();
  return thread;
}

/**
 * Starts the thread on `parquet-thread.js` next to this module (dist/), or on `parquet-thread.ts`
 * under tsx or vitest, registering tsx's loader in the thread first: a thread does not inherit
 * the loader hooks of vitest, and `--import` is not a thread option.
 */
function startWorker(): Worker {
  const typescript = import.meta.url.endsWith('.ts');
  const entry = new URL(typescript ? './parquet-thread.ts' : './parquet-thread.js', import.meta.url).href;
  if (!typescript) return new Worker(new URL(entry));
  const tsx = tsxApi();
  const boot = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { eval: true });
}

/** The ESM entry of tsx's `tsx/esm/api` (its CommonJS twin cannot register the ESM hooks in a thread). */
function tsxApi(): string {
  const manifest = createRequire(import.meta.url).resolve('tsx/package.json');
  const { exports } = JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  return pathToFileURL(path.join(path.dirname(manifest), exports['./esm/api']!.import.default)).href;
}
