/**
 * The list endpoint's `filters` (reference §1c, LogicalOperator): compiled once per request
 * into a predicate plus the `updated_at` window it implies, so the store can binary-search
 * the window instead of scanning a million documents.
 *
 * Timestamp fields compare by instant (zone-less = UTC), never as strings. Any other field is
 * read from the generated document by dot path; arrays along the path match if any element
 * does, as Qdrant payload filters do.
 */
import { badRequest } from './http.js';
import type { DocVersion } from './store.js';
import { parseInstant } from './time.js';

/** Lazy view of one document: cheap identity first, full content only when a filter needs it. */
export interface DocView {
  version: DocVersion;
  collectionId: string;
  doc(): Record<string, unknown>;
}

/** A compiled filter. */
export interface CompiledFilter {
  test(view: DocView): boolean;
  /** Inclusive bounds on updated_at micros implied by top-level AND conditions. */
  loMicros: number;
  hiMicros: number;
  /** True when the window is the whole filter, so counts need no scan. */
  windowOnly: boolean;
  /** Inclusive document_id bounds implied by top-level AND conditions (pruning only: `test` is exact). */
  idLo?: string;
  idHi?: string;
}

type Test = (view: DocView) => boolean;
type FieldKind = 'updated' | 'created' | 'id' | 'generic';

const OPERATORS = new Set(['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'contains', 'starts_with', 'ends_with', 'regex', 'exists', 'is_null', 'text']);
const LOGICAL_KEYS = new Set(['AND', 'OR', 'NOT', 'case_sensitive']);
/** The docs say nesting has "a defined depth limit" without the number. */
const MAX_DEPTH = 8;

interface Window { lo: number; hi: number; windowOnly: boolean; idLo?: string; idHi?: string }

/** Compile `filters` (null/undefined = match everything). Throws a 400 ApiError when malformed. */
export function compileFilter(raw: unknown): CompiledFilter {
  const window: Window = { lo: -Infinity, hi: Infinity, windowOnly: true };
  if (raw === null || raw === undefined) return { test: () => true, loMicros: -Infinity, hiMicros: Infinity, windowOnly: true };
  if (typeof raw !== 'object' || Array.isArray(raw)) throw badRequest('filters must be an object (LogicalOperator)');
  const test = compileNode(raw as Record<string, unknown>, 0, false, window);
  return { test, loMicros: window.lo, hiMicros: window.hi, windowOnly: window.windowOnly, idLo: window.idLo, idHi: window.idHi };
}

/** A node is a condition (`field` key) or a LogicalOperator. `window` is set only on the pure-AND spine. */
function compileNode(node: Record<string, unknown>, depth: number, caseSensitive: boolean, window: Window | null): Test {
  if (depth > MAX_DEPTH) throw badRequest(`filters nested deeper than ${MAX_DEPTH} levels`);
  if (typeof node['field'] === 'string') return compileCondition(node, caseSensitive, window);
  const cs = typeof node['case_sensitive'] === 'boolean' ? node['case_sensitive'] : caseSensitive;
  const all: Test[] = [];
  for (const [key, value] of Object.entries(node)) {
    if (LOGICAL_KEYS.has(key)) continue;
    all.push(...shorthand(key, value, cs, window));
  }
  all.push(...children(node['AND'], 'AND', depth, cs, window));
  const any = children(node['OR'], 'OR', depth, cs, null);
  const none = children(node['NOT'], 'NOT', depth, cs, null);
  if (window && (any.length > 0 || none.length > 0)) window.windowOnly = false;
  return (view) => all.every((t) => t(view)) && (any.length === 0 || any.some((t) => t(view))) && !none.some((t) => t(view));
}

function children(value: unknown, key: string, depth: number, cs: boolean, window: Window | null): Test[] {
  if (value === undefined || value === null) return [];
  // The docs show NOT as a single object, the spec as an array: accept both.
  const items = Array.isArray(value) ? value : [value];
  return items.map((item, i) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw badRequest(`filters.${key}[${i}] must be a condition or a LogicalOperator`);
    return compileNode(item as Record<string, unknown>, depth + 1, cs, window);
  });
}

/** `{"field": value}` means eq; `{"field": {"gte": a, "lt": b}}` is a range. */
function shorthand(field: string, value: unknown, cs: boolean, window: Window | null): Test[] {
  const isOps = value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0
    && Object.keys(value).every((k) => OPERATORS.has(k));
  if (!isOps) return [compileCondition({ field, operator: 'eq', value }, cs, window)];
  return Object.entries(value as Record<string, unknown>).map(([operator, v]) => compileCondition({ field, operator, value: v }, cs, window));
}

function kindOf(field: string): FieldKind {
  if (field === 'updated_at' || field === '_internal.updated_at') return 'updated';
  if (field === 'created_at' || field === '_internal.created_at') return 'created';
  if (field === 'document_id' || field === '_internal.document_id') return 'id';
  return 'generic';
}

function compileCondition(cond: Record<string, unknown>, cs: boolean, window: Window | null): Test {
  const field = cond['field'];
  if (typeof field !== 'string' || field === '') throw badRequest('filter condition needs a non-empty "field"');
  const op = cond['operator'] === undefined ? 'eq' : cond['operator'];
  if (typeof op !== 'string' || !OPERATORS.has(op)) {
    throw badRequest(`Unsupported filter operator ${JSON.stringify(op)} on ${field}`, { supported: [...OPERATORS] });
  }
  const kind = kindOf(field);
  if (kind === 'updated' || kind === 'created') {
    const test = timeCondition(kind, field, op, cond['value']);
    if (window) narrowWindow(window, kind, op, cond['value']);
    return test;
  }
  if (window) window.windowOnly = false;
  if (window && kind === 'id') narrowIds(window, op, cond['value']);
  const read = kind === 'id' ? (v: DocView) => [v.version.id] : (v: DocView) => valuesAt(v.doc(), field);
  return valueCondition(read, field, op, cond['value'], cs);
}

/** Instant of a filter value: ISO string (zone-less = UTC) or epoch seconds. */
function instantOf(field: string, value: unknown): number {
  const micros = typeof value === 'number' ? Math.round(value * 1e6) : typeof value === 'string' ? parseInstant(value) : null;
  if (micros === null || !Number.isFinite(micros)) throw badRequest(`Invalid datetime ${JSON.stringify(value)} for ${field}; use ISO-8601, e.g. 2026-01-01T00:00:00Z`);
  return micros;
}

function timeCondition(kind: 'updated' | 'created', field: string, op: string, value: unknown): Test {
  const get = kind === 'updated' ? (v: DocView) => v.version.updatedMicros : (v: DocView) => v.version.createdMicros;
  if (op === 'exists') return () => value !== false;
  if (op === 'is_null') return () => value === false;
  if (op === 'in' || op === 'nin') {
    if (!Array.isArray(value)) throw badRequest(`Operator ${op} on ${field} needs an array value`);
    const set = new Set(value.map((x) => instantOf(field, x)));
    return op === 'in' ? (v) => set.has(get(v)) : (v) => !set.has(get(v));
  }
  const compare = COMPARE[op];
  if (!compare) throw badRequest(`Operator ${op} is not supported on the timestamp field ${field}`);
  const t = instantOf(field, value);
  return (v) => compare(get(v), t);
}

const COMPARE: Record<string, (a: number, b: number) => boolean> = {
  eq: (a, b) => a === b, ne: (a, b) => a !== b,
  gt: (a, b) => a > b, gte: (a, b) => a >= b, lt: (a, b) => a < b, lte: (a, b) => a <= b,
};

/** Tighten the inclusive updated_at window (micros are integers, so gt x == gte x+1). */
function narrowWindow(window: Window, kind: 'updated' | 'created', op: string, value: unknown): void {
  if (kind !== 'updated' || !['eq', 'gt', 'gte', 'lt', 'lte'].includes(op)) {
    window.windowOnly = false;
    return;
  }
  const t = instantOf('updated_at', value);
  if (op === 'eq' || op === 'gte') window.lo = Math.max(window.lo, t);
  if (op === 'gt') window.lo = Math.max(window.lo, t + 1);
  if (op === 'eq' || op === 'lte') window.hi = Math.min(window.hi, t);
  if (op === 'lt') window.hi = Math.min(window.hi, t - 1);
}

/** Tighten the inclusive document_id bounds with a string comparison (gt x still needs x as a bound). */
function narrowIds(window: Window, op: string, value: unknown): void {
  const values = op === 'in' && Array.isArray(value) ? value : [value];
  if (!['eq', 'gt', 'gte', 'lt', 'lte', 'in'].includes(op) || values.length === 0 || values.some((v) => typeof v !== 'string')) return;
  const sorted = (values as string[]).slice().sort();
  const [min, max] = [sorted[0] as string, sorted[sorted.length - 1] as string];
  if (op !== 'lt' && op !== 'lte' && (window.idLo === undefined || min > window.idLo)) window.idLo = min;
  if (op !== 'gt' && op !== 'gte' && (window.idHi === undefined || max < window.idHi)) window.idHi = max;
}

/** Every value at a dot path, flattening arrays on the way (Qdrant "any element" semantics). */
export function valuesAt(doc: unknown, path: string): unknown[] {
  let current: unknown[] = [doc];
  for (const key of path.split('.')) {
    const next: unknown[] = [];
    for (const item of current) {
      for (const node of Array.isArray(item) ? item : [item]) {
        // undefined = an optional key the generator left out: absent, as it is in the JSON.
        const value = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
        if (value !== undefined) next.push(value);
      }
    }
    current = next;
  }
  return current.flatMap((v) => (Array.isArray(v) ? v : [v]));
}

function valueCondition(read: (v: DocView) => unknown[], field: string, op: string, value: unknown, cs: boolean): Test {
  if (op === 'exists') return (v) => (read(v).length > 0) === (value !== false);
  if (op === 'is_null') return (v) => read(v).every((x) => x === null) === (value !== false);
  if (op === 'in' || op === 'nin') {
    if (!Array.isArray(value)) throw badRequest(`Operator ${op} on ${field} needs an array value`);
    const hit = (v: DocView) => read(v).some((x) => value.some((w) => sameValue(x, w)));
    return op === 'in' ? hit : (v) => !hit(v);
  }
  if (op === 'eq') return (v) => read(v).some((x) => sameValue(x, value));
  if (op === 'ne') return (v) => !read(v).some((x) => sameValue(x, value));
  const compare = COMPARE[op];
  if (compare) return (v) => read(v).some((x) => orderedCompare(x, value, compare));
  return stringCondition(read, field, op, value, cs);
}

function stringCondition(read: (v: DocView) => unknown[], field: string, op: string, value: unknown, cs: boolean): Test {
  if (typeof value !== 'string') throw badRequest(`Operator ${op} on ${field} needs a string value`);
  const fold = (s: string) => (cs ? s : s.toLowerCase());
  const needle = fold(value);
  let match: (s: string) => boolean;
  if (op === 'regex') {
    let re: RegExp;
    try {
      re = new RegExp(value, cs ? 'u' : 'iu');
    } catch {
      throw badRequest(`Invalid regex ${JSON.stringify(value)} for ${field}`);
    }
    match = (s) => re.test(s);
  } else if (op === 'starts_with') match = (s) => fold(s).startsWith(needle);
  else if (op === 'ends_with') match = (s) => fold(s).endsWith(needle);
  else match = (s) => fold(s).includes(needle); // contains, text
  return (v) => read(v).some((x) => typeof x === 'string' && match(x));
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  return typeof a === 'object' && typeof b === 'object' && JSON.stringify(a) === JSON.stringify(b);
}

/** Numbers numerically, strings lexically; mixed types never match. */
function orderedCompare(a: unknown, b: unknown, compare: (x: number, y: number) => boolean): boolean {
  if (typeof a === 'number' && typeof b === 'number') return compare(a, b);
  if (typeof a === 'string' && typeof b === 'string') return compare(a < b ? -1 : a > b ? 1 : 0, 0);
  return false;
}
