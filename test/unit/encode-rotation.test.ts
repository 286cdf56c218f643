/**
 * File size rotation keeps its promise, measured on the files the real FileRoller writes into
 * the memory driver. NDJSON: a file closes at the first chunk boundary at or past the target.
 * Parquet: at the first row-group boundary where the row groups parquet-wasm has written out
 * reach the target; it holds the newest row group until the next one arrives, so a file ends
 * exactly one row group after the row group in which it reached the target (read from the
 * footer's row-group offsets and sizes): at most one row group past the target.
 */
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { FileRecord } from '../../src/commit/checkpoint.js';
import { readParquetFooter } from '../../src/encode/footer.js';
import { lineSerializer, NDJSON_CHUNK_CHARS } from '../../src/encode/ndjson.js';
import type { Row } from '../../src/rows/types.js';
import { FileRoller, type RollSettings } from '../../src/run/files.js';
import { memoryDriver } from '../../src/storage/drivers/memory.js';

/** Text that barely compresses (hex of a hash chain), so row groups are a few KB each. */
function noise(seed: number, bytes: number): string {
  let out = '';
  let h = String(seed);
  while (out.length < bytes) out += h = createHash('sha256').update(h).digest('hex');
  return out.slice(0, bytes);
}

function row(i: number, textBytes: number): Row {
  return {
    document_id: `doc_${String(i).padStart(6, '0')}`,
    collection_id: 'col_roll',
    namespace_id: 'ns_1',
    created_at: '2026-11-01T10:00:00.000000Z',
    updated_at: `2026-11-21T15:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.000000Z`,
    root_object_id: `obj_${i}`,
    source_object_id: null,
    fields: { text: noise(i, textBytes) },
    internal: null,
    vectors: {},
    _run_id: '20261121T153000Z-roll',
    _exported_at: '2026-11-21T15:31:00.000000Z',
    _deleted: false,
  };
}

/** Runs rows through a FileRoller into the memory driver; returns the files in commit order with their bytes. */
async function roll(settings: Partial<RollSettings>, rows: Row[]): Promise<{ record: FileRecord; bytes: Buffer }[]> {
  const driver = memoryDriver();
  const records: FileRecord[] = [];
  let seq = 0;
  const roller = new FileRoller(driver, 'col_roll', '20261121T153000Z-roll', {
    format: 'parquet', compression: 'zstd', targetFileBytes: 64 * 1024, maxRowsPerFile: 1_000_000, rowGroupRows: 10, ...settings,
  }, {
    nextSeq: () => ++seq,
    beforeCommit: async () => {},
    committed: async (record) => void records.push(record),
  });
  for (const r of rows) await roller.write(r, () => null);
  await roller.close(null);
  return records.map((record) => ({ record, bytes: driver.objects.get(record.key)! }));
}

describe('file size rotation', () => {
  const target = 64 * 1024;

  it('closes each Parquet file one row group after the row group that reached targetFileMb, never later', async () => {
    // ~6 KB per row group of 10 rows: a 64 KB target takes about eleven of them.
    const files = await roll({ targetFileBytes: target, rowGroupRows: 10 }, Array.from({ length: 600 }, (_, i) => row(i, 1000)));
    expect(files.length).toBeGreaterThan(3);
    for (const [n, { record, bytes }] of files.entries()) {
      const footer = readParquetFooter(bytes);
      expect(footer.numRows).toBe(record.rows);
      // The row groups lie back to back after the 4-byte magic: their offsets and sizes describe the file.
      let end = 4;
      for (const group of footer.rowGroups) {
        expect(group.fileOffset).toBe(end);
        end += group.compressedBytes!;
      }
      if (n === files.length - 1) continue; // the last file ends with the rows, not at the target
      const [before, last] = footer.rowGroups.slice(-2).map((g) => g.compressedBytes!);
      // parquet-wasm writes a row group out when the next one arrives, so when the roller closes the
      // file the last row group was still inside it: the ones before it reached the target...
      expect(end - last!).toBeGreaterThanOrEqual(target);
      // ...and one boundary earlier they had not: the next-to-last row group reached the target, and only the last one is past it.
      expect(end - last! - before!).toBeLessThan(target);
      expect(bytes.length).toBeGreaterThanOrEqual(target);
    }
  });

  it.each(['none', 'gzip'] as const)('closes each %s NDJSON file at the first chunk boundary at or past targetFileMb', async (compression) => {
    // Rows of ~10 KB: a chunk of NDJSON_CHUNK_CHARS holds ~100 of them; a target of 2.5 chunks' bytes takes three.
    const rows = Array.from({ length: 1000 }, (_, i) => row(i, 10_000));
    const probe = await roll({ format: 'ndjson', compression, targetFileBytes: 1 }, rows.slice(0, 200));
    const chunkBytes = probe[0]!.bytes.length; // the first file is exactly one chunk
    const ndjsonTarget = Math.round(2.5 * chunkBytes);
    const files = await roll({ format: 'ndjson', compression, targetFileBytes: ndjsonTarget }, rows);
    expect(files.length).toBeGreaterThan(2);
    let start = 0;
    for (const [n, { record, bytes }] of files.entries()) {
      const text = compression === 'gzip' ? gunzipSync(bytes).toString('utf8') : bytes.toString('utf8');
      expect(text.split('\n').length - 1).toBe(record.rows);
      if (n < files.length - 1) {
        expect(bytes.length).toBeGreaterThanOrEqual(ndjsonTarget);
        // Without its last chunk the file stays under the target: the same rows, encoded alone, are smaller.
        const lastChunkRows = chunkRowsAtEnd(rows.slice(start, start + record.rows));
        const [shorter] = await roll({ format: 'ndjson', compression, targetFileBytes: 2 ** 40 }, rows.slice(start, start + record.rows - lastChunkRows));
        expect(shorter!.bytes.length).toBeLessThan(ndjsonTarget);
      }
      start += record.rows;
    }
  });
});

/** Rows in the file's last chunk: lines are collected until they reach NDJSON_CHUNK_CHARS characters. */
function chunkRowsAtEnd(rows: Row[]): number {
  const line = lineSerializer([]);
  let chars = 0;
  let inChunk = 0;
  for (const r of rows) {
    chars += line(r).length + 1;
    inChunk++;
    if (chars >= NDJSON_CHUNK_CHARS && r !== rows.at(-1)) {
      chars = 0;
      inChunk = 0;
    }
  }
  return inChunk;
}
