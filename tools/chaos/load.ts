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
import { ReconnectingClient, viaLoginServer, type CatchUpSession, type Dialer } from '../client/reconnecting-client';
import { ImClient, type ImClientOptions, type Push } from '../client/im-client';

export interface LoadOptions {
  loginUrl: string;
  userPrefix: string;
  users: number;
  password: string;
  /** Messages per second over all users. */
  rate: number;
  /** People each user writes to. */
  contacts: number;
  /** Client ports of the msg servers: the first logins are spread over them evenly. */
  msgServerPorts: number[];
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
  /** Where sender and receiver were connected when it was sent. */
  readonly fromAt: string;
  readonly toAt: string;
  readonly sentAt: number;
  ackedAt: number;
}

/** A message that was acked and never delivered, for the report. */
export interface LostMessage {
  tag: string;
  from: number;
  to: number;
  msgId: number;
  /** Sender's and receiver's msg server when it was sent, ms since the window began. */
  fromAt: string;
  toAt: string;
  sentMs: number;
  ackedMs: number;
  /** The receiver's reconnections and catch-ups (ms since the window began). */
  receiverEvents?: string[];
  /** Asked of the receiver's connection at report time: its unread count with the sender, and whether history has the message. */
  unreadNow?: number;
  inHistoryNow?: boolean;
  /** How often the receiver logged in again during the run, and when it last did (ms since the window began). */
  receiverLogins?: number;
  receiverSent?: string[];
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
  /** The first few of them. */
  lostExamples: LostMessage[];
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
  private stopping = false;
  private readonly windowStarts = new Map<number, number>();
  private whileReconnecting = new Map<number, number>();

  private constructor(private readonly options: LoadOptions) {}

  static async start(options: LoadOptions): Promise<ChaosLoad> {
    const load = new ChaosLoad(options);
    const names = Array.from({ length: options.users }, (_, i) => `${options.userPrefix}${i}`);
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(
        names.slice(i, i + 50).map(async (name, j) => {
          load.clients.push(await load.connect(firstOn(options.msgServerPorts[(i + j) % options.msgServerPorts.length], name, options)));
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
    client.on('caught-up', ({ messages, sessions }: { messages: IM.Message.IIMMsgData[]; sessions: CatchUpSession[] }) => {
      this.event(client, `caught up ${messages.length}: ${sessions.map((s) => `${s.sessionId}(unread ${s.unread}, seen ${s.lastSeen}, looked ${s.looked}, new ${s.found})`).join(' ')}`);
      for (const m of messages) {
        const tag = m.msg_data ? tagOf(m.msg_data) : null;
        if (tag !== null && m.to_session_id === client.userId) this.delivery(tag).caughtUp = true;
      }
    });
    client.on('reconnected', ({ where }: { where: string }) => {
      this.reconnects.set(this.window, (this.reconnects.get(this.window) ?? 0) + 1);
      this.event(client, `reconnected ${where}`);
    });
    client.on('disconnected', () => this.event(client, 'disconnected'));
    client.on('catch-up-failed', ({ error }: { error: string }) => this.options.note(`user ${client.userId}: catching up failed: ${error}`));
    client.on('closed', ({ reason }: { reason: string }) => {
      if (!this.stopping) this.options.note(`user ${client.userId} stopped reconnecting: ${reason}`);
    });
    await client.start();
    return client;
  }

  private readonly events = new Map<ReconnectingClient, string[]>();
  private event(client: ReconnectingClient, what: string): void {
    const list = this.events.get(client) ?? [];
    list.push(`${Math.round(Date.now() - (this.windowStarts.get(this.window) ?? 0))} ${what}`);
    if (list.length > 20) list.shift();
    this.events.set(client, list);
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
    if (!this.windowStarts.has(window)) this.windowStarts.set(window, Date.now());
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
      lostExamples: [],
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
      else {
        c.lost++;
        if (c.lostExamples.length < 10) {
          c.lostExamples.push({ tag: s.tag, from: s.from, to: s.to, msgId: s.msgId, fromAt: s.fromAt, toAt: s.toAt, sentMs: Math.round(s.sentAt - (this.windowStarts.get(window) ?? 0)), ackedMs: Math.round(s.ackedAt - (this.windowStarts.get(window) ?? 0)) });
        }
      }
    }
    c.delivered = c.deliveredLive + c.deliveredByCatchUp;
    return c;
  }

  /** Adds what the receiver's server says now about each lost message (diagnosis). */
  async diagnose(lost: LostMessage[]): Promise<void> {
    for (const l of lost) {
      const receiver = this.clients.find((c) => c.userId === l.to);
      if (receiver === undefined || !receiver.isOpen) continue;
      l.receiverLogins = receiver.logins;
      l.receiverSent = [...this.sent.values()].filter((x) => x.from === l.to && x.to === l.from).map((x) => `${x.msgId}:${x.state}@${Math.round(x.sentAt - (this.windowStarts.get(x.window) ?? 0))}`);
      l.receiverEvents = this.events.get(receiver);
      try {
        const unread = await receiver.unreadCounts();
        l.unreadNow = unread.unreadinfo_list.find((u) => u.session_id === l.from)?.unread_cnt ?? 0;
        const history = await receiver.history(l.from, { count: 100 });
        l.inHistoryNow = history.msg_list.some((m) => m.msg_id === l.msgId);
      } catch {
        // reconnecting
      }
    }
  }

  /** Clients connected now, of all. */
  connected(): { open: number; total: number } {
    return { open: this.clients.filter((c) => c.isOpen).length, total: this.clients.length };
  }

  async stop(): Promise<void> {
    this.stopping = true;
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
    const sent: Sent = { tag, window: this.window, from: from.userId, to: to.userId, state: 'pending', msgId: 0, fromAt: from.where, toAt: to.isOpen ? to.where : 'reconnecting', sentAt: Date.now(), ackedAt: 0 };
    this.sent.set(tag, sent);
    const p = from.sendText(to.userId, `${TAG_PREFIX}${tag}`).then(
      (ack) => {
        if (ack.msg_id > 0) {
          sent.state = 'acked';
          sent.msgId = ack.msg_id;
          sent.ackedAt = Date.now();
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

/**
 * Logs in on msg server `port` the first time (logins at once would all be sent
 * to the same msg server: the login server's counts lag), and through the login
 * server on every reconnect, as the project's clients do.
 */
function firstOn(port: number, name: string, options: LoadOptions): Dialer {
  const viaLogin = viaLoginServer(options.loginUrl, name, options.password, { client: CLIENT_OPTIONS });
  let first = true;
  return async () => {
    if (!first) return viaLogin();
    first = false;
    const client = await ImClient.connect({ host: '127.0.0.1', port, ...CLIENT_OPTIONS });
    try {
      await client.login(name, options.password);
    } catch (err) {
      client.close();
      throw err;
    }
    return { client, where: `127.0.0.1:${port}` };
  };
}

const TICK_MS = 20;
/** Quiet clients with a long answer budget: a store may wait for a db-proxy (dbRetryMs, 15 s) during a fault. */
const CLIENT_OPTIONS: Partial<ImClientOptions> = { keepInbox: false, heartbeatIntervalMs: 5_000, requestTimeoutMs: 20_000 };
