/**
 * Per collection, at most one export in flight and at most one waiting: every request that
 * arrives while one waits is folded into it, so a burst of events during a run gives exactly
 * one more run after it. Across collections at most `concurrentRuns` run at once, the others
 * wait their turn in request order. Memory: one small record per configured collection.
 *
 * Due times: an event's run may not start before its `dueAt` (arrival + safety lag, so the
 * window covers what it announced). Folding moves a waiting run's due time to the latest
 * request's, but never more than `maxDeferMs` past the first one's, so steady traffic cannot
 * put a run off for ever; requests the run then starts too early for get one follow-up run at
 * their due time.
 */

/** What asked for a run. */
export type Trigger = 'event' | 'interval' | 'retry';

/** One request: a run of `collectionId`, not before `dueAt` (ms since the epoch). */
export interface RunRequest {
  collectionId: string;
  trigger: Trigger;
  /** The event that asked, for the logs (an interval or retry has none). */
  eventId?: string;
  /** When the event arrived, for the event → exported latency. */
  receivedAt?: number;
  dueAt: number;
}

/** What a waiting run answers to: the requests folded into it. */
export interface PendingRun {
  collectionId: string;
  triggers: Trigger[];
  /** The first 20 event ids folded in (the logs name them); `events` counts them all. */
  eventIds: string[];
  events: number;
  /** When the oldest event folded in arrived; null when no event asked. */
  oldestReceivedAt: number | null;
  /** When the run may start. */
  dueAt: number;
  /** The first request's due time (`dueAt` stays within `maxDeferMs` of it). */
  firstDueAt: number;
  /** The latest request's due time: past the start, a follow-up run is due then. */
  lastDueAt: number;
  /** When the latest event folded in arrived; null when no event asked. */
  newestReceivedAt: number | null;
}

/** How a request was taken: a run starting now, a run waiting (new), or folded into the waiting one. */
export type Admission = 'started' | 'queued' | 'coalesced';

export interface SchedulerOptions {
  concurrentRuns: number;
  /** Runs one export; never rejects (the outcome is data). */
  run(pending: PendingRun): Promise<void>;
  /** How far folding may put a waiting run off past its first request's due time, in ms (serve: the safety lag). Default 0. */
  maxDeferMs?: number;
  now?: () => number;
}

interface Slot {
  running: boolean;
  waiting: PendingRun | null;
}

const EVENT_IDS_KEPT = 20;

/** The per-collection queue (see the module comment). */
export class RunScheduler {
  private readonly slots = new Map<string, Slot>();
  /** Collections with a waiting run, in the order their run was first requested. */
  private order: string[] = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly idle = new Set<() => void>();
  private readonly now: () => number;

  constructor(private readonly options: SchedulerOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Takes a request; after `stop()` nothing is taken (returns null). */
  request(req: RunRequest): Admission | null {
    if (this.stopped) return null;
    const slot = this.slots.get(req.collectionId) ?? { running: false, waiting: null };
    this.slots.set(req.collectionId, slot);
    let admission: Admission;
    if (slot.waiting) {
      this.fold(slot.waiting, req);
      admission = 'coalesced';
    } else {
      slot.waiting = this.fold(fresh(req.collectionId, req.dueAt), req);
      this.order.push(req.collectionId);
      admission = 'queued';
    }
    const started = this.pump();
    return started.includes(req.collectionId) && admission === 'queued' ? 'started' : admission;
  }

  /** Runs waiting (not in flight), for the queue-depth gauge. */
  get queued(): number {
    return this.order.length;
  }

  get running(): number {
    return this.inFlight;
  }

  /** Takes no more requests and drops the waiting runs; resolves once the runs in flight have ended. */
  stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const id of this.order) (this.slots.get(id) as Slot).waiting = null;
    this.order = [];
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.idle.add(resolve));
  }

  /** Starts every waiting run that is due and has room; arms a timer for the next one due. Returns the collections started. */
  private pump(): string[] {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const started: string[] = [];
    let nextDue = Infinity;
    for (const id of [...this.order]) {
      const slot = this.slots.get(id) as Slot;
      const waiting = slot.waiting as PendingRun;
      if (slot.running || this.inFlight >= this.options.concurrentRuns) continue;
      if (waiting.dueAt > this.now()) {
        nextDue = Math.min(nextDue, waiting.dueAt);
        continue;
      }
      slot.waiting = null;
      this.order = this.order.filter((x) => x !== id);
      if (waiting.lastDueAt > this.now()) {
        // Some requests folded in are due later than this start: one follow-up covers them.
        slot.waiting = { ...fresh(id, waiting.lastDueAt), triggers: ['event'], eventIds: waiting.eventIds, events: waiting.events, oldestReceivedAt: waiting.newestReceivedAt, newestReceivedAt: waiting.newestReceivedAt };
        this.order.push(id);
        nextDue = Math.min(nextDue, waiting.lastDueAt);
      }
      slot.running = true;
      this.inFlight++;
      started.push(id);
      void this.options.run(waiting).finally(() => this.finished(slot));
    }
    if (nextDue < Infinity && !this.stopped) {
      this.timer = setTimeout(() => this.pump(), Math.max(0, nextDue - this.now()));
      this.timer.unref();
    }
    return started;
  }

  /** Folds a request into a waiting run: its due time (bounded, see the module comment), its event, its trigger. */
  private fold(pending: PendingRun, req: RunRequest): PendingRun {
    pending.dueAt = Math.min(Math.max(pending.dueAt, req.dueAt), pending.firstDueAt + (this.options.maxDeferMs ?? 0));
    pending.lastDueAt = Math.max(pending.lastDueAt, req.dueAt);
    if (!pending.triggers.includes(req.trigger)) pending.triggers.push(req.trigger);
    if (req.eventId !== undefined) {
      pending.events++;
      if (pending.eventIds.length < EVENT_IDS_KEPT) pending.eventIds.push(req.eventId);
    }
    if (req.receivedAt !== undefined) {
      pending.oldestReceivedAt = Math.min(pending.oldestReceivedAt ?? Infinity, req.receivedAt);
      pending.newestReceivedAt = Math.max(pending.newestReceivedAt ?? -Infinity, req.receivedAt);
    }
    return pending;
  }

  private finished(slot: Slot): void {
    slot.running = false;
    this.inFlight--;
    if (this.stopped) {
      if (this.inFlight === 0) for (const resolve of this.idle) resolve();
      return;
    }
    this.pump();
  }
}

/** A waiting run with nothing folded in yet. */
function fresh(collectionId: string, dueAt: number): PendingRun {
  return { collectionId, triggers: [], eventIds: [], events: 0, oldestReceivedAt: null, newestReceivedAt: null, dueAt, firstDueAt: dueAt, lastDueAt: dueAt };
}
