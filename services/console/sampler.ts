/**
 * The console's live charts: every sampleIntervalMs the msg servers' stored
 * message counts and the db-proxies' store-latency histograms are read, and one
 * point is kept per sample for the last few minutes:
 *
 *   messages per second  = increase of the msg servers' stored messages / seconds
 *   store latency p50/p99 = from the increase of the db-proxies' CID_MSG_DATA
 *                           latency histogram buckets over the same interval
 *
 * A counter that went down (its service restarted) counts from zero, as
 * Prometheus' rate() does.
 */
import type { HistogramSnapshot } from '../../lib/metrics';
import type { ClusterView } from './cluster-view';

export interface SeriesPoint {
  /** Epoch ms. */
  t: number;
  messagesPerSecond: number;
  /** Store latency in ms over the interval; null when nothing was stored. */
  storeP50Ms: number | null;
  storeP99Ms: number | null;
}

/** Points kept: 150 × 2 s = 5 minutes. */
export const SERIES_LENGTH = 150;

interface Previous {
  at: number;
  stored: Map<string, number>;
  latency: Map<string, HistogramSnapshot>;
}

export class Sampler {
  readonly points: SeriesPoint[] = [];
  private previous: Previous | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(
    private readonly cluster: ClusterView,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
    void this.sample();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  async sample(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const [msg, db] = await Promise.all([this.cluster.statuses('msg-server'), this.cluster.statuses('db-proxy')]);
      const now = Date.now();
      const stored = new Map(msg.map((m) => [m.url, Number(m.status.messagesStored ?? 0)]));
      const latency = new Map(db.filter((d) => d.status.storeLatency !== undefined).map((d) => [d.url, d.status.storeLatency as HistogramSnapshot]));
      const prev = this.previous;
      this.previous = { at: now, stored, latency };
      if (prev === null) return;
      const seconds = (now - prev.at) / 1000;
      let messages = 0;
      for (const [url, n] of stored) messages += increase(prev.stored.get(url), n);
      const buckets = new Map<number, number>();
      let count = 0;
      for (const [url, snap] of latency) {
        const before = prev.latency.get(url);
        const reset = before === undefined || snap.count < before.count;
        count += reset ? snap.count : snap.count - before.count;
        for (const [le, n] of snap.buckets) {
          const old = reset ? 0 : (before.buckets.find((b) => b[0] === le)?.[1] ?? 0);
          buckets.set(le, (buckets.get(le) ?? 0) + n - old);
        }
      }
      const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
      this.points.push({
        t: now,
        messagesPerSecond: Math.round((messages / seconds) * 10) / 10,
        storeP50Ms: quantileMs(sorted, count, 0.5),
        storeP99Ms: quantileMs(sorted, count, 0.99),
      });
      if (this.points.length > SERIES_LENGTH) this.points.shift();
    } finally {
      this.running = false;
    }
  }
}

function increase(before: number | undefined, now: number): number {
  return before === undefined || now < before ? now : now - before;
}

/**
 * The q-quantile from cumulative bucket counts (linear inside the bucket, as
 * Prometheus' histogram_quantile); above the last finite bucket, its bound.
 */
export function quantileMs(buckets: Array<[number, number]>, count: number, q: number): number | null {
  if (count <= 0) return null;
  const rank = q * count;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [le, cumulative] of buckets) {
    if (cumulative >= rank) {
      const inBucket = cumulative - lowerCount;
      const fraction = inBucket > 0 ? (rank - lowerCount) / inBucket : 1;
      return Math.round((lowerBound + (le - lowerBound) * fraction) * 1000 * 100) / 100;
    }
    lowerBound = le;
    lowerCount = cumulative;
  }
  return Math.round(lowerBound * 1000 * 100) / 100;
}
