/**
 * The dev server's `output_schema` (reference/mixpeek-api.md section 8) matches the documents
 * it serves, can be changed between runs (a field added, redeclared or removed), can be left
 * out for one collection, and collections can be added to the namespace. Everything goes over
 * real HTTP, and the type checks below are written apart from the server's code.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startDevServer, type DevServer, type FieldSchema } from '../../src/devserver/index.js';
import { COLUMN_NAME } from '../../src/rows/typed.js';

const HEADERS = { Authorization: 'Bearer sk_test_devserver', 'X-Namespace': 'ns_dev', 'Content-Type': 'application/json' };
const COLLECTIONS = ['col_video_frames', 'col_product_images', 'col_pdf_pages', 'col_audio_transcripts'];
/** Root keys that are the envelope, not user or extractor fields. */
const ENVELOPE = new Set(['document_id', 'collection_id', '_internal']);
/** The documented exceptions: an undeclared field, and a declared integer that is sometimes text or a fraction. */
const UNDECLARED = { col_product_images: ['discontinued'] } as Record<string, string[]>;
const MIXED = { col_product_images: 'stock_count' } as Record<string, string>;

type Doc = Record<string, unknown> & { document_id: string; _internal: { updated_at: string } };
interface CollectionBody { collection_id: string; output_schema: { properties: Record<string, FieldSchema> } | null; schema_version: number; created_at: string }

let server: DevServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(options: Parameters<typeof startDevServer>[0] = {}): Promise<DevServer> {
  server = await startDevServer({ documentsPerCollection: 400, seed: 11, ...options });
  return server;
}

async function api<T>(s: DevServer, path: string, body?: object): Promise<{ status: number; body: T }> {
  const res = await fetch(`${s.url}${path}`, body === undefined ? { headers: HEADERS } : { method: 'POST', headers: HEADERS, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as T };
}

async function collection(s: DevServer, id: string): Promise<CollectionBody> {
  const res = await api<CollectionBody>(s, `/v1/collections/${id}`);
  expect(res.status).toBe(200);
  return res.body;
}

async function documents(s: DevServer, id: string, limit = 400): Promise<Doc[]> {
  const res = await api<{ results: Doc[] }>(s, `/v1/collections/${id}/documents/list`, { limit });
  expect(res.status).toBe(200);
  return res.body.results;
}

async function admin(s: DevServer, path: string, body: object): Promise<{ status: number; body: any }> {
  const res = await fetch(`${s.url}${path}`, { method: 'POST', body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Why `value` is not of the declared type (a path and the value), or null when it is. */
function mismatch(schema: FieldSchema, value: unknown, path: string): string | null {
  const bad = `${path}: ${JSON.stringify(value)?.slice(0, 80)} is not ${schema.type}`;
  if (schema.enum && !schema.enum.includes(value)) return `${path}: ${JSON.stringify(value)} is not in its enum`;
  switch (schema.type) {
    case 'string': case 'text': return typeof value === 'string' ? null : bad;
    case 'integer': return Number.isInteger(value) ? null : bad;
    case 'number': case 'float': return typeof value === 'number' && Number.isFinite(value) ? null : bad;
    case 'boolean': return typeof value === 'boolean' ? null : bad;
    case 'datetime': return typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/.test(value) && !Number.isNaN(Date.parse(value)) ? null : bad;
    case 'date': return typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value) && new Date(`${value}T00:00:00Z`).toISOString().startsWith(value) ? null : bad;
    case 'image': case 'video': case 'audio': case 'pdf': case 'excel': return (typeof value === 'string' && /^https?:\/\//.test(value)) || isObject(value) ? null : bad;
    case 'array': {
      if (!Array.isArray(value)) return bad;
      if (!schema.items) return null;
      for (let i = 0; i < value.length; i++) {
        const why = mismatch(schema.items, value[i], `${path}[${i}]`);
        if (why) return why;
      }
      return null;
    }
    case 'object': {
      if (!isObject(value)) return bad;
      for (const [key, member] of Object.entries(schema.properties ?? {})) {
        const why = key in value ? mismatch(member, value[key], `${path}.${key}`) : null;
        if (why) return why;
      }
      return null;
    }
    default: return `${path}: unknown declared type ${schema.type}`;
  }
}

/** Every problem of the documents against the properties: undeclared fields and mistyped values, with their counts. */
function audit(docs: Doc[], properties: Record<string, FieldSchema>): { undeclared: Set<string>; mismatches: Map<string, string[]>; seen: Set<string> } {
  const undeclared = new Set<string>();
  const mismatches = new Map<string, string[]>();
  const seen = new Set<string>();
  for (const doc of docs) {
    for (const [key, value] of Object.entries(doc)) {
      if (ENVELOPE.has(key)) continue;
      const declared = properties[key];
      if (!declared) {
        undeclared.add(key);
        continue;
      }
      seen.add(key);
      const why = mismatch(declared, value, `${doc.document_id}.${key}`);
      if (why) mismatches.set(key, [...(mismatches.get(key) ?? []), why]);
    }
  }
  return { undeclared, mismatches, seen };
}

describe('output_schema of the catalogue collections', () => {
  it('declares every field the documents of each collection carry, each value of its declared type, except the documented exceptions', async () => {
    const s = await start();
    s.mutate('col_product_images', 40);
    s.mutate('col_audio_transcripts', 40);
    for (const id of COLLECTIONS) {
      const { output_schema, schema_version } = await collection(s, id);
      expect(schema_version).toBe(1);
      const properties = output_schema!.properties;
      const docs = await documents(s, id);
      expect(docs).toHaveLength(400);
      const { undeclared, mismatches, seen } = audit(docs, properties);
      expect([...undeclared].sort(), id).toEqual(UNDECLARED[id] ?? []);
      expect(Object.keys(properties).filter((k) => !seen.has(k)), `${id}: declared fields no document carries`).toEqual([]);
      expect([...mismatches.keys()], `${id}: ${[...mismatches.values()].flat().slice(0, 3).join('; ')}`).toEqual(MIXED[id] ? [MIXED[id]] : []);
    }
  });

  it('makes stock_count a declared integer that a few percent of products carry as text or as a fraction', async () => {
    const s = await start({ documentsPerCollection: 1000 });
    const docs = await documents(s, 'col_product_images', 1000);
    const values = docs.map((d) => d['stock_count']);
    const text = values.filter((v) => typeof v === 'string');
    const fractions = values.filter((v) => typeof v === 'number' && !Number.isInteger(v));
    expect(values.every((v) => v !== undefined)).toBe(true);
    expect(text.length).toBeGreaterThan(10);
    expect(text.length).toBeLessThan(60);
    expect(text.every((v) => /^\d+a$/.test(v as string))).toBe(true);
    expect(fractions.length).toBeGreaterThan(5);
    expect(fractions.length).toBeLessThan(50);
    const again = await documents(s, 'col_product_images', 1000);
    expect(again.map((d) => d['stock_count'])).toEqual(values);
  });

  it('covers the shapes a typed export must handle: datetime, date, nested object, string and number lists, a file type, an uncolumnable name and a case pair', async () => {
    const s = await start({ documentsPerCollection: 10 });
    const all = await Promise.all(COLLECTIONS.map(async (id) => ({ id, properties: (await collection(s, id)).output_schema!.properties })));
    const fields = all.flatMap(({ id, properties }) => Object.entries(properties).map(([name, f]) => ({ id, name, f })));
    const has = (test: (f: FieldSchema) => boolean) => fields.filter((x) => test(x.f)).map((x) => `${x.id}.${x.name}`);
    expect(has((f) => f.type === 'datetime')).toContain('col_product_images.published_at');
    expect(has((f) => f.type === 'date')).toContain('col_product_images.release_date');
    expect(has((f) => f.type === 'object' && Object.values(f.properties ?? {}).some((m) => m.type === 'object'))).toContain('col_product_images.attributes');
    expect(has((f) => f.type === 'array' && f.items?.type === 'string')).toContain('col_product_images.colors');
    expect(has((f) => f.type === 'array' && f.items?.type === 'integer')).toContain('col_video_frames.luma_histogram');
    expect(has((f) => f.type === 'image')).toContain('col_video_frames.thumbnail_url');
    expect(has((f) => f.type === 'text').length).toBeGreaterThan(0);
    expect(fields.filter((x) => !COLUMN_NAME.test(x.name)).map((x) => `${x.id}.${x.name}`).sort()).toEqual(['col_pdf_pages.2nd_pass', 'col_video_frames.scene-label']);
    const products = Object.keys(all[1]!.properties);
    expect(products.indexOf('brand')).toBeLessThan(products.indexOf('Brand'));
    for (const { id, properties } of all) {
      const folded = Object.keys(properties).map((k) => k.toLowerCase());
      expect(folded.length - new Set(folded).size, id).toBe(id === 'col_product_images' ? 1 : 0);
    }
  });
});

/** One declaration of every type the generator knows, for the fields a test adds. */
const EVERY_TYPE: Record<string, FieldSchema> = {
  x_string: { type: 'string' }, x_text: { type: 'text' }, x_integer: { type: 'integer' }, x_number: { type: 'number' },
  x_float: { type: 'float' }, x_boolean: { type: 'boolean' }, x_datetime: { type: 'datetime' }, x_date: { type: 'date' },
  x_ints: { type: 'array', items: { type: 'integer' } }, x_tags: { type: 'array', items: { type: 'string' } },
  x_days: { type: 'array', items: { type: 'date' } }, x_plain_array: { type: 'array' },
  x_object: { type: 'object', properties: { code: { type: 'string' }, at: { type: 'datetime' }, inner: { type: 'object', properties: { n: { type: 'integer' } } } } },
  x_bare_object: { type: 'object' }, x_image: { type: 'image' }, x_pdf: { type: 'pdf' }, x_level: { type: 'string', enum: ['low', 'high'] },
};

describe('changing a collection schema between runs', () => {
  it('adds each declared type as a field every document then carries, of that type, bumping schema_version and leaving updated_at alone', async () => {
    const s = await start({ documentsPerCollection: 300 });
    const before = await documents(s, 'col_pdf_pages', 300);
    let version = 1;
    for (const [name, f] of Object.entries(EVERY_TYPE)) version = s.defineField('col_pdf_pages', name, f);
    expect(version).toBe(1 + Object.keys(EVERY_TYPE).length);
    const body = await collection(s, 'col_pdf_pages');
    expect(body.schema_version).toBe(version);
    expect(Object.keys(body.output_schema!.properties).slice(-Object.keys(EVERY_TYPE).length)).toEqual(Object.keys(EVERY_TYPE));
    expect(s.outputSchema('col_pdf_pages')).toEqual({ properties: body.output_schema!.properties, schema_version: version });
    const after = await documents(s, 'col_pdf_pages', 300);
    expect(after.map((d) => [d.document_id, d._internal.updated_at])).toEqual(before.map((d) => [d.document_id, d._internal.updated_at]));
    for (const doc of after) for (const name of Object.keys(EVERY_TYPE)) expect(doc[name], `${doc.document_id}.${name}`).not.toBeUndefined();
    const { undeclared, mismatches } = audit(after, body.output_schema!.properties);
    expect([...undeclared]).toEqual([]);
    expect([...mismatches.values()].flat()).toEqual([]);
    expect(new Set(after.map((d) => d['x_level']))).toEqual(new Set(['low', 'high']));
    expect(await documents(s, 'col_pdf_pages', 300)).toEqual(after);
  });

  it('keeps a defined field on the new version a mutation makes, and on documents created afterwards', async () => {
    const s = await start({ documentsPerCollection: 20 });
    s.defineField('col_video_frames', 'reviewed', { type: 'boolean' });
    const mutated = s.mutate('col_video_frames', 3);
    const created = s.create('col_video_frames', 2);
    const docs = await documents(s, 'col_video_frames', 100);
    for (const id of [...mutated, ...created]) expect(typeof docs.find((d) => d.document_id === id)!['reviewed']).toBe('boolean');
  });

  it('redeclares a field with another type, after which the documents carry values of the new type (a type drift)', async () => {
    const s = await start({ documentsPerCollection: 50 });
    expect(s.defineField('col_pdf_pages', 'page_number', { type: 'string' })).toBe(2);
    const body = await collection(s, 'col_pdf_pages');
    const names = Object.keys(body.output_schema!.properties);
    expect(names.indexOf('page_number')).toBe(1);
    expect(body.output_schema!.properties['page_number']).toEqual({ type: 'string' });
    const docs = await documents(s, 'col_pdf_pages', 50);
    expect(docs.every((d) => typeof d['page_number'] === 'string')).toBe(true);
    expect(docs.every((d) => Number.isInteger(d['page_count']))).toBe(true);
  });

  it('removes a field from output_schema and from every document, and refuses to remove an undeclared one', async () => {
    const s = await start({ documentsPerCollection: 50 });
    expect(s.defineField('col_audio_transcripts', 'language', null)).toBe(2);
    expect(Object.keys((await collection(s, 'col_audio_transcripts')).output_schema!.properties)).not.toContain('language');
    expect((await documents(s, 'col_audio_transcripts', 50)).some((d) => 'language' in d)).toBe(false);
    expect(() => s.defineField('col_audio_transcripts', 'language', null)).toThrow(/language is not declared/);
    expect(() => s.defineField('col_nope', 'x', { type: 'string' })).toThrow(/Unknown collection col_nope/);
    expect(() => s.defineField('col_audio_transcripts', 'x', { type: '' } as FieldSchema)).toThrow(/x: type must be a non-empty string/);
    expect(() => s.defineField('col_audio_transcripts', 'x', { type: 'array', items: 'string' } as unknown as FieldSchema)).toThrow(/x\.items: a field declaration must be an object/);
    expect(s.outputSchema('col_audio_transcripts').schema_version).toBe(2);
  });

  it('does the same over POST /_dev/schema, answering 422 for a malformed declaration and 404 for an unknown collection', async () => {
    const s = await start({ documentsPerCollection: 30 });
    const added = await admin(s, '/_dev/schema', { collection_id: 'col_product_images', field: 'warehouse', schema: { type: 'string' } });
    expect(added.status).toBe(200);
    expect(added.body.schema_version).toBe(2);
    expect(added.body.output_schema.properties.warehouse).toEqual({ type: 'string' });
    expect((await documents(s, 'col_product_images', 30)).every((d) => typeof d['warehouse'] === 'string')).toBe(true);
    const removed = await admin(s, '/_dev/schema', { collection_id: 'col_product_images', field: 'warehouse', schema: null });
    expect([removed.status, removed.body.schema_version]).toEqual([200, 3]);
    expect((await documents(s, 'col_product_images', 30)).some((d) => 'warehouse' in d)).toBe(false);
    const malformed = await admin(s, '/_dev/schema', { collection_id: 'col_product_images', field: 'w', schema: { items: {} } });
    expect(malformed.status).toBe(422);
    expect(malformed.body.error.message).toMatch(/w: type must be a non-empty string/);
    expect((await admin(s, '/_dev/schema', { collection_id: 'col_product_images', field: 'w' })).status).toBe(422);
    expect((await admin(s, '/_dev/schema', { collection_id: 'col_nope', field: 'w', schema: { type: 'string' } })).status).toBe(404);
    expect((await collection(s, 'col_product_images')).schema_version).toBe(3);
  });
});

describe('collections added to the namespace and collections without a schema', () => {
  it('lists an added collection after the catalogue ones, pages the list stably, and serves its own documents shaped like its base', async () => {
    const s = await start({ documentsPerCollection: 40 });
    expect(s.addCollection({ collection_id: 'col_product_images_eu', based_on: 'col_product_images', documents: 25 })).toBe('col_product_images_eu');
    const viaHttp = await admin(s, '/_dev/collections', { collection_id: 'col_pdf_archive', based_on: 'col_pdf_pages', documents: 5 });
    expect(viaHttp.status).toBe(200);
    expect(viaHttp.body).toMatchObject({ collection_id: 'col_pdf_archive', document_count: 5, schema_version: 1 });
    const ids: string[] = [];
    const created: string[] = [];
    for (let offset = 0; ; offset += 2) {
      const page = await api<{ results: CollectionBody[]; total_count: number }>(s, `/v1/collections/list?limit=2&offset=${offset}`, {});
      ids.push(...page.body.results.map((c) => c.collection_id));
      created.push(...page.body.results.map((c) => c.created_at));
      if (page.body.results.length < 2) break;
    }
    expect(ids).toEqual([...COLLECTIONS, 'col_product_images_eu', 'col_pdf_archive']);
    expect(s.collections).toEqual(ids);
    expect([...created].sort()).toEqual(created);
    const eu = await collection(s, 'col_product_images_eu');
    const base = await collection(s, 'col_product_images');
    expect(eu.output_schema).toEqual(base.output_schema);
    const docs = await documents(s, 'col_product_images_eu', 100);
    expect(docs).toHaveLength(25);
    expect(docs.every((d) => d['collection_id'] === 'col_product_images_eu')).toBe(true);
    const baseIds = new Set((await documents(s, 'col_product_images', 100)).map((d) => d.document_id));
    expect(docs.some((d) => baseIds.has(d.document_id))).toBe(false);
    expect([...audit(docs, eu.output_schema!.properties).undeclared].filter((k) => k !== 'discontinued')).toEqual([]);
    s.defineField('col_product_images_eu', 'vat_rate', { type: 'number' });
    expect((await collection(s, 'col_product_images')).schema_version).toBe(1);
  });

  it('refuses an added collection with a taken id, a malformed id or an unknown base', async () => {
    const s = await start({ documentsPerCollection: 5 });
    expect(() => s.addCollection({ collection_id: 'col_pdf_pages', based_on: 'col_pdf_pages' })).toThrow(/exists already/);
    expect(() => s.addCollection({ collection_id: 'bad id', based_on: 'col_pdf_pages' })).toThrow(/collection_id must be/);
    expect(() => s.addCollection({ collection_id: 'col_x', based_on: 'col_nope' })).toThrow(/based_on names unknown collection col_nope/);
    const res = await admin(s, '/_dev/collections', { collection_id: 'col_x', based_on: 'col_pdf_pages', documents: -1 });
    expect(res.status).toBe(422);
    expect(res.body.error.message).toMatch(/documents must be an integer/);
    expect(s.collections).toEqual(COLLECTIONS);
  });

  it('serves output_schema null for a collection named in noOutputSchema, switchable with setOptions', async () => {
    const s = await start({ documentsPerCollection: 5, noOutputSchema: ['col_audio_transcripts'] });
    expect((await collection(s, 'col_audio_transcripts')).output_schema).toBeNull();
    const listed = await api<{ results: CollectionBody[] }>(s, '/v1/collections/list', { limit: 10 });
    expect(listed.body.results.map((c) => c.output_schema === null)).toEqual([false, false, false, true]);
    expect(await documents(s, 'col_audio_transcripts', 5)).toHaveLength(5);
    s.setOptions({ noOutputSchema: [] });
    expect((await collection(s, 'col_audio_transcripts')).output_schema).not.toBeNull();
    expect(() => s.setOptions({ noOutputSchema: ['col_nope'] })).toThrow(/noOutputSchema names unknown collections col_nope/);
    await expect(startDevServer({ noOutputSchema: ['col_nope'] })).rejects.toThrow(/noOutputSchema names unknown collections col_nope/);
  });
});
