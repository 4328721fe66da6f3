/** What the bench's load phases share: its logged-in users, latency percentiles, the clock. */
import type { IM } from '../../pdu/commands';
import type { ImClient } from '../../tools/client/im-client';

export interface BenchUser {
  name: string;
  client: ImClient;
  /** Which msg server it is on (its address), to tell same-server pairs from cross-server ones. */
  server: string;
}

export class Latencies {
  private values: number[] = [];
  add(ms: number): void {
    this.values.push(ms);
  }
  get count(): number {
    return this.values.length;
  }
  percentile(p: number): number {
    if (this.values.length === 0) return 0;
    const sorted = Float64Array.from(this.values).sort();
    return round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);
  }
}

export const round = (n: number) => Math.round(n * 100) / 100;
export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/**
 * Calls `onDelivered` with the bench key (msg_data as latin1) of every message
 * any of `users` receives, until the returned function is called.
 */
export function watchDeliveries(users: readonly BenchUser[], onDelivered: (key: string, m: IM.Message.IMMsgData) => void): () => void {
  const listener = (m: IM.Message.IMMsgData) => onDelivered(Buffer.from(m.msg_data).toString('latin1'), m);
  for (const u of users) u.client.on('message', listener);
  return () => {
    for (const u of users) u.client.off('message', listener);
  };
}
