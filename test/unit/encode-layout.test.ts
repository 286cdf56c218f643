/**
 * The Parquet bytes do not change by accident. Each case encodes a fixed set of rows and
 * compares, with what the encoder produced before its split into modules (captured from that
 * code): the file's SHA-256, the footer's row groups, and digests of DuckDB's view of the
 * schema, the column-chunk layout, the key-value metadata and the rows read back.
 *
 * If a change to the encoder is meant to change the bytes (a new parquet-wasm, a new column),
 * re-capture the expectations and say so in the commit.
 *
 * Re-captured once, on purpose, for issue 10 (tombstones): the `_deleted` BOOLEAN column was
 * appended (REQUIRED, after `_exported_at`) and `fields` became OPTIONAL (null in a tombstone),
 * so the file bytes, size, schema, column chunks and the ARROW:schema value changed. What did
 * not change is still held to the old capture: the row group cuts and the rows read back
 * (every column but `_deleted`, whose values are counted separately: all false here).
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readParquetFooter } from '../../src/encode/footer.js';
import { createEncoder } from '../../src/encode/index.js';
import type { EncoderOptions } from '../../src/encode/types.js';
import type { Row } from '../../src/rows/types.js';

let dir: string;
let instance: DuckDBInstance;
let db: DuckDBConnection;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'encode-layout-'));
  instance = await DuckDBInstance.create();
  db = await instance.connect();
});

afterAll(async () => {
  db.closeSync();
  instance.closeSync();
  await rm(dir, { recursive: true, force: true });
});

/** Deterministic float32 values (no Math.random: the bytes must be the same every run). */
function vector(seed: number, dims: number): Float32Array {
  const out = new Float32Array(dims);
  let s = (seed + 1) * 7919;
  for (let i = 0; i < dims; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = s / 2147483648 - 0.5;
  }
  return out;
}

function fixedRow(i: number, text = ''): Row {
  return {
    document_id: `doc_${String(i).padStart(5, '0')}`,
    collection_id: 'col_layout',
    namespace_id: i % 7 === 0 ? null : 'ns_1',
    created_at: i % 11 === 0 ? null : `2026-10-0${1 + (i % 9)}T08:00:00.${String(i).padStart(6, '0')}Z`,
    updated_at: `2026-11-21T15:${String(i % 60).padStart(2, '0')}:00.${String(i * 37).padStart(6, '0')}Z`,
    root_object_id: `obj_${i % 13}`,
    source_object_id: i % 3 === 0 ? null : `src_${i}`,
    fields: { title: `Frame ${i} — 東京 🎬`, n: i, tags: ['a', String(i % 4)], text },
    internal: i % 4 === 0 ? null : { lineage: { root: `obj_${i % 13}` }, n: i },
    vectors: { x: i % 2 === 0 ? vector(i, 16) : null, y: i % 5 === 0 ? null : Array.from(vector(i + 1000, 4 + (i % 3))) },
    _run_id: '20261121T153000Z-layout',
    _exported_at: '2026-11-21T15:31:00.123456Z',
    _deleted: false,
  };
}

async function encodeFile(name: string, options: Omit<EncoderOptions, 'format'>, rows: Row[]): Promise<{ path: string; bytes: Buffer }> {
  const encoder = createEncoder({ format: 'parquet', ...options });
  const path = join(dir, `${name}.parquet`);
  const sink = pipeline(encoder.output, createWriteStream(path));
  for (const r of rows) await encoder.write(r);
  await Promise.all([encoder.end(), sink]);
  return { path, bytes: await readFile(path) };
}

async function rowsOf(sql: string): Promise<Record<string, unknown>[]> {
  return (await db.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
}

function digest(value: unknown): string {
  return createHash('sha256').update(typeof value === 'string' || Buffer.isBuffer(value) ? value : JSON.stringify(value)).digest('hex').slice(0, 16);
}

/** What the case compares: everything a consumer could see, as short digests plus the readable parts. */
async function layoutOf(path: string, bytes: Buffer) {
  const chunks = await rowsOf(
    `SELECT row_group_id, row_group_num_rows, column_id, path_in_schema, type, compression, encodings, total_compressed_size,
            total_uncompressed_size, data_page_offset, dictionary_page_offset FROM parquet_metadata('${path}') ORDER BY row_group_id, column_id`,
  );
  const schema = await rowsOf(
    `SELECT name, type, converted_type, logical_type, repetition_type, num_children FROM parquet_schema('${path}')`,
  );
  const kv = await rowsOf(`SELECT decode(key) AS k, md5(value) AS v FROM parquet_kv_metadata('${path}') ORDER BY 1`);
  // Every column but `_deleted`, read back: still the digest captured before the split (the
  // values did not change when the column was added); `_deleted` is counted on its own.
  const readBack = await rowsOf(`SELECT * EXCLUDE (_deleted) FROM read_parquet('${path}') ORDER BY document_id`);
  const [deleted] = await rowsOf(`SELECT count(*) FILTER (WHERE _deleted) AS tombstones, count(*) FILTER (WHERE NOT _deleted) AS versions FROM read_parquet('${path}')`);
  const columns = (await rowsOf(`DESCRIBE SELECT * FROM read_parquet('${path}')`)).map((c) => `${c.column_name} ${c.column_type}`);
  const result = {
    sha256: digest(bytes),
    size: bytes.length,
    rowGroupRows: readParquetFooter(bytes).rowGroupRows,
    columns,
    kvKeys: kv.map((k) => k.k),
    schema: digest(schema),
    chunks: digest(chunks),
    kv: digest(kv),
    readBack: digest(readBack),
    deleted,
  };
  return result;
}

const withVectors = Array.from({ length: 300 }, (_, i) => fixedRow(i));
const bigText = Array.from({ length: 40 }, (_, i) => fixedRow(i, 'lorem ipsum dolor '.repeat(200 + i)));

describe('the Parquet bytes stay what the encoder wrote before its split', () => {
  it('zstd with two vector columns in row groups of 64 rows', async () => {
    const { path, bytes } = await encodeFile('zstd-vectors', { compression: 'zstd', vectorKeys: ['x', 'y'], rowGroupRows: 64 }, withVectors);
    expect(await layoutOf(path, bytes)).toEqual(EXPECTED.zstdVectors);
  });

  it('snappy without vector columns in one default row group', async () => {
    const rows = withVectors.slice(0, 120).map((r) => ({ ...r, vectors: {} }));
    const { path, bytes } = await encodeFile('snappy-plain', { compression: 'snappy', vectorKeys: [] }, rows);
    expect(await layoutOf(path, bytes)).toEqual(EXPECTED.snappyPlain);
  });

  it('uncompressed, with row groups cut early by rowGroupBytes', async () => {
    const { path, bytes } = await encodeFile('none-bytes', { compression: 'none', vectorKeys: ['x'], rowGroupRows: 1000, rowGroupBytes: 20_000 }, bigText);
    expect(await layoutOf(path, bytes)).toEqual(EXPECTED.noneBytes);
  });

  it('zero rows', async () => {
    const { path, bytes } = await encodeFile('empty', { compression: 'zstd', vectorKeys: ['x'] }, []);
    expect(await layoutOf(path, bytes)).toEqual(EXPECTED.empty);
  });
});

describe('the encoder thread (worker: true) writes the same bytes', () => {
  it('zstd with two vector columns in row groups of 64 rows', async () => {
    const { path, bytes } = await encodeFile('worker-zstd-vectors', { compression: 'zstd', vectorKeys: ['x', 'y'], rowGroupRows: 64, worker: true }, withVectors);
    expect(await layoutOf(path, bytes)).toEqual(EXPECTED.zstdVectors);
  });

  it('uncompressed, with row groups cut early by rowGroupBytes', async () => {
    const { path, bytes } = await encodeFile('worker-none-bytes', { compression: 'none', vectorKeys: ['x'], rowGroupRows: 1000, rowGroupBytes: 20_000, worker: true }, bigText);
    expect(await layoutOf(path, bytes)).toEqual(EXPECTED.noneBytes);
  });

  it('zero rows', async () => {
    const { path, bytes } = await encodeFile('worker-empty', { compression: 'zstd', vectorKeys: ['x'], worker: true }, []);
    expect(await layoutOf(path, bytes)).toEqual(EXPECTED.empty);
  });
});

// Captured from the encoder before the split (commit ff81468's src/encode/parquet.ts).
const EXPECTED = {
  zstdVectors: {
    sha256: '77346bfadbd8ec39',
    size: 45373,
    rowGroupRows: [64, 64, 64, 64, 44],
    columns: ['document_id VARCHAR', 'collection_id VARCHAR', 'namespace_id VARCHAR', 'created_at TIMESTAMP WITH TIME ZONE', 'updated_at TIMESTAMP WITH TIME ZONE', 'root_object_id VARCHAR', 'source_object_id VARCHAR', 'fields VARCHAR', 'internal VARCHAR', 'vec_x FLOAT[]', 'vec_y FLOAT[]', '_run_id VARCHAR', '_exported_at TIMESTAMP WITH TIME ZONE', '_deleted BOOLEAN'],
    kvKeys: ['ARROW:schema'],
    schema: 'a3212612da47e33f',
    chunks: 'c4d430f5ded280fa',
    kv: '49d446c3c8b16ab7',
    deleted: { tombstones: '0', versions: '300' },
    readBack: '6abf7568514dbef9',
  },
  snappyPlain: {
    sha256: '7544f4b57b3bf0e3',
    size: 9253,
    rowGroupRows: [120],
    columns: ['document_id VARCHAR', 'collection_id VARCHAR', 'namespace_id VARCHAR', 'created_at TIMESTAMP WITH TIME ZONE', 'updated_at TIMESTAMP WITH TIME ZONE', 'root_object_id VARCHAR', 'source_object_id VARCHAR', 'fields VARCHAR', 'internal VARCHAR', '_run_id VARCHAR', '_exported_at TIMESTAMP WITH TIME ZONE', '_deleted BOOLEAN'],
    kvKeys: ['ARROW:schema'],
    schema: '5053b696485459f6',
    chunks: '694bbea836b8609d',
    kv: '2dd96f92a41c6612',
    deleted: { tombstones: '0', versions: '120' },
    readBack: 'de852b50a5aac972',
  },
  noneBytes: {
    sha256: 'c52603cced449cee',
    size: 190602,
    rowGroupRows: [6, 6, 5, 5, 5, 5, 5, 3],
    columns: ['document_id VARCHAR', 'collection_id VARCHAR', 'namespace_id VARCHAR', 'created_at TIMESTAMP WITH TIME ZONE', 'updated_at TIMESTAMP WITH TIME ZONE', 'root_object_id VARCHAR', 'source_object_id VARCHAR', 'fields VARCHAR', 'internal VARCHAR', 'vec_x FLOAT[]', '_run_id VARCHAR', '_exported_at TIMESTAMP WITH TIME ZONE', '_deleted BOOLEAN'],
    kvKeys: ['ARROW:schema'],
    schema: '55dc05fd21228485',
    chunks: '831e794b2e26e55f',
    kv: '970985cf12ba22a4',
    deleted: { tombstones: '0', versions: '40' },
    readBack: '79c515d9f06bd57e',
  },
  empty: {
    sha256: '3f0952365b559197',
    size: 1606,
    rowGroupRows: [],
    columns: ['document_id VARCHAR', 'collection_id VARCHAR', 'namespace_id VARCHAR', 'created_at TIMESTAMP WITH TIME ZONE', 'updated_at TIMESTAMP WITH TIME ZONE', 'root_object_id VARCHAR', 'source_object_id VARCHAR', 'fields VARCHAR', 'internal VARCHAR', 'vec_x FLOAT[]', '_run_id VARCHAR', '_exported_at TIMESTAMP WITH TIME ZONE', '_deleted BOOLEAN'],
    kvKeys: ['ARROW:schema'],
    schema: '55dc05fd21228485',
    chunks: '4f53cda18c2baa0c',
    kv: '970985cf12ba22a4',
    deleted: { tombstones: '0', versions: '0' },
    readBack: '4f53cda18c2baa0c',
  },
};
