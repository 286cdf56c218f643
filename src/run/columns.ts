/**
 * The typed columns a new run writes (issue: typed columns from `output_schema`): the
 * collection's declared fields, planned against the columns already staged at this
 * destination (rows/typed.ts planColumns), with what the plan found logged for the operator.
 */
import { CheckpointStore } from '../commit/checkpoint.js';
import type { ActiveRun, Checkpoint } from '../commit/schema.js';
import type { TypedColumn } from '../rows/columns.js';
import { driftAdvice, planColumns } from '../rows/typed.js';
import { fetchDeclaredSchema } from '../source/schema.js';
import type { ExportContext } from './types.js';

/** What `beginRun` records about the run's columns; both absent for a run without typed columns. */
export type RunColumns = Pick<ActiveRun, 'typedColumns' | 'columnDrift'>;

/**
 * The new run's columns. `columns: json`: none. Else the declared schema (GET
 * /v1/collections/{id}) planned against the staged columns; a collection that declares no
 * fields keeps the staged columns, or, with none staged, runs without typed columns (logged
 * once, with why). A shard with no staged columns of its own starts from the scheduled runs'.
 */
export async function planRunColumns(ctx: ExportContext, checkpoint: Checkpoint): Promise<RunColumns> {
  if (ctx.settings.columns === 'json') return {};
  const collectionId = checkpoint.collectionId;
  const staged = await stagedColumns(ctx, checkpoint);
  const declared = await fetchDeclaredSchema(ctx.http, collectionId, ctx.signal);
  if (!declared.outputSchema && staged.length === 0) {
    ctx.logger.warn('OutputSchemaMissing', {
      collection_id: collectionId,
      note: 'the collection declares no output_schema: this run keeps every field in the JSON column fields (as columns: json); typed columns start with the first run that finds one',
    });
    return {};
  }
  const plan = planColumns(declared.outputSchema, staged);
  const shown = (columns: TypedColumn[]) => columns.map((c) => c.name);
  ctx.logger.info('ColumnsPlanned', {
    collection_id: collectionId,
    schema_version: declared.schemaVersion,
    columns: plan.columns.length,
    added: shown(plan.added),
    ...(plan.skipped.length > 0 ? { kept_in_fields: plan.skipped.map((s) => `${s.field}: ${s.reason}`) } : {}),
  });
  for (const d of plan.drift) {
    ctx.logger.warn('ColumnTypeDrift', {
      collection_id: collectionId,
      field: d.field,
      column: d.column,
      staged: d.staged,
      declared: d.declared,
      fix: driftAdvice(d),
    });
  }
  return { typedColumns: plan.columns, columnDrift: plan.drift };
}

/** Columns staged at this destination: the checkpoint's, else (a shard's first run) the scheduled runs' checkpoint's. */
async function stagedColumns(ctx: ExportContext, checkpoint: Checkpoint): Promise<TypedColumn[]> {
  if (checkpoint.typedColumns || !ctx.settings.range.shard) return checkpoint.typedColumns ?? [];
  const main = await CheckpointStore.load(ctx.driver, checkpoint.collectionId);
  return main.value.typedColumns ?? [];
}
