/**
 * Typed columns from a collection's `output_schema` (reference/mixpeek-api.md section 8):
 * which declared fields become columns of a run, of which type, and how a value is put in
 * its column's form or rescued into `fields`.
 *
 * ```ts
 * const plan = planColumns(collection.output_schema, checkpoint.typedColumns ?? []);
 * plan.columns;   // [{ name: 'title', field: 'title', type: 'string', declared: 'string' }, ...]
 * plan.drift;     // fields whose declared type no longer maps to their staged column type
 * fitValue(plan.columns[0], 'A title');  // { ok: true, value: 'A title' }
 * ```
 */
import { ENVELOPE_COLUMNS, RUN_COLUMNS, type TypedColumn, type TypedKind, VECTOR_PREFIX } from './columns.js';
import { canonicalTimestamp } from './time.js';

/** A column name Snowflake, Databricks and DuckDB all take unquoted (with case folded). */
export const COLUMN_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/**
 * Root keys the envelope reads (rows/map.ts), besides the envelope's own column names: a
 * declared field of one of these names is never a typed column.
 */
const ENVELOPE_SOURCES = ['_internal', '_vectors', 'vectors', 'vector'];

const RESERVED = new Set([...ENVELOPE_COLUMNS, ...RUN_COLUMNS].map((c) => c.name.toLowerCase()).concat(ENVELOPE_SOURCES));

/** Mixpeek's field types (section 8) and the column type each maps to; `array` is handled apart. */
const SCALAR_TYPES: Record<string, TypedKind> = {
  string: 'string',
  text: 'string',
  integer: 'int64',
  number: 'double',
  float: 'double',
  boolean: 'boolean',
  datetime: 'timestamp',
  date: 'date',
  object: 'json',
  image: 'json',
  video: 'json',
  audio: 'json',
  pdf: 'json',
  excel: 'json',
};

/** A field the plan left out of the columns, and why (for the log and docs). */
export interface SkippedField {
  field: string;
  reason: string;
}

/** A field whose declared type now maps to another column type than the one it was staged with. */
export interface ColumnDrift {
  field: string;
  column: string;
  /** The type the column keeps (`int64`, `list<string>`). */
  staged: string;
  /** What `output_schema` declares now (`string`, `array<integer>`). */
  declared: string;
  /** The column type the declared type would map to. */
  wouldBe: string;
}

export interface ColumnPlan {
  /** The run's typed columns: every column staged before (kept, even when its field left the schema), then new ones in declaration order. */
  columns: TypedColumn[];
  /** Staged columns whose field's declared type changed. */
  drift: ColumnDrift[];
  /** Declared fields that are not columns. */
  skipped: SkippedField[];
  /** Columns new in this plan (not staged before). */
  added: TypedColumn[];
}

/** What a drifted field means for the consumer and how to move it (the log and `status` say this). */
export function driftAdvice(d: ColumnDrift): string {
  return `field ${d.field} is now declared ${d.declared}: column ${d.column} keeps type ${d.staged} at this destination, and values of the new type (${d.wouldBe}) stay in fields (counted as rescued). To move the consumer to ${d.wouldBe}, read ${d.field} from fields, or export to a new destination (or table) where ${d.column} starts as ${d.wouldBe}`;
}

/** `list<string>` for a list column, else its type. */
export function columnTypeText(column: Pick<TypedColumn, 'type' | 'list'>): string {
  return column.list ? `list<${column.type}>` : column.type;
}

/**
 * The column type of a declared field, or null when it has none we know (an unknown `type`).
 * `array` with scalar `items` is a list of that type; an array of objects, arrays or files,
 * or without `items`, is JSON.
 */
export function mapDeclared(declared: unknown): { type: TypedKind; list?: true; declared: string } | null {
  if (!isObject(declared) || typeof declared.type !== 'string') return null;
  const type = declared.type.toLowerCase();
  if (type === 'array') {
    const items = isObject(declared.items) && typeof declared.items.type === 'string' ? declared.items.type.toLowerCase() : null;
    const element = items === null ? undefined : SCALAR_TYPES[items];
    if (element === undefined || element === 'json') return { type: 'json', declared: items === null ? 'array' : `array<${items}>` };
    return { type: element, list: true, declared: `array<${items}>` };
  }
  const mapped = SCALAR_TYPES[type];
  return mapped === undefined ? null : { type: mapped, declared: type };
}

/**
 * The run's typed columns from the declared schema and the columns staged before at this
 * destination (`staged`, from the checkpoint). A staged column keeps its type; a declared
 * field whose type now maps elsewhere is reported as drift (its values of the new type are
 * rescued); a new field becomes a column when its name can be one: it matches
 * {@link COLUMN_NAME}, is no envelope or run column, does not start with `vec_`, and equals
 * no other column ignoring case (Snowflake and Databricks fold case).
 */
export function planColumns(outputSchema: unknown, staged: readonly TypedColumn[]): ColumnPlan {
  const properties = isObject(outputSchema) && isObject(outputSchema.properties) ? outputSchema.properties : {};
  const columns = staged.map((c) => ({ ...c }));
  const byField = new Map(columns.map((c) => [c.field, c]));
  const taken = new Set(columns.map((c) => c.name.toLowerCase()));
  const drift: ColumnDrift[] = [];
  const skipped: SkippedField[] = [];
  const added: TypedColumn[] = [];
  for (const [field, declared] of Object.entries(properties)) {
    const mapped = mapDeclared(declared);
    const existing = byField.get(field);
    if (existing) {
      if (mapped && columnTypeText(mapped) !== columnTypeText(existing)) {
        drift.push({ field, column: existing.name, staged: columnTypeText(existing), declared: mapped.declared, wouldBe: columnTypeText(mapped) });
      }
      continue;
    }
    const why = mapped === null ? `its type ${JSON.stringify(isObject(declared) ? declared.type : declared)} is not one this exporter knows` : unusableName(field, taken);
    if (why !== null) {
      skipped.push({ field, reason: why });
      continue;
    }
    const column: TypedColumn = { name: field, field, type: mapped!.type, ...(mapped!.list ? { list: true } : {}), declared: mapped!.declared };
    columns.push(column);
    added.push(column);
    byField.set(field, column);
    taken.add(field.toLowerCase());
  }
  return { columns, drift, skipped, added };
}

/** Why `field` cannot be a column name (null: it can). */
function unusableName(field: string, taken: Set<string>): string | null {
  if (!COLUMN_NAME.test(field)) return 'its name is not a plain column name (letters, digits and _, not starting with a digit, at most 128)';
  const folded = field.toLowerCase();
  if (RESERVED.has(folded)) return 'its name is an envelope or run column (or a key the envelope reads)';
  if (folded.startsWith(VECTOR_PREFIX)) return `its name starts with ${VECTOR_PREFIX}, the prefix of the vector columns`;
  if (taken.has(folded)) return 'its name equals another typed column ignoring case';
  return null;
}

/** A value in its column's form, or why it does not fit (the value is then rescued into `fields`). */
export type Fit = { ok: true; value: unknown } | { ok: false };

const NO_FIT: Fit = { ok: false };

/** INT64 bounds as doubles: a JSON number at or past 2^63 does not fit. */
const INT64_LIMIT = 2 ** 63;

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * Puts a non-null value in the form of `column`. Values are taken by their JSON type, never
 * parsed from text, except timestamps and dates (text in JSON): a string is a string, an
 * integer a JSON number with no fraction inside INT64, a double any number, a boolean
 * `true`/`false`, a timestamp text the envelope's parser reads (canonical UTC micros), a date
 * `YYYY-MM-DD` of the calendar. A list fits when every element fits (null elements stay null).
 */
export function fitValue(column: Pick<TypedColumn, 'type' | 'list'>, value: unknown): Fit {
  if (!column.list) return fitScalar(column.type, value);
  if (!Array.isArray(value)) return NO_FIT;
  const out: unknown[] = new Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const element = value[i];
    if (element === null) {
      out[i] = null;
      continue;
    }
    const fit = fitScalar(column.type, element);
    if (!fit.ok) return NO_FIT;
    out[i] = fit.value;
  }
  return { ok: true, value: out };
}

function fitScalar(type: TypedKind, value: unknown): Fit {
  switch (type) {
    case 'string':
      return typeof value === 'string' ? { ok: true, value } : NO_FIT;
    case 'int64':
      return typeof value === 'number' && Number.isInteger(value) && value < INT64_LIMIT && value >= -INT64_LIMIT ? { ok: true, value } : NO_FIT;
    case 'double':
      return typeof value === 'number' && Number.isFinite(value) ? { ok: true, value } : NO_FIT;
    case 'boolean':
      return typeof value === 'boolean' ? { ok: true, value } : NO_FIT;
    case 'timestamp': {
      const canonical = typeof value === 'string' ? canonicalTimestamp(value) : null;
      return canonical === null ? NO_FIT : { ok: true, value: canonical };
    }
    case 'date':
      return typeof value === 'string' && isCalendarDate(value) ? { ok: true, value } : NO_FIT;
    case 'json':
      return { ok: true, value };
  }
}

function isCalendarDate(text: string): boolean {
  const m = DATE_RE.exec(text);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  return day <= daysIn(year, month);
}

/** Days in a month of the proleptic Gregorian calendar. */
function daysIn(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!;
}

/** Days since 1970-01-01 of a `YYYY-MM-DD` date (Parquet DATE). */
export function epochDays(date: string): number {
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(0, 0, 0, 0);
  return Math.round(d.getTime() / 86_400_000);
}

function isObject(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
