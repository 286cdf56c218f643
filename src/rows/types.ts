/**
 * One exported row: the shape of DESIGN.md section 5, the same for Parquet and NDJSON. Either
 * a document version (`toRow`, `_deleted: false`) or a tombstone (`tombstoneRow`,
 * `_deleted: true`, every column but the identity, `updated_at` and run columns null).
 *
 * Timestamps are canonical UTC strings `YYYY-MM-DDTHH:MM:SS.ffffffZ` (microseconds, see
 * `time.ts`): they sort lexically in time order and convert losslessly to the INT64
 * micros that Parquet stores. `null` where the source had no usable value.
 */
export interface Row {
  document_id: string;
  collection_id: string;
  namespace_id: string | null;
  created_at: string | null;
  updated_at: string | null;
  root_object_id: string | null;
  source_object_id: string | null;
  /** Every other root key of the document (user and extractor fields). Parquet: JSON text; NDJSON: nested object. Null only in a tombstone. */
  fields: Record<string, unknown> | null;
  /** The document's `_internal` object, or null. Parquet: JSON text; NDJSON: nested object. */
  internal: Record<string, unknown> | null;
  /**
   * Values of the run's typed columns, keyed by column name, already in the column's form:
   * strings, finite numbers, booleans, canonical timestamps, `YYYY-MM-DD` dates, arrays of
   * those, or any JSON value for a `json` column. A column without a key here is null.
   */
  typed?: Record<string, unknown>;
  /** Named vectors, keyed by column suffix (`vec_<key>` is the column). Only when vectors are requested. */
  vectors: Record<string, Float32Array | number[] | null>;
  _run_id: string;
  _exported_at: string;
  /** True for a tombstone (the document was deleted by `updated_at`), false for every document version. */
  _deleted: boolean;
}

/** A document version, as `toRow` makes it: `fields` always an object, `_deleted` false. */
export type VersionRow = Row & { fields: Record<string, unknown>; _deleted: false };

/** A tombstone, as `tombstoneRow` makes it: no content columns, `_deleted` true. */
export type TombstoneRow = Row & { created_at: null; fields: null; internal: null; _deleted: true };
