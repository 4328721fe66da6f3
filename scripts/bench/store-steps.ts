/**
 * Where the message-store latency of a phase went, from the db-proxy's own
 * metrics (services/db-proxy/metrics.ts), read before and after the phase:
 * how long a CID_MSG_DATA request waited and was worked on in the db-proxy,
 * how many store batches ran, their mean size and duration, and the mean time
 * of each step of a batch. Tells a queue (requests waiting for a free batch
 * slot) from a slow step.
 */
import type { AdminClient, AdminTarget } from '../../lib/admin-client';

export interface StoreSteps {
  /** Mean time of a CID_MSG_DATA request in the db-proxy, arrival to answer. */
  request_mean_ms: number;
  batches: number;
  batch_mean_messages: number;
  batch_mean_ms: number;
  /** MySQL work run again after a deadlock (storage_retries_total). */
  deadlock_retries: number;
  /** Mean milliseconds per batch of each step (authorize, relations, ids, transaction, counters). */
  step_mean_ms: Record<string, number>;
}

type Sums = Map<string, number>;

/** `name{labels} value` lines of the Prometheus text format, summed per name+labels (several db-proxies add up). */
export function parseSums(text: string, names: readonly string[]): Sums {
  const out: Sums = new Map();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    if (space < 0) continue;
    const key = line.slice(0, space);
    const metric = key.replace(/\{.*$/, '');
    if (!names.includes(metric)) continue;
    out.set(key, (out.get(key) ?? 0) + Number(line.slice(space + 1)));
  }
  return out;
}

const P = 'teamtalk_db_proxy_';
const NAMES = [
  `${P}request_seconds_sum`,
  `${P}request_seconds_count`,
  `${P}store_batch_messages_sum`,
  `${P}store_batch_messages_count`,
  `${P}store_batch_seconds_sum`,
  `${P}store_batch_seconds_count`,
  `${P}store_step_seconds_sum`,
  `${P}store_step_seconds_count`,
  `${P}storage_retries_total`,
];

export function stepsBetween(before: Sums, after: Sums): StoreSteps {
  const d = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
  const mean = (sum: number, count: number, scale = 1) => (count > 0 ? Math.round((sum / count) * scale * 100) / 100 : 0);
  const req = `{command="CID_MSG_DATA"}`;
  let batches = 0;
  let batchSeconds = 0;
  for (const key of new Set([...after.keys()])) {
    if (key.startsWith(`${P}store_batch_seconds_count`)) batches += d(key);
    if (key.startsWith(`${P}store_batch_seconds_sum`)) batchSeconds += d(key);
  }
  const steps: Record<string, number> = {};
  for (const key of after.keys()) {
    const m = /^teamtalk_db_proxy_store_step_seconds_sum\{step="([a-z]+)"\}$/.exec(key);
    if (m) steps[m[1]] = mean(d(key), d(`${P}store_step_seconds_count{step="${m[1]}"}`), 1000);
  }
  return {
    request_mean_ms: mean(d(`${P}request_seconds_sum${req}`), d(`${P}request_seconds_count${req}`), 1000),
    batches,
    batch_mean_messages: mean(d(`${P}store_batch_messages_sum`), d(`${P}store_batch_messages_count`)),
    batch_mean_ms: mean(batchSeconds, batches, 1000),
    deadlock_retries: d(`${P}storage_retries_total{store="mysql"}`),
    step_mean_ms: steps,
  };
}

export class StoreStepsMeter {
  private constructor(
    private readonly client: AdminClient,
    private readonly targets: AdminTarget[],
    private readonly before: Sums,
  ) {}

  static async start(client: AdminClient, targets: AdminTarget[]): Promise<StoreStepsMeter> {
    return new StoreStepsMeter(client, targets, await read(client, targets));
  }

  async steps(): Promise<StoreSteps> {
    return stepsBetween(this.before, await read(this.client, this.targets));
  }
}

async function read(client: AdminClient, targets: AdminTarget[]): Promise<Sums> {
  const texts = await Promise.all(targets.map((t) => client.text(t, '/metrics')));
  return parseSums(texts.join('\n'), NAMES);
}
