/**
 * The load `npm run chaos` runs while it kills things, and its bookkeeping.
 *
 * Every user is a ReconnectingClient logged in through the login server (what
 * the project's clients do): when its msg server dies it comes back elsewhere
 * and catches up through unread counts and history. Users send 1:1 text to a
 * few fixed contacts at a total rate. Every message carries a unique tag in
 * its text ("chaos <window> <tag>"), so a message is followed from the send,
 * through the ack, to the receiver (live push or catch-up) and into MySQL
 * without trusting any id the system hands out. Raw pushes are counted per
 * device: the same message pushed twice to one device is a duplicate delivery.
 */
import { CID, type IM } from '../../pdu/commands';
import { errorMessage } from '../../lib/errors';
import { decryptMessageText } from '../../lib/message-crypto';
import { ReconnectingClient, viaLoginServer, type Dialer } from '../client/reconnecting-client';
import type { ImClientOptions, Push } from '../client/im-client';

export interface LoadOptions {
  loginUrl: string;
  userPrefix: string;
  users: number;
  password: string;
  /** Messages per second over all users. */
  rate: number;
  /** People each user writes to. */
  contacts: number;
  note(line: string): void;
}

/** One message the load tried to send. */
interface Sent {
  readonly tag: string;
  readonly window: number;
  readonly from: number;
  readonly to: number;
  state: 'pending' | 'acked' | 'failed';
  msgId: number;
}

interface Delivery {
  /** Live pushes to the receiver's device. */
  pushes: number;
  /** Brought by the client's catch-up (unread counts + history) after a reconnect. */
  caughtUp: boolean;
}

/** What the load saw of one window (storage is counted by the caller). */
export interface WindowCounts {
  sent: number;
  acked: number;
  /** Answered with an error or no answer in time (the sender would try again; the load does not). */
  notAcked: number;
  /** Sends skipped because the sender was reconnecting (a real client shows "reconnecting" then). */
  whileReconnecting: number;
  delivered: number;
  deliveredLive: number;
  deliveredByCatchUp: number;
  duplicateDeliveries: number;
  /** Acked and never delivered. */
  lost: number;
  /** Two acked messages of one conversation with the same msg id. */
  msgIdsReused: number;
  /** Tags of the window's acked messages, and of all it sent (to compare with MySQL). */
  ackedTags: Set<string>;
  sentTags: Set<string>;
  /** Clients reconnected during the window. */
  reconnects: number;
}

const TAG_PREFIX = 'chaos ';

/** The tag of a message's text, or null for text the load did not send. */
export function tagOf(msgData: Uint8Array | string): string | null {
  const plain = decryptMessageText(typeof msgData === 'string' ? Buffer.from(msgData) : msgData);
  if (plain === null) return null;
  const text = plain.toString('utf8');
  return text.startsWith(TAG_PREFIX) ? text.slice(TAG_PREFIX.length) : null;
}

/** The window number in a tag ("<window>/<sender>/<n>"). */
export function windowOf(tag: string): number {
  return Number(tag.split('/')[0]);
}

export class ChaosLoad {
  private readonly clients: ReconnectingClient[] = [];
  private readonly contacts: number[][] = [];
  private readonly sent = new Map<string, Sent>();
  private readonly deliveries = new Map<string, Delivery>();
  private readonly pending = new Set<Promise<void>>();
  private readonly reconnects = new Map<number, number>();
  private timer: NodeJS.Timeout | null = null;
  private window = 0;
  private seq = 0;
  private whileReconnecting = new Map<number, number>();

  private constructor(private readonly options: LoadOptions) {}

  static async start(options: LoadOptions): Promise<ChaosLoad> {
    const load = new ChaosLoad(options);
    const names = Array.from({ length: options.users }, (_, i) => `${options.userPrefix}${i}`);
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(
        names.slice(i, i + 50).map(async (name) => {
          const dial = viaLoginServer(options.loginUrl, name, options.password, { client: CLIENT_OPTIONS });
          load.clients.push(await load.connect(dial));
        }),
      );
    }
    // Contacts: the next few users (mod n): a fixed social graph, cross-server about half the time.
    load.clients.sort((a, b) => a.userId - b.userId);
    for (let i = 0; i < load.clients.length; i++) {
      const list: number[] = [];
      for (let k = 1; k <= Math.min(options.contacts, load.clients.length - 1); k++) list.push((i + k * 7) % load.clients.length);
      load.contacts.push([...new Set(list.filter((j) => j !== i))]);
    }
    return load;
  }

  /** A logged-in client whose deliveries are counted. */
  private async connect(dial: Dialer): Promise<ReconnectingClient> {
    const client = new ReconnectingClient({ dial, initialBackoffMs: 250, maxBackoffMs: 4_000 });
    client.on('push', (push: Push) => {
      if (push.commandId !== CID.MSG_DATA) return;
      const tag = tagOf((push.message as IM.Message.IMMsgData).msg_data);
      if (tag !== null) this.delivery(tag).pushes++;
    });
    client.on('caught-up', ({ messages }: { messages: IM.Message.IIMMsgData[] }) => {
      for (const m of messages) {
        const tag = m.msg_data ? tagOf(m.msg_data) : null;
        if (tag !== null && m.to_session_id === client.userId) this.delivery(tag).caughtUp = true;
      }
    });
    client.on('reconnected', () => this.reconnects.set(this.window, (this.reconnects.get(this.window) ?? 0) + 1));
    client.on('catch-up-failed', ({ error }: { error: string }) => this.options.note(`user ${client.userId}: catching up failed: ${error}`));
    client.on('closed', ({ reason }: { reason: string }) => this.options.note(`user ${client.userId} stopped reconnecting: ${reason}`));
    await client.start();
    return client;
  }

  private delivery(tag: string): Delivery {
    let d = this.deliveries.get(tag);
    if (d === undefined) {
      d = { pushes: 0, caughtUp: false };
      this.deliveries.set(tag, d);
    }
    return d;
  }

  /** Starts sending the messages of `window` at the configured rate. */
  run(window: number): void {
    this.window = window;
    if (this.timer !== null) return;
    let due = 0;
    let last = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      due += ((now - last) / 1000) * this.options.rate;
      last = now;
      while (due >= 1) {
        due--;
        this.sendOne();
      }
    }, TICK_MS);
  }

  /** Stops sending and waits for every send's answer (or its timeout). */
  async pause(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Until every acked message of `window` is delivered, or timeoutMs. */
  async settle(window: number, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const missing = [...this.sent.values()].filter((s) => s.window === window && s.state === 'acked' && !this.isDelivered(s.tag)).length;
      if (missing === 0 || Date.now() > until) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  counts(window: number): WindowCounts {
    const c: WindowCounts = {
      sent: 0,
      acked: 0,
      notAcked: 0,
      whileReconnecting: this.whileReconnecting.get(window) ?? 0,
      delivered: 0,
      deliveredLive: 0,
      deliveredByCatchUp: 0,
      duplicateDeliveries: 0,
      lost: 0,
      msgIdsReused: 0,
      ackedTags: new Set(),
      sentTags: new Set(),
      reconnects: this.reconnects.get(window) ?? 0,
    };
    const ids = new Map<string, string>();
    for (const s of this.sent.values()) {
      if (s.window !== window) continue;
      c.sent++;
      c.sentTags.add(s.tag);
      const d = this.deliveries.get(s.tag);
      if (d !== undefined && d.pushes > 1) c.duplicateDeliveries += d.pushes - 1;
      if (s.state !== 'acked') {
        c.notAcked++;
        continue;
      }
      c.acked++;
      c.ackedTags.add(s.tag);
      const conversation = `${Math.min(s.from, s.to)}:${Math.max(s.from, s.to)}#${s.msgId}`;
      const other = ids.get(conversation);
      if (other !== undefined && other !== s.tag) c.msgIdsReused++;
      ids.set(conversation, s.tag);
      if (d !== undefined && d.pushes > 0) c.deliveredLive++;
      else if (d?.caughtUp) c.deliveredByCatchUp++;
      else c.lost++;
    }
    c.delivered = c.deliveredLive + c.deliveredByCatchUp;
    return c;
  }

  /** Clients connected now, of all. */
  connected(): { open: number; total: number } {
    return { open: this.clients.filter((c) => c.isOpen).length, total: this.clients.length };
  }

  async stop(): Promise<void> {
    await this.pause();
    for (const c of this.clients) c.stop();
  }

  private isDelivered(tag: string): boolean {
    const d = this.deliveries.get(tag);
    return d !== undefined && (d.pushes > 0 || d.caughtUp);
  }

  private sendOne(): void {
    const i = Math.floor(Math.random() * this.clients.length);
    const from = this.clients[i];
    const peers = this.contacts[i];
    if (peers.length === 0) return;
    const to = this.clients[peers[Math.floor(Math.random() * peers.length)]];
    if (!from.isOpen || to.userId === 0) {
      this.whileReconnecting.set(this.window, (this.whileReconnecting.get(this.window) ?? 0) + 1);
      return;
    }
    const tag = `${this.window}/${from.userId}/${++this.seq}`;
    const sent: Sent = { tag, window: this.window, from: from.userId, to: to.userId, state: 'pending', msgId: 0 };
    this.sent.set(tag, sent);
    const p = from.sendText(to.userId, `${TAG_PREFIX}${tag}`).then(
      (ack) => {
        if (ack.msg_id > 0) {
          sent.state = 'acked';
          sent.msgId = ack.msg_id;
        } else {
          sent.state = 'failed';
        }
      },
      (err: unknown) => {
        sent.state = 'failed';
        if (!/not connected|closed|timed out|timeout/i.test(errorMessage(err))) this.options.note(`send ${tag}: ${errorMessage(err)}`);
      },
    );
    const tracked = p.finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }
}

const TICK_MS = 20;
/** Quiet clients with a long answer budget: a store may wait for a db-proxy (dbRetryMs, 15 s) during a fault. */
const CLIENT_OPTIONS: Partial<ImClientOptions> = { keepInbox: false, heartbeatIntervalMs: 5_000, requestTimeoutMs: 20_000 };
