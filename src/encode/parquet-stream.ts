/**
 * The bridge into parquet-wasm's streaming writer (`transformParquetStream`, parquet-wasm 0.8.0):
 * Arrow batches in, one at a time, as the writer asks for them; the file's bytes out as a Node
 * stream, counted as the writer hands them over.
 *
 * Route (see reference/parquet-writers.md): one batch is serialised with arrow-js
 * `tableToIPC(…, 'stream')` and read into wasm memory with `parquet.Table.fromIPCStream`; its
 * `RecordBatch` is enqueued into the web `ReadableStream` that parquet-wasm consumes (which takes
 * ownership of it). JS → wasm has no zero-copy path in parquet-wasm 0.8.0 (its FFI exports go
 * wasm → JS only), so one IPC copy per row group is the cheapest correct route.
 *
 * When bytes come out (measured on parquet-wasm 0.8.0, arrow-rs 59.3): the writer writes row
 * group k out only when batch k+1 arrives (arrow-rs checks its row-group limits before adding
 * a batch; an empty batch is ignored), or at close. It calls the output stream's `write()`
 * before it reads the next batch, and this module reads that stream eagerly, so the chunk is
 * counted one promise-reaction step later, before the writer's next read. `writeRowGroup` waits
 * for that read, so when it resolves `bytesOut` holds every row group but the one just sent.
 */
import { Readable } from 'node:stream';
import * as arrow from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import { InternalError } from '../errors.js';
import type { Compression } from './types.js';
import { deferred } from './guard.js';

const CODECS: Record<string, parquet.Compression> = {
  zstd: parquet.Compression.ZSTD,
  snappy: parquet.Compression.SNAPPY,
  none: parquet.Compression.UNCOMPRESSED,
};

/** One Parquet file being written by parquet-wasm. */
export interface ParquetStream {
  /** Resolves with the file's bytes (a Node stream) once the writer has taken the first batch. */
  readonly output: Promise<Readable>;
  /** Bytes the writer has handed over so far: magic and row groups (all but the newest), then at close the rest. */
  readonly bytesOut: number;
  /**
   * Hands one batch to the writer as exactly one row group: waits until the writer wants a batch
   * and `output`'s consumer has room, calls `take` for it, and resolves once the writer wants the
   * next (so the row group before it is in `bytesOut`, see above). `take` runs synchronously
   * with the copy into wasm, so the batch may view arrays that are reused afterwards. Rejects
   * with the stream's failure or with what `take` or the copy threw. One call at a time.
   */
  writeRowGroup(take: () => arrow.RecordBatch): Promise<void>;
  /** `writeRowGroup` for a batch already serialised as one Arrow IPC stream (what `batchToIPC` makes). */
  writeIpc(take: () => Uint8Array): Promise<void>;
  /** No more batches: the writer writes the footer and ends `output`. */
  close(): void;
  /** Stops the writer: pending and later `writeRowGroup` calls reject with `error`. */
  fail(error: Error): void;
}

/** What the writer of one file is opened with. */
export interface WriterOptions {
  compression: Compression;
  rowGroupRows: number;
  /** Dictionary-encode columns (parquet-wasm's default). Default true. */
  dictionary?: boolean;
}

export function openParquetStream(options: WriterOptions): ParquetStream {
  const source = new BatchSource();
  let handedOver: HandedOver | undefined;
  // Resolves only once the first batch has arrived (parquet-wasm peeks it for the schema).
  const output = parquet.transformParquetStream(source.stream, writerProperties(options)).then(
    (bytes: ReadableStream<Uint8Array>) => (handedOver = new HandedOver(bytes)),
    (error: unknown) => {
      throw new InternalError('[parquet] parquet-wasm could not start the file', { cause: error });
    },
  );
  output.catch(() => {}); // observed by the encoder; never an unhandled rejection
  const writeIpc = async (take: () => Uint8Array): Promise<void> => {
    await source.ready();
    await handedOver?.wanted();
    try {
      pushIpc(source, take());
    } catch (cause) {
      // The batch's rows are gone: the file cannot be completed (the footer guard would fail it anyway).
      throw new InternalError('[parquet] could not hand a row group to parquet-wasm', { cause });
    }
    await source.ready();
  };
  return {
    output,
    get bytesOut() {
      return handedOver?.bytes ?? 0;
    },
    writeRowGroup: (take) => writeIpc(() => batchToIPC(take())),
    writeIpc,
    close: () => source.close(),
    fail: (error) => source.fail(error),
  };
}

function writerProperties(options: WriterOptions): parquet.WriterProperties {
  return new parquet.WriterPropertiesBuilder()
    .setCompression(CODECS[options.compression] ?? parquet.Compression.ZSTD)
    .setWriterVersion(parquet.WriterVersion.V1) // V1 data pages: Snowflake does not fully read V2
    .setMaxRowGroupSize(options.rowGroupRows)
    // Close the row group at every batch: the encoder decides the boundaries (by rows and by
    // bytes), so one batch is exactly one row group, written out when the next batch arrives.
    // (With a large limit instead, arrow-rs would merge batches and emit nothing until close.)
    .setMaxRowGroupBytes(1)
    // Default on (the bytes every layout test holds); see EncoderOptions.dictionary.
    .setDictionaryEnabled(options.dictionary ?? true)
    .build();
}

/** One batch as an Arrow IPC stream: a copy of its buffers (so the batch's arrays may be reused afterwards). */
export function batchToIPC(batch: arrow.RecordBatch): Uint8Array {
  return arrow.tableToIPC(new arrow.Table(batch.schema, batch), 'stream');
}

/** Reads one IPC stream into wasm memory and enqueues its batch; the writer owns it then. */
function pushIpc(source: BatchSource, ipc: Uint8Array): void {
  const table = parquet.Table.fromIPCStream(ipc);
  try {
    for (const wasmBatch of table.recordBatches()) source.push(wasmBatch);
  } finally {
    table.free();
  }
}

/** The batch stream parquet-wasm pulls from; `ready` waits until it asks for the next batch. */
class BatchSource {
  readonly stream: ReadableStream<parquet.RecordBatch>;
  #controller!: ReadableStreamDefaultController<parquet.RecordBatch>;
  #demand = deferred();
  #failed: Error | undefined;

  constructor() {
    // highWaterMark 0: nothing is queued ahead; `pull` is called only when the writer reads.
    this.stream = new ReadableStream<parquet.RecordBatch>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        pull: () => this.#demand.resolve(),
        cancel: (reason) => this.fail(reason instanceof Error ? reason : new Error(String(reason))),
      },
      { highWaterMark: 0 },
    );
  }

  /** Resolves when parquet-wasm wants another batch (i.e. it wrote the last one and its output is not backed up). */
  async ready(): Promise<void> {
    await this.#demand.promise;
    if (this.#failed) throw this.#failed;
  }

  push(batch: parquet.RecordBatch): void {
    this.#demand = deferred();
    this.#controller.enqueue(batch);
  }

  close(): void {
    this.#controller.close();
  }

  fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = error;
    this.#demand.reject(error);
    try {
      this.#controller.error(error);
    } catch {
      // already closed or errored
    }
  }
}

/**
 * parquet-wasm's output as a Node stream. It reads the writer's stream eagerly, so each chunk
 * is counted in the same promise-reaction turn in which the writer hands it over, and pushes it
 * on at once; backpressure is kept by `wanted()`, which the bridge awaits before each batch.
 * Memory: the Node buffer (16 KiB high-water mark) plus what one batch makes the writer emit.
 */
class HandedOver extends Readable {
  bytes = 0;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #demand = deferred();
  #closed = false;

  constructor(stream: ReadableStream<Uint8Array>) {
    super();
    this.#reader = stream.getReader();
    this.#demand.resolve();
    void this.#pump();
  }

  /** Resolves once the consumer has room (the buffer is under its high-water mark); rejects when destroyed. */
  async wanted(): Promise<void> {
    if (this.destroyed) throw this.errored ?? new InternalError('[parquet] output closed before the file was complete');
    if (this.readableLength >= this.readableHighWaterMark) this.#demand = deferred();
    await this.#demand.promise;
  }

  async #pump(): Promise<void> {
    try {
      for (;;) {
        const { done, value } = await this.#reader.read();
        if (done) break;
        this.bytes += value.byteLength;
        this.push(value);
      }
      this.#closed = true;
      this.push(null);
    } catch (error) {
      this.#closed = true;
      this.destroy(error as Error);
    }
  }

  override _read(): void {
    this.#demand.resolve();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#demand.reject(error ?? new InternalError('[parquet] output closed before the file was complete'));
    if (this.#closed) return callback(error);
    // Cancelling tells the writer to stop; wait for it so nothing writes after the destroy.
    this.#reader.cancel(error ?? undefined).then(
      () => callback(error),
      () => callback(error),
    );
  }
}
