/**
 * The checkpoint writes of sink notifications, as pure functions (like transitions.ts):
 * queued with the run's completion, then delivered (removed) or failed (kept, with the error).
 */
import type { Checkpoint, Manifest, Notification } from './schema.js';

/** A sink a run notifies: its name keys the notification, its type is kept for `status`. */
export interface SinkRef {
  name: string;
  type: string;
}

/** Queues a notification of the run `manifest` describes for each sink (in the write that completes the run). */
export function queueNotifications(checkpoint: Checkpoint, manifest: Manifest, manifestKey: string, sinks: readonly SinkRef[], queuedAt: string): Checkpoint {
  if (sinks.length === 0) return checkpoint;
  const queued: Notification[] = sinks.map((s) => ({ sink: s.name, type: s.type, runId: manifest.runId, kind: manifest.kind ?? 'export', manifest: manifestKey, queuedAt, attempts: 0 }));
  const kept = (checkpoint.notifications ?? []).filter((n) => !queued.some((q) => same(n, q)));
  return { ...checkpoint, notifications: [...kept, ...queued] };
}

/** The sinks took these notifications (a batch of deliveries): they leave the checkpoint. */
export function notificationsDelivered(checkpoint: Checkpoint, delivered: readonly Pick<Notification, 'sink' | 'runId'>[]): Checkpoint {
  const rest = (checkpoint.notifications ?? []).filter((n) => !delivered.some((d) => same(n, d)));
  const { notifications: _, ...without } = checkpoint;
  return rest.length > 0 ? { ...without, notifications: rest } : without;
}

/** A delivery failed: the notification stays, with one more attempt and the error. */
export function notificationFailed(checkpoint: Checkpoint, sink: string, runId: string, error: string, at: string): Checkpoint {
  const notifications = (checkpoint.notifications ?? []).map((n) => (same(n, { sink, runId }) ? { ...n, attempts: n.attempts + 1, lastAttemptAt: at, lastError: error } : n));
  return { ...checkpoint, notifications };
}

function same(a: Pick<Notification, 'sink' | 'runId'>, b: Pick<Notification, 'sink' | 'runId'>): boolean {
  return a.sink === b.sink && a.runId === b.runId;
}
