/**
 * The Parquet encoder with parquet-wasm in the encoder thread (`worker: true`): the contract
 * the file roller relies on (bytesOut moves only in the write that cuts a row group, by a fixed
 * lag), failure and abort, and that one thread serves files one after another and side by side.
 * Byte identity with the main-thread encoder is held by encode-layout.test.ts.
 */
import { createHash } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { readParquetFooter } from '../../src/encode/footer.js';
import { createEncoder } from '../../src/encode/index.js';
import type { FileEncoder } from '../../src/encode/types.js';
import type { Row } from '../../src/rows/types.js';

function row(i: number): Row {
  return {
    document_id: `doc_${String(i).padStart(6, '0')}`,
    collection_id: 'col_1',
    namespace_id: 'ns_1',
    created_at: '2026-11-01T10:00:00.000001Z',
    updated_at: `2026-11-21T15:30:00.${String(i).padStart(6, '0')}Z`,
    root_object_id: `obj_${i}`,
    source_object_id: null,
    // Text that does not compress much, so each row group adds bytes.
    fields: { title: `Document ${i}`, text: createHash('sha256').update(String(i)).digest('base64').repeat(20) },
    internal: { n: i },
    vectors: { x: Float32Array.from({ length: 16 }, (_, k) => Math.sin(i * 16 + k)) },
    _run_id: 'run_1',
    _exported_at: '2026-11-21T15:31:00.123456Z',
    _deleted: false,
  };
}

const rows = Array.from({ length: 400 }, (_, i) => row(i));

/** Writes every row, recording bytesOut after each write; returns the records and the file's bytes. */
async function run(worker: boolean, rowGroupRows = 25): Promise<{ after: number[]; bytes: Buffer; encoder: FileEncoder }> {
  const encoder = createEncoder({ format: 'parquet', compression: 'zstd', vectorKeys: ['x'], rowGroupRows, worker });
  const chunks: Buffer[] = [];
  const sink = pipeline(encoder.output, new Writable({ write: (chunk: Buffer, _e, done) => (chunks.push(chunk), done()) }));
  const after: number[] = [];
  for (const r of rows) {
    await encoder.write(r);
    after.push(encoder.bytesOut);
  }
  await Promise.all([encoder.end(), sink]);
  return { after, bytes: Buffer.concat(chunks), encoder };
}

describe('the Parquet encoder thread', () => {
  it('moves bytesOut only in the write that cuts a row group, one row group behind the main-thread encoder', async () => {
    const [inThread, worker] = [await run(false), await run(true)];
    expect(worker.bytes.equals(inThread.bytes)).toBe(true);
    expect(worker.encoder.bytesOut).toBe(worker.bytes.length);
    const rowGroupRows = 25;
    for (let i = 0; i < rows.length; i++) {
      const cut = (i + 1) % rowGroupRows === 0;
      if (!cut) expect(worker.after[i], `row ${i}`).toBe(worker.after[i - 1] ?? 0);
      // After the write that cut row group k, it counts what the main-thread encoder counted after row group k-1.
      else expect(worker.after[i], `row ${i}`).toBe(inThread.after[i - rowGroupRows] ?? 0);
    }
    // Not vacuous: bytes were counted before the end.
    expect(worker.after[rows.length - 1]).toBeGreaterThan(0);
  });

  it('writes files side by side and one after another in the one thread', async () => {
    const expected = (await run(false, 40)).bytes;
    const side = await Promise.all([run(true, 40), run(true, 40), run(true, 40)]);
    for (const file of side) expect(file.bytes.equals(expected)).toBe(true);
    const next = await run(true, 40);
    expect(readParquetFooter(next.bytes).numRows).toBe(rows.length);
  });

  it('abort() destroys the output with the error, rejects later writes, and leaves the thread serving new files', async () => {
    const encoder = createEncoder({ format: 'parquet', compression: 'zstd', vectorKeys: ['x'], rowGroupRows: 10, worker: true });
    const output = encoder.output.pipe(new PassThrough());
    output.resume();
    const errored = new Promise<Error>((resolve) => encoder.output.on('error', resolve));
    for (const r of rows.slice(0, 35)) await encoder.write(r);
    encoder.abort(new Error('storage went away'));
    expect((await errored).message).toBe('storage went away');
    await expect(encoder.write(rows[35]!)).rejects.toThrow('storage went away');
    await expect(encoder.end()).rejects.toThrow('storage went away');
    const after = await run(true, 40);
    expect(readParquetFooter(after.bytes).numRows).toBe(rows.length);
  });

  it('fails the file when its consumer destroys the output before the end', async () => {
    const encoder = createEncoder({ format: 'parquet', compression: 'zstd', vectorKeys: ['x'], rowGroupRows: 10, worker: true });
    encoder.output.on('error', () => {});
    encoder.output.resume();
    for (const r of rows.slice(0, 30)) await encoder.write(r);
    encoder.output.destroy();
    await expect(encoder.end()).rejects.toThrow(/closed before the file was complete/);
  });
});
