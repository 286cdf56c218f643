import { describe, expect, it } from 'vitest';
import { toRow } from '../../src/rows/map.js';

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
    expect(result.row.vectors).toEqual({ text_embedding: [1, 2, 3] });
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
});
