/**
 * Hostile inputs end to end: the dev server lists them (injected documents, proxy pages,
 * stuck cursors), a real export stages them, DuckDB reads them back.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/config/load.js';
import type { ResolvedSettings } from '../../src/config/resolve.js';
import { type DevServer, type InjectedDocument, startDevServer } from '../../src/devserver/index.js';
import { VECTOR_PREFIX } from '../../src/rows/columns.js';
import { columnKey, MAX_ROW_DEPTH } from '../../src/rows/map.js';
import { runExport } from '../../src/run/export.js';
import type { StepHook } from '../../src/run/types.js';
import { createLogger } from '../../src/util/log.js';
import { readCheckpoint } from '../support/checkpoint.js';
import { compareVersions, dataFiles, exportEnv, query, readJson, runCli, stagedVersions } from '../support/harness.js';

const PDF = 'col_pdf_pages'; // the hostile documents
const AUDIO = 'col_audio_transcripts'; // 5 MB fields
const VIDEO = 'col_video_frames'; // plain documents behind a misbehaving API
const vec = (n: number, first: number) => Array.from({ length: n }, (_, i) => (i === 0 ? first : i / 64));
const at = (ts: string) => ({ _internal: { updated_at: ts } });
/** Raw JSON text of a document nested `depth` levels (the document is level 1). */
const deep = (id: string, depth: number, ts: string) => `{"document_id":"${id}","_internal":{"updated_at":"${ts}"},"a":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;
const KEYS_TEXT = '{"document_id":"doc_keys","a.b.c":1,"ключ":"значение","🚀":{"🌍.x":["🙂"]},"__proto__":{"polluted":true},"":"empty key","_internal":{"updated_at":"2026-01-04T01:00:00Z"}}';
/** Unpaired surrogates are valid JSON escapes but not Unicode: DuckDB refuses a whole NDJSON file holding one. */
const SURROGATE_TEXT = '{"document_id":"doc_surrogate","text":"a\\ud800b","\\udc00":"lone low surrogate key","_internal":{"updated_at":"2026-01-04T01:30:00Z"}}';
const VECTOR_NAMES = ['Text.Embedding', 'text-embedding', 'TEXT_EMBEDDING', '🚀 rocket'];
const ENVELOPE = {
  document_id: 'doc_envelope', collection_id: PDF, fields: { a: 1 }, internal: 'x', _run_id: 'fake', _exported_at: 'then',
  updated_at: '1999-01-01T00:00:00Z', nested: { document_id: 'inner', _internal: { updated_at: 'x' } }, ...at('2026-01-04T00:00:00Z'),
};

const HOSTILE: InjectedDocument[] = [
  { collection_id: PDF, title: 'no id', ...at('2026-01-02T00:00:00Z') },
  { document_id: 42, ...at('2026-01-02T00:00:01Z') },
  { document_id: '', ...at('2026-01-02T00:00:02Z') },
  { document_id: 'doc_zoneless', _internal: { updated_at: '2026-01-03T10:00:00.123456', created_at: 'yesterday' } },
  { document_id: 'doc_offset', ...at('2026-01-03T12:00:00.5+02:00') },
  { document_id: 'doc_year99', ...at('0099-03-01T00:00:00Z') },
  ...['not a date', '2026-02-30T00:00:00Z', '0000-01-01T00:00:00Z', '10000-01-01T00:00:00Z'].map((ts, i) => ({ document_id: `doc_bad_ts_${i}`, ...at(ts) })),
  { document_id: 'doc_no_ts', title: 'no timestamps at all' },
  ENVELOPE,
  KEYS_TEXT,
  SURROGATE_TEXT,
  { document_id: 'doc_vectors', ...Object.fromEntries(VECTOR_NAMES.map((name, i) => [name, vec(32, i + 0.5)])), ...at('2026-01-04T02:00:00Z') },
  { document_id: 'doc_nan', score: 'NaN', hi: 'Infinity', lo: '-Infinity', emb: [...vec(31, 1), 'NaN'], ...at('2026-01-04T03:00:00Z') },
  { document_id: 'doc_dims_a', probe_embedding: vec(64, 1), ...at('2026-01-05T00:00:00Z') },
  { document_id: 'doc_dims_b', probe_embedding: vec(48, 2), ...at('2026-01-05T00:00:01Z') },
  deep('doc_deep_ok', MAX_ROW_DEPTH - 1, '2026-01-05T01:00:00Z'),
  deep('doc_deep_5k', 5_000, '2026-01-05T02:00:00Z'),
  deep('doc_deep_100k', 100_000, '2026-01-05T03:00:00Z'),
];
/** Listed by the server but refused by the exporter (besides the ones without a string id). */
const REJECTED_IDS = ['doc_bad_ts_2', 'doc_deep_5k', 'doc_deep_100k'];
const REJECTED = 3 + 5 + 2; // no document_id; no readable updated_at; too deep
const UNTYPED = 3; // doc_zoneless created_at; doc_surrogate's text; doc_dims_b's vector
const UNPLACED = 4; // listed in every window: no instant the server could read
const BIG = Array.from({ length: 4 }, (_, i) => ({ document_id: `doc_big_${i}`, blob: randomBytes(3_750_000).toString('base64'), ...at(`2026-01-06T0${i}:00:00Z`) }));

let server: DevServer;
beforeAll(async () => {
  server = await startDevServer({
    seed: 31, documentsPerCollection: { [PDF]: 60, [AUDIO]: 30, [VIDEO]: 300, col_product_images: 0 },
    timeline: { start: new Date('2026-01-01T00:00:00Z'), end: new Date('2026-01-08T00:00:00Z') },
    injectDocuments: { [PDF]: HOSTILE, [AUDIO]: BIG },
  });
});
afterAll(async () => server?.close());

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'mxp-hostile-'));
const settingsFor = (dest: string, flags: Record<string, unknown> = {}): ResolvedSettings =>
  loadSettings({ flags: { collections: [PDF], dest, safetyLagSeconds: 0, retryBaseDelayMs: 1, retryMaxDelayMs: 5, ...flags }, env: exportEnv(server.url) });
const capture = () => {
  const events: Record<string, any>[] = [];
  return { events, logger: createLogger((r) => events.push(r), { level: 'info' }) };
};
const list = (files: string[]) => `[${files.map((f) => `'${f}'`).join(',')}]`;
/** Versions the exporter must stage exactly once: what the server lists, less what it must refuse. */
const expectedPdf = () => [...server.currentVersions(PDF)].filter((v) => !REJECTED_IDS.includes(v.document_id));
const exactlyOnce = async (dest: string, collection: string, source: Iterable<{ document_id: string; updated_at: string }>) =>
  expect(compareVersions(source, await stagedVersions(dest, collection))).toMatchObject({ duplicates: [], missing: [], unknown: [] });
const rowsById = async (dest: string, columns: string) => {
  const rows = await query(`SELECT document_id, ${columns} FROM read_parquet(${list(dataFiles(dest, PDF))}, union_by_name=true)`);
  return new Map(rows.map((r) => [r.document_id as string, r]));
};

describe('hostile documents', () => {
  it('stages what it can type, keeps the rest in fields, and rejects only what it cannot place or write, counting each', async () => {
    const dest = tempDir();
    const { events, logger } = capture();
    const result = await runExport(settingsFor(dest, { vectors: true }), { logger });
    expect(result.error).toBeUndefined();
    const run = result.collections[0]!.runs[0]!;
    expect([run.rejected, run.untyped]).toEqual([REJECTED, UNTYPED]);
    expect(readJson(path.join(dest, PDF, '_manifests', `${run.runId}.json`)).totals).toMatchObject({ rejected: REJECTED, untyped: UNTYPED });
    const reasons = events.filter((e) => e.event === 'DocumentRejected').map((e) => e.reason);
    expect(reasons).toHaveLength(REJECTED);
    expect(new Set(reasons)).toEqual(new Set(['document has no document_id', 'document_id is not a non-empty string', 'updated_at is missing or not a timestamp', `document nests deeper than ${MAX_ROW_DEPTH - 1} levels`]));
    expect(events.filter((e) => e.event === 'ValueLeftUntyped').map((e) => [e.document_id, e.note])).toEqual([
      ['doc_surrogate', 'unpaired UTF-16 surrogates in text were replaced by U+FFFD'],
      ['doc_dims_b', 'vector "probe_embedding" has 48 dims, vec_probe_embedding has 64 in this run'],
    ]);
    await exactlyOnce(dest, PDF, expectedPdf());

    const vectorColumns = VECTOR_NAMES.map((name) => `${VECTOR_PREFIX}${columnKey(name)}`);
    const rows = await rowsById(dest, `fields, text, _run_id, epoch_us(updated_at) AS us, created_at, len(vec_probe_embedding) AS dims, ${vectorColumns.map((c, i) => `${c}[1] AS v${i}`).join(', ')}`);
    expect(rows.get('doc_zoneless')).toMatchObject({ us: String(Date.parse('2026-01-03T10:00:00Z') * 1000 + 123456), created_at: null });
    expect(rows.get('doc_offset')!.us).toBe(String(Date.parse('2026-01-03T10:00:00.500Z') * 1000));
    expect(rows.get('doc_year99')!.us).toBe('-59037897600000000');
    expect(dataFiles(dest, PDF).some((f) => f.includes('/dt=0099-03-01/'))).toBe(true);
    const { document_id: _e, collection_id: _c, _internal: _ei, ...envelopeFields } = ENVELOPE;
    expect(JSON.parse(rows.get('doc_envelope')!.fields as string)).toEqual(envelopeFields);
    expect(rows.get('doc_envelope')!._run_id).toBe(run.runId);
    const { document_id: _k, _internal: _ki, ...keyFields } = JSON.parse(KEYS_TEXT);
    expect(rows.get('doc_keys')!.fields).toBe(JSON.stringify(keyFields));
    // `text` is declared by the collection's output_schema: it has its own typed column, the undeclared key stays in fields.
    expect(JSON.parse(rows.get('doc_surrogate')!.fields as string)).toEqual({ '\ufffd': 'lone low surrogate key' });
    expect(rows.get('doc_surrogate')!.text).toBe('a\ufffdb');
    expect(VECTOR_NAMES.map((_, i) => rows.get('doc_vectors')![`v${i}`])).toEqual([0.5, 1.5, 2.5, 3.5]);
    const nan = JSON.parse(rows.get('doc_nan')!.fields as string);
    expect([nan.score, nan.hi, nan.lo, nan.emb[31]]).toEqual(['NaN', 'Infinity', '-Infinity', 'NaN']);
    expect(run.files.flatMap((f) => f.columns)).not.toContain('vec_emb');
    expect([rows.get('doc_dims_a')!.dims, rows.get('doc_dims_b')!.dims].map((d) => (d === null ? null : Number(d)))).toEqual([64, null]);
    expect(JSON.parse(rows.get('doc_dims_b')!.fields as string).probe_embedding).toHaveLength(48);
    expect(rows.has('doc_deep_ok')).toBe(true);

    // The next run sees only the documents the server lists in every window: rejected again, never staged.
    const again = await runExport(settingsFor(dest, { vectors: true }));
    expect(again.error).toBeUndefined();
    expect(again.collections[0]!.runs[0]).toMatchObject({ rows: 0, rejected: UNPLACED });
    await exactlyOnce(dest, PDF, expectedPdf());
  });

  it('writes the same documents to NDJSON with keys, strings and depth intact', async () => {
    const dest = tempDir();
    const result = await runExport(settingsFor(dest, { format: 'ndjson', compression: 'zstd' }));
    expect(result.error).toBeUndefined();
    expect(result.collections[0]!.runs[0]).toMatchObject({ rejected: REJECTED, untyped: UNTYPED - 1 }); // no vectors: dims are not checked
    await exactlyOnce(dest, PDF, expectedPdf());
    const rows = await query(`SELECT document_id, fields::VARCHAR AS fields, text FROM read_json(${list(dataFiles(dest, PDF))}, format='newline_delimited', columns={document_id:'VARCHAR', fields:'JSON', text:'VARCHAR'}, maximum_object_size=16777216) WHERE document_id IN ('doc_keys', 'doc_nan', 'doc_surrogate')`);
    const byId = Object.fromEntries(rows.map((r) => [r.document_id, JSON.parse(r.fields as string)]));
    const texts = Object.fromEntries(rows.map((r) => [r.document_id, r.text]));
    const { document_id: _k, _internal: _ki, ...keyFields } = JSON.parse(KEYS_TEXT);
    expect(JSON.stringify(byId.doc_keys)).toBe(JSON.stringify(keyFields));
    expect(typeof byId.doc_nan.score).toBe('string');
    expect(texts.doc_surrogate).toBe('a\ufffdb'); // declared: a typed column at the top level of the line
    expect(byId.doc_surrogate.text).toBeUndefined();
  });

  it('neither re-exports nor trips the order check when a killed run resumes with unplaceable documents in every listing', async () => {
    const dest = tempDir();
    const controller = new AbortController();
    const stop: StepHook = (step, n) => {
      if (step === 'checkpoint-advanced' && n === 1) controller.abort({ signal: 'SIGTERM' });
    };
    const small = { vectors: true, pageSize: 10, maxRowsPerFile: 12 };
    const killed = await runExport(settingsFor(dest, small), { signal: controller.signal, onStep: stop });
    expect(killed.error?.exitCode).toBe(143);
    expect((await readCheckpoint(dest, PDF)).active?.files.length).toBeGreaterThanOrEqual(2);
    const resumed = await runExport(settingsFor(dest, small));
    expect(resumed.error).toBeUndefined();
    expect(resumed.collections[0]!.runs[0]!.resumed).toBe(true);
    await exactlyOnce(dest, PDF, expectedPdf());
  });

  it('exports 5 MB fields intact and still rolls files near the target size', async () => {
    for (const format of ['parquet', 'ndjson'] as const) {
      const dest = tempDir();
      const result = await runExport(settingsFor(dest, { collections: [AUDIO], format, targetFileMb: 1 }));
      expect(result.error).toBeUndefined();
      const run = result.collections[0]!.runs[0]!;
      expect(run.files.length).toBeGreaterThanOrEqual(3);
      expect(run.files.every((f) => f.bytes < 12 * 1024 * 1024)).toBe(true);
      await exactlyOnce(dest, AUDIO, server.currentVersions(AUDIO));
      const files = list(dataFiles(dest, AUDIO));
      const source = format === 'parquet' ? `read_parquet(${files})` : `read_json(${files}, format='newline_delimited', columns={document_id:'VARCHAR', fields:'JSON'}, maximum_object_size=67108864)`;
      const rows = await query(`SELECT document_id, fields->>'$.blob' AS blob FROM ${source} WHERE document_id LIKE 'doc_big_%' ORDER BY document_id`);
      const sha = (s: unknown) => createHash('sha256').update(String(s)).digest('hex');
      expect(rows.map((r) => sha(r.blob))).toEqual(BIG.map((d) => sha(d.blob)));
    }
  });
});

describe('a misbehaving API', () => {
  const failFromPage = (page: number, faults: Record<string, number>): StepHook => (step, n) => {
    if (step === 'page' && n === page) server.setOptions({ faults });
  };

  it('retries an HTML page from a proxy; when it persists, fails with exit 3 naming the collection, and the rerun completes exactly once', async () => {
    const flaky = tempDir();
    server.setOptions({ faults: { notJsonRate: 0.3, seed: 9 } });
    try {
      expect((await runExport(settingsFor(flaky, { collections: [VIDEO], pageSize: 50, maxRetries: 10 }))).error).toBeUndefined();
    } finally {
      server.setOptions({ faults: {} });
    }
    expect(server.stats().faults.notJson).toBeGreaterThan(0);
    await exactlyOnce(flaky, VIDEO, server.currentVersions(VIDEO));

    const dest = tempDir();
    const small = { collections: [VIDEO], pageSize: 20, maxRowsPerFile: 25, maxRetries: 2 };
    try {
      const failed = await runExport(settingsFor(dest, small), { onStep: failFromPage(3, { notJsonRate: 1 }) });
      expect(failed.error?.exitCode).toBe(3);
      expect(failed.error?.message).toMatch(/col_video_frames.*HTTP 200 text\/html.*not JSON.*<!DOCTYPE html>.*after 3 attempts; something other than the Mixpeek API answered/);
    } finally {
      server.setOptions({ faults: {} });
    }
    expect((await readCheckpoint(dest, VIDEO)).active?.files.length).toBeGreaterThanOrEqual(1);
    expect((await runExport(settingsFor(dest, small))).error).toBeUndefined();
    await exactlyOnce(dest, VIDEO, server.currentVersions(VIDEO));
  });

  it('fails with exit 3 instead of looping when the cursor does not advance, and the rerun completes exactly once', async () => {
    const dest = tempDir();
    const small = { collections: [VIDEO], pageSize: 20, maxRowsPerFile: 25 };
    const before = server.stats().requests;
    try {
      const failed = await runExport(settingsFor(dest, small), { onStep: failFromPage(3, { repeatCursorRate: 1 }) });
      expect(failed.error).toMatchObject({ exitCode: 3, code: 'ERR_SOURCE_CURSOR_STUCK' });
      expect(failed.error?.message).toMatch(/collection col_video_frames: the API returned the same cursor twice/);
    } finally {
      server.setOptions({ faults: {} });
    }
    expect(server.stats().requests - before).toBeLessThan(10);
    expect((await runExport(settingsFor(dest, small))).error).toBeUndefined();
    await exactlyOnce(dest, VIDEO, server.currentVersions(VIDEO));
  });
});

describe('the CLI with hostile input', () => {
  it('refuses collection ids that could escape the destination with exit 2, before any request or write', async () => {
    const parent = tempDir();
    const dest = path.join(parent, 'dest');
    const before = server.stats().requests;
    const byFlag = await runCli(['export', '--collection', '../evil', '--dest', dest], exportEnv(server.url));
    expect(byFlag.code).toBe(2);
    expect(byFlag.stderr).toContain('--collection: collection id "../evil" is not a plain id');
    const byEnv = await runCli(['export', '--dest', dest], exportEnv(server.url, { MIXPEEK_EXPORT_COLLECTIONS: `${PDF},a/b` }));
    expect(byEnv.code).toBe(2);
    expect(byEnv.stderr).toContain('collection id "a/b" is not a plain id');
    for (const id of ['..', 'a/../b', 'col%2F..', 'col\\..', '/abs', ' col', 'col\u0000', 'ключ', 'x'.repeat(256)]) {
      expect(() => settingsFor(dest, { collections: [id] }), id).toThrow(/is not a plain id/);
      const direct = await runExport({ ...settingsFor(dest), collections: [id] }); // a library caller that skipped loadSettings
      expect(direct.error?.exitCode, id).toBe(2);
    }
    expect(server.stats().requests).toBe(before);
    expect(readdirSync(parent)).toEqual([]);
  });

  it('reports rejected documents in the log lines and the summary line, and exits 0', async () => {
    const dest = tempDir();
    const result = await runCli(['export', '--collection', PDF, '--dest', dest, '--safety-lag-seconds', '0', '--vectors'], exportEnv(server.url));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^export ok; .* ${REJECTED} rejected, `));
    const rejected = result.stderr.split('\n').filter((l) => l.includes('"DocumentRejected"')).map((l) => JSON.parse(l));
    expect(rejected).toHaveLength(REJECTED);
    expect(rejected.find((e) => e.document_id === 'doc_deep_100k')).toMatchObject({ level: 'warn', collection_id: PDF });
  });
});
