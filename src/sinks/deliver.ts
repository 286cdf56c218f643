/**
 * Delivery of a collection's pending notifications (DESIGN.md section 10): at the start of
 * its turn, before new work (what an earlier run left pending), and after each of its runs
 * completes. Under the collection's lease, oldest first:
 *
 *   sink-delivering (n = deliveries so far) → the sink's call → sink-delivered → the
 *   checkpoint drops the notification (deliveries are recorded RECORD_EVERY at a time, and
 *   at the end of each pass)
 *
 * A kill anywhere before the last write leaves it pending, and the next run delivers it again
 * with the same run id (at least once; the idempotent sinks load it once). A failure keeps it
 * pending with its error, and the sink's later notifications of that collection wait for the
 * next invocation (they stay in order, and a sink that is down costs one retry cycle, not one
 * per run). A notification whose sink is not configured in this invocation waits as well.
 * Nothing here undoes or blocks the export: its files and checkpoint are already committed.
 */
import type { CheckpointStore } from '../commit/checkpoint.js';
import { readManifest } from '../commit/manifest.js';
import { notificationFailed, notificationsDelivered } from '../commit/notifications.js';
import type { Notification } from '../commit/schema.js';
import { AbortedError, SinkError } from '../errors.js';
import { canonicalFromDate } from '../rows/time.js';
import type { ExportContext } from '../run/types.js';
import type { Delivered, RunNotice, Sink } from './types.js';

/** What happened to one pending notification in this invocation. */
export interface NotificationOutcome {
  collectionId: string;
  sink: string;
  type: string;
  runId: string;
  /**
   * `delivered`: the sink took it (gone from the checkpoint). `failed`: the sink failed (kept,
   * `error` says why). `postponed`: kept without trying, behind this sink's failure earlier in
   * the invocation. `unconfigured`: kept, its sink is not among this invocation's sinks.
   */
  status: 'delivered' | 'failed' | 'postponed' | 'unconfigured';
  /** Failed deliveries so far, this one included. */
  attempts: number;
  summary?: string;
  error?: SinkError;
}

/** The lease a delivery runs under (checked before each one). */
interface Held {
  assertHeld(): void;
}

/** Delivers the collection's pending notifications (see the module comment); returns what each did, also added to `ctx.notifications`. */
export async function deliverPending(ctx: ExportContext, store: CheckpointStore, lease: Held): Promise<NotificationOutcome[]> {
  const collectionId = store.value.collectionId;
  const outcomes: NotificationOutcome[] = [];
  const taken: Pick<Notification, 'sink' | 'runId'>[] = [];
  const record = async () => {
    if (taken.length > 0) await store.update((cp) => notificationsDelivered(cp, taken.splice(0)));
  };
  try {
    for (const pending of [...(store.value.notifications ?? [])]) {
      const base = { collectionId, sink: pending.sink, type: pending.type, runId: pending.runId, attempts: pending.attempts };
      const sink = ctx.sinks.find((s) => s.name === pending.sink);
      let outcome: NotificationOutcome;
      if (!sink) outcome = { ...base, status: 'unconfigured' };
      else if (sinkFailed(ctx, collectionId, sink.name) || tried(ctx, collectionId, pending)) outcome = { ...base, status: 'postponed' };
      else outcome = await deliverOne(ctx, store, lease, sink, pending);
      if (outcome.status === 'delivered') taken.push(pending);
      if (taken.length >= RECORD_EVERY) await record();
      if (outcome.status === 'unconfigured' && !reported(ctx, outcome)) {
        ctx.logger.warn('NotificationWaiting', { collection_id: collectionId, sink: pending.sink, run_id: pending.runId, note: `no sink named ${pending.sink} is configured in this run; it stays pending until a run has that sink again` });
      }
      outcomes.push(outcome);
      if (!reported(ctx, outcome)) ctx.notifications.push(outcome);
    }
  } catch (error) {
    // Stopped mid-pass (SIGTERM, a lost lease): record what the sinks took, if the checkpoint still can be written.
    await record().catch(() => {});
    throw error;
  }
  await record();
  return outcomes;
}

/**
 * Deliveries recorded in one checkpoint write: a backlog (a sink down for days) is not one
 * rewrite of a growing checkpoint per run. A kill before the write delivers these again.
 */
export const RECORD_EVERY = 20;

async function deliverOne(ctx: ExportContext, store: CheckpointStore, lease: Held, sink: Sink, pending: Notification): Promise<NotificationOutcome> {
  const collectionId = store.value.collectionId;
  const base = { collectionId, sink: sink.name, type: sink.type, runId: pending.runId };
  const fields = { collection_id: collectionId, sink: sink.name, type: sink.type, endpoint: sink.endpoint, run_id: pending.runId };
  lease.assertHeld();
  const notice = await noticeFor(ctx, collectionId, pending);
  ctx.onStep('sink-delivering', ctx.notifications.length);
  let delivered: Delivered;
  try {
    delivered = await sink.deliver(notice, ctx.sinkEnv);
  } catch (caught) {
    if (ctx.signal?.aborted || caught instanceof AbortedError) throw caught;
    // Whatever a sink throws is its failure: the export is committed, the notification waits.
    const error = caught instanceof SinkError ? caught : new SinkError(sink.name, sink.endpoint, (caught as Error)?.message ?? String(caught), { cause: caught });
    const at = canonicalFromDate(ctx.now());
    await store.update((cp) => notificationFailed(cp, sink.name, pending.runId, error.message, at));
    ctx.logger.error('NotificationFailed', { ...fields, attempts: pending.attempts + 1, transient: error.transient, status: error.status ?? null, message: error.message, note: 'the export is committed; the next run delivers this notification again' });
    return { ...base, status: 'failed', attempts: pending.attempts + 1, error };
  }
  ctx.onStep('sink-delivered', ctx.notifications.length);
  ctx.logger.info('NotificationDelivered', { ...fields, kind: pending.kind, attempts: pending.attempts + 1, summary: delivered.summary, ...delivered.details });
  return { ...base, status: 'delivered', attempts: pending.attempts, summary: delivered.summary };
}

/** The notice of a pending notification, from the run's manifest (the same on every attempt). */
export async function noticeFor(ctx: Pick<ExportContext, 'driver' | 'settings'>, collectionId: string, pending: Pick<Notification, 'runId' | 'kind' | 'manifest' | 'sink'>): Promise<RunNotice> {
  const manifest = await readManifest(ctx.driver, pending.manifest);
  if (!manifest) throw new SinkError(pending.sink, ctx.driver.url(pending.manifest), `the manifest of run ${pending.runId} is gone, so its notification cannot be built; restore the manifest, or accept that this run is not announced (its files are staged)`);
  return {
    collectionId,
    runId: pending.runId,
    kind: pending.kind,
    manifest,
    manifestKey: pending.manifest,
    url: (key) => ctx.driver.url(key),
    dest: ctx.settings.dest.split('?')[0] as string,
    destination: ctx.settings.destination,
  };
}

/** This sink failed for this collection earlier in the invocation: its later notifications wait for the next one. */
function sinkFailed(ctx: ExportContext, collectionId: string, sink: string): boolean {
  return ctx.notifications.some((o) => o.collectionId === collectionId && o.sink === sink && o.status === 'failed');
}

/** Each pending notification is tried at most once per invocation. */
function tried(ctx: ExportContext, collectionId: string, pending: Notification): boolean {
  return ctx.notifications.some((o) => o.collectionId === collectionId && o.sink === pending.sink && o.runId === pending.runId && (o.status === 'delivered' || o.status === 'failed'));
}

/** An outcome for this notification is already in `ctx.notifications` (one entry per notification and invocation). */
function reported(ctx: ExportContext, outcome: NotificationOutcome): boolean {
  return ctx.notifications.some((o) => o.collectionId === outcome.collectionId && o.sink === outcome.sink && o.runId === outcome.runId);
}
