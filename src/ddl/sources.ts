/**
 * Where each collection's typed columns come from, as plain data: the command
 * (cli/ddl-columns.ts) reads the manifests and the API, these functions choose and map what
 * it read, and the header of every DDL says which source each collection's columns came from.
 *
 * ```ts
 * const picked = newestTypedManifest(manifests);         // the newest run that staged typed columns
 * const columns = picked ? columnsFromManifest(picked) : columnsFromCollection(collectionResponse);
 * ```
 */
import type { Manifest } from '../commit/schema.js';
import type { TypedColumn } from '../rows/columns.js';
import { planColumns } from '../rows/typed.js';
import type { DeclaredSchema } from '../source/schema.js';
import type { CollectionColumns, DdlRequest } from './types.js';

/** A manifest as read, with its key relative to the destination root. */
export interface ReadManifest {
  key: string;
  manifest: Manifest;
}

/**
 * The manifest whose `typedColumns` the files hold now: the newest by `finishedAt` (then run
 * id) among those that list typed columns. Reconciliation and `columns: json` runs list none
 * and are passed over. Null when no manifest lists typed columns.
 */
export function newestTypedManifest(manifests: readonly ReadManifest[]): ReadManifest | null {
  let best: ReadManifest | null = null;
  for (const read of manifests) {
    if (!read.manifest.typedColumns || read.manifest.typedColumns.length === 0) continue;
    if (best === null || newer(read.manifest, best.manifest)) best = read;
  }
  return best;
}

function newer(a: Manifest, b: Manifest): boolean {
  return a.finishedAt !== b.finishedAt ? a.finishedAt > b.finishedAt : a.runId > b.runId;
}

/** A manifest's typed columns, in its order (the file order). */
export function columnsFromManifest({ key, manifest }: ReadManifest): CollectionColumns {
  return {
    typed: (manifest.typedColumns ?? []).map(typedColumn),
    source: {
      kind: 'manifest',
      key,
      runId: manifest.runId,
      finishedAt: manifest.finishedAt,
      ...(manifest.columnDrift?.length ? { drift: manifest.columnDrift.map(({ column, staged, declared }) => ({ column, staged, declared })) } : {}),
    },
  };
}

/**
 * The columns the next export will give a collection that has staged none yet: its
 * `output_schema` (read from `GET /v1/collections/{id}` by source/schema.ts, reference section 8)
 * planned as the exporter plans a first run (`planColumns(outputSchema, [])`).
 */
export function columnsFromCollection({ outputSchema, schemaVersion }: DeclaredSchema): CollectionColumns {
  const typed = outputSchema ? planColumns(outputSchema, []).columns : [];
  return { typed, source: { kind: 'api', schemaVersion, declared: outputSchema !== null } };
}

/** The envelope alone, because nothing said what the typed columns are (`reason`: what failed). */
export function envelopeOnly(reason: string): CollectionColumns {
  return { typed: [], source: { kind: 'none', reason } };
}

/** `--columns json`: no typed columns, nothing looked up. */
export const JSON_COLUMNS: CollectionColumns = { typed: [], source: { kind: 'json' } };

/**
 * The header lines (without the comment prefix) that say where each collection's columns
 * came from, and what the consumers do when a column appears later.
 */
export function columnSourceLines(req: DdlRequest): string[] {
  if (req.columnsMode === 'json') return ['Columns: --columns json: the envelope only; every user and extractor field is in fields (JSON).'];
  const lines = ['Columns (--columns typed): the envelope, then the typed columns of each collection, from:'];
  req.collections.forEach((collectionId, i) => {
    const { typed, source } = req.columns[i]!;
    lines.push(`  ${collectionId}: ${describe(typed, source)}`);
    if (source.kind !== 'manifest') return;
    for (const d of source.drift ?? []) {
      lines.push(`    type drift: ${d.column} is declared ${d.declared} now; the column keeps ${d.staged}, values of the new type are in fields`);
    }
  });
  lines.push(
    'A field added to output_schema becomes a column of later files only; a field whose declared type changes',
    'keeps its column type, and its values of the new type are in fields. Run ddl again after a new column appears.',
  );
  return lines;
}

function describe(typed: readonly TypedColumn[], source: CollectionColumns['source']): string {
  const count = `${typed.length} typed column${typed.length === 1 ? '' : 's'}`;
  switch (source.kind) {
    case 'manifest':
      return `${count} from the newest manifest that lists them, ${source.key} (run finished ${source.finishedAt})`;
    case 'api':
      return source.declared
        ? `${count} planned from the API's output_schema${source.schemaVersion === null ? '' : ` (schema_version ${source.schemaVersion})`}; no run has staged typed columns yet`
        : 'no output_schema at the API: the exporter writes no typed columns for this collection (fields holds every field)';
    case 'none':
      return `the envelope only: ${source.reason}`;
    case 'json':
      return 'the envelope only (--columns json)';
  }
}

function typedColumn(record: NonNullable<Manifest['typedColumns']>[number]): TypedColumn {
  return { name: record.name, field: record.field, type: record.type, ...(record.list ? { list: true } : {}), declared: record.declared };
}

