import { hostname } from 'node:os';
import { AlreadyExistsError, CorruptStateError, LeaseHeldError, PreconditionFailedError } from '../errors.js';
import type { StorageDriver } from '../storage/types.js';
import type { Logger } from '../util/log.js';
import { layout, type ShardRef } from './layout.js';
import { type LeaseBody, leaseSchema, parseStored } from './schema.js';

export interface LeaseOptions {
  /** How long a lease lives without renewal, in seconds. Default 120. Renewed every third of it. */
  ttlSeconds: number;
  runId: string;
  logger: Logger;
  now?: () => number;
  /** A shard of a backfill takes its own lease (see layout), not the scheduled runs' one. */
  shard?: ShardRef | null;
}


/**
 * One writer per collection and destination: `_state/lease.json`, created only if absent,
 * renewed with compare-and-swap, taken over (also with compare-and-swap) once expired, or
 * at once when it names a process on this host that no longer exists.
 */
export class Lease {
  private etag: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lostError: Error | null = null;
  /** When the lease was last written by us; past this plus the TTL another run may take it. */
  private renewedAt = 0;
  private readonly holder: string;
  private readonly now: () => number;

  constructor(private readonly driver: StorageDriver, private readonly collectionId: string, private readonly options: LeaseOptions) {
    this.holder = `${hostname()}:${process.pid}:${options.runId}`;
    this.now = options.now ?? Date.now;
  }

  /** How messages name what is leased: the collection, or the collection's shard. */
  private get name(): string {
    const shard = this.options.shard;
    return shard ? `${this.collectionId} shard ${shard.index}/${shard.count}` : this.collectionId;
  }

  private get key(): string {
    return layout.lease(this.collectionId, this.options.shard);
  }

  /** Takes the lease or throws LeaseHeldError naming the holder and its expiry. */
  async acquire(): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const at = this.now();
      try {
        this.etag = (await this.driver.writeIf(this.key, this.body(at), { ifNoneMatch: '*' })).etag;
        this.acquired(at, null);
        return;
      } catch (error) {
        if (!(error instanceof AlreadyExistsError)) throw error;
      }
      const existing = await this.driver.read(this.key);
      if (!existing) continue; // released in between: try to create again
      const held = parseLease(existing.body);
      const reason = this.takeoverReason(held);
      try {
        this.etag = (await this.driver.writeIf(this.key, this.body(at), { ifMatch: existing.etag })).etag;
        this.acquired(at, { held, reason });
        return;
      } catch (error) {
        if (!(error instanceof PreconditionFailedError)) throw error;
      }
    }
    throw new LeaseHeldError(`[lease] ${this.name}: another run is taking the lease at the same moment; this run did nothing`);
  }

  /** Starts renewing and logs who holds the lease now, so a LeaseHeldError elsewhere can be traced to this run. */
  private acquired(at: number, takeover: { held: LeaseBody | null; reason: string } | null): void {
    this.renewedAt = at;
    const fields = { collection_id: this.collectionId, holder: this.holder, expires_at: this.expiresAt(at) };
    if (takeover) {
      const { held, reason } = takeover;
      this.options.logger.warn('LeaseTakenOver', { ...fields, reason, previous_holder: held?.holder ?? null, previous_run_id: held?.runId ?? null, previous_expires_at: held?.expiresAt ?? null });
    } else {
      this.options.logger.info('LeaseAcquired', fields);
    }
    this.startRenewing();
  }

  private heldError(held: LeaseBody): LeaseHeldError {
    const seconds = Math.max(0, Math.ceil((Date.parse(held.expiresAt) - this.now()) / 1000));
    return new LeaseHeldError(
      `[lease] ${this.name} is being exported by ${held.holder ?? `run ${held.runId ?? '?'}`} until ${held.expiresAt} (in ${seconds} s); ` +
        `this run did nothing. If that run was killed, its lease expires at that time and the next run takes over`,
      { context: { holder: held.holder, runId: held.runId, expiresAt: held.expiresAt } },
    );
  }

  /** Throws if a renewal found the lease taken; the run checks this before every commit. */
  assertHeld(): void {
    if (this.lostError) throw this.lostError;
    // Renewals failing (storage down) for most of a TTL: another run may take over any moment.
    if (this.now() - this.renewedAt > this.options.ttlSeconds * 1000 * 0.8) {
      throw new LeaseHeldError(`[lease] ${this.name}: the lease could not be renewed for ${this.options.ttlSeconds * 0.8} s; stopping before the next commit`);
    }
  }

  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.etag && !this.lostError) await this.driver.deleteIf(this.key, this.etag).catch(() => {});
    this.etag = null;
  }

  /** Why another run's lease may be taken now; throws LeaseHeldError (naming the holder) when it may not. */
  private takeoverReason(held: LeaseBody | null): string {
    if (!held) return 'unreadable lease';
    if (Date.parse(held.expiresAt) <= this.now()) return 'expired';
    if (held.host === hostname() && held.pid !== undefined && held.pid !== process.pid && !processAlive(held.pid)) return 'holder process is gone';
    throw this.heldError(held);
  }

  private startRenewing(): void {
    const every = Math.max(1000, (this.options.ttlSeconds * 1000) / 3);
    this.timer = setInterval(() => void this.renew(), every);
    this.timer.unref();
  }

  /** Writes a new expiry (the timer calls this every third of the TTL). */
  async renew(): Promise<void> {
    if (!this.etag || this.lostError) return;
    try {
      const at = this.now();
      this.etag = (await this.driver.writeIf(this.key, this.body(at), { ifMatch: this.etag })).etag;
      this.renewedAt = at;
    } catch (error) {
      if (error instanceof PreconditionFailedError) {
        this.lostError = new LeaseHeldError(`[lease] ${this.name}: the lease was taken by another run; stopping before the next commit`);
      }
      this.options.logger.warn('LeaseRenewFailed', { collection_id: this.collectionId, error_type: (error as Error).name, message: (error as Error).message });
    }
  }

  private body(now: number): Buffer {
    const body: LeaseBody = {
      holder: this.holder,
      host: hostname(),
      pid: process.pid,
      runId: this.options.runId,
      acquiredAt: new Date(now).toISOString(),
      expiresAt: this.expiresAt(now),
    };
    return Buffer.from(JSON.stringify(body));
  }

  private expiresAt(writtenAt: number): string {
    return new Date(writtenAt + this.options.ttlSeconds * 1000).toISOString();
  }
}

/**
 * The lease another run wrote, or null if it cannot be read as one (not JSON, or not the
 * lease schema: above all an expiry that is not a time). A lease without a readable expiry
 * would otherwise never expire and block every run until deleted by hand, so the caller
 * takes it over. `url` names it in the error `readLease` gives.
 */
export function parseLease(body: Buffer, url = 'lease.json'): LeaseBody | null {
  return readLease(body, url).lease;
}

/** The lease, or why it was refused (the CorruptStateError's message, naming the field). */
export function readLease(body: Buffer, url: string): { lease: LeaseBody; refused: null } | { lease: null; refused: string } {
  try {
    return { lease: parseStored(leaseSchema, body, url, { name: 'lease', fix: 'the next export takes it over' }), refused: null };
  } catch (error) {
    if (!(error instanceof CorruptStateError)) throw error;
    return { lease: null, refused: error.message };
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
