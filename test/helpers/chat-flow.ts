/**
 * A chat flow that keeps running while msg servers drain or restart: users
 * logged in through the login server with ReconnectingClient, each sending to
 * the next one in a ring every few milliseconds. A message that got no ack (its
 * connection went) is sent again after the reconnect, as clients do. What
 * counts: every acked message reaches its receiver, live or caught up after a
 * reconnect, and none is shown twice.
 */
import { IM } from '../../pdu/commands';
import { decryptMessageText } from '../../lib/message-crypto';
import { ReconnectingClient, viaLoginServer } from '../../tools/client/reconnecting-client';
import { sleep } from './wait';

export interface FlowUser {
  name: string;
  client: ReconnectingClient;
}

export class ChatFlow {
  /** "from>to:text" of every acked message. */
  readonly acked = new Set<string>();
  /** What each user got, by the same key. */
  readonly received = new Map<string, Set<string>>();
  /** Messages a client emitted twice (must stay 0). */
  duplicates = 0;
  sent = 0;
  private running = false;
  private loops: Promise<void>[] = [];

  private constructor(readonly users: FlowUser[]) {
    for (const u of users) {
      const got = new Set<string>();
      this.received.set(u.name, got);
      const take = (m: IM.Message.IIMMsgData) => {
        const text = decryptMessageText(m.msg_data ?? new Uint8Array())?.toString('utf8') ?? '?';
        const key = `${text}`;
        if (got.has(key)) this.duplicates++;
        got.add(key);
      };
      u.client.on('message', take);
      u.client.on('caught-up', ({ messages }: { messages: IM.Message.IIMMsgData[] }) => messages.forEach(take));
    }
  }

  /** Logs every name in through the login server (password `password`). */
  static async start(loginUrl: string, names: string[], password: string): Promise<ChatFlow> {
    const users: FlowUser[] = [];
    for (const name of names) {
      const client = new ReconnectingClient({
        dial: viaLoginServer(loginUrl, name, password, { client: { keepInbox: false } }),
        initialBackoffMs: 100,
        maxBackoffMs: 1_000,
      });
      await client.start();
      users.push({ name, client });
    }
    return new ChatFlow(users);
  }

  /** Every user sends one message to the next every `intervalMs`, until stop(). */
  run(intervalMs: number): void {
    this.running = true;
    this.loops = this.users.map((u, i) => this.loop(u, this.users[(i + 1) % this.users.length], intervalMs));
  }

  /** Stops sending; resolves once every message in flight got its ack or gave up. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** Acked messages the receiver does not have. */
  missing(): string[] {
    const out: string[] = [];
    for (const key of this.acked) {
      const to = key.split('>')[1].split(':')[0];
      if (!this.received.get(to)?.has(key)) out.push(key);
    }
    return out;
  }

  close(): void {
    for (const u of this.users) u.client.stop();
  }

  private async loop(from: FlowUser, to: FlowUser, intervalMs: number): Promise<void> {
    let n = 0;
    while (this.running) {
      const text = `${from.name}>${to.name}:${n}`;
      // Not acked: sent again (the same text) once reconnected, until it is.
      for (;;) {
        if (!from.client.isOpen) await from.client.whenConnected();
        try {
          this.sent++;
          await from.client.sendText(to.client.userId, text);
          this.acked.add(text);
          break;
        } catch {
          await sleep(20);
        }
      }
      n++;
      await sleep(intervalMs);
    }
  }
}
