import { describe, expect, it } from 'vitest';
import { columnKey, MAX_ROW_DEPTH, toRow } from '../../src/rows/map.js';
import { canonicalTimestamp } from '../../src/rows/time.js';
import { isTombstone, tombstoneRow } from '../../src/rows/tombstone.js';
import { Intake, LOGGED_PER_EVENT } from '../../src/run/intake.js';
import { createLogger } from '../../src/util/log.js';

const ctx = { runId: '20261121T153000Z-7f3a', exportedAt: '2026-11-21T15:30:00.000000Z', namespace: 'ns_run', vectors: true };
const vec = (n: number) => Array.from({ length: n }, (_, i) => i / n);

describe('row mapping', () => {
  it('maps the current shape: _internal timestamps and lineage, user fields at the root', () => {
    const doc = {
      document_id: 'doc_frame_050',
      collection_id: 'col_video_frames',
      campaign_id: 'Q4_2025',
      duration: 120,
      image_extractor_v1_embedding: vec(768),
      _internal: {
        namespace_id: 'ns_xyz789',
        created_at: '2025-10-31T10:00:00Z',
        updated_at: '2025-10-31T10:00:00.123456Z',
        lineage: { root_object_id: 'obj_video_123', source_object_id: 'obj_src' },
      },
    };
    const result = toRow(doc, ctx);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const { row } = result;
    expect(row).toMatchObject({
      document_id: 'doc_frame_050',
      collection_id: 'col_video_frames',
      namespace_id: 'ns_xyz789',
      created_at: '2025-10-31T10:00:00.000000Z',
      updated_at: '2025-10-31T10:00:00.123456Z',
      root_object_id: 'obj_video_123',
      source_object_id: 'obj_src',
      fields: { campaign_id: 'Q4_2025', duration: 120 },
      _run_id: ctx.runId,
    });
    expect(row.internal).toEqual(doc._internal);
    expect(Object.keys(row.vectors)).toEqual(['image_extractor_v1_embedding']);
    expect(result.untyped).toBe(0);
  });

  it('maps the November 2025 shape with lineage and timestamps at the root', () => {
    const doc = { document_id: 'd1', collection_id: 'c', created_at: '2025-11-01T00:00:00Z', updated_at: '2025-11-02T00:00:00Z', root_object_id: 'r', source_object_id: 's', metadata: { title: 'x' }, vector: [0.1, 0.2] };
    const result = toRow(doc, ctx);
    if (!result.ok) throw new Error(result.reason);
    expect(result.row).toMatchObject({ updated_at: '2025-11-02T00:00:00.000000Z', root_object_id: 'r', source_object_id: 's', namespace_id: 'ns_run', internal: null });
    expect(result.row.fields).toEqual({ metadata: { title: 'x' } });
    expect(result.row.vectors).toEqual({ vector: [0.1, 0.2] });
  });

  it('maps the April 2025 GET shape with a vectors dictionary and zone-less timestamps', () => {
    const doc = { document_id: 'd2', collection_id: 'c', internal_id: 'org', namespace_id: 'ns_old', created_at: '2025-04-01T10:00:00.351000', updated_at: null, metadata: {}, vectors: { 'Text-Embedding': [1, 2, 3] } };
    const result = toRow(doc, ctx);
    if (!result.ok) throw new Error(result.reason);
    expect(result.row).toMatchObject({ namespace_id: 'ns_old', created_at: '2025-04-01T10:00:00.351000Z', updated_at: null });
    expect(result.row.vectors).toEqual({ [columnKey('Text-Embedding')]: [1, 2, 3] });
    expect(result.row.fields).toEqual({ internal_id: 'org', updated_at: null, metadata: {} });
  });

  it('keeps an unparseable timestamp in the JSON columns and counts it', () => {
    const doc = { document_id: 'd3', collection_id: 'c', _internal: { updated_at: 'not a date', created_at: '2025-01-01T00:00:00Z' } };
    const result = toRow(doc, ctx);
    if (!result.ok) throw new Error(result.reason);
    expect(result.row.updated_at).toBeNull();
    expect(result.row.internal?.updated_at).toBe('not a date');
    expect(result.untyped).toBe(1);
  });

  it('leaves vectors in the fields when vectors were not requested, and sparse vectors always', () => {
    const sparse = { indices: [1, 5], values: [0.5, 0.25] };
    const result = toRow({ document_id: 'd4', collection_id: 'c', emb: vec(64), splade_v1_vector: sparse }, { ...ctx, vectors: false });
    if (!result.ok) throw new Error(result.reason);
    expect(result.row.vectors).toEqual({});
    expect(result.row.fields.splade_v1_vector).toEqual(sparse);
    expect((result.row.fields.emb as number[]).length).toBe(64);
  });

  it('rejects only a document without document_id', () => {
    expect(toRow({ collection_id: 'c' }, ctx)).toEqual({ ok: false, reason: 'document has no document_id' });
    expect(toRow('text', ctx).ok).toBe(false);
    expect(toRow({ document_id: 'x' }, ctx).ok).toBe(true);
  });

  it('rejects a non-string document_id only when _internal has none, and keeps the odd root value in fields', () => {
    expect(toRow({ document_id: 42 }, ctx)).toEqual({ ok: false, reason: 'document_id is not a non-empty string' });
    expect(toRow({ document_id: '' }, ctx).ok).toBe(false);
    const result = toRow({ document_id: 42, _internal: { document_id: 'doc_in', updated_at: '2026-01-01T00:00:00Z' } }, ctx);
    if (!result.ok) throw new Error(result.reason);
    expect(result.row.document_id).toBe('doc_in');
    expect(result.row.fields).toEqual({ document_id: 42 });
    expect(result.untyped).toBe(1);
  });

  it('keeps keys named like envelope columns in fields, and a root updated_at when _internal has one', () => {
    const doc = {
      document_id: 'doc_env', collection_id: 'c', fields: { a: 1 }, internal: 'x', _run_id: 'fake', _exported_at: 'then',
      updated_at: '1999-01-01T00:00:00Z', nested: { document_id: 'inner', _internal: { updated_at: 'x' } },
      _internal: { updated_at: '2026-01-01T00:00:00Z' },
    };
    const result = toRow(doc, ctx);
    if (!result.ok) throw new Error(result.reason);
    expect(result.row).toMatchObject({ document_id: 'doc_env', updated_at: '2026-01-01T00:00:00.000000Z', _run_id: ctx.runId, _exported_at: ctx.exportedAt });
    expect(result.row.fields).toEqual({ fields: { a: 1 }, internal: 'x', _run_id: 'fake', _exported_at: 'then', updated_at: '1999-01-01T00:00:00Z', nested: doc.nested });
    expect(result.untyped).toBe(0);
  });

  it('marks every document version _deleted false, even one whose own fields hold a _deleted key', () => {
    const plain = toRow({ document_id: 'doc_live', _internal: { updated_at: '2026-01-01T00:00:00Z' } }, ctx);
    const claims = toRow({ document_id: 'doc_claims', _deleted: true, _internal: { updated_at: '2026-01-01T00:00:00Z' } }, ctx);
    if (!plain.ok || !claims.ok) throw new Error('rejected');
    expect(plain.row._deleted).toBe(false);
    expect(claims.row._deleted).toBe(false);
    expect(claims.row.fields).toEqual({ _deleted: true });
  });

  it('keeps a non-object _internal and a __proto__ key as own fields', () => {
    const doc = JSON.parse('{"document_id":"p","__proto__":{"polluted":true},"constructor":"c","_internal":"not an object"}');
    const result = toRow(doc, ctx);
    if (!result.ok) throw new Error(result.reason);
    expect(Object.keys(result.row.fields)).toEqual(['__proto__', 'constructor', '_internal']);
    const { document_id: _id, ...rest } = doc;
    expect(JSON.stringify(result.row.fields)).toBe(JSON.stringify(rest));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(result.untyped).toBe(1);
  });

  it('replaces unpaired surrogates in keys and strings by U+FFFD and notes it', () => {
    const doc = JSON.parse('{"document_id":"s","text":"a\\ud800b","nested":[{"\\udc00":"k"}],"ok":"🙂"}');
    const result = toRow(doc, ctx);
    if (!result.ok) throw new Error(result.reason);
    expect(result.row.fields).toEqual({ text: 'a\ufffdb', nested: [{ '\ufffd': 'k' }], ok: '🙂' });
    expect(result.notes).toEqual(['unpaired UTF-16 surrogates in text were replaced by U+FFFD']);
    expect(result.untyped).toBe(1);
  });

  it('leaves NaN and Infinity spelled as strings alone, and an array holding one is not a vector', () => {
    const withNan = [...vec(31), 'NaN'];
    const tooBig = [...vec(63), 1e300];
    const result = toRow({ document_id: 'n', score: 'NaN', hi: 'Infinity', lo: '-Infinity', emb: withNan, big: tooBig, vectors: { v: [1, 'Infinity'] } }, ctx);
    if (!result.ok) throw new Error(result.reason);
    expect(result.row.fields).toEqual({ score: 'NaN', hi: 'Infinity', lo: '-Infinity', emb: withNan, big: tooBig, vectors: { v: [1, 'Infinity'] } });
    expect(result.row.vectors).toEqual({});
  });

  it('gives every vector name its own safe column, so names that sanitise alike never overwrite each other', () => {
    const names = ['text_embedding', 'Text.Embedding', 'text-embedding', 'TEXT_EMBEDDING', '🚀 rocket', 'ключ', ''];
    const keys = names.map(columnKey);
    expect(keys[0]).toBe('text_embedding');
    expect(new Set(keys).size).toBe(names.length);
    for (const key of keys) expect(key).toMatch(/^[a-z0-9_]{1,110}$/);
    const doc = Object.fromEntries([['document_id', 'v'], ...names.map((name, i) => [name, vec(32).map((x) => x + i)])]);
    const result = toRow(doc, ctx);
    if (!result.ok) throw new Error(result.reason);
    expect(Object.keys(result.row.vectors).sort()).toEqual([...keys].sort());
    names.forEach((_, i) => expect(result.row.vectors[keys[i]!]![0]).toBe(i));
    expect(result.row.fields).toEqual({});
  });

  it('keeps a second vector for the same column in fields, with a note', () => {
    const result = toRow({ document_id: 'c', emb: vec(32), vectors: { emb: vec(8) } }, ctx);
    if (!result.ok) throw new Error(result.reason);
    expect(Object.keys(result.row.vectors)).toEqual(['emb']);
    expect(result.row.fields).toEqual({ vectors: { emb: vec(8) } });
    expect(result.notes[0]).toMatch(/vectors stayed in fields: .*emb/);
    expect(result.untyped).toBe(1);
  });

  it('fixes a vector column to the first length seen in the run and keeps other lengths in fields', () => {
    const run = { ...ctx, vectorDims: new Map<string, number>() };
    const first = toRow({ document_id: 'a', emb: vec(64) }, run);
    const second = toRow({ document_id: 'b', emb: vec(48) }, run);
    if (!first.ok || !second.ok) throw new Error('rejected');
    expect(first.row.vectors.emb).toHaveLength(64);
    expect(second.row.vectors).toEqual({});
    expect(second.row.fields.emb).toHaveLength(48);
    expect(second.notes).toEqual(['vector "emb" has 48 dims, vec_emb has 64 in this run']);
    expect(second.untyped).toBe(1);
  });

  it(`rejects a document nested deeper than ${MAX_ROW_DEPTH - 1} levels without overflowing the stack`, () => {
    const nested = (depth: number) => JSON.parse(`{"document_id":"deep","a":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`);
    expect(toRow(nested(MAX_ROW_DEPTH - 1), ctx).ok).toBe(true);
    for (const depth of [MAX_ROW_DEPTH, 5_000, 100_000]) {
      expect(toRow(nested(depth), ctx)).toEqual({ ok: false, reason: `document nests deeper than ${MAX_ROW_DEPTH - 1} levels` });
    }
  });

  it('reads years before 100 as they are and refuses impossible instants', () => {
    expect(canonicalTimestamp('0099-03-01T00:00:00Z')).toBe('0099-03-01T00:00:00.000000Z');
    expect(canonicalTimestamp('0004-02-29T10:00:00+01:00')).toBe('0004-02-29T09:00:00.000000Z');
    for (const bad of ['0000-01-01T00:00:00Z', '10000-01-01T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T00:00:00+24:00', 'Infinity', 1e300]) {
      expect(canonicalTimestamp(bad)).toBeNull();
    }
  });
});

describe('the run intake', () => {
  const collect = () => {
    const events: Record<string, unknown>[] = [];
    return { events, logger: createLogger((r) => events.push(r), { level: 'debug' }) };
  };

  it('rejects a document without a readable updated_at, counts it and says why', () => {
    const { events, logger } = collect();
    const intake = new Intake(logger, 'col', ctx, { rejected: 0, untyped: 0 });
    for (const updated_at of ['not a date', '2026-02-30T00:00:00Z', null]) {
      expect(intake.admit({ document_id: `d_${updated_at}`, _internal: { updated_at } })).toBeNull();
    }
    expect(intake.admit({ document_id: 'none' })).toBeNull();
    expect(intake.admit({ document_id: 'ok', _internal: { updated_at: '2026-01-01T10:00:00' } })?.row.updated_at).toBe('2026-01-01T10:00:00.000000Z');
    expect(intake.counts).toEqual({ rejected: 4, untyped: 0, rescued: 0, rescuedFields: {} });
    expect(events[0]).toMatchObject({ event: 'DocumentRejected', collection_id: 'col', document_id: 'd_not a date', reason: 'updated_at is missing or not a timestamp', updated_at: '"not a date"' });
  });

  it('keeps the vector dims a resumed run recorded in its checkpoint', () => {
    const { logger } = collect();
    const vectors = { ...ctx, vectors: true };
    const resumed = new Intake(logger, 'col', vectors, { rejected: 0, untyped: 0, vectorDims: { emb: 64 } });
    const at = { updated_at: '2026-01-01T10:00:00Z' };
    const doc = resumed.admit({ document_id: 'b', emb: Array.from({ length: 48 }, (_, i) => i / 48), _internal: at });
    expect(doc?.row.vectors).toEqual({});
    expect(doc?.row.fields?.emb).toHaveLength(48);
    const fresh = new Intake(logger, 'col', vectors, { rejected: 0, untyped: 0 });
    expect(fresh.admit({ document_id: 'b', emb: Array.from({ length: 48 }, (_, i) => i / 48), _internal: at })?.row.vectors.emb).toHaveLength(48);
    expect(fresh.vectorDims).toEqual({ emb: 48 });
  });

  it(`logs the first ${LOGGED_PER_EVENT} warnings of a kind and then only counts them`, () => {
    const { events, logger } = collect();
    const intake = new Intake(logger, 'col', ctx, { rejected: 3, untyped: 0 });
    for (let i = 0; i < 50; i++) intake.admit({ title: 'no id' });
    intake.finish('run');
    expect(intake.counts.rejected).toBe(53);
    expect(events.filter((e) => e.event === 'DocumentRejected')).toHaveLength(LOGGED_PER_EVENT);
    expect(events.at(-1)).toMatchObject({ event: 'WarningsSuppressed', suppressed: { DocumentRejected: 50 - LOGGED_PER_EVENT } });
  });
});

describe('tombstone rows', () => {
  const input = { documentId: 'doc_gone', collectionId: 'col_1', namespaceId: 'ns_1', runId: '20261122T020000Z-rcn1', exportedAt: '2026-11-22T02:00:05.000000Z', observedAt: '2026-11-22T02:00:00.000000Z' };

  it('carries _deleted true, the identity and run columns, updated_at = observedAt and nulls elsewhere', () => {
    expect(tombstoneRow(input)).toEqual({
      document_id: 'doc_gone', collection_id: 'col_1', namespace_id: 'ns_1', created_at: null, updated_at: input.observedAt,
      root_object_id: null, source_object_id: null, fields: null, internal: null, vectors: {},
      _run_id: input.runId, _exported_at: input.exportedAt, _deleted: true,
    });
    expect(isTombstone(tombstoneRow(input))).toBe(true);
  });

  it('refuses an empty id or a time that is not canonical, naming the input', () => {
    expect(() => tombstoneRow({ ...input, collectionId: '' })).toThrow(/collectionId must be a non-empty string/);
    expect(() => tombstoneRow({ ...input, exportedAt: 'now' })).toThrow(/exportedAt "now" is not a canonical UTC timestamp/);
  });
});
