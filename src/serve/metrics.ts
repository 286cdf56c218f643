/**
 * The server's Prometheus metrics (scraped at GET /metrics; the Pushgateway stays for the
 * batch command). Its own Registry, never prom-client's global one. Labels are bounded:
 * `reason` and `result` are fixed lists, `collection` is a configured collection.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Why a delivery started nothing. */
export type RejectReason = 'auth' | 'too_large' | 'malformed' | 'duplicate' | 'unknown_collection' | 'ignored_type' | 'shutting_down';

/** How a run ended: `failed` is an API or storage failure (exit 3/4) or any other error; `interrupted` is a shutdown. */
export type RunResultLabel = 'ok' | 'nothing_new' | 'failed' | 'lease_held' | 'sink_failed' | 'interrupted';

/** The metrics, with the two values read at scrape time (queue depth, runs in flight) given as functions. */
export class ServeMetrics {
  readonly registry = new Registry();
  readonly received = new Counter({ name: 'mixpeek_export_serve_events_received_total', help: 'webhook deliveries received (every POST to /webhooks/mixpeek)', registers: [this.registry] });
  readonly accepted = new Counter({ name: 'mixpeek_export_serve_events_accepted_total', help: 'deliveries that asked for an export (answered 202)', labelNames: ['collection'], registers: [this.registry] });
  readonly rejected = new Counter({ name: 'mixpeek_export_serve_events_rejected_total', help: 'deliveries that started nothing, by reason', labelNames: ['reason'], registers: [this.registry] });
  readonly runs = new Counter({ name: 'mixpeek_export_serve_runs_total', help: 'exports run, by collection and result', labelNames: ['collection', 'result'], registers: [this.registry] });
  readonly runSeconds = new Histogram({ name: 'mixpeek_export_serve_run_duration_seconds', help: 'wall time of one export (lease taken to released)', labelNames: ['collection'], buckets: [0.5, 1, 2, 5, 10, 30, 60, 300, 1800], registers: [this.registry] });
  readonly eventLatency = new Histogram({
    name: 'mixpeek_export_serve_event_to_export_seconds',
    help: 'from the oldest event a run answered arriving to that run ending: how long an event takes to become staged files',
    labelNames: ['collection'],
    buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900],
    registers: [this.registry],
  });
  private readonly newest = new Map<string, number>();

  constructor(read: { queued: () => number; running: () => number; now?: () => number }) {
    const now = read.now ?? Date.now;
    new Gauge({ name: 'mixpeek_export_serve_queue_depth', help: 'collections with an export waiting (at most one each)', registers: [this.registry], collect() { this.set(read.queued()); } });
    new Gauge({ name: 'mixpeek_export_serve_runs_in_flight', help: 'exports running now', registers: [this.registry], collect() { this.set(read.running()); } });
    const newest = this.newest;
    new Gauge({
      name: 'mixpeek_export_newest_exported_timestamp_seconds',
      help: 'updated_at of the newest document version in a published data file (Unix seconds)',
      labelNames: ['collection'],
      registers: [this.registry],
      collect() {
        for (const [collection, ms] of newest) this.set({ collection }, ms / 1000);
      },
    });
    new Gauge({
      name: 'mixpeek_export_freshness_lag_seconds',
      help: 'now minus the newest exported updated_at, at scrape time',
      labelNames: ['collection'],
      registers: [this.registry],
      collect() {
        for (const [collection, ms] of newest) this.set({ collection }, Math.max(0, (now() - ms) / 1000));
      },
    });
  }

  /** Records the newest exported `updated_at` of a collection (from the checkpoint at start, then from each run's files). */
  setNewest(collectionId: string, updatedAt: string | null): void {
    if (updatedAt === null) return;
    const ms = Date.parse(updatedAt);
    if (Number.isFinite(ms) && ms > (this.newest.get(collectionId) ?? -Infinity)) this.newest.set(collectionId, ms);
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
