/**
 * A collection's `output_schema` (reference/mixpeek-api.md section 8) and how a test changes
 * it between runs.
 *
 * Each collection starts from the static schema next to its field generator (docs/*.ts),
 * which declares what those documents carry. {@link CollectionSchema.define} adds a field or
 * replaces a declaration and bumps `schema_version`; from then on every document of the
 * collection carries a generated value of the declared type under that name (a pure function
 * of the seed, the collection, the document index and the name, so every read of a document
 * agrees). Defining `null` removes the field: it leaves `output_schema` and the documents.
 *
 * @example
 * const schema = new CollectionSchema(productSchema);
 * schema.define('warehouse', { type: 'string' });   // version 2; documents gain `warehouse`
 * schema.define('price', { type: 'string' });       // version 3; `price` now holds text: a type drift
 * schema.define('sku', null);                       // version 4; `sku` is gone
 */
import { hashString, Rng, seedOf } from './prng.js';
import { ADJECTIVES, COLORS, OBJECT_LABELS, SENTENCES } from './docs/words.js';

/**
 * One declared field (BucketSchemaFieldOutput): `type` is a JSON type (`string`, `number`,
 * `integer`, `float`, `boolean`, `object`, `array`, `date`, `datetime`) or a file type
 * (`text`, `image`, `audio`, `video`, `pdf`, `excel`). Extra keys are allowed, as in the API.
 */
export interface FieldSchema {
  type: string;
  /** Element declaration of an `array`. */
  items?: FieldSchema;
  /** Member declarations of an `object`. */
  properties?: Record<string, FieldSchema>;
  description?: string;
  enum?: readonly unknown[];
  [key: string]: unknown;
}

/** `output_schema.properties`: declared fields by name, in declaration order. */
export type SchemaProperties = Record<string, FieldSchema>;

/** Types the generator knows; any other `type` gets short text values. */
export const FIELD_TYPES = ['string', 'text', 'integer', 'number', 'float', 'boolean', 'datetime', 'date', 'object', 'array', 'image', 'video', 'audio', 'pdf', 'excel'] as const;

const FILE_EXTENSIONS: Record<string, string> = { image: 'jpg', video: 'mp4', audio: 'mp3', pdf: 'pdf', excel: 'xlsx' };
/** Generated datetimes and dates fall in 2025-01-01 .. 2026-12-31. */
const SPAN_START_MS = Date.UTC(2025, 0, 1);
const SPAN_MS = Date.UTC(2027, 0, 1) - SPAN_START_MS;
/** Nesting depth past which a generated object or array stops descending (holds `null`). */
const MAX_DEPTH = 6;

/** The mutable schema of one collection: what `GET /v1/collections/{id}` declares. */
export class CollectionSchema {
  /** `schema_version`: 1 at start, +1 per change. */
  version = 1;
  /** Wall-clock ms of the last change (the collection's `updated_at` follows it); 0 = never. */
  changedAtMs = 0;
  private readonly properties: SchemaProperties;
  /** Fields whose values the server now generates (null: removed from the documents). */
  private readonly overrides = new Map<string, FieldSchema | null>();

  constructor(base: SchemaProperties) {
    this.properties = structuredClone(base);
  }

  /** `output_schema` as the API returns it: a fresh copy. */
  outputSchema(): { properties: SchemaProperties } {
    return { properties: structuredClone(this.properties) };
  }

  /**
   * Declare `name` as `schema` (added at the end, or replaced in place), or remove it with
   * `null`. Returns the new `schema_version`. Throws a RangeError naming the problem when the
   * declaration is malformed or a removed field is not declared.
   */
  define(name: string, schema: FieldSchema | null): number {
    if (typeof name !== 'string' || name === '') throw new RangeError('field must be a non-empty string, the name of the top-level field to declare');
    // A plain object cannot hold an own `__proto__` key by assignment; injectDocuments can serve one.
    if (name === '__proto__') throw new RangeError('field __proto__ cannot be declared through the dev server; use injectDocuments for such documents');
    if (schema === null) {
      if (!Object.hasOwn(this.properties, name)) throw new RangeError(`${name} is not declared in this collection's output_schema; declared: ${Object.keys(this.properties).join(', ')}`);
      delete this.properties[name];
    } else {
      checkField(schema, name);
      this.properties[name] = structuredClone(schema);
    }
    this.overrides.set(name, schema === null ? null : structuredClone(schema));
    this.version++;
    this.changedAtMs = Date.now();
    return this.version;
  }

  /**
   * Apply the changes made since start to one document's fields, in place: a defined field
   * gets its generated value, a removed one is set to `undefined` (JSON.stringify drops it).
   * `documentSeed` is the document's seed (seed, collection, index).
   */
  overlay(fields: Record<string, unknown>, documentSeed: number): void {
    for (const [name, schema] of this.overrides) {
      fields[name] = schema === null ? undefined : generateValue(schema, new Rng(seedOf(documentSeed, hashString(name))), 0);
    }
  }
}

/**
 * Throws a RangeError naming `path` when `schema` is not a field declaration: an object with
 * a non-empty string `type`, `items` (if any) a declaration, `properties` (if any) an object
 * of declarations.
 */
export function checkField(schema: unknown, path: string): asserts schema is FieldSchema {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw new RangeError(`${path}: a field declaration must be an object like {"type": "integer"}, or null to remove the field`);
  const s = schema as Record<string, unknown>;
  if (typeof s['type'] !== 'string' || s['type'] === '') throw new RangeError(`${path}: type must be a non-empty string, one of ${FIELD_TYPES.join(', ')}`);
  if (s['items'] !== undefined) checkField(s['items'], `${path}.items`);
  const props = s['properties'];
  if (props === undefined) return;
  if (typeof props !== 'object' || props === null || Array.isArray(props)) throw new RangeError(`${path}.properties must be an object of field declarations`);
  for (const [key, member] of Object.entries(props)) checkField(member, `${path}.properties.${key}`);
}

/**
 * A value of the declared type: string → a short phrase, text → a sentence, integer → an int,
 * number/float → a decimal, boolean, datetime → ISO `…Z` (milliseconds), date → `YYYY-MM-DD`,
 * array → 1..3 elements of `items` (strings without `items`), object → its declared members
 * (a small `{label, score}` without `properties`), file types → a CDN URL. A declared `enum`
 * is picked from. Any other type gets a short phrase.
 */
export function generateValue(schema: FieldSchema, rng: Rng, depth: number): unknown {
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return rng.pick(schema.enum);
  switch (schema.type.toLowerCase()) {
    case 'text': return rng.pick(SENTENCES);
    case 'integer': return rng.range(0, 10_000);
    case 'number':
    case 'float': return rng.decimal(0, 1000, 3);
    case 'boolean': return rng.chance(0.5);
    case 'datetime': return new Date(SPAN_START_MS + rng.int(SPAN_MS)).toISOString();
    case 'date': return new Date(SPAN_START_MS + rng.int(SPAN_MS)).toISOString().slice(0, 10);
    case 'array': return depth >= MAX_DEPTH ? [] : arrayOf(schema.items ?? { type: 'string' }, rng, depth);
    case 'object': return depth >= MAX_DEPTH ? {} : objectOf(schema.properties, rng, depth);
    default: {
      const ext = FILE_EXTENSIONS[schema.type.toLowerCase()];
      return ext ? `https://cdn.mixpeek-dev.example/files/${rng.hex(12)}.${ext}` : phrase(rng);
    }
  }
}

function phrase(rng: Rng): string {
  return `${rng.pick(ADJECTIVES)} ${rng.pick(COLORS)} ${rng.pick(OBJECT_LABELS)}`;
}

function arrayOf(items: FieldSchema, rng: Rng, depth: number): unknown[] {
  return Array.from({ length: 1 + rng.int(3) }, () => generateValue(items, rng, depth + 1));
}

function objectOf(properties: Record<string, FieldSchema> | undefined, rng: Rng, depth: number): Record<string, unknown> {
  if (!properties || Object.keys(properties).length === 0) return { label: phrase(rng), score: rng.decimal(0, 1, 3) };
  // fromEntries defines own keys, so a member named `__proto__` stays a member.
  return Object.fromEntries(Object.entries(properties).map(([key, member]) => [key, generateValue(member, rng, depth + 1)]));
}
