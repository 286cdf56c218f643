/**
 * Schemas of the JSON the exporter keeps at the destination: `_state/checkpoint.json`,
 * `_manifests/<run_id>.json` and `_state/lease.json`. One source of truth, as the settings
 * are (config/schema.ts): the types are inferred from these, and every read goes through
 * {@link parseStored}, so a corrupt or hand-edited object is refused with its URL and the
 * field at fault instead of steering a run with a wrong value.
 *
 * Shapes are those the current code writes; fields added later are optional so older
 * objects still load (`newestUpdatedAt`, `vectorDims`).
 */
import { z } from 'zod';
import { canonicalTimestamp } from '../rows/time.js';

/** A canonical UTC timestamp (`2026-11-21T15:30:00.000000Z`): windows and positions compare them as strings. */
const instant = z.string().refine((s) => canonicalTimestamp(s) === s, { error: 'expected a canonical UTC timestamp like 2026-11-21T15:30:00.000000Z' });
const count = z.number().int().min(0);
const windowSchema = z.object({ lo: instant.nullable(), hi: instant });

/** The position reached: the last `updated_at` exported, and every id exported at exactly that instant. */
export const positionSchema = z.object({ updatedAt: instant, ids: z.array(z.string()) });

/** One published data file, as the checkpoint records it (the manifest drops `endPosition`). */
export const fileRecordSchema = z.object({
  key: z.string().min(1),
  seq: count,
  dt: z.string().min(1),
  rows: count,
  bytes: count,
  sha256: z.string(),
  minUpdatedAt: instant.nullable(),
  maxUpdatedAt: instant.nullable(),
  columns: z.array(z.string()),
  /** Position after this file's last row. */
  endPosition: positionSchema.nullable(),
  /** A reconciliation's tombstone file: the last (greatest) document_id in it, the run's position once it is committed. */
  lastId: z.string().optional(),
  /** The slice of the run's window that wrote it (export runs with `slices`). */
  slice: count.optional(),
});

export const runKindSchema = z.enum(['export', 'reconcile']);

/** The newest run whose files a reconciliation snapshot holds (by `finishedAt`, then run id). */
const includedSchema = z.object({ runId: z.string().min(1), finishedAt: instant }).nullable();

/** A reconciliation in progress: its listing's start T and how far it got. */
export const reconcileProgressSchema = z.object({
  /** T: the instant the listing started; every tombstone's `updated_at`. A resume keeps it. */
  listedAt: instant,
  /** The last document_id tombstoned and committed; a resume skips ids up to it. */
  position: z.string().nullable(),
  /** Ids the last listing returned. */
  idsListed: count,
  /** Set once the snapshot is written: its key, and the last export run it holds. */
  snapshot: z.string().min(1).optional(),
  includedThrough: includedSchema.optional(),
});

/** A typed column (rows/columns.ts `TypedColumn`): planned from output_schema, kept at the destination once staged. */
export const typedColumnSchema = z.object({
  name: z.string().min(1),
  field: z.string().min(1),
  type: z.enum(['string', 'int64', 'double', 'boolean', 'timestamp', 'date', 'json']),
  list: z.boolean().optional(),
  declared: z.string(),
});

/** A staged column whose field's declared type now maps to another type (rows/typed.ts `ColumnDrift`). */
export const columnDriftSchema = z.object({
  field: z.string(),
  column: z.string(),
  staged: z.string(),
  declared: z.string(),
  wouldBe: z.string(),
});

/** Values rescued into `fields` (did not fit their typed column), per field. */
const rescuedFieldsSchema = z.record(z.string(), count);

/** A run's counters (rejected documents, values left untyped; typed runs: values rescued, in all and per field). */
const countsSchema = z.object({ rejected: count, untyped: count, rescued: count.optional(), rescuedFields: rescuedFieldsSchema.optional() });

/**
 * One contiguous `updated_at` range `[lo, hi)` of an export run's window, paged on its own
 * (run/slices.ts): its position, its pending intent and its counters are its own. Slices
 * cover the window without overlap; a split shortens one (`hi`) and adds the rest as a new
 * slice (`splitFrom`), in one checkpoint write.
 */
export const sliceSchema = z.object({
  /** 0, 1, 2 ... in the order the slices were made; a file's `slice`. */
  id: count,
  lo: instant.nullable(),
  hi: instant,
  /** Position after this slice's last committed row; a resume lists from it. */
  position: positionSchema.nullable(),
  /** Intent: this slice's file about to be committed. */
  pending: fileRecordSchema.nullable(),
  /** Its counters as of its last committed row (its final ones once done). */
  counts: countsSchema,
  /** Every row of `[lo, hi)` is committed (its listing ended); a resume skips it. */
  done: z.boolean(),
  /** The slice this one was split off (its `hi` became this one's `lo`). */
  splitFrom: count.optional(),
});

export const formatSchema = z.enum(['parquet', 'ndjson']);
export const compressionSchema = z.enum(['zstd', 'snappy', 'gzip', 'none']);

/** A run in progress (or interrupted): resumed with the same id, window and numbering. */
export const activeRunSchema = z.object({
  runId: z.string().min(1),
  startedAt: instant,
  window: windowSchema,
  format: formatSchema,
  compression: compressionSchema,
  vectors: z.boolean(),
  nextSeq: count,
  position: positionSchema.nullable(),
  files: z.array(fileRecordSchema),
  /** Intent: the file about to be committed. Exists on resume → adopted; absent → re-exported. */
  pending: fileRecordSchema.nullable(),
  rejected: count,
  untyped: count,
  /** Length fixed for each vector column by the first vector seen in this run; a resume keeps it. Absent before the first vector. */
  vectorDims: z.record(z.string(), z.number().int().positive()).optional(),
  /**
   * The run's typed columns, fixed at its start (a resume writes the same). Absent: no typed
   * columns (`columns: json`, no output_schema, or a run begun before typed columns existed).
   */
  typedColumns: z.array(typedColumnSchema).optional(),
  /** Values rescued into `fields` so far, and per field (recorded with each file, like `untyped`). */
  rescued: count.optional(),
  rescuedFields: rescuedFieldsSchema.optional(),
  /** Staged columns whose declared type changed, as this run planned its columns. */
  columnDrift: z.array(columnDriftSchema).optional(),
  /**
   * An export run's window as slices (run/slices.ts); then `position` and `pending` above stay
   * null and the counters above are the sums of the slices'. Absent: one sequence over the whole
   * window (reconciliations, and export runs begun before slices existed; a resume converts those).
   */
  slices: z.array(sliceSchema).optional(),
  /** Absent: `export`. A `reconcile` run writes tombstones (its window is the empty `[T, T)`). */
  kind: runKindSchema.optional(),
  /** Set on a `reconcile` run. */
  reconcile: reconcileProgressSchema.optional(),
});

/** A completed run, as the checkpoint's history keeps it for `status`. */
export const runSummarySchema = z.object({
  runId: z.string().min(1),
  window: windowSchema,
  files: count,
  rows: count,
  bytes: count,
  finishedAt: instant,
  manifest: z.string().min(1),
  /**
   * The newest `updated_at` exported by this run or any run before it (a running max, so it
   * survives runs that found nothing new); `status` and the freshness metric read it. Absent
   * in checkpoints written before it existed.
   */
  newestUpdatedAt: instant.nullable().optional(),
});

/**
 * A run's notification to one sink that is not delivered yet (src/sinks/deliver.ts): queued
 * in the same checkpoint write that completes the run, removed once the sink took it, kept
 * with its last error when it failed, and delivered again by the next run with the same run
 * id (every sink's idempotency key).
 */
export const notificationSchema = z.object({
  /** The sink's name (its type unless the config names it). */
  sink: z.string().min(1),
  type: z.string().min(1),
  runId: z.string().min(1),
  kind: runKindSchema,
  /** The run's manifest: the notification is built from it on every attempt. */
  manifest: z.string().min(1),
  queuedAt: instant,
  /** Deliveries tried and failed so far. */
  attempts: count,
  lastAttemptAt: instant.optional(),
  /** The last failure's message (names the sink, the endpoint and the fix; never a secret). */
  lastError: z.string().optional(),
});

export const checkpointSchema = z.object({
  version: z.literal(1),
  collectionId: z.string().min(1),
  /** `hi` of the last completed run: the next run's `lo`. */
  lastHi: instant.nullable(),
  active: activeRunSchema.nullable(),
  /** The last runs, newest last (at most HISTORY_LIMIT), for `status`. */
  history: z.array(runSummarySchema),
  /**
   * Every typed column staged at this destination, in first-staged order, with the type it was
   * first staged with: the next run's columns start from these (rows/typed.ts planColumns).
   */
  typedColumns: z.array(typedColumnSchema).optional(),
  /** Staged columns whose declared type changed, as the last run planned them (status shows them). */
  columnDrift: z.array(columnDriftSchema).optional(),
  /** Notifications of completed runs not yet delivered, oldest first (absent: none, or before sinks existed). */
  notifications: z.array(notificationSchema).optional(),
  /** The last completed reconciliation (absent before the first). */
  lastReconcile: z
    .object({
      runId: z.string().min(1),
      /** T, the start of its listing. */
      listedAt: instant,
      /** `_state/reconcile/snapshot-<runId>.json.gz`: the staged state it left, sorted by id. */
      snapshot: z.string().min(1),
      /** The last export run whose files the snapshot holds; the next reconciliation reads runs finished after it. */
      includedThrough: includedSchema,
      idsListed: count,
      tombstones: count,
      finishedAt: instant,
      manifest: z.string().min(1),
    })
    .optional(),
});

/** `_manifests/<run_id>.json`: what one run published. Consumers never read it; `verify`, `status` and reconciliation do. */
export const manifestSchema = z.object({
  manifestVersion: z.literal(1),
  collectionId: z.string().min(1),
  runId: z.string().min(1),
  startedAt: instant,
  finishedAt: instant,
  window: windowSchema,
  format: formatSchema,
  compression: compressionSchema,
  vectors: z.boolean(),
  files: z.array(fileRecordSchema.omit({ endPosition: true })),
  totals: z.object({ files: count, rows: count, bytes: count, rejected: count, untyped: count, rescued: count.optional() }),
  /** Typed runs: the run's typed columns (name, type, source field); `columns` lists them among the file columns. */
  typedColumns: z.array(typedColumnSchema).optional(),
  /** Typed runs: values rescued into `fields`, per field. */
  rescuedFields: rescuedFieldsSchema.optional(),
  /** Typed runs: staged columns whose declared type changed. */
  columnDrift: z.array(columnDriftSchema).optional(),
  minUpdatedAt: instant.nullable(),
  maxUpdatedAt: instant.nullable(),
  /** Union of the files' columns, in order of first appearance. */
  columns: z.array(z.string()),
  /**
   * Sequence numbers the run allotted to files that never became visible (a slice killed
   * mid-file whose rows were gone from the API by the resume): `files` hold 0..n-1 but these.
   */
  unusedSeqs: z.array(count).optional(),
  /** A run paged as slices: how many (each split adds one). */
  slices: count.optional(),
  /** Absent: `export`. */
  kind: runKindSchema.optional(),
  /** A reconciliation: T, the start of its listing. */
  listedAt: instant.optional(),
  /** A reconciliation: ids its listing returned. */
  idsListed: count.optional(),
  /** A reconciliation: tombstones written (its rows). */
  tombstones: count.optional(),
});

/**
 * `_state/lease.json`. Only the expiry is required: a lease whose expiry can be read is
 * honoured until then whoever wrote it; one without would never expire (see lease.ts).
 */
export const leaseSchema = z.object({
  holder: z.string().optional(),
  host: z.string().optional(),
  pid: z.number().int().optional(),
  runId: z.string().optional(),
  acquiredAt: z.string().optional(),
  expiresAt: z.string().refine((s) => Number.isFinite(Date.parse(s)), { error: 'expected an ISO-8601 time' }),
});

export type Position = z.infer<typeof positionSchema>;
export type FileRecord = z.infer<typeof fileRecordSchema>;
export type ActiveRun = z.infer<typeof activeRunSchema>;
export type RunSummary = z.infer<typeof runSummarySchema>;
export type Checkpoint = z.infer<typeof checkpointSchema>;
export type Manifest = z.infer<typeof manifestSchema>;
export type LeaseBody = z.infer<typeof leaseSchema>;
export type TypedColumnRecord = z.infer<typeof typedColumnSchema>;
export type ReconcileProgress = z.infer<typeof reconcileProgressSchema>;
export type Slice = z.infer<typeof sliceSchema>;
export type SliceCounts = Slice['counts'];
export type Notification = z.infer<typeof notificationSchema>;
export type LastReconcile = NonNullable<Checkpoint['lastReconcile']>;

export { fieldPath, parseStored, type StoredKind } from './stored.js';
