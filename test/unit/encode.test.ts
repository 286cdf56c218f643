import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FooterGuard, readParquetFooter } from '../../src/encode/footer.js';
import { createEncoder, defaultCompression, extensionFor, validateCodec } from '../../src/encode/index.js';
import type { Compression, EncoderOptions, FileEncoder } from '../../src/encode/types.js';
import { columnsFor } from '../../src/rows/columns.js';
import { toEpochMicros } from '../../src/rows/time.js';
import { tombstoneRow } from '../../src/rows/tombstone.js';
import type { Row } from '../../src/rows/types.js';

let dir: string;
let instance: DuckDBInstance;
let db: DuckDBConnection;
let fileNo = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'encode-test-'));
  instance = await DuckDBInstance.create();
  db = await instance.connect();
});

afterAll(async () => {
  db.closeSync();
  instance.closeSync();
  await rm(dir, { recursive: true, force: true });
});

async function query(sql: string): Promise<Record<string, unknown>[]> {
  const reader = await db.runAndReadAll(sql);
  return reader.getRowObjectsJson() as Record<string, unknown>[];
}

/** Deterministic float32 vector. */
function vector(seed: number, dims: number): Float32Array {
  const out = new Float32Array(dims);
  let s = seed * 2654435761;
  for (let i = 0; i < dims; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = s / 2147483648 - 0.5;
  }
  return out;
}

function row(i: number, overrides: Partial<Row> = {}): Row {
  return {
    document_id: `doc_${String(i).padStart(6, '0')}`,
    collection_id: 'col_1',
    namespace_id: i % 5 === 0 ? null : 'ns_1',
    created_at: '2026-11-01T10:00:00.000001Z',
    updated_at: `2026-11-21T15:30:${String(i % 60).padStart(2, '0')}.${String(i % 1_000_000).padStart(6, '0')}Z`,
    root_object_id: `obj_${i}`,
    source_object_id: i % 3 === 0 ? null : `src_${i}`,
    fields: { title: `Document ${i} — 東京 Ελλάδα 🎬`, n: i, tags: ['a', 'b'], nested: { ok: true } },
    internal: i % 4 === 0 ? null : { namespace_id: 'ns_1', n: i },
    vectors: { x: i % 2 === 0 ? vector(i, 8) : null },
    _run_id: '20261121T153000Z-7f3a',
    _exported_at: '2026-11-21T15:31:00.123456Z',
    _deleted: false,
    ...overrides,
  };
}

interface Written {
  path: string;
  encoder: FileEncoder;
}

/** Encodes rows into a temp file, consuming `output` with stream.pipeline as a storage driver would. */
async function encode(options: Partial<EncoderOptions> & Pick<EncoderOptions, 'format'>, rows: Iterable<Row>): Promise<Written> {
  const encoder = createEncoder({
    compression: defaultCompression(options.format),
    vectorKeys: ['x'],
    ...options,
  });
  const path = join(dir, `f${fileNo++}${encoder.extension}`);
  const sink = pipeline(encoder.output, createWriteStream(path));
  for (const r of rows) await encoder.write(r);
  await Promise.all([encoder.end(), sink]);
  return { path, encoder };
}

function range(n: number, make: (i: number) => Row = row): Row[] {
  return Array.from({ length: n }, (_, i) => make(i));
}

function types(rows: Record<string, unknown>[]): Record<string, unknown> {
  return Object.fromEntries(rows.map((r) => [r.column_name, r.column_type]));
}

/** Resolves to 'stalled' when `promise` has not settled after `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'stalled'> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<'stalled'>((resolve) => (timer = setTimeout(() => resolve('stalled'), ms)));
  try {
    return await Promise.race([promise, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

/** Writes rows into an encoder whose output nobody reads; returns how many writes resolved before one stalled. */
async function writeUntilStalled(encoder: FileEncoder, rows: Row[]): Promise<{ accepted: number; pending: Promise<void> | null }> {
  for (let i = 0; i < rows.length; i++) {
    const pending = encoder.write(rows[i]!);
    if ((await within(pending, 300)) === 'stalled') return { accepted: i, pending };
  }
  return { accepted: rows.length, pending: null };
}

describe('codec choices', () => {
  it('accepts each format only with its own codecs and names the valid ones otherwise', () => {
    expect(() => validateCodec('parquet', 'zstd')).not.toThrow();
    expect(() => validateCodec('parquet', 'snappy')).not.toThrow();
    expect(() => validateCodec('parquet', 'none')).not.toThrow();
    expect(() => validateCodec('ndjson', 'gzip')).not.toThrow();
    expect(() => validateCodec('ndjson', 'zstd')).not.toThrow();
    expect(() => validateCodec('parquet', 'gzip')).toThrow(/zstd, snappy, none/);
    expect(() => validateCodec('ndjson', 'snappy')).toThrow(/gzip, zstd, none/);
    expect(defaultCompression('parquet')).toBe('zstd');
    expect(defaultCompression('ndjson')).toBe('gzip');
  });

  it('names the codec in every file extension', () => {
    expect(extensionFor('parquet', 'snappy')).toBe('.parquet');
    expect(extensionFor('ndjson', 'gzip')).toBe('.json.gz');
    expect(extensionFor('ndjson', 'zstd')).toBe('.json.zst');
    expect(extensionFor('ndjson', 'none')).toBe('.json');
  });

  it('rejects row group settings that cannot work before producing any bytes', () => {
    expect(() => createEncoder({ format: 'parquet', compression: 'zstd', vectorKeys: [], rowGroupRows: 0 })).toThrow(/rowGroupRows/);
    expect(() => createEncoder({ format: 'parquet', compression: 'zstd', vectorKeys: [], rowGroupBytes: 2 ** 40 })).toThrow(/rowGroupBytes/);
  });
});

describe('parquet encoder', () => {
  it('writes the consumer types: TIMESTAMPTZ micros, UTF8 strings, JSON as VARCHAR and FLOAT[] vectors', async () => {
    const { path, encoder } = await encode({ format: 'parquet' }, range(50));
    expect(encoder.rows).toBe(50);
    const described = types(await query(`DESCRIBE SELECT * FROM read_parquet('${path}')`));
    expect(Object.keys(described)).toEqual(columnsFor(['x']).map((c) => c.name));
    expect(described).toMatchObject({
      document_id: 'VARCHAR',
      updated_at: 'TIMESTAMP WITH TIME ZONE',
      _exported_at: 'TIMESTAMP WITH TIME ZONE',
      fields: 'VARCHAR',
      internal: 'VARCHAR',
      vec_x: 'FLOAT[]',
    });
    const schema = await query(`SELECT name, type, converted_type, logical_type, repetition_type FROM parquet_schema('${path}')`);
    const byName = Object.fromEntries(schema.map((s) => [s.name, s]));
    expect(byName.updated_at).toMatchObject({ type: 'INT64' });
    expect(String(byName.updated_at!.logical_type)).toMatch(/TimestampType\(isAdjustedToUTC=1, .*MICROS=MicroSeconds\(\)/);
    expect(byName.document_id).toMatchObject({ type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' });
    expect(String(byName.document_id!.logical_type)).toMatch(/StringType/);
    expect(byName.namespace_id).toMatchObject({ repetition_type: 'OPTIONAL' });
    expect(byName.vec_x).toMatchObject({ converted_type: 'LIST' });
    expect(byName.list).toMatchObject({ repetition_type: 'REPEATED' });
    expect(byName.element).toMatchObject({ type: 'FLOAT' });
    expect(encoder.bytesOut).toBe((await readFile(path)).length);
  });

  it('round-trips unicode text, a 5 MB field, microsecond timestamps and JSON columns exactly', async () => {
    const big = 'Ω東京🎬 lorem ipsum '.repeat(280_000); // ~5 MB of UTF-8
    const timestamps = [
      '0001-01-01T00:00:00.000000Z',
      '1969-12-31T23:59:59.999999Z',
      '1970-01-01T00:00:00.000001Z',
      '2026-11-21T15:30:00.123456Z',
      '9999-12-31T23:59:59.999999Z',
    ];
    const rows = timestamps.map((ts, i) =>
      row(i, {
        created_at: i === 2 ? null : ts,
        updated_at: ts,
        fields: i === 0 ? { transcript: big } : { emoji: '👩‍👩‍👧‍👦', rtl: 'שלום', zalgo: 'Z̤͔ͧ̑̓', i },
        internal: i === 1 ? null : { lineage: { root_object_id: `o${i}` } },
      }),
    );
    const { path } = await encode({ format: 'parquet' }, rows);
    const got = await query(
      `SELECT document_id, epoch_us(updated_at)::VARCHAR AS up, epoch_us(created_at)::VARCHAR AS cr, md5(fields) AS fmd5,
              strlen(fields) AS flen, internal, fields FROM read_parquet('${path}') ORDER BY document_id`,
    );
    expect(got).toHaveLength(5);
    got.forEach((g, i) => {
      const fieldsText = JSON.stringify(rows[i]!.fields);
      expect(g.up).toBe(toEpochMicros(timestamps[i]!).toString());
      expect(g.cr).toBe(i === 2 ? null : toEpochMicros(timestamps[i]!).toString());
      expect(g.fmd5).toBe(createHash('md5').update(fieldsText).digest('hex'));
      expect(g.internal).toBe(rows[i]!.internal === null ? null : JSON.stringify(rows[i]!.internal));
      if (i > 0) expect(JSON.parse(g.fields as string)).toEqual(rows[i]!.fields);
    });
    expect(Number(got[0]!.flen)).toBe(Buffer.byteLength(JSON.stringify(rows[0]!.fields)));
    expect(Number(got[0]!.flen)).toBeGreaterThan(5_000_000);
  });

  it('keeps missing vectors null (not empty) and stores 768-dim and differing-length vectors exactly', async () => {
    const rows = range(40, (i) =>
      row(i, { vectors: { x: i % 3 === 0 ? null : i % 3 === 1 ? vector(i, 768) : Array.from(vector(i, 5)) } }),
    );
    const { path } = await encode({ format: 'parquet' }, rows);
    const got = await query(`SELECT document_id, vec_x, len(vec_x) AS n FROM read_parquet('${path}') ORDER BY document_id`);
    got.forEach((g, i) => {
      const expected = rows[i]!.vectors.x;
      if (expected === null) {
        expect(g.vec_x).toBeNull();
      } else {
        expect(Number(g.n)).toBe(expected.length);
        expect((g.vec_x as number[]).map(Math.fround)).toEqual(Array.from(Float32Array.from(expected)));
      }
    });
    const [counts] = await query(`SELECT count(*) FILTER (WHERE vec_x IS NULL) AS nulls, count(*) FILTER (WHERE len(vec_x) = 0) AS empties FROM read_parquet('${path}')`);
    expect(counts).toEqual({ nulls: '14', empties: '0' });
  });

  it('cuts one row group per rowGroupRows rows and keeps every row', async () => {
    const { path, encoder } = await encode({ format: 'parquet', rowGroupRows: 100 }, range(1050));
    const groups = await query(
      `SELECT row_group_id, row_group_num_rows AS n FROM parquet_metadata('${path}') WHERE path_in_schema = 'document_id' ORDER BY row_group_id`,
    );
    expect(groups.map((g) => Number(g.n))).toEqual([...Array(10).fill(100), 50]);
    const [count] = await query(`SELECT count(*) AS n, count(DISTINCT document_id) AS ids FROM read_parquet('${path}')`);
    expect(count).toEqual({ n: '1050', ids: '1050' });
    const footer = readParquetFooter(await readFile(path));
    expect(footer.numRows).toBe(1050);
    expect(footer.rowGroupRows).toEqual([...Array(10).fill(100), 50]);
    expect(encoder.rows).toBe(1050);
  });

  it('closes a row group early once rowGroupBytes of data are buffered', async () => {
    const rows = range(30, (i) => row(i, { fields: { text: 'x'.repeat(10_000) } }));
    const { path } = await encode({ format: 'parquet', rowGroupRows: 1000, rowGroupBytes: 50_000 }, rows);
    const footer = readParquetFooter(await readFile(path));
    expect(footer.numRows).toBe(30);
    expect(footer.rowGroupRows.length).toBeGreaterThanOrEqual(5);
    expect(Math.max(...footer.rowGroupRows)).toBeLessThanOrEqual(5);
  });

  it('counts vector floats at 4 bytes, so a row group of 768-d vectors closes at rowGroupBytes, not at rowGroupRows', async () => {
    // Per row about 3,072 bytes of floats and 150 of text: 64 rows reach 200,000 bytes.
    const rows = range(300, (i) => row(i, { fields: { n: i }, vectors: { x: vector(i + 1, 768) } }));
    const { path } = await encode({ format: 'parquet', rowGroupRows: 10_000, rowGroupBytes: 200_000 }, rows);
    const footer = readParquetFooter(await readFile(path));
    expect(footer.numRows).toBe(300);
    const full = footer.rowGroupRows.slice(0, -1);
    expect(full.length).toBeGreaterThanOrEqual(4);
    for (const rows of full) expect(rows * 768 * 4).toBeLessThan(200_000 + 768 * 4);
    for (const rows of full) expect(rows).toBeGreaterThan(200_000 / (768 * 4 + 1000));
  });

  it('writes no dictionary pages with dictionary: false, and the same rows', async () => {
    const rows = range(200, (i) => row(i, { vectors: { x: vector(i + 1, 64) } }));
    const [withDictionary, without] = [await encode({ format: 'parquet', rowGroupRows: 64 }, rows), await encode({ format: 'parquet', rowGroupRows: 64, dictionary: false }, rows)];
    const dictionaryPages = async (path: string) => (await query(`SELECT count(*) FILTER (WHERE dictionary_page_offset IS NOT NULL) AS n FROM parquet_metadata('${path}')`))[0];
    expect(await dictionaryPages(withDictionary.path)).not.toEqual({ n: '0' });
    expect(await dictionaryPages(without.path)).toEqual({ n: '0' });
    const read = (path: string) => query(`SELECT * FROM read_parquet('${path}') ORDER BY document_id`);
    expect(await read(without.path)).toEqual(await read(withDictionary.path));
    expect(() => createEncoder({ format: 'parquet', compression: 'zstd', vectorKeys: [], dictionary: 'no' as unknown as boolean })).toThrow(/dictionary must be true or false/);
  });

  it.each(['zstd', 'snappy', 'none'] as const)('writes %s-compressed files that DuckDB reads', async (compression) => {
    const { path } = await encode({ format: 'parquet', compression, rowGroupRows: 64 }, range(200));
    const meta = await query(`SELECT DISTINCT compression FROM parquet_metadata('${path}')`);
    expect(meta.map((m) => m.compression)).toEqual([compression === 'none' ? 'UNCOMPRESSED' : compression.toUpperCase()]);
    const [count] = await query(`SELECT count(*) AS n, sum(len(vec_x)) AS floats FROM read_parquet('${path}')`);
    expect(count).toEqual({ n: '200', floats: String(100 * 8) });
  });

  it('writes a valid Parquet file with zero rows', async () => {
    const { path, encoder } = await encode({ format: 'parquet' }, []);
    expect(encoder.rows).toBe(0);
    const [count] = await query(`SELECT count(*) AS n FROM read_parquet('${path}')`);
    expect(count).toEqual({ n: '0' });
    expect(types(await query(`DESCRIBE SELECT * FROM read_parquet('${path}')`)).updated_at).toBe('TIMESTAMP WITH TIME ZONE');
  });

  it('rejects a row that breaks a non-nullable column and stays usable for the next rows', async () => {
    const encoder = createEncoder({ format: 'parquet', compression: 'zstd', vectorKeys: ['x'] });
    const path = join(dir, `f${fileNo++}.parquet`);
    const sink = pipeline(encoder.output, createWriteStream(path));
    await encoder.write(row(1));
    await expect(encoder.write(row(2, { document_id: null as unknown as string }))).rejects.toThrow(/document_id/);
    await expect(encoder.write(row(3, { updated_at: 'yesterday' }))).rejects.toThrow(/updated_at/);
    await encoder.write(row(4));
    await Promise.all([encoder.end(), sink]);
    const got = await query(`SELECT document_id FROM read_parquet('${path}') ORDER BY 1`);
    expect(got.map((g) => g.document_id)).toEqual(['doc_000001', 'doc_000004']);
  });

  it('stops resolving write() while nobody reads the output, well before 100 row groups are buffered', async () => {
    const rowGroupRows = 10;
    // ~4 KB per row that does not compress, so a row group is ~40 KB and stream buffers hold one each.
    const rows = range(100 * rowGroupRows, (i) => row(i, { fields: { text: randomBytes(3000).toString('base64') } }));
    const encoder = createEncoder({ format: 'parquet', compression: 'zstd', vectorKeys: ['x'], rowGroupRows });
    const { accepted, pending } = await writeUntilStalled(encoder, rows);
    expect(pending).not.toBeNull();
    // Measured: 2 row groups handed over, then the write that completes the third waits (20 leaves room for slower machines).
    expect(accepted).toBeLessThan(20 * rowGroupRows);

    const path = join(dir, `f${fileNo++}.parquet`);
    const sink = pipeline(encoder.output, createWriteStream(path));
    await pending;
    for (const r of rows.slice(accepted + 1)) await encoder.write(r);
    await Promise.all([encoder.end(), sink]);
    const [count] = await query(`SELECT count(*) AS n FROM read_parquet('${path}')`);
    expect(count).toEqual({ n: String(rows.length) });
  });

  it('abort() destroys the output with the error and rejects a write that waits on backpressure', async () => {
    const encoder = createEncoder({ format: 'parquet', compression: 'zstd', vectorKeys: [], rowGroupRows: 5 });
    const text = randomBytes(20_000).toString('base64');
    const { pending } = await writeUntilStalled(encoder, range(1000, (i) => row(i, { fields: { text: text + i } })));
    const outputError = new Promise((resolve) => encoder.output.once('error', resolve));
    encoder.abort(new Error('upload failed'));
    await expect(pending).rejects.toThrow('upload failed');
    await expect(outputError).resolves.toMatchObject({ message: 'upload failed' });
    await expect(encoder.end()).rejects.toThrow('upload failed');
  });
});

describe('parquet footer guard', () => {
  async function parquetBytes(rows: number): Promise<Buffer> {
    const { path } = await encode({ format: 'parquet', rowGroupRows: 7 }, range(rows));
    return readFile(path);
  }

  function chunks(buffer: Buffer, size: number): Buffer[] {
    const out: Buffer[] = [];
    for (let i = 0; i < buffer.length; i += size) out.push(buffer.subarray(i, i + size));
    return out;
  }

  it('passes a file whose footer counts exactly the rows written, whatever the chunking', async () => {
    const bytes = await parquetBytes(30);
    const guard = new FooterGuard(() => 30);
    const collected: Buffer[] = [];
    await pipeline(Readable.from(chunks(bytes, 333)), guard, new Writable({ write: (c, _e, cb) => (collected.push(c), cb()) }));
    expect(Buffer.concat(collected).equals(bytes)).toBe(true);
    expect(guard.bytesOut).toBe(bytes.length);
  });

  it('errors the stream when the footer counts fewer rows than were written', async () => {
    const bytes = await parquetBytes(30);
    const guard = new FooterGuard(() => 31);
    await expect(pipeline(Readable.from(chunks(bytes, 4096)), guard, new PassThrough().resume())).rejects.toThrow(
      /footer counts 30 rows .* but 31 were written/,
    );
  });

  it('errors the stream when the bytes end without a Parquet footer', async () => {
    const bytes = await parquetBytes(10);
    const guard = new FooterGuard(() => 10);
    await expect(pipeline(Readable.from([bytes.subarray(0, bytes.length - 1)]), guard, new PassThrough().resume())).rejects.toThrow(
      /no readable footer/,
    );
    expect(() => readParquetFooter(Buffer.from('not parquet at all'))).toThrow(/PAR1/);
  });
});

describe('ndjson encoder', () => {
  const codecs: readonly Compression[] = ['gzip', 'zstd', 'none'];

  it.each(codecs)('writes %s files that DuckDB reads with the same count and nested fields', async (compression) => {
    const rows = range(1200);
    const { path, encoder } = await encode({ format: 'ndjson', compression }, rows);
    expect(path.endsWith(extensionFor('ndjson', compression))).toBe(true);
    expect(encoder.bytesOut).toBe((await readFile(path)).length);
    const src = `read_json('${path}', format = 'newline_delimited')`;
    const [count] = await query(
      `SELECT count(*) AS n, count(*) FILTER (WHERE vec_x IS NULL) AS null_vectors, count(*) FILTER (WHERE internal IS NULL) AS null_internal FROM ${src}`,
    );
    expect(count).toEqual({ n: '1200', null_vectors: '600', null_internal: '300' });
    const [first] = await query(`SELECT fields.title AS title, fields.nested.ok AS ok, fields.n AS n FROM ${src} WHERE document_id = 'doc_000007'`);
    expect(first).toEqual({ title: 'Document 7 — 東京 Ελλάδα 🎬', ok: true, n: '7' });
  });

  it('writes keys in column order, canonical timestamps, nested JSON and exact float32 vectors', async () => {
    const rows = [row(0, { vectors: { x: vector(9, 768) } }), row(1), row(2, { vectors: { x: [0.5, -2, 3.25] } })];
    const { path } = await encode({ format: 'ndjson', compression: 'gzip' }, rows);
    const lines = gunzipSync(await readFile(path)).toString('utf8').split('\n');
    expect(lines.at(-1)).toBe('');
    const parsed = lines.slice(0, -1).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed).toHaveLength(3);
    expect(Object.keys(parsed[0]!)).toEqual(columnsFor(['x']).map((c) => c.name));
    expect(parsed[0]!.updated_at).toBe(rows[0]!.updated_at);
    expect(parsed[0]!.fields).toEqual(rows[0]!.fields);
    expect(parsed[1]!.vec_x).toBeNull();
    expect(parsed[1]!.namespace_id).toBe('ns_1');
    expect(Float32Array.from(parsed[0]!.vec_x as number[])).toEqual(rows[0]!.vectors.x);
    expect(parsed[2]!.vec_x).toEqual([0.5, -2, 3.25]);
  });

  it('writes zero-row files that are valid for each codec', async () => {
    for (const compression of codecs) {
      const { path } = await encode({ format: 'ndjson', compression }, []);
      const bytes = await readFile(path);
      if (compression === 'gzip') expect(gunzipSync(bytes).length).toBe(0);
      if (compression === 'none') expect(bytes.length).toBe(0);
      if (compression === 'zstd') expect(bytes.length).toBeGreaterThan(0);
    }
  });

  it('keeps concurrent zstd files intact although they share one wasm zstd instance', async () => {
    const a = range(3000, (i) => row(i, { fields: { which: 'a', i } }));
    const b = range(3000, (i) => row(i, { fields: { which: 'b', i } }));
    const [fa, fb] = await Promise.all([encode({ format: 'ndjson', compression: 'zstd' }, a), encode({ format: 'ndjson', compression: 'zstd' }, b)]);
    for (const [file, which] of [[fa, 'a'], [fb, 'b']] as const) {
      const [got] = await query(
        `SELECT count(*) AS n, count(*) FILTER (WHERE fields.which = '${which}') AS mine FROM read_json('${file.path}', format = 'newline_delimited')`,
      );
      expect(got).toEqual({ n: '3000', mine: '3000' });
    }
  });

  it.each(['none', 'gzip'] as const)('stops resolving write() while nobody reads the %s output', async (compression) => {
    const text = randomBytes(3000).toString('base64');
    const rows = range(5000, (i) => row(i, { fields: { text: text + i } })); // ~20 MB of lines
    const encoder = createEncoder({ format: 'ndjson', compression, vectorKeys: ['x'] });
    const { accepted, pending } = await writeUntilStalled(encoder, rows);
    expect(pending).not.toBeNull();
    expect(accepted).toBeLessThan(1000); // at most a few 1 MiB chunks in flight

    const path = join(dir, `f${fileNo++}${encoder.extension}`);
    const sink = pipeline(encoder.output, createWriteStream(path));
    await pending;
    for (const r of rows.slice(accepted + 1)) await encoder.write(r);
    await Promise.all([encoder.end(), sink]);
    const [count] = await query(`SELECT count(*) AS n FROM read_json('${path}', format = 'newline_delimited')`);
    expect(count).toEqual({ n: '5000' });
  });
});

describe('tombstones in both encoders', () => {
  const TOMBSTONE = {
    documentId: 'doc_gone',
    collectionId: 'col_1',
    namespaceId: 'ns_1',
    runId: '20261122T020000Z-rcn1',
    exportedAt: '2026-11-22T02:00:05.000001Z',
    observedAt: '2026-11-22T02:00:00.123456Z',
  };
  const NULL_COLUMNS = ['created_at', 'root_object_id', 'source_object_id', 'fields', 'internal', 'vec_x'];
  const utc = (column: string) => `strftime(${column} AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') AS ${column}`;
  const expected = {
    document_id: 'doc_gone',
    collection_id: 'col_1',
    namespace_id: 'ns_1',
    updated_at: TOMBSTONE.observedAt,
    _run_id: TOMBSTONE.runId,
    _exported_at: TOMBSTONE.exportedAt,
    _deleted: true,
    ...Object.fromEntries(NULL_COLUMNS.map((c) => [c, null])),
  };
  const rows = () => [row(1), tombstoneRow(TOMBSTONE), row(2)];

  it('writes a Parquet tombstone that DuckDB reads back with exactly its values and nulls, next to versions with _deleted false', async () => {
    const { path } = await encode({ format: 'parquet' }, rows());
    const got = await query(`SELECT * REPLACE (${utc('updated_at')}, ${utc('_exported_at')}, ${utc('created_at')}) FROM read_parquet('${path}') WHERE document_id = 'doc_gone'`);
    expect(got).toEqual([expected]);
    const versions = await query(`SELECT document_id, _deleted, fields IS NULL AS no_fields FROM read_parquet('${path}') WHERE document_id <> 'doc_gone' ORDER BY 1`);
    expect(versions).toEqual([{ document_id: 'doc_000001', _deleted: false, no_fields: false }, { document_id: 'doc_000002', _deleted: false, no_fields: false }]);
    const schema = Object.fromEntries((await query(`SELECT name, type, repetition_type FROM parquet_schema('${path}')`)).map((n) => [n.name, n]));
    expect(schema._deleted).toMatchObject({ type: 'BOOLEAN', repetition_type: 'REQUIRED' });
    expect(schema.fields).toMatchObject({ repetition_type: 'OPTIONAL' });
  });

  it.each(['gzip', 'none'] as const)('writes a %s NDJSON tombstone that DuckDB reads back with exactly its values and nulls', async (compression) => {
    const { path } = await encode({ format: 'ndjson', compression }, rows());
    const columns = "{document_id:'VARCHAR', collection_id:'VARCHAR', namespace_id:'VARCHAR', created_at:'VARCHAR', updated_at:'VARCHAR', root_object_id:'VARCHAR', source_object_id:'VARCHAR', fields:'JSON', internal:'JSON', vec_x:'FLOAT[]', _run_id:'VARCHAR', _exported_at:'VARCHAR', _deleted:'BOOLEAN'}";
    const got = await query(`SELECT * FROM read_json('${path}', format = 'newline_delimited', columns = ${columns}) WHERE document_id = 'doc_gone'`);
    expect(got).toEqual([expected]);
    const [versions] = await query(`SELECT count(*) FILTER (WHERE NOT _deleted) AS live FROM read_json('${path}', format = 'newline_delimited', columns = ${columns})`);
    expect(versions).toEqual({ live: '2' });
  });

  it('writes _deleted last in each NDJSON line, as a JSON boolean', async () => {
    const { path } = await encode({ format: 'ndjson', compression: 'none' }, rows());
    const lines = (await readFile(path, 'utf8')).trim().split('\n');
    expect(lines[0]).toMatch(/,"_exported_at":"[^"]+","_deleted":false\}$/);
    expect(lines[1]).toBe(
      '{"document_id":"doc_gone","collection_id":"col_1","namespace_id":"ns_1","created_at":null,"updated_at":"2026-11-22T02:00:00.123456Z","root_object_id":null,"source_object_id":null,"fields":null,"internal":null,"vec_x":null,"_run_id":"20261122T020000Z-rcn1","_exported_at":"2026-11-22T02:00:05.000001Z","_deleted":true}',
    );
  });

  it.each(['parquet', 'ndjson'] as const)('refuses a %s row whose _deleted is missing or not a boolean, naming the column', async (format) => {
    const encoder = createEncoder({ format, compression: defaultCompression(format), vectorKeys: ['x'] });
    const sink = pipeline(encoder.output, createWriteStream(join(dir, `f${fileNo++}${encoder.extension}`)));
    await expect(encoder.write(row(1, { _deleted: undefined as unknown as boolean }))).rejects.toThrow(/column _deleted is not nullable/);
    await expect(encoder.write(row(2, { _deleted: 'false' as unknown as boolean }))).rejects.toThrow(/column _deleted holds a string, not a boolean/);
    await encoder.write(row(3));
    await Promise.all([encoder.end(), sink]);
    expect(encoder.rows).toBe(1);
  });

  it('refuses a tombstone without an id or with a time that is not canonical, naming the input', () => {
    expect(() => tombstoneRow({ ...TOMBSTONE, documentId: '' })).toThrow(/documentId must be a non-empty string/);
    expect(() => tombstoneRow({ ...TOMBSTONE, observedAt: '2026-11-22T02:00:00Z' })).toThrow(/observedAt "2026-11-22T02:00:00Z" is not a canonical UTC timestamp/);
  });
});
