/**
 * Typed columns from a collection's output_schema: the plan (type mapping, names, staged
 * columns, drift), the fit of each value, the mapper's split between typed columns and
 * `fields`, and both encoders' files read back by DuckDB with the mapped types.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEncoder } from '../../src/encode/index.js';
import type { Compression, Format } from '../../src/encode/types.js';
import { columnsFor, type TypedColumn } from '../../src/rows/columns.js';
import { toRow, typedByField } from '../../src/rows/map.js';
import { fitValue, mapDeclared, planColumns } from '../../src/rows/typed.js';
import type { Row } from '../../src/rows/types.js';
import { query } from '../support/harness.js';

/** One field of every declared type of reference section 8, plus arrays of each kind. */
const EVERY_TYPE = {
  properties: {
    title: { type: 'string' },
    body: { type: 'text' },
    page_number: { type: 'integer' },
    duration: { type: 'number' },
    score: { type: 'float' },
    in_stock: { type: 'boolean' },
    published_at: { type: 'datetime' },
    release_date: { type: 'date' },
    dimensions: { type: 'object', properties: { width: { type: 'number' } } },
    thumbnail: { type: 'image' },
    clip: { type: 'video' },
    voice: { type: 'audio' },
    scan: { type: 'pdf' },
    sheet: { type: 'excel' },
    tags: { type: 'array', items: { type: 'string' } },
    counts: { type: 'array', items: { type: 'integer' } },
    weights: { type: 'array', items: { type: 'number' } },
    flags: { type: 'array', items: { type: 'boolean' } },
    seen_at: { type: 'array', items: { type: 'datetime' } },
    days: { type: 'array', items: { type: 'date' } },
    objects: { type: 'array', items: { type: 'object', properties: { label: { type: 'string' } } } },
    anything: { type: 'array' },
  },
};

describe('the column plan of an output_schema', () => {
  it('maps every declared type to its column type, arrays of scalars to lists and the rest to JSON', () => {
    const plan = planColumns(EVERY_TYPE, []);
    const types = Object.fromEntries(plan.columns.map((c) => [c.name, c.list ? `list<${c.type}>` : c.type]));
    expect(types).toEqual({
      title: 'string', body: 'string', page_number: 'int64', duration: 'double', score: 'double', in_stock: 'boolean',
      published_at: 'timestamp', release_date: 'date', dimensions: 'json', thumbnail: 'json', clip: 'json', voice: 'json',
      scan: 'json', sheet: 'json', tags: 'list<string>', counts: 'list<int64>', weights: 'list<double>', flags: 'list<boolean>',
      seen_at: 'list<timestamp>', days: 'list<date>', objects: 'json', anything: 'json',
    });
    expect(plan.columns.map((c) => c.name)).toEqual(Object.keys(EVERY_TYPE.properties)); // declaration order
    expect(plan.columns.find((c) => c.name === 'objects')?.declared).toBe('array<object>');
    expect(plan.drift).toEqual([]);
    expect(plan.added).toHaveLength(plan.columns.length);
  });

  it('leaves out fields whose names cannot be columns or whose type is unknown, saying why', () => {
    const plan = planColumns(
      {
        properties: {
          'scene-label': { type: 'string' }, '2nd_pass': { type: 'integer' }, ['x'.repeat(129)]: { type: 'string' },
          document_id: { type: 'string' }, Updated_At: { type: 'datetime' }, _internal: { type: 'object' }, FIELDS: { type: 'object' },
          vec_custom: { type: 'array', items: { type: 'float' } }, brand: { type: 'string' }, Brand: { type: 'string' }, BRAND: { type: 'string' },
          geo: { type: 'geo_point' }, ok_name: { type: 'integer' },
        },
      },
      [],
    );
    expect(plan.columns.map((c) => c.name)).toEqual(['brand', 'ok_name']);
    const reasons = Object.fromEntries(plan.skipped.map((s) => [s.field, s.reason]));
    expect(Object.keys(reasons).sort()).toEqual(['2nd_pass', 'BRAND', 'Brand', 'FIELDS', 'Updated_At', '_internal', 'document_id', 'geo', 'scene-label', 'vec_custom', 'x'.repeat(129)].sort());
    expect(reasons.Brand).toMatch(/ignoring case/);
    expect(reasons['scene-label']).toMatch(/not a plain column name/);
    expect(reasons.Updated_At).toMatch(/envelope/);
    expect(reasons.vec_custom).toMatch(/vec_/);
    expect(reasons.geo).toMatch(/"geo_point" is not one this exporter knows/);
  });

  it('keeps staged columns with their first type, reports a declared type that changed, and appends new fields', () => {
    const staged: TypedColumn[] = [
      { name: 'page_number', field: 'page_number', type: 'int64', declared: 'integer' },
      { name: 'gone', field: 'gone', type: 'string', declared: 'string' },
    ];
    const plan = planColumns({ properties: { added_later: { type: 'date' }, page_number: { type: 'string' }, Gone_Too: { type: 'string' }, GONE: { type: 'integer' } } }, staged);
    expect(plan.columns.map((c) => `${c.name}:${c.type}`)).toEqual(['page_number:int64', 'gone:string', 'added_later:date', 'Gone_Too:string']);
    expect(plan.drift).toEqual([{ field: 'page_number', column: 'page_number', staged: 'int64', declared: 'string', wouldBe: 'string' }]);
    expect(plan.added.map((c) => c.name)).toEqual(['added_later', 'Gone_Too']);
    expect(plan.skipped).toEqual([{ field: 'GONE', reason: expect.stringMatching(/ignoring case/) }]); // `gone` is still a column: removed fields keep theirs
    expect(planColumns({ properties: { page_number: { type: 'integer' } } }, staged).drift).toEqual([]);
    expect(planColumns(null, staged).columns).toEqual(staged);
  });

  it('reads number and float as the same column type, so switching between them is no drift', () => {
    const staged: TypedColumn[] = [{ name: 'score', field: 'score', type: 'double', declared: 'number' }];
    expect(planColumns({ properties: { score: { type: 'float' } } }, staged).drift).toEqual([]);
    expect(mapDeclared({ type: 'INTEGER' })).toEqual({ type: 'int64', declared: 'integer' });
    expect(mapDeclared('string')).toBeNull();
  });
});

describe('the fit of a value to its column', () => {
  const fits = (type: TypedColumn['type'], value: unknown, list = false) => fitValue({ type, ...(list ? { list } : {}) }, value);

  it('takes values by their JSON type and puts timestamps and dates in canonical form', () => {
    expect(fits('string', 'a')).toEqual({ ok: true, value: 'a' });
    expect(fits('int64', 12)).toEqual({ ok: true, value: 12 });
    expect(fits('int64', -(2 ** 62))).toEqual({ ok: true, value: -(2 ** 62) });
    expect(fits('double', 1.5)).toEqual({ ok: true, value: 1.5 });
    expect(fits('boolean', false)).toEqual({ ok: true, value: false });
    expect(fits('timestamp', '2026-11-21T15:30:00+01:00')).toEqual({ ok: true, value: '2026-11-21T14:30:00.000000Z' });
    expect(fits('timestamp', '2025-10-10T14:53:50.351000')).toEqual({ ok: true, value: '2025-10-10T14:53:50.351000Z' });
    expect(fits('date', '2024-02-29')).toEqual({ ok: true, value: '2024-02-29' });
    expect(fits('json', { a: [1] })).toEqual({ ok: true, value: { a: [1] } });
    expect(fits('json', 'https://cdn.example/x.jpg')).toEqual({ ok: true, value: 'https://cdn.example/x.jpg' });
    expect(fits('string', ['a', null, 'b'], true)).toEqual({ ok: true, value: ['a', null, 'b'] });
    expect(fits('timestamp', ['2026-01-01T00:00:00Z'], true)).toEqual({ ok: true, value: ['2026-01-01T00:00:00.000000Z'] });
  });

  it('refuses values of another type, beyond INT64, unparseable instants and impossible dates', () => {
    for (const [type, value] of [
      ['int64', '12a'], ['int64', '12'], ['int64', 3.5], ['int64', 1e20], ['int64', 2 ** 63], ['string', 12], ['string', { a: 1 }],
      ['double', '1.5'], ['boolean', 'true'], ['boolean', 0], ['timestamp', 'yesterday'], ['timestamp', 1_700_000_000],
      ['timestamp', '2026-13-01T00:00:00Z'], ['date', '2023-02-29'], ['date', '2026-11-21T00:00:00Z'], ['date', 20261121],
    ] as const) {
      expect(fits(type, value), `${type} ${JSON.stringify(value)}`).toEqual({ ok: false });
    }
    expect(fits('int64', [1, 'two', 3], true)).toEqual({ ok: false });
    expect(fits('string', 'not a list', true)).toEqual({ ok: false });
  });
});

describe('the mapper with typed columns', () => {
  const columns = planColumns({ properties: { title: { type: 'string' }, page_number: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } }, meta: { type: 'object' }, 'bad-name': { type: 'string' } } }, []).columns;
  const ctx = { runId: 'r1', exportedAt: '2026-11-21T00:00:00.000000Z', namespace: 'ns', vectors: false, typed: typedByField(columns) };
  const doc = (extra: Record<string, unknown>) => ({ document_id: 'd1', _internal: { updated_at: '2026-11-20T00:00:00Z' }, ...extra });

  it('puts each fitting value in its column and nothing of it in fields', () => {
    const mapped = toRow(doc({ title: 'T', page_number: 3, tags: ['a'], meta: { k: 1 }, 'bad-name': 'x', extra: true }), ctx);
    if (!mapped.ok) throw new Error(mapped.reason);
    expect(mapped.row.typed).toEqual({ title: 'T', page_number: 3, tags: ['a'], meta: { k: 1 } });
    expect(mapped.row.fields).toEqual({ 'bad-name': 'x', extra: true });
    expect(mapped.rescued).toEqual([]);
  });

  it('rescues a value that does not fit: kept in fields under its own name, the column null, the field named', () => {
    const mapped = toRow(doc({ title: 'T', page_number: '12a', tags: ['a', 2] }), ctx);
    if (!mapped.ok) throw new Error(mapped.reason);
    expect(mapped.row.typed).toEqual({ title: 'T' });
    expect(mapped.row.fields).toEqual({ page_number: '12a', tags: ['a', 2] });
    expect(mapped.rescued).toEqual(['page_number', 'tags']);
  });

  it('leaves a null or absent typed value out of both the column and fields', () => {
    const mapped = toRow(doc({ title: null }), ctx);
    if (!mapped.ok) throw new Error(mapped.reason);
    expect(mapped.row.typed).toEqual({});
    expect(mapped.row.fields).toEqual({});
  });

  it('keeps every field in fields and no typed values without typed columns (columns: json)', () => {
    const mapped = toRow(doc({ title: 'T', page_number: 3 }), { ...ctx, typed: undefined });
    if (!mapped.ok) throw new Error(mapped.reason);
    expect(mapped.row.typed).toBeUndefined();
    expect(mapped.row.fields).toEqual({ title: 'T', page_number: 3 });
  });
});

describe('files with typed columns', () => {
  let dir: string;
  const typed = planColumns(EVERY_TYPE, []).columns;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'typed-test-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const values: Record<string, unknown> = {
    title: 'Title ü', body: 'long text', page_number: 2 ** 53 - 1, duration: 12.5, score: -0.25, in_stock: true,
    published_at: '2026-11-21T15:30:00.123456Z', release_date: '1999-12-31', dimensions: { width: 3.5 }, thumbnail: 'https://cdn.example/t.jpg',
    clip: { url: 's3://b/v.mp4' }, voice: null, scan: ['p1'], sheet: 7, tags: ['a', null, 'c'], counts: [1, -2], weights: [0.5],
    flags: [true, false], seen_at: ['2026-01-02T03:04:05.000006Z'], days: ['2026-02-28', '0001-01-01'], objects: [{ label: 'x' }], anything: [[1], 'two'],
  };
  const rowOf = (i: number, typedValues: Record<string, unknown>): Row => ({
    document_id: `doc_${i}`, collection_id: 'col_1', namespace_id: 'ns_1', created_at: null, updated_at: '2026-11-21T15:30:00.000000Z',
    root_object_id: null, source_object_id: null, fields: { rest: i }, internal: null, vectors: {}, typed: typedValues,
    _run_id: 'run_1', _exported_at: '2026-11-21T15:31:00.000000Z', _deleted: false,
  });

  async function write(format: Format, compression: Compression, rows: Row[], typedColumns: readonly TypedColumn[] = typed): Promise<string> {
    const encoder = createEncoder({ format, compression, vectorKeys: [], typedColumns, rowGroupRows: 2 });
    const path = join(dir, `f-${format}-${Math.random().toString(36).slice(2)}${encoder.extension}`);
    const done = pipeline(encoder.output, createWriteStream(path));
    for (const row of rows) await encoder.write(row);
    await encoder.end();
    await done;
    return path;
  }

  it('writes Parquet that DuckDB reads with each typed column in its mapped type, after internal and before the run columns', async () => {
    const path = await write('parquet', 'zstd', [rowOf(1, values), rowOf(2, {}), rowOf(3, { title: 'only title' })]);
    const described = Object.fromEntries((await query(`DESCRIBE SELECT * FROM read_parquet('${path}')`)).map((r) => [r.column_name, r.column_type]));
    expect(Object.keys(described)).toEqual(columnsFor([], typed).map((c) => c.name));
    expect(described).toMatchObject({
      title: 'VARCHAR', body: 'VARCHAR', page_number: 'BIGINT', duration: 'DOUBLE', score: 'DOUBLE', in_stock: 'BOOLEAN',
      published_at: 'TIMESTAMP WITH TIME ZONE', release_date: 'DATE', dimensions: 'VARCHAR', thumbnail: 'VARCHAR', tags: 'VARCHAR[]',
      counts: 'BIGINT[]', weights: 'DOUBLE[]', flags: 'BOOLEAN[]', seen_at: 'TIMESTAMP WITH TIME ZONE[]', days: 'DATE[]', objects: 'VARCHAR', anything: 'VARCHAR',
    });
    const [got] = await query(
      `SET TimeZone = 'UTC'; SELECT title, body, page_number::VARCHAR AS page_number, duration, score, in_stock, epoch_us(published_at)::VARCHAR AS published_us, release_date::VARCHAR AS release_date,
        dimensions, thumbnail, clip, voice, scan, sheet, tags, counts::VARCHAR AS counts, weights, flags, [epoch_us(t) FOR t IN seen_at]::VARCHAR AS seen_us, days::VARCHAR AS days, objects, anything
       FROM read_parquet('${path}') WHERE document_id = 'doc_1'`,
    );
    expect(got).toEqual({
      title: 'Title ü', body: 'long text', page_number: String(2 ** 53 - 1), duration: 12.5, score: -0.25, in_stock: true,
      published_us: String(Date.parse('2026-11-21T15:30:00Z') * 1000 + 123456), release_date: '1999-12-31', dimensions: '{"width":3.5}', thumbnail: '"https://cdn.example/t.jpg"',
      clip: '{"url":"s3://b/v.mp4"}', voice: null, scan: '["p1"]', sheet: '7', tags: ['a', null, 'c'], counts: '[1, -2]', weights: [0.5],
      flags: [true, false], seen_us: '[1767323045000006]', days: '[2026-02-28, 0001-01-01]', objects: '[{"label":"x"}]', anything: '[[1],"two"]',
    });
    const nulls = await query(`SELECT count(*) FILTER (WHERE title IS NULL) AS no_title, count(*) FILTER (WHERE tags IS NULL AND page_number IS NULL) AS empty FROM read_parquet('${path}') WHERE document_id <> 'doc_1'`);
    expect(nulls).toEqual([{ no_title: '1', empty: '2' }]);
  });

  it('writes NDJSON with typed values at the top level of each line and JSON columns nested', async () => {
    const path = await write('ndjson', 'none', [rowOf(1, values), rowOf(2, {})]);
    const lines = (await import('node:fs')).readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(Object.keys(lines[0]!)).toEqual(columnsFor([], typed).map((c) => c.name).filter((name) => values[name] !== null));
    for (const [name, value] of Object.entries(values)) expect(lines[0]![name], name).toEqual(value === null ? undefined : value);
    expect(lines[0]!.fields).toEqual({ rest: 1 });
    // A null typed value is left out of the line (a missing key reads as NULL everywhere; a JSON null would be a VARIANT null in Snowflake).
    for (const column of typed) expect(column.name in lines[1]!, column.name).toBe(false);
    expect(Object.keys(lines[1]!)).toEqual(columnsFor([]).map((c) => c.name));
    const [read] = await query(`SELECT typeof(page_number) AS n, typeof(release_date) AS d, typeof(tags) AS t FROM read_json('${path}', format = 'newline_delimited') LIMIT 1`);
    expect(read).toEqual({ n: 'BIGINT', d: 'DATE', t: 'VARCHAR[]' });
  });

  it('writes the same bytes as before typed columns existed when a run has none (columns: json)', async () => {
    const rows = [rowOf(1, {}), rowOf(2, {})].map(({ typed: _none, ...rest }) => rest as Row);
    const { readFileSync } = await import('node:fs');
    for (const format of ['parquet', 'ndjson'] as const) {
      const without = readFileSync(await write(format, 'none', rows, []));
      const encoder = createEncoder({ format, compression: 'none', vectorKeys: [], rowGroupRows: 2 });
      const path = join(dir, `plain-${format}${encoder.extension}`);
      const done = pipeline(encoder.output, createWriteStream(path));
      for (const row of rows) await encoder.write(row);
      await encoder.end();
      await done;
      expect(without.equals(readFileSync(path)), format).toBe(true);
    }
  });

  it('refuses a value a typed column cannot hold and keeps the encoder usable', async () => {
    const encoder = createEncoder({ format: 'parquet', compression: 'none', vectorKeys: [], typedColumns: typed, rowGroupRows: 10 });
    const path = join(dir, 'refused.parquet');
    const done = pipeline(encoder.output, createWriteStream(path));
    await expect(encoder.write(rowOf(1, { counts: [1, 'x'] }))).rejects.toThrow(/column counts holds a string, not an integer/);
    await encoder.write(rowOf(2, { counts: [5] }));
    await encoder.end();
    await done;
    expect(await query(`SELECT document_id, counts::VARCHAR AS counts FROM read_parquet('${path}')`)).toEqual([{ document_id: 'doc_2', counts: '[5]' }]);
  });
});
