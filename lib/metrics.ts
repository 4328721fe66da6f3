/**
 * Prometheus metrics (prom-client): one registry per service instance, which in
 * production is one per process. Every metric of service S is named
 * teamtalk_S_..., with S's dashes as underscores (teamtalk_msg_server_logins_total);
 * prom-client's default process metrics keep their standard names
 * (process_cpu_seconds_total, process_resident_memory_bytes,
 * nodejs_eventloop_lag_seconds, nodejs_heap_size_used_bytes, ...).
 *
 * Hot paths count into plain numbers and maps on their own objects; the metrics
 * below read those when scraped (counterFrom / gaugeFrom), so counting costs an
 * increment and nothing else. Histograms are observed directly.
 */
import client, { type Histogram, type Registry } from 'prom-client';
import { commandName } from '../pdu/commands';
import { PduTraffic, UNKNOWN_COMMAND } from '../pdu/traffic';

export type Labels = Record<string, string | number>;
/** What a scrape-time reader returns: one value per label set. */
export type Samples = Iterable<readonly [Labels, number]>;

/** Seconds, for latencies from 0.5 ms (a local store) to 10 s (a request timeout). */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class ServiceMetrics {
  readonly registry: Registry;
  /** "teamtalk_msg_server_" for service "msg-server". */
  readonly prefix: string;
  private readonly traffics: PduTraffic[] = [];

  constructor(readonly service: string) {
    this.registry = new client.Registry();
    this.prefix = `teamtalk_${service.replace(/-/g, '_')}_`;
    client.collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 });
    const traffics = this.traffics;
    this.counterFrom('pdus_received_total', 'PDUs received, by kind of link and command (heartbeats included)', ['link', 'command'], function* () {
      for (const t of traffics) for (const [id, n] of t.received) yield [{ link: t.link, command: commandLabel(id) }, n];
    });
    this.counterFrom('pdus_sent_total', 'PDUs sent, by kind of link and command (heartbeats included)', ['link', 'command'], function* () {
      for (const t of traffics) for (const [id, n] of t.sent) yield [{ link: t.link, command: commandLabel(id) }, n];
    });
    this.counterFrom('pdu_received_bytes_total', 'bytes of PDUs received, by kind of link', ['link'], function* () {
      for (const t of traffics) yield [{ link: t.link }, t.bytesReceived];
    });
    this.counterFrom('pdu_sent_bytes_total', 'bytes of PDUs sent, by kind of link', ['link'], function* () {
      for (const t of traffics) yield [{ link: t.link }, t.bytesSent];
    });
  }

  /** The PDU counters of one kind of link (one object per kind, shared by its connections). */
  traffic(link: string): PduTraffic {
    let traffic = this.traffics.find((t) => t.link === link);
    if (traffic === undefined) {
      traffic = new PduTraffic(link);
      this.traffics.push(traffic);
    }
    return traffic;
  }

  /** A counter whose values are read from `read` at every scrape (the source must only grow). */
  counterFrom(name: string, help: string, labelNames: string[], read: () => Samples): void {
    new client.Counter(
      this.filledAtScrape(name, help, labelNames, (counter: client.Counter) => {
        for (const [labels, value] of read()) if (value > 0) counter.inc(labels, value);
      }),
    );
  }

  /** A gauge whose values are read from `read` at every scrape. */
  gaugeFrom(name: string, help: string, labelNames: string[], read: () => Samples): void {
    new client.Gauge(
      this.filledAtScrape(name, help, labelNames, (gauge: client.Gauge) => {
        for (const [labels, value] of read()) gauge.set(labels, value);
      }),
    );
  }

  /** The options of a metric of this registry that is emptied and filled again by `fill` at every scrape. */
  private filledAtScrape<M extends { reset(): void }>(name: string, help: string, labelNames: string[], fill: (metric: M) => void) {
    return {
      name: this.prefix + name,
      help,
      labelNames,
      registers: [this.registry],
      collect(this: M) {
        this.reset();
        fill(this);
      },
    };
  }

  histogram<L extends string>(name: string, help: string, labelNames: L[], buckets = LATENCY_BUCKETS): Histogram<L> {
    return new client.Histogram({ name: this.prefix + name, help, labelNames, buckets, registers: [this.registry] });
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

export function commandLabel(commandId: number): string {
  return commandId === UNKNOWN_COMMAND ? 'unknown' : commandName(commandId);
}

/** Count of the observations of a histogram and its buckets, for status pages (console charts). */
export interface HistogramSnapshot {
  count: number;
  sum: number;
  /** [upper bound in seconds, cumulative count] of the finite buckets (+Inf is `count`). */
  buckets: Array<[number, number]>;
}

/** The current totals of `histogram` summed over every label set (optionally only those matching `where`). */
export async function snapshotHistogram(histogram: Histogram<string>, where: (labels: Labels) => boolean = () => true): Promise<HistogramSnapshot> {
  const { values } = await histogram.get();
  let count = 0;
  let sum = 0;
  const buckets = new Map<number, number>();
  for (const v of values) {
    const labels = v.labels as Labels;
    if (!where(labels)) continue;
    if (v.metricName?.endsWith('_bucket')) {
      const le = Number(labels.le);
      if (Number.isFinite(le)) buckets.set(le, (buckets.get(le) ?? 0) + v.value);
    } else if (v.metricName?.endsWith('_count')) {
      count += v.value;
    } else if (v.metricName?.endsWith('_sum')) {
      sum += v.value;
    }
  }
  return { count, sum, buckets: [...buckets.entries()].sort((a, b) => a[0] - b[0]) };
}
