/**
 * Replays the client side of a capture against a live msg server and compares
 * what the server answers with what was recorded.
 *
 *   const report = await replayCapture(parseCapture(file), { server: '127.0.0.1:8000' });
 *   // or { loginUrl: 'http://127.0.0.1:8080' } to ask a login server, like a client
 *
 * How it runs:
 * - Every recorded connection gets a live one, opened when the recording opened
 *   it. Client PDUs are sent in recorded order, with the original pacing (gaps
 *   between records are kept) or back to back with `fast`.
 * - Before each client PDU (and each client close) the replay waits until every
 *   server PDU recorded before it, on any connection, has a live counterpart, or
 *   `timeoutMs` passed (then those count as missing). This keeps cause and
 *   effect in order (a reply before the next request, a push to one connection
 *   before the next step of another) without depending on timing.
 * - Live server PDUs are paired with recorded ones by command id in order per
 *   connection: pushes and replies may interleave differently and still pair.
 * - Rewritten on the way out: seq_num (the replay numbers each connection's
 *   requests itself, and maps reply seq_nums back before comparing), ids the
 *   server assigned (rewrite.ts; known up front after provisioning),
 *   credentials with `as` (only for logins that succeeded in the recording; a
 *   recorded failed login is sent with a password that cannot be right).
 * - A login that succeeded in the recording and fails live stops the replay at
 *   once (nothing more is sent): repeating logins with a wrong password would
 *   lock the account.
 * - Compared at the end, field by field (compare.ts, `compare` mode exact or
 *   protocol), ignoring DEFAULT_IGNORED_FIELDS and `ignore`. Differences in
 *   unread counts, recent sessions and history of users whose earlier state was
 *   not provisioned are reported as "depends on earlier state" (earlier-state.ts).
 */
import { parseHostPort, type HostPort } from '../../lib/host-port';
import net from 'node:net';
import { CID, commandById, commandName } from '../../pdu/commands';
import { FrameDecoder, type Pdu } from '../../pdu/frame';
import { TTError, errorMessage } from '../../lib/errors';
import { fetchMsgServer } from '../client/im-client';
import {
  bodyOf,
  decodeBody,
  frameOf,
  type CaptureRecord,
  type CloseRecord,
  type ConnectionRecord,
  type OpenRecord,
  type ParsedCapture,
  type PduRecord,
} from '../capture/format';
import { readCaptureFacts, type RecordedLogin } from './capture-facts';
import { DEFAULT_IGNORED_FIELDS, DEFAULT_UNORDERED_LISTS, IgnoreList, diffValues, type CompareMode, type FieldDiff } from './compare';
import { splitEarlierState, type RecreatedState } from './earlier-state';
import { protocolValueTest } from './protocol-fields';
import type { ProvisionReport } from './provision';
import {
  IdMaps,
  credentialsFor,
  failedLoginDigest,
  learnIds,
  mapIds,
  parseCredentials,
  withCredentials,
  type IdPairs,
  type ReplayCredentials,
} from './rewrite';


export interface ReplayOptions {
  /** The msg server, "HOST:PORT" or {host, port}. */
  server?: string | HostPort;
  /** Or a login server: its /msg_server answer names the msg server (asked once per connection, like a client). */
  loginUrl?: string;
  /** Log in as someone else: "USER:PASSWORD", "RECORDED=USER:PASSWORD", or objects. */
  as?: string | ReplayCredentials | ReadonlyArray<string | ReplayCredentials>;
  /** No pauses between client PDUs (still waits for the server's answers). */
  fast?: boolean;
  /** Fields ignored on top of DEFAULT_IGNORED_FIELDS. */
  ignore?: readonly string[];
  /** Lists compared regardless of order, on top of DEFAULT_UNORDERED_LISTS. */
  unordered?: readonly string[];
  /** 'exact' (default): values must be equal; 'protocol': result codes, enums, presence, types, lengths, order (compare.ts). */
  compare?: CompareMode;
  /**
   * What provisioning set up in the target (provision.ts): ids known before
   * the replay, and whose earlier state was recreated.
   */
  provisioned?: Pick<ProvisionReport, 'userIds' | 'groupIds' | 'departmentIds' | 'recreated'>;
  /** How long to wait for each expected server PDU (and for connects). Default 5000. */
  timeoutMs?: number;
  /** After the last expected PDU, how long to keep listening for unexpected ones. Default 200. */
  settleMs?: number;
  maxPduLength?: number;
  /** Progress lines (connects, learned ids). */
  log?: (line: string) => void;
  /** Warnings that matter whatever the verbosity (the replay stopped). */
  warn?: (line: string) => void;
}

export interface PduSummary {
  name: string;
  command: number;
  /** Recorded seq_num (for live PDUs: mapped back to the recorded numbering). */
  seq: number;
  /** Line in the capture file (recorded PDUs, when known). */
  line?: number;
}

export interface Mismatch {
  expected: PduSummary;
  diffs: FieldDiff[];
  /** Differences besides, in fields showing state from before the capture (earlier-state.ts). */
  earlierState?: FieldDiff[];
}

export interface ConnectionReport {
  conn: number;
  client: string;
  /** Login name of the recorded connection ("" when it never logged in). */
  user: string;
  /** Where the replay connected ("" when it could not). */
  server: string;
  sent: number;
  matched: number;
  mismatched: Mismatch[];
  /** Replies that differ only where they show state from before the capture, which the target does not have. */
  earlierState: Mismatch[];
  missing: PduSummary[];
  unexpected: PduSummary[];
  /** Recorded server PDUs not waited for because the replay stopped. */
  notReplayed: number;
  /** From connect to close. */
  durationMs: number;
  /** Failures that are not about one PDU (connect failed, closed early, expected close did not happen). */
  problems: string[];
  /** Facts about the capture worth knowing (a recorded framing error...); not failures. */
  notes: string[];
}

/** The replay's outcome, with the recorded -> live id pairs it learned and used. */
export interface ReplayReport extends IdPairs {
  ok: boolean;
  compare: CompareMode;
  /** Why the replay stopped before the end of the capture (and on which connection), or null. */
  stopped: { conn: number; reason: string } | null;
  connections: ConnectionReport[];
  totals: {
    matched: number;
    mismatched: number;
    earlierState: number;
    missing: number;
    unexpected: number;
    problems: number;
    notReplayed: number;
  };
  ignored: string[];
  /** What --provision did before the replay (set by the CLI). */
  provision?: ProvisionReport;
  durationMs: number;
}

/** Replies that teach recorded -> live id pairs (rewrite.ts learnIds). */
const ID_SOURCES: ReadonlySet<number> = new Set([
  CID.LOGIN_RES_USERLOGIN,
  CID.GROUP_CREATE_RESPONSE,
  CID.BUDDY_LIST_ALL_USER_RESPONSE,
  CID.BUDDY_LIST_USER_INFO_RESPONSE,
  CID.BUDDY_LIST_DEPARTMENT_RESPONSE,
]);

export const DEFAULT_REPLAY_TIMEOUT_MS = 5000;
export const DEFAULT_SETTLE_MS = 200;

/** A live server PDU. */
interface LivePdu {
  commandId: number;
  serviceId: number;
  seqNum: number;
  version: number;
  flag: number;
  reserved: number;
  body: Buffer;
  claimed: boolean;
}

/** A recorded server PDU waiting for its live counterpart. */
interface Expected {
  record: PduRecord;
  line?: number;
  /** Position in the capture (orders the waits). */
  index: number;
  conn: number;
  live: LivePdu | null;
  /** Waited for in vain: no longer holds up the replay (still paired if it comes late). */
  abandoned: boolean;
  /** Not waited for: the replay stopped first. */
  notReplayed: boolean;
}

function parseServer(server: string | HostPort): HostPort {
  if (typeof server !== 'string') return server;
  const parsed = parseHostPort(server);
  if (parsed === null) throw new TTError('TT_ERR_REPLAY_OPTIONS', `server must be HOST:PORT with a port from 1 to 65535, got "${server}"`);
  return parsed;
}

function summary(record: PduRecord, line?: number): PduSummary {
  return { name: record.name, command: record.command, seq: record.seq, ...(line !== undefined ? { line } : {}) };
}

/** One recorded connection and its live counterpart. */
class ReplayConnection {
  socket: net.Socket | null = null;
  target = '';
  failed = false;
  /** The live server closed (or reset) the connection. */
  serverClosed = false;
  serverCloseReason = '';
  /** We closed it (the recording's client close, or the end of the replay). */
  clientClosed = false;
  closed = false;
  /** Client PDUs still to send after the live server closed on us. */
  unsentAfterClose = 0;
  /** Recorded user id of the connection's successful login (0: none). */
  recordedUserId = 0;
  /** The last login request sent on it. */
  lastLogin: RecordedLogin | null = null;
  connectedAt = 0;
  closedAt = 0;
  private nextSeq = 1;
  private readonly seqBack = new Map<number, number>();
  readonly expectedByCommand = new Map<number, Expected[]>();
  readonly live: LivePdu[] = [];
  readonly report: ConnectionReport;
  recordedClose: CloseRecord | null = null;

  constructor(readonly open: OpenRecord) {
    this.report = {
      conn: open.conn,
      client: open.client,
      user: '',
      server: '',
      sent: 0,
      matched: 0,
      mismatched: [],
      earlierState: [],
      missing: [],
      unexpected: [],
      notReplayed: 0,
      durationMs: 0,
      problems: [],
      notes: [],
    };
  }

  /** A live seq_num for a recorded one (0 stays 0: pushes and fire-and-forget PDUs). */
  liveSeq(recorded: number): number {
    if (recorded === 0) return 0;
    const seq = this.nextSeq;
    this.nextSeq = this.nextSeq >= 0xffff ? 1 : this.nextSeq + 1;
    this.seqBack.set(seq, recorded);
    return seq;
  }

  recordedSeq(live: number): number {
    return live === 0 ? 0 : (this.seqBack.get(live) ?? live);
  }
}

export class Replayer {
  private readonly options: ReplayOptions;
  private readonly credentials: ReplayCredentials[];
  private readonly ignore: IgnoreList;
  private readonly unordered: ReadonlySet<string>;
  private readonly timeoutMs: number;
  private readonly compareMode: CompareMode;
  private readonly ids = new IdMaps();
  /** Recorded logins by their position in the capture. */
  private readonly logins = new Map<number, RecordedLogin>();
  /** Sent for logins that failed in the recording. */
  private readonly wrongDigest = failedLoginDigest();
  private stopped: { conn: number; reason: string } | null = null;
  private readonly connections = new Map<number, ReplayConnection>();
  /** Recorded server PDUs in capture order. */
  private readonly expected: Expected[] = [];
  /** Everything before this index is claimed or abandoned. */
  private firstUnresolved = 0;
  private wake: (() => void) | null = null;
  private readonly log: (line: string) => void;
  private readonly warn: (line: string) => void;

  constructor(options: ReplayOptions) {
    if (!options.server && !options.loginUrl) throw new TTError('TT_ERR_REPLAY_OPTIONS', 'replay needs a server (HOST:PORT) or a login URL');
    this.options = options;
    const as = options.as === undefined ? [] : Array.isArray(options.as) ? options.as : [options.as];
    this.credentials = (as as Array<string | ReplayCredentials>).map((c) => (typeof c === 'string' ? parseCredentials(c) : c));
    this.ignore = new IgnoreList([...DEFAULT_IGNORED_FIELDS, ...(options.ignore ?? [])]);
    this.unordered = new Set([...DEFAULT_UNORDERED_LISTS, ...(options.unordered ?? [])]);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_REPLAY_TIMEOUT_MS;
    this.compareMode = options.compare ?? 'exact';
    this.log = options.log ?? (() => {});
    this.warn = options.warn ?? this.log;
  }

  async run(records: readonly ConnectionRecord[], lines: readonly number[] = []): Promise<ReplayReport> {
    const started = Date.now();
    this.plan(records, lines);
    // Pacing counts from the first connection event, not from when the capture started listening.
    const base = records.length > 0 ? records[0].t : 0;
    let drift = 0;
    for (let i = 0; i < records.length && this.stopped === null; i++) {
      const record = records[i];
      if (record.type === 'pdu' && record.dir === 's2c') continue;
      if (!this.options.fast) {
        // Original pacing; time spent waiting for answers shifts the rest of the schedule.
        const due = started + (record.t - base) + drift;
        if (due > Date.now()) await sleep(due - Date.now());
      }
      const conn = this.connections.get(record.conn) as ReplayConnection;
      switch (record.type) {
        case 'open':
          await this.connect(conn);
          break;
        case 'pdu':
          await this.waitForExpectedBefore(i);
          if (this.stopped === null) this.send(conn, record, i);
          break;
        case 'close':
          if (record.by === 'client') {
            await this.waitForExpectedBefore(i);
            if (this.stopped === null) this.closeLive(conn);
          }
          break;
        case 'error':
          conn.report.notes.push(
            `the recorded ${record.dir === 'c2s' ? 'client' : 'server'} stream broke at t=${record.t} ms (${record.message})`,
          );
          break;
        case 'resync':
          conn.report.notes.push(`the recorded ${record.dir} stream dropped ${record.dropped} bytes at t=${record.t} ms`);
          break;
      }
      if (!this.options.fast) drift = Math.max(drift, Date.now() - started - (record.t - base));
    }
    if (this.stopped === null) {
      await this.waitForExpectedBefore(Infinity);
      await this.waitForServerCloses();
      await sleep(this.options.settleMs ?? DEFAULT_SETTLE_MS);
    }
    for (const conn of this.connections.values()) this.closeLive(conn, true);
    return this.buildReport(Date.now() - started);
  }

  /** Indexes the capture: connections, the server PDUs each is expected to receive, the recorded logins; known ids. */
  private plan(records: readonly ConnectionRecord[], lines: readonly number[]): void {
    for (const login of readCaptureFacts(records, lines).logins) this.logins.set(login.index, login);
    this.seedKnownIds();
    records.forEach((record, index) => {
      if (record.type === 'open') {
        this.connections.set(record.conn, new ReplayConnection(record));
        return;
      }
      const conn = this.connections.get(record.conn);
      if (!conn) throw new TTError('TT_ERR_REPLAY_CAPTURE', `capture record ${index + 1} refers to connection ${record.conn}, which was never opened`);
      if (record.type === 'close') conn.recordedClose = record;
      if (record.type === 'pdu' && record.dir === 'c2s' && record.command === CID.LOGIN_REQ_USERLOGIN) {
        const login = this.logins.get(index);
        if (login && conn.report.user === '') conn.report.user = login.userName;
        if (login?.outcome === 'succeeded' && conn.recordedUserId === 0) conn.recordedUserId = login.userId ?? 0;
      }
      if (record.type === 'pdu' && record.dir === 's2c') {
        const expected: Expected = { record, line: lines[index], index, conn: record.conn, live: null, abandoned: false, notReplayed: false };
        this.expected.push(expected);
        const list = conn.expectedByCommand.get(record.command) ?? [];
        list.push(expected);
        conn.expectedByCommand.set(record.command, list);
      }
    });
  }

  /**
   * Ids provisioning created, except those of users whose logins --as turns
   * into someone else: their live id comes from the login reply.
   */
  private seedKnownIds(): void {
    const known = this.options.provisioned;
    if (!known) return;
    const renamed = new Set<number>();
    for (const login of this.logins.values()) {
      const credentials = login.outcome === 'failed' ? undefined : credentialsFor(login.userName, this.credentials);
      if (credentials && credentials.user !== login.userName && login.userId !== undefined) renamed.add(login.userId);
    }
    for (const [recorded, live] of known.userIds) if (!renamed.has(recorded)) this.ids.learn('user', recorded, live);
    for (const [recorded, live] of known.groupIds) this.ids.learn('group', recorded, live);
    for (const [recorded, live] of known.departmentIds) this.ids.learn('depart', recorded, live);
  }

  private async target(): Promise<HostPort> {
    if (this.options.server) return parseServer(this.options.server);
    const answer = await fetchMsgServer(this.options.loginUrl as string);
    return { host: answer.host, port: answer.port };
  }

  private async connect(conn: ReplayConnection): Promise<void> {
    let target: HostPort;
    try {
      target = await this.target();
    } catch (err) {
      this.fail(conn, `no msg server address: ${errorMessage(err)}`);
      return;
    }
    conn.target = target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
    const socket = net.connect({ host: target.host, port: target.port, noDelay: true });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no connection within ${this.timeoutMs} ms`)), this.timeoutMs);
        socket.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
    } catch (err) {
      socket.destroy();
      this.fail(conn, `cannot connect to ${conn.target}: ${errorMessage(err)}`);
      return;
    }
    conn.socket = socket;
    conn.connectedAt = Date.now();
    conn.report.server = conn.target;
    this.log(`connection ${conn.open.conn} (recorded from ${conn.open.client}): connected to ${conn.target}`);
    const decoder = new FrameDecoder(this.options.maxPduLength ?? 64 * 1024 * 1024);
    socket.on('data', (chunk: Buffer) => {
      const error = decoder.push(chunk, (pdu) => this.receive(conn, pdu));
      if (error) {
        conn.report.problems.push(`the live server sent a stream that cannot be framed: ${error.message}`);
        socket.destroy();
      }
    });
    socket.on('error', (err) => {
      if (!conn.clientClosed) conn.serverCloseReason ||= err.message;
    });
    socket.on('close', () => {
      conn.closed = true;
      conn.closedAt = Date.now();
      if (!conn.clientClosed) {
        conn.serverClosed = true;
        conn.serverCloseReason ||= 'closed by the server';
      }
      this.abandonConnection(conn);
      this.notify();
    });
  }

  private fail(conn: ReplayConnection, problem: string): void {
    conn.failed = true;
    conn.closed = true;
    conn.report.problems.push(problem);
    this.abandonConnection(conn);
  }

  /** Nothing more can arrive on this connection: stop waiting for its PDUs. */
  private abandonConnection(conn: ReplayConnection): void {
    for (const list of conn.expectedByCommand.values()) for (const e of list) if (!e.live) e.abandoned = true;
  }

  private receive(conn: ReplayConnection, pdu: Pdu): void {
    if (this.stopped !== null) return;
    const live: LivePdu = {
      commandId: pdu.commandId,
      serviceId: pdu.serviceId,
      seqNum: pdu.seqNum,
      version: pdu.version,
      flag: pdu.flag,
      reserved: pdu.reserved,
      body: Buffer.from(pdu.body),
      claimed: false,
    };
    conn.live.push(live);
    const candidates = conn.expectedByCommand.get(pdu.commandId);
    const expected = candidates?.find((e) => e.live === null);
    if (expected) {
      expected.live = live;
      live.claimed = true;
      this.learnFrom(expected, live);
      if (pdu.commandId === CID.LOGIN_RES_USERLOGIN) this.checkLogin(conn, expected, live);
    }
    this.notify();
  }

  /** A login that succeeded in the recording must succeed live; else the replay stops before anything locks the account. */
  private checkLogin(conn: ReplayConnection, expected: Expected, live: LivePdu): void {
    const recorded = decodeBody(expected.record.command, bodyOf(expected.record));
    const actual = decodeBody(live.commandId, live.body);
    if (!('decoded' in recorded) || !('decoded' in actual)) return;
    const succeeded = (body: Record<string, unknown>) => body.result_code === undefined || body.result_code === 'REFUSE_REASON_NONE';
    if (!succeeded(recorded.decoded) || succeeded(actual.decoded)) return;
    const user = conn.lastLogin?.userName || `connection ${conn.open.conn}`;
    const line = conn.lastLogin?.line ?? expected.line;
    this.stop(
      conn,
      `the login of ${user}${line !== undefined ? ` (capture line ${line})` : ''} succeeded in the recording but failed live ` +
        `(${String(actual.decoded.result_code)}: ${String(actual.decoded.result_string ?? '')}); stopped so that repeated ` +
        'wrong passwords cannot lock the account. Check --password / --as',
    );
  }

  private stop(conn: ReplayConnection, reason: string): void {
    if (this.stopped !== null) return;
    this.stopped = { conn: conn.open.conn, reason };
    this.warn(`stopped: ${reason}`);
    for (const e of this.expected) if (e.live === null && !e.abandoned) e.notReplayed = true;
    this.notify();
  }

  /** A live reply paired with a recorded one may teach us ids (login: user id; group create: group id). */
  private learnFrom(expected: Expected, live: LivePdu): void {
    if (!ID_SOURCES.has(expected.record.command)) return;
    const recorded = decodeBody(expected.record.command, bodyOf(expected.record));
    const actual = decodeBody(live.commandId, live.body);
    if (!('decoded' in recorded) || !('decoded' in actual)) return;
    for (const line of learnIds(expected.record.command, recorded.decoded, actual.decoded, this.ids)) this.log(`learned ${line}`);
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Waits until every server PDU recorded before capture index `index` arrived, or the timeout. */
  private async waitForExpectedBefore(index: number): Promise<void> {
    const resolved = (e: Expected) => e.live !== null || e.abandoned || e.notReplayed;
    const pending = (): Expected[] => {
      while (this.firstUnresolved < this.expected.length && resolved(this.expected[this.firstUnresolved])) this.firstUnresolved++;
      const out: Expected[] = [];
      for (let i = this.firstUnresolved; i < this.expected.length && this.expected[i].index < index; i++) {
        if (!resolved(this.expected[i])) out.push(this.expected[i]);
      }
      return out;
    };
    const deadline = Date.now() + this.timeoutMs;
    let waiting = pending();
    while (waiting.length > 0) {
      const left = deadline - Date.now();
      if (left <= 0) {
        for (const e of waiting) e.abandoned = true;
        return;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      waiting = pending();
    }
  }

  private async waitForServerCloses(): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    const waiting = () => [...this.connections.values()].some((c) => c.recordedClose?.by === 'server' && !c.closed);
    while (waiting() && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** The recorded client PDU as the live server must see it (`index`: its position in the capture). */
  private send(conn: ReplayConnection, record: PduRecord, index: number): void {
    if (conn.failed) return;
    if (conn.closed || !conn.socket) {
      if (conn.serverClosed) conn.unsentAfterClose++;
      return;
    }
    let body = bodyOf(record);
    const info = commandById(record.command);
    const login = record.command === CID.LOGIN_REQ_USERLOGIN ? this.logins.get(index) : undefined;
    if (login) conn.lastLogin = login;
    if (info && (login || !this.ids.empty)) {
      const decoded = decodeBody(record.command, body);
      if ('decoded' in decoded) {
        let rewritten = mapIds(decoded.decoded, this.ids);
        if (login) rewritten = this.loginAsReplayed(login, rewritten);
        if (JSON.stringify(rewritten) !== JSON.stringify(decoded.decoded)) {
          body = Buffer.from(info.type.encode(info.type.fromObject(rewritten) as never).finish());
        }
      }
    }
    conn.socket.write(frameOf({ ...record, seq: conn.liveSeq(record.seq) }, body));
    conn.report.sent++;
  }

  /** A recorded failed login fails again (a password that cannot be right); others get the --as credentials that apply. */
  private loginAsReplayed(login: RecordedLogin, request: Record<string, unknown>): Record<string, unknown> {
    if (login.outcome === 'failed') return { ...request, password: this.wrongDigest };
    const credentials = credentialsFor(login.userName, this.credentials);
    return credentials ? withCredentials(request, credentials) : request;
  }

  private closeLive(conn: ReplayConnection, destroy = false): void {
    if (!conn.socket || conn.closed) return;
    conn.clientClosed = true;
    if (destroy) conn.socket.destroy();
    else conn.socket.end();
  }

  private buildReport(durationMs: number): ReplayReport {
    const connections: ConnectionReport[] = [];
    for (const conn of this.connections.values()) {
      const report = conn.report;
      for (const list of conn.expectedByCommand.values()) {
        for (const e of list) {
          if (!e.live) {
            if (e.notReplayed) report.notReplayed++;
            else report.missing.push(summary(e.record, e.line));
            continue;
          }
          const { real, earlier } = splitEarlierState(e.record.command, this.compare(conn, e.record, e.live), conn.recordedUserId, this.recreated);
          const expected = summary(e.record, e.line);
          if (real.length > 0) report.mismatched.push({ expected, diffs: real, ...(earlier.length > 0 ? { earlierState: earlier } : {}) });
          else if (earlier.length > 0) report.earlierState.push({ expected, diffs: earlier });
          else report.matched++;
        }
      }
      report.missing.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
      report.mismatched.sort((a, b) => (a.expected.line ?? 0) - (b.expected.line ?? 0));
      report.earlierState.sort((a, b) => (a.expected.line ?? 0) - (b.expected.line ?? 0));
      if (conn.connectedAt > 0) report.durationMs = (conn.closedAt || Date.now()) - conn.connectedAt;
      for (const live of conn.live) {
        if (!live.claimed) report.unexpected.push({ name: commandName(live.commandId), command: live.commandId, seq: conn.recordedSeq(live.seqNum) });
      }
      if (conn.unsentAfterClose > 0) {
        report.problems.push(
          `the server closed the connection (${conn.serverCloseReason}) before the replay could send ${conn.unsentAfterClose} more client PDU(s)`,
        );
      }
      if (conn.recordedClose?.by === 'server' && !conn.serverClosed && !conn.failed && this.stopped === null) {
        report.problems.push(`recorded: the server closed the connection (${conn.recordedClose.reason}); live: it did not within ${this.timeoutMs} ms`);
      }
      connections.push(report);
    }
    const totals = { matched: 0, mismatched: 0, earlierState: 0, missing: 0, unexpected: 0, problems: 0, notReplayed: 0 };
    for (const c of connections) {
      totals.matched += c.matched;
      totals.mismatched += c.mismatched.length;
      totals.earlierState += c.earlierState.length;
      totals.missing += c.missing.length;
      totals.unexpected += c.unexpected.length;
      totals.problems += c.problems.length;
      totals.notReplayed += c.notReplayed;
    }
    for (const conflict of this.ids.conflicts) connections[0]?.notes.push(conflict);
    return {
      ok: this.stopped === null && totals.mismatched + totals.missing + totals.unexpected + totals.problems === 0,
      compare: this.compareMode,
      stopped: this.stopped,
      connections,
      totals,
      userIds: [...this.ids.user],
      groupIds: [...this.ids.group],
      departmentIds: [...this.ids.depart],
      ignored: this.ignore.entries,
      durationMs,
    };
  }

  private get recreated(): RecreatedState | null {
    return this.options.provisioned?.recreated ?? null;
  }

  private compare(conn: ReplayConnection, record: PduRecord, live: LivePdu): FieldDiff[] {
    const header = (h: { service: number; seq: number; flag: number; version: number; reserved: number }) => ({
      service: h.service,
      seq: h.seq,
      flag: h.flag,
      version: h.version,
      reserved: h.reserved,
    });
    const expectedBody = decodeBody(record.command, bodyOf(record));
    const actualBody = decodeBody(live.commandId, live.body);
    // Both decodable: compare field by field (recorded ids mapped to live ones). Otherwise the raw bytes must be equal.
    const expected =
      'decoded' in expectedBody && 'decoded' in actualBody ? mapIds(expectedBody.decoded, this.ids) : { body: record.body };
    const actual =
      'decoded' in expectedBody && 'decoded' in actualBody ? actualBody.decoded : { body: live.body.toString('base64') };
    return diffValues(
      { header: header(record), ...expected },
      { header: header({ ...live, service: live.serviceId, seq: conn.recordedSeq(live.seqNum) }), ...actual },
      this.ignore,
      { unordered: this.unordered, mode: this.compareMode, isProtocolValue: protocolValueTest(record.command) },
    );
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Replays a capture (parsed file, or records as the proxy/importer produce them)
 * and resolves with the comparison report. Never throws for a server that
 * answers wrongly or not at all: that is what the report is for.
 */
export async function replayCapture(capture: ParsedCapture | readonly CaptureRecord[], options: ReplayOptions): Promise<ReplayReport> {
  const records: ConnectionRecord[] = [];
  let lines: number[] = [];
  if (Array.isArray(capture)) {
    for (const r of capture as readonly CaptureRecord[]) if (r.type !== 'capture') records.push(r);
  } else {
    const parsed = capture as ParsedCapture;
    records.push(...parsed.records);
    lines = parsed.lines;
  }
  return new Replayer(options).run(records, lines);
}
