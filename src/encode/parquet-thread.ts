/**
 * The encoder thread's side (a `worker_threads` Worker; `parquet-worker.ts` starts it): each
 * open file is one parquet-wasm stream (`parquet-stream.ts`), fed with the Arrow IPC bytes of
 * one row group at a time, its output bytes posted back as they come out.
 *
 * Messages in (`ToThread`): open, batch (IPC bytes, transferred), close, fail.
 * Messages out (`FromThread`): chunk (file bytes, transferred), taken (the writer took batch
 * `seq` and wants the next; `bytesOut` then counts every row group before it), end, error.
 * Messages of one file keep their order (a MessagePort is ordered), so the chunks counted in
 * a `taken` are posted before it.
 */
import { parentPort } from 'node:worker_threads';
import { openParquetStream, type ParquetStream, type WriterOptions } from './parquet-stream.js';

export type ToThread =
  | ({ type: 'open'; id: number } & WriterOptions)
  | { type: 'batch'; id: number; seq: number; ipc: Uint8Array }
  | { type: 'close'; id: number }
  | { type: 'fail'; id: number; message: string };

export type FromThread =
  | { type: 'chunk'; id: number; bytes: Uint8Array }
  | { type: 'taken'; id: number; seq: number; bytesOut: number }
  | { type: 'end'; id: number; bytesOut: number }
  | { type: 'error'; id: number; message: string };

/** One file being written in this thread: its batches are handed to parquet-wasm in order, one at a time. */
class ThreadFile {
  readonly #stream: ParquetStream;
  #queue: Promise<void> = Promise.resolve();
  #failed = false;

  constructor(
    private readonly id: number,
    options: WriterOptions,
    private readonly post: (message: FromThread, transfer?: ArrayBuffer[]) => void,
  ) {
    this.#stream = openParquetStream(options);
    this.#stream.output.then(
      (bytes) => {
        bytes.on('data', (chunk: Uint8Array) => this.#chunk(chunk));
        bytes.on('end', () => this.post({ type: 'end', id, bytesOut: this.#stream.bytesOut }));
        bytes.on('error', (error) => this.#fail(error));
      },
      (error: Error) => this.#fail(error),
    );
  }

  batch(seq: number, ipc: Uint8Array): void {
    this.#queue = this.#queue.then(async () => {
      if (this.#failed) return;
      try {
        await this.#stream.writeIpc(() => ipc);
        this.post({ type: 'taken', id: this.id, seq, bytesOut: this.#stream.bytesOut });
      } catch (error) {
        this.#fail(error as Error);
      }
    });
  }

  close(): void {
    this.#queue = this.#queue.then(() => this.#stream.close());
  }

  fail(error: Error): void {
    this.#failed = true;
    this.#stream.fail(error);
  }

  #chunk(chunk: Uint8Array): void {
    // Transfer only a buffer the chunk owns whole; copy a view into a larger one.
    const own = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength ? chunk : new Uint8Array(chunk);
    this.post({ type: 'chunk', id: this.id, bytes: own }, [own.buffer as ArrayBuffer]);
  }

  #fail(error: Error): void {
    if (this.#failed) return;
    this.fail(error);
    this.post({ type: 'error', id: this.id, message: error.message });
  }
}

/** Serves the messages of every file the main thread opens in this thread. */
export function serve(port: NonNullable<typeof parentPort>): void {
  const files = new Map<number, ThreadFile>();
  const post = (message: FromThread, transfer?: ArrayBuffer[]) => {
    port.postMessage(message, transfer);
    if (message.type === 'end' || message.type === 'error') files.delete(message.id);
  };
  port.on('message', (message: ToThread) => {
    if (message.type === 'open') files.set(message.id, new ThreadFile(message.id, message, post));
    else if (message.type === 'batch') files.get(message.id)?.batch(message.seq, message.ipc);
    else if (message.type === 'close') files.get(message.id)?.close();
    else {
      files.get(message.id)?.fail(new Error(message.message));
      files.delete(message.id);
    }
  });
}

if (parentPort) serve(parentPort);
