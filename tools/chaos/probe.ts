/**
 * Is the cluster whole again? Two probe users, one pinned to each msg server
 * (they reconnect to the same port when it comes back), send each other a
 * message; the cluster works when both arrive, stored and relayed across the
 * two msg servers. Probe messages are not part of the load's figures.
 */
import { CID, type IM } from '../../pdu/commands';
import { ImClient, type ImClientOptions, type Push } from '../client/im-client';
import { ReconnectingClient } from '../client/reconnecting-client';
import { tagOf } from './load';

const PROBE_TIMEOUT_MS = 3_000;
const CLIENT_OPTIONS: Partial<ImClientOptions> = { keepInbox: false, heartbeatIntervalMs: 5_000, requestTimeoutMs: PROBE_TIMEOUT_MS };

export class Probe {
  private readonly arrived = new Set<string>();
  private seq = 0;

  private constructor(private readonly a: ReconnectingClient, private readonly b: ReconnectingClient) {
    for (const c of [a, b]) {
      c.on('push', (push: Push) => {
        if (push.commandId !== CID.MSG_DATA) return;
        const tag = tagOf((push.message as IM.Message.IMMsgData).msg_data);
        if (tag !== null) this.arrived.add(tag);
      });
    }
  }

  /** Users `names` ([a, b]) logged in on msg server ports `ports` ([a's, b's]). */
  static async start(names: [string, string], password: string, ports: [number, number]): Promise<Probe> {
    const pinned = (name: string, port: number) =>
      new ReconnectingClient({
        dial: async () => {
          const client = await ImClient.connect({ host: '127.0.0.1', port, connectTimeoutMs: PROBE_TIMEOUT_MS, ...CLIENT_OPTIONS });
          try {
            await client.login(name, password);
          } catch (err) {
            client.close();
            throw err;
          }
          return { client, where: `127.0.0.1:${port}` };
        },
        initialBackoffMs: 100,
        maxBackoffMs: 1_000,
      });
    const a = pinned(names[0], ports[0]);
    const b = pinned(names[1], ports[1]);
    await a.start();
    await b.start();
    return new Probe(a, b);
  }

  /** One round: a message each way, both acked and delivered within PROBE_TIMEOUT_MS. */
  async roundTrip(): Promise<boolean> {
    const results = await Promise.all([this.oneWay(this.a, this.b), this.oneWay(this.b, this.a)]);
    return results.every(Boolean);
  }

  stop(): void {
    this.a.stop();
    this.b.stop();
  }

  private async oneWay(from: ReconnectingClient, to: ReconnectingClient): Promise<boolean> {
    if (!from.isOpen || !to.isOpen) return false;
    const tag = `probe/${from.userId}/${++this.seq}`;
    try {
      const ack = await from.sendText(to.userId, `chaos ${tag}`);
      if (ack.msg_id === 0) return false;
    } catch {
      return false;
    }
    const until = Date.now() + PROBE_TIMEOUT_MS;
    while (!this.arrived.has(tag)) {
      if (Date.now() > until) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  }
}
