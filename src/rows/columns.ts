/**
 * The column list: the single source of truth for the Parquet schema, the NDJSON keys, the
 * manifest's `columns` and the consumer DDL (src/ddl). A new column is added here and nowhere
 * else.
 *
 * A row is a document version (`_deleted = false`) or a tombstone (`_deleted = true`, see
 * `tombstone.ts`): a tombstone carries only the identity columns, `updated_at` (when the
 * deletion was observed) and the run columns, so every other column is nullable.
 */
export type ColumnType = 'string' | 'timestamp' | 'json' | 'vector' | 'boolean' | 'int64' | 'double' | 'date';

export interface ColumnSpec {
  name: string;
  type: ColumnType;
  nullable: boolean;
  /** What the column holds, for docs and generated DDL comments. */
  doc: string;
  /** A LIST of `type` (a typed column from a declared array of scalars; never `json` or `vector`). */
  list?: boolean;
}

/** What a typed column (one declared field of the collection's `output_schema`) holds. */
export type TypedKind = 'string' | 'int64' | 'double' | 'boolean' | 'timestamp' | 'date' | 'json';

/**
 * A typed column of a run (rows/typed.ts plans them): named as its field, of the type the
 * field was first staged with at this destination. Recorded in the checkpoint and manifests.
 */
export interface TypedColumn {
  /** Column name (equals `field`: only fields whose names can be columns get one). */
  name: string;
  /** The document's root key the column takes its values from. */
  field: string;
  type: TypedKind;
  /** A LIST of `type` (a declared `array` with scalar `items`). */
  list?: boolean;
  /** The Mixpeek type the column was planned from (`integer`, `text`, `image`, `array<string>`), for messages. */
  declared: string;
}

export const ENVELOPE_COLUMNS: readonly ColumnSpec[] = [
  { name: 'document_id', type: 'string', nullable: false, doc: 'Mixpeek document id' },
  { name: 'collection_id', type: 'string', nullable: false, doc: 'Mixpeek collection id' },
  { name: 'namespace_id', type: 'string', nullable: true, doc: '_internal.namespace_id, else the namespace of the run' },
  { name: 'created_at', type: 'timestamp', nullable: true, doc: 'when the document was created (UTC, microseconds)' },
  { name: 'updated_at', type: 'timestamp', nullable: true, doc: 'version time of the document; in a tombstone, when the deletion was observed (UTC, microseconds)' },
  { name: 'root_object_id', type: 'string', nullable: true, doc: '_internal.lineage.root_object_id' },
  { name: 'source_object_id', type: 'string', nullable: true, doc: '_internal.lineage.source_object_id' },
  { name: 'fields', type: 'json', nullable: true, doc: 'every other root key: user and extractor fields; null in a tombstone' },
  { name: 'internal', type: 'json', nullable: true, doc: 'the document _internal object' },
] as const;

/**
 * The columns the exporter adds (underscore names), last in every file. `_deleted` comes after
 * `_exported_at`: appended at the end, it leaves every earlier column where it was (NDJSON key
 * order, Parquet column index), so consumers that bind by name or by position see one new
 * column and nothing moved; and it sits with the other columns that describe the row rather
 * than the document.
 */
export const RUN_COLUMNS: readonly ColumnSpec[] = [
  { name: '_run_id', type: 'string', nullable: false, doc: 'the export run that wrote the row' },
  { name: '_exported_at', type: 'timestamp', nullable: false, doc: 'when the run read the document (UTC)' },
  { name: '_deleted', type: 'boolean', nullable: false, doc: 'true: a tombstone (the document was deleted); false: a document version' },
] as const;

/** Prefix of the vector columns: `vec_<name>`. */
export const VECTOR_PREFIX = 'vec_';

/**
 * The full ordered column list of a file: envelope, then the run's typed columns (in the
 * order the destination first staged them), then one `vec_<key>` per vector key (sorted, so
 * the order is stable), then the run columns (`_run_id`, `_exported_at`, `_deleted`). Without
 * typed columns (`columns: json`) the list is the one files had before typed columns existed.
 */
export function columnsFor(vectorKeys: readonly string[], typed: readonly TypedColumn[] = []): ColumnSpec[] {
  const vectors = [...vectorKeys].sort().map((key) => ({
    name: VECTOR_PREFIX + key,
    type: 'vector' as const,
    nullable: true,
    doc: `named vector ${key}`,
  }));
  return [...ENVELOPE_COLUMNS, ...typed.map(typedSpec), ...vectors, ...RUN_COLUMNS];
}

/** The column spec of a typed column: always nullable (absent, null or rescued values are null). */
export function typedSpec(column: TypedColumn): ColumnSpec {
  return {
    name: column.name,
    type: column.type,
    nullable: true,
    doc: `field ${column.field} (declared ${column.declared}); null when absent or when its value is rescued into fields`,
    ...(column.list ? { list: true } : {}),
  };
}
