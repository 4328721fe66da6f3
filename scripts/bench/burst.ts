/**
 * A closed-loop chat load (`npm run bench -- --per-user N`): every user sends
 * N messages, each to a peer picked from its list (all other users for
 * --peers random), at most --user-rate a second and --in-flight unacknowledged
 * at once, as a client that waits for acks does. What it measures is the rate
 * the system sustains: acknowledged messages over the time until the last ack.
 */
import { IM } from '../../pdu/commands';
import { sleep } from '../infra/system';
import { Latencies, nowMs, watchDeliveries, type BenchUser } from './load-stats';

const { MsgType } = IM.BaseDefine;

export interface BurstOptions {
  perUser: number;
  userRate: number;
  inFlight: number;
}

export interface BurstResult {
  sent: number;
  acked: number;
  failed: number;
  delivered: number;
  lost: number;
  seconds: number;
  msgs_per_s: number;
  ack_p50_ms: number;
  ack_p99_ms: number;
  deliver_p50_ms: number;
  deliver_p99_ms: number;
}

export async function burstPhase(users: BenchUser[], peersOf: BenchUser[][], opts: BurstOptions, tag: string): Promise<BurstResult> {
  const ack = new Latencies();
  const deliver = new Latencies();
  const sentAt = new Map<string, number>();
  let sent = 0;
  let acked = 0;
  let failed = 0;
  let delivered = 0;
  const unwatch = watchDeliveries(users, (key) => {
    const t0 = sentAt.get(key);
    if (t0 === undefined) return;
    sentAt.delete(key);
    delivered++;
    deliver.add(nowMs() - t0);
  });
  const interval = 1000 / opts.userRate;
  const started = nowMs();
  let lastAck = started;
  const userLoop = async (index: number) => {
    const from = users[index];
    const peers = peersOf[index];
    let inFlight = 0;
    let freed: (() => void) | null = null;
    const outstanding: Promise<void>[] = [];
    // Users start spread over one interval, not all in the same millisecond.
    let nextAt = started + Math.random() * interval;
    for (let i = 0; i < opts.perUser; i++) {
      while (inFlight >= opts.inFlight) await new Promise<void>((resolve) => (freed = resolve));
      const wait = nextAt - nowMs();
      if (wait > 0) await sleep(wait);
      const to = peers[Math.floor(Math.random() * peers.length)];
      const key = `${tag}:${from.client.userId}:${i}`;
      const t0 = nowMs();
      nextAt = t0 + interval;
      sentAt.set(key, t0);
      sent++;
      inFlight++;
      outstanding.push(
        from.client.sendMessage(to.client.userId, Buffer.from(key, 'latin1'), MsgType.MSG_TYPE_SINGLE_TEXT).then(
          () => {
            acked++;
            lastAck = nowMs();
            ack.add(lastAck - t0);
          },
          () => {
            failed++;
            sentAt.delete(key);
          },
        ).finally(() => {
          inFlight--;
          const wake = freed;
          freed = null;
          wake?.();
        }),
      );
    }
    await Promise.all(outstanding);
  };
  await Promise.all(users.map((_, i) => userLoop(i)));
  const seconds = (lastAck - started) / 1000;
  // Deliveries still on their way (or given up after 15 s: counted as lost).
  const drainUntil = Date.now() + 15_000;
  while (sentAt.size > 0 && Date.now() < drainUntil) await sleep(100);
  unwatch();
  return {
    sent,
    acked,
    failed,
    delivered,
    lost: acked - delivered,
    seconds: Math.round(seconds * 100) / 100,
    msgs_per_s: Math.round(acked / seconds),
    ack_p50_ms: ack.percentile(50),
    ack_p99_ms: ack.percentile(99),
    deliver_p50_ms: deliver.percentile(50),
    deliver_p99_ms: deliver.percentile(99),
  };
}
