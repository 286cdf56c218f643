/**
 * RSS of a bench child process: sampled every 500 ms while it works, so that the bench can
 * show that memory is flat (the samples at the quartiles of the run) as well as its peak.
 */

/** A measured process's memory, in MB (2^20 bytes). */
export interface RssReport {
  /** The kernel's high-water mark (`maxRSS`): also sees spikes between samples. */
  peakRssMb: number;
  /** The samples at 25, 50, 75 and 100 % of the run. */
  rssMbAtQuarters: number[];
  /** The largest sample, and when (as a share of the run). */
  sampledMaxMb: number;
  sampledMaxAt: number;
}

/** Starts sampling; `stop()` ends it and reports. */
export function sampleRss(intervalMs = 500): { stop(): RssReport } {
  const samples: number[] = [];
  const timer = setInterval(() => samples.push(process.memoryUsage.rss()), intervalMs);
  return {
    stop() {
      clearInterval(timer);
      samples.push(process.memoryUsage.rss());
      const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
      const at = (q: number) => mb(samples[Math.min(samples.length - 1, Math.floor(samples.length * q))] ?? 0);
      const max = Math.max(...samples);
      return {
        peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
        rssMbAtQuarters: [at(0.25), at(0.5), at(0.75), at(0.999)],
        sampledMaxMb: mb(max),
        sampledMaxAt: Number((samples.indexOf(max) / samples.length).toFixed(2)),
      };
    },
  };
}
