/**
 * The sentinel: two real clients on different msg servers that keep chatting
 * through the cluster while it is fuzzed (so every message crosses msg server,
 * db-proxy and route server), plus periodic lookups on the login server. Each
 * message must be acked and delivered within the timeout; a lost connection,
 * a late or missing ack or delivery, or a login lookup that fails is a failure.
 */
import { IM } from '../../pdu/commands';
import { errorMessage } from '../../lib/errors';
import { ImClient, fetchMsgServer } from '../../tools/client/im-client';
import type { AdminClient } from '../../lib/admin-client';
import { fuzzAdminClient, registeredMsgServers, type FuzzAdminAccess } from './admin';
import type { Endpoint } from './connection';

const { MsgType, ClientType } = IM.BaseDefine;

export interface SentinelAccount {
  name: string;
  password: string;
  /** Which msg server it logs in to. */
  server: Endpoint;
}

export interface SentinelOptions {
  a: SentinelAccount;
  b: SentinelAccount;
  /** Logs in at the end, to prove new logins still work. */
  late: SentinelAccount;
  loginUrl: string;
  /** The login server's admin endpoint: every real msg server must stay on its list. */
  admin: FuzzAdminAccess;
  msgServerNames: string[];
  intervalMs: number;
  timeoutMs: number;
}

export interface SentinelResult {
  messages_sent: number;
  messages_acked: number;
  messages_delivered: number;
  login_lookups: number;
  /** Sender ack and receiver delivery latency of the sentinel's messages. */
  ack_p99_ms: number;
  ack_max_ms: number;
  deliver_p99_ms: number;
  deliver_max_ms: number;
  failures: number;
  /** The first few failures, in words. */
  failure_samples: string[];
}

interface Flight {
  sentAt: number;
  acked: boolean;
  delivered: boolean;
  failed: boolean;
}

export class Sentinel {
  private clients: [ImClient | null, ImClient | null] = [null, null];
  private readonly flights = new Map<string, Flight>();
  private sent = 0;
  private acked = 0;
  private delivered = 0;
  private lookups = 0;
  private readonly ackMs: number[] = [];
  private readonly deliverMs: number[] = [];
  private failures = 0;
  private readonly samples: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private lookupTimer: NodeJS.Timeout | null = null;
  private seq = 0;
  private stopping = false;
  private reconnecting: [boolean, boolean] = [false, false];
  private admin: AdminClient | null = null;

  constructor(private readonly options: SentinelOptions) {}

  async start(): Promise<void> {
    this.admin = fuzzAdminClient(this.options.admin, this.options.timeoutMs);
    this.clients = [await this.login(this.options.a, 0), await this.login(this.options.b, 1)];
    this.timer = setInterval(() => this.tick(), this.options.intervalMs);
    this.lookupTimer = setInterval(() => void this.lookup(), 2_000);
  }

  /** Stops sending, waits for what is in flight, then checks that a new login can still chat. */
  async stop(): Promise<SentinelResult> {
    if (this.timer) clearInterval(this.timer);
    if (this.lookupTimer) clearInterval(this.lookupTimer);
    const until = Date.now() + this.options.timeoutMs + 1_000;
    while (Date.now() < until && [...this.flights.values()].some((f) => !f.failed && (!f.acked || !f.delivered))) {
      this.checkOverdue();
      await new Promise((r) => setTimeout(r, 100));
    }
    this.checkOverdue(true);
    this.stopping = true;
    await this.lookup();
    await this.lateLogin();
    for (const c of this.clients) c?.close();
    this.admin?.close();
    return {
      messages_sent: this.sent,
      messages_acked: this.acked,
      messages_delivered: this.delivered,
      login_lookups: this.lookups,
      ack_p99_ms: percentile(this.ackMs, 99),
      ack_max_ms: percentile(this.ackMs, 100),
      deliver_p99_ms: percentile(this.deliverMs, 99),
      deliver_max_ms: percentile(this.deliverMs, 100),
      failures: this.failures,
      failure_samples: this.samples,
    };
  }

  get failureCount(): number {
    return this.failures;
  }

  private fail(what: string): void {
    this.failures++;
    if (this.samples.length < 10) this.samples.push(`${new Date().toISOString()} ${what}`);
  }

  private async login(account: SentinelAccount, index: 0 | 1): Promise<ImClient> {
    const client = await ImClient.connect({ ...account.server, keepInbox: false, heartbeatIntervalMs: 5_000, requestTimeoutMs: this.options.timeoutMs, connectTimeoutMs: 5_000 });
    await client.login(account.name, account.password, { clientType: ClientType.CLIENT_TYPE_WINDOWS });
    client.on('message', (m: IM.Message.IMMsgData) => this.onMessage(m));
    client.once('close', (reason: string) => {
      if (this.stopping) return;
      this.fail(`sentinel ${account.name} disconnected by the server: ${reason}`);
      void this.reconnect(account, index);
    });
    return client;
  }

  private async reconnect(account: SentinelAccount, index: 0 | 1): Promise<void> {
    if (this.reconnecting[index]) return;
    this.reconnecting[index] = true;
    this.clients[index] = null;
    while (!this.stopping) {
      try {
        this.clients[index] = await this.login(account, index);
        break;
      } catch (err) {
        this.fail(`sentinel ${account.name} cannot log in again: ${errorMessage(err)}`);
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
    this.reconnecting[index] = false;
  }

  private tick(): void {
    this.checkOverdue();
    const from = this.seq % 2 === 0 ? 0 : 1;
    const sender = this.clients[from];
    const receiver = this.clients[1 - from];
    this.seq++;
    if (sender === null || receiver === null) return;
    const key = `sentinel:${this.seq}`;
    const flight: Flight = { sentAt: Date.now(), acked: false, delivered: false, failed: false };
    this.flights.set(key, flight);
    this.sent++;
    sender.sendMessage(receiver.userId, Buffer.from(key, 'latin1'), MsgType.MSG_TYPE_SINGLE_TEXT).then(
      () => {
        if (flight.acked) return;
        flight.acked = true;
        this.acked++;
        this.ackMs.push(Date.now() - flight.sentAt);
      },
      (err: unknown) => {
        if (flight.failed) return;
        flight.failed = true;
        this.fail(`${key}: no ack (${errorMessage(err)})`);
      },
    );
  }

  private onMessage(m: IM.Message.IMMsgData): void {
    const key = Buffer.from(m.msg_data).toString('latin1');
    const flight = this.flights.get(key);
    if (flight === undefined || flight.delivered) return;
    flight.delivered = true;
    this.delivered++;
    this.deliverMs.push(Date.now() - flight.sentAt);
  }

  /** Flights older than the timeout that are not acked and delivered are failures (once each). */
  private checkOverdue(all = false): void {
    const now = Date.now();
    for (const [key, f] of this.flights) {
      const done = f.acked && f.delivered;
      if (done) {
        this.flights.delete(key);
        continue;
      }
      if (f.failed || (!all && now - f.sentAt < this.options.timeoutMs)) continue;
      f.failed = true;
      this.fail(`${key}: ${f.acked ? 'acked but not delivered' : 'not acked'} within ${this.options.timeoutMs} ms`);
    }
    for (const [key, f] of this.flights) if (f.failed) this.flights.delete(key);
  }

  private async lookup(): Promise<void> {
    try {
      await fetchMsgServer(this.options.loginUrl, { timeoutMs: this.options.timeoutMs });
      if (this.admin === null) throw new Error('the sentinel was not started');
      const listed = new Set(await registeredMsgServers(this.admin, this.options.admin));
      const missing = this.options.msgServerNames.filter((n) => !listed.has(n));
      if (missing.length > 0) this.fail(`login server no longer lists ${missing.join(', ')}`);
      this.lookups++;
    } catch (err) {
      this.fail(`login server lookup failed: ${errorMessage(err)}`);
    }
  }

  /** A login that did not exist during the fuzzing, and one message to the other sentinel. */
  private async lateLogin(): Promise<void> {
    const receiver = this.clients[1];
    let client: ImClient | null = null;
    try {
      if (receiver === null) throw new Error('the receiving sentinel is not connected');
      client = await ImClient.connect({ ...this.options.late.server, keepInbox: false, requestTimeoutMs: this.options.timeoutMs, connectTimeoutMs: 5_000 });
      await client.login(this.options.late.name, this.options.late.password);
      const key = Buffer.from(`sentinel:late:${Date.now()}`, 'latin1');
      const delivered = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('not delivered in time')), this.options.timeoutMs);
        receiver.on('message', (m: IM.Message.IMMsgData) => {
          if (Buffer.from(m.msg_data).equals(key)) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      this.sent++;
      await client.sendMessage(receiver.userId, key, MsgType.MSG_TYPE_SINGLE_TEXT);
      this.acked++;
      await delivered;
      this.delivered++;
    } catch (err) {
      this.fail(`a new login after the fuzzing could not chat: ${errorMessage(err)}`);
    } finally {
      client?.close();
    }
  }
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
