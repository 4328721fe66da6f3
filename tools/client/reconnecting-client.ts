/**
 * ReconnectingClient: an ImClient that stays logged in. When its connection is
 * lost (a msg server drained, restarted or gone), it asks the login server
 * again, with backoff and jitter, logs in on whichever msg server it is given,
 * and catches up the way TeamTalk clients do after a login: the unread counts
 * say which conversations have new messages, and their history brings what
 * arrived meanwhile. Those are emitted once each ('caught-up'), never twice:
 * messages are told apart by conversation and msg id.
 *
 * It does not reconnect after a kick (another login of the same user, or an
 * operator), after stop(), or when the login itself is refused for good (wrong
 * password, disabled account): it emits 'closed' then.
 *
 * Events:
 *   'push' (Push)                 every PDU the server pushes, as ImClient emits it
 *   'message' (IMMsgData)         a message delivered live (a resend of one already seen is not repeated)
 *   'disconnected' ({reason})     the connection was lost; a reconnect follows
 *   'reconnecting' ({attempt, inMs, error}) the next attempt is scheduled (error: why the last failed, or null)
 *   'reconnected' ({where, attempt})        logged in again
 *   'caught-up' ({messages, sessions}) what arrived while disconnected (oldest first), possibly empty;
 *                                 sessions: how each conversation with unread messages was looked at
 *   'catch-up-failed' ({error})   the unread/history requests failed (what is missed stays unread on the server)
 *   'closed' ({reason, kicked})   final: no more reconnects
 */
import { EventEmitter } from 'node:events';
import { CID, IM, type BodyOf, type MessageClass, type MessageOf } from '../../pdu/commands';
import { TTError, errorMessage } from '../../lib/errors';
import { ImClient, LoginRefusedError, fetchMsgServer, type ImClientOptions, type LoginOptions, type Push } from './im-client';

const { ResultType, SessionType, MsgType } = IM.BaseDefine;

/** Gets a connected, logged-in client (one attempt). */
export type Dialer = () => Promise<{ client: ImClient; where: string }>;

export interface ReconnectOptions {
  dial: Dialer;
  /** First retry delay; doubles per failed attempt up to maxBackoffMs (each with jitter). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** An error after which retrying is pointless (default: wrong password, disabled account, client too old). */
  isFatal?(err: unknown): boolean;
  /** Messages fetched per conversation at most when catching up. */
  catchUpLimit?: number;
}

/** Messages per history page while catching up. */
const CATCH_UP_PAGE = 100;
/** Catching up stops below the last seen id after this many messages in a row that were seen. */
export const CATCH_UP_SEEN_RUN = 20;
/** Message ids remembered per conversation to tell what was already seen. */
const SEEN_PER_SESSION = 2_000;

export class NotConnectedError extends TTError {
  constructor() {
    super('TT_ERR_NOT_CONNECTED', 'not connected to a msg server right now (reconnecting)');
  }
}

/** A dialer the way every TeamTalk client logs in: ask the login server, connect, log in. */
export function viaLoginServer(
  loginUrl: string,
  user: string,
  password: string,
  options: { login?: LoginOptions; client?: Partial<ImClientOptions>; timeoutMs?: number } = {},
): Dialer {
  return async () => {
    const target = await fetchMsgServer(loginUrl, { timeoutMs: options.timeoutMs ?? 10_000 });
    const client = await ImClient.connect({ host: target.host, port: target.port, connectTimeoutMs: options.timeoutMs ?? 10_000, ...options.client });
    try {
      await client.login(user, password, options.login);
    } catch (err) {
      client.close();
      throw err;
    }
    return { client, where: `${target.host}:${target.port}` };
  };
}

export function isFatalLoginError(err: unknown): boolean {
  if ((err as { fatal?: unknown }).fatal === true) return true;
  return (
    err instanceof LoginRefusedError &&
    (err.resultCode === ResultType.REFUSE_REASON_DB_VALIDATE_FAILED || err.resultCode === ResultType.REFUSE_REASON_VERSION_TOO_OLD)
  );
}

/** How one conversation was caught up ('caught-up' event): its unread count, the highest id seen before, messages looked at and found new. */
export interface CatchUpSession {
  sessionId: number;
  sessionType: number;
  unread: number;
  lastSeen: number | null;
  looked: number;
  found: number;
}

type SessionKey = string;
const sessionKey = (type: number, id: number): SessionKey => `${type === SessionType.SESSION_TYPE_GROUP ? 'g' : 'u'}:${id}`;

function isGroupType(msgType: number): boolean {
  return msgType === MsgType.MSG_TYPE_GROUP_TEXT || msgType === MsgType.MSG_TYPE_GROUP_AUDIO;
}

export class ReconnectingClient extends EventEmitter {
  /** The current connection; null while reconnecting. */
  client: ImClient | null = null;
  /** Where the current connection goes (host:port). */
  where = '';
  /** Successful logins so far (1 after start()). */
  logins = 0;
  private stopped = false;
  private finished = false;
  private kicked = false;
  private lastUserId = 0;
  private lastUserInfo: IM.BaseDefine.IUserInfo | null = null;
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Msg ids seen per conversation (delivered, caught up, or sent by us), and the highest of them. */
  private readonly seen = new Map<SessionKey, Set<number>>();
  private readonly highest = new Map<SessionKey, number>();
  /** `highest` when the connection was lost: catching up fetches what is above it. */
  private floors = new Map<SessionKey, number>();
  /** Per conversation, the lowest msg id pushed live on the current connection: from there on, news of this connection. */
  private liveFrom = new Map<SessionKey, number>();
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly upWaiters: Array<() => void> = [];

  constructor(private readonly options: ReconnectOptions) {
    super();
    this.initialBackoffMs = options.initialBackoffMs ?? 250;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
  }

  /** The first login: its failure is thrown as is (nothing is retried yet). */
  async start(): Promise<void> {
    const { client, where } = await this.options.dial();
    this.adopt(client, where);
  }

  get isOpen(): boolean {
    return this.client !== null && this.client.isOpen;
  }

  get userId(): number {
    return this.client?.userId ?? this.lastUserId;
  }

  get userInfo(): IM.BaseDefine.IUserInfo | null {
    return this.client?.userInfo ?? this.lastUserInfo;
  }

  /** Resolves once connected and logged in (at once when it is). */
  whenConnected(): Promise<void> {
    if (this.isOpen) return Promise.resolve();
    return new Promise((resolve) => this.upWaiters.push(resolve));
  }

  /** No more reconnects; closes the connection ('closed' follows). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const client = this.client;
    if (client !== null && client.isOpen) client.close();
    else this.finish('stopped', false);
  }

  async logout(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    const client = this.client;
    if (client !== null && client.isOpen) await client.logout();
    this.finish('logged out', false);
  }

  // ---- the ImClient calls the chat session and tools use, on the current connection ----

  /** Sends on the current connection; the acked message counts as seen (catching up will not bring it back). */
  /** Any request on the current connection (rejects with NotConnectedError while reconnecting). */
  request<Q extends MessageClass, R extends MessageClass>(type: Q, body: BodyOf<Q>, replyType: R): Promise<MessageOf<R>> {
    return this.current().request(type, body, replyType);
  }

  /** A PDU without a reply on the current connection; false while reconnecting. */
  send<T extends MessageClass>(type: T, body: BodyOf<T>): boolean {
    return this.client?.send(type, body) ?? false;
  }

  async sendText(toSessionId: number, text: string, options: { group?: boolean } = {}): Promise<IM.Message.IMMsgDataAck> {
    const client = this.current();
    const ack = await client.sendText(toSessionId, text, options);
    this.remember({
      from_user_id: client.userId,
      to_session_id: toSessionId,
      msg_id: ack.msg_id,
      msg_type: options.group ? MsgType.MSG_TYPE_GROUP_TEXT : MsgType.MSG_TYPE_SINGLE_TEXT,
    });
    return ack;
  }
  readAck(sessionId: number, msgId: number, group = false): void {
    this.client?.readAck(sessionId, msgId, group);
  }
  unreadCounts(): Promise<IM.Message.IMUnreadMsgCntRsp> {
    return this.current().unreadCounts();
  }
  history(sessionId: number, options: { group?: boolean; fromMsgId?: number; count?: number } = {}): Promise<IM.Message.IMGetMsgListRsp> {
    return this.current().history(sessionId, options);
  }
  recentSessions(since = 0): Promise<IM.Buddy.IMRecentContactSessionRsp> {
    return this.current().recentSessions(since);
  }
  allUsers(since = 0): Promise<IM.Buddy.IMAllUserRsp> {
    return this.current().allUsers(since);
  }
  usersStatus(userIds: number[]): Promise<IM.Buddy.IMUsersStatRsp> {
    return this.current().usersStatus(userIds);
  }
  normalGroups(): Promise<IM.Group.IMNormalGroupListRsp> {
    return this.current().normalGroups();
  }
  groupInfo(groupIds: number[]): Promise<IM.Group.IMGroupInfoListRsp> {
    return this.current().groupInfo(groupIds);
  }
  createGroup(name: string, memberIds: number[]): Promise<IM.Group.IMGroupCreateRsp> {
    return this.current().createGroup(name, memberIds);
  }
  close(): void {
    this.stop();
  }

  // ---- connection lifecycle ----

  private current(): ImClient {
    if (this.client === null || !this.client.isOpen) throw new NotConnectedError();
    return this.client;
  }

  private adopt(client: ImClient, where: string): void {
    this.client = client;
    this.where = where;
    this.logins++;
    this.lastUserId = client.userId;
    this.lastUserInfo = client.userInfo;
    this.kicked = false;
    this.liveFrom = new Map();
    client.on('push', (push: Push) => this.onPush(push));
    client.on('close', (reason: string) => this.onClose(client, reason));
    for (const resolve of this.upWaiters.splice(0)) resolve();
  }

  private onPush(push: Push): void {
    if (push.commandId === CID.LOGIN_KICK_USER) this.kicked = true;
    if (push.commandId === CID.MSG_DATA) {
      const msg = push.message as IM.Message.IMMsgData;
      // A resend of a delivery we already have (its ack was lost) is not a new message.
      if (this.remember(msg)) this.emit('message', msg);
      const key = this.sessionKeyOf(msg);
      if (msg.msg_id < (this.liveFrom.get(key) ?? Infinity)) this.liveFrom.set(key, msg.msg_id);
    }
    this.emit('push', push);
  }

  private onClose(client: ImClient, reason: string): void {
    if (this.client !== client) return;
    this.client = null;
    if (this.stopped) return this.finish(reason, false);
    if (this.kicked) return this.finish(reason, true);
    this.floors = new Map(this.highest);
    this.emit('disconnected', { reason });
    this.attempt = 0;
    this.schedule(null);
  }

  private schedule(error: unknown): void {
    if (this.stopped) return;
    const ceiling = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.min(this.attempt, 20));
    // Equal jitter: the clients of a drained msg server do not all come back at once.
    const inMs = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.attempt++;
    this.emit('reconnecting', { attempt: this.attempt, inMs, error: error === null ? null : errorMessage(error) });
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.reconnect();
    }, inMs);
  }

  private async reconnect(): Promise<void> {
    if (this.stopped) return;
    let dialed: { client: ImClient; where: string };
    try {
      dialed = await this.options.dial();
    } catch (err) {
      if ((this.options.isFatal ?? isFatalLoginError)(err)) return this.finish(`cannot log in again: ${errorMessage(err)}`, false);
      return this.schedule(err);
    }
    if (this.stopped) {
      dialed.client.close();
      return;
    }
    this.adopt(dialed.client, dialed.where);
    this.emit('reconnected', { where: dialed.where, attempt: this.attempt });
    let messages: IM.Message.IIMMsgData[] = [];
    const sessions: CatchUpSession[] = [];
    try {
      messages = await this.catchUp(dialed.client, sessions);
    } catch (err) {
      // The connection went again (a reconnect follows) or a request failed: what is missed stays unread.
      if (dialed.client.isOpen) this.emit('catch-up-failed', { error: errorMessage(err) });
      return;
    }
    this.emit('caught-up', { messages, sessions });
  }

  /**
   * What arrived while we were away, oldest first: for every conversation with
   * unread messages, its history from the newest message down until either as
   * many messages from the others as it has unread were looked at (counting only
   * those the unread counts knew of: newer ones arrived since), or, below the
   * highest id seen before the connection was lost, CATCH_UP_SEEN_RUN messages
   * in a row were ones we had. Not simply down to that highest id: ids are
   * allocated when stored, so a lower one (a delivery that died with a msg
   * server) can be missing under a higher one we saw (our own message).
   * Messages already seen (e.g. sent by us since) are left out.
   */
  private async catchUp(client: ImClient, sessions: CatchUpSession[]): Promise<IM.Message.IIMMsgData[]> {
    const limit = this.options.catchUpLimit ?? 1_000;
    const unread = await client.unreadCounts();
    const me = client.userId;
    const out: IM.Message.IIMMsgData[] = [];
    for (const u of unread.unreadinfo_list) {
      if (u.unread_cnt === 0) continue;
      const group = u.session_type === SessionType.SESSION_TYPE_GROUP;
      const key = sessionKey(u.session_type, u.session_id);
      const floor = this.floors.get(key);
      const seen = this.seen.get(key);
      const liveFrom = this.liveFrom.get(key) ?? Infinity;
      const found: IM.BaseDefine.IMsgInfo[] = [];
      let fromOthers = 0;
      let seenRun = 0;
      let looked = 0;
      let from = 0;
      let done = false;
      while (!done && looked < limit) {
        const page = await client.history(u.session_id, { group, fromMsgId: from, count: CATCH_UP_PAGE });
        const list = [...page.msg_list].sort((a, b) => b.msg_id - a.msg_id);
        for (const m of list) {
          if (fromOthers >= u.unread_cnt || (floor !== undefined && m.msg_id <= floor && seenRun >= CATCH_UP_SEEN_RUN)) {
            done = true;
            break;
          }
          looked++;
          // Our own messages count as news only with a known floor (sent from another device meanwhile).
          const own = m.from_session_id === me;
          // Counted towards the unread count only if surely older than it: not newer than its
          // latest_msg_id and not one of those pushed on this connection (arrived since, and
          // maybe not counted yet). Not counting one that was only makes us look further.
          if (!own && m.msg_id <= u.latest_msg_id && m.msg_id < liveFrom) fromOthers++;
          const known = seen?.has(m.msg_id) ?? false;
          seenRun = known && floor !== undefined && m.msg_id <= floor ? seenRun + 1 : 0;
          if (!known && (!own || floor !== undefined)) found.push(m);
        }
        if (list.length === 0 || list[list.length - 1].msg_id <= 1) break;
        from = list[list.length - 1].msg_id - 1;
      }
      sessions.push({ sessionId: u.session_id, sessionType: u.session_type, unread: u.unread_cnt, lastSeen: floor ?? null, looked, found: found.length });
      for (const m of found.reverse()) {
        const msg: IM.Message.IIMMsgData = {
          from_user_id: m.from_session_id,
          to_session_id: group ? u.session_id : m.from_session_id === client.userId ? u.session_id : client.userId,
          msg_id: m.msg_id,
          create_time: m.create_time,
          msg_type: m.msg_type,
          msg_data: m.msg_data,
        };
        if (this.remember(msg)) out.push(msg);
      }
    }
    return out;
  }

  /** Notes a message as seen; false if it was already. */
  private remember(msg: Pick<IM.Message.IIMMsgData, 'from_user_id' | 'to_session_id' | 'msg_id' | 'msg_type'>): boolean {
    const key = this.sessionKeyOf(msg);
    let seen = this.seen.get(key);
    if (seen === undefined) {
      seen = new Set();
      this.seen.set(key, seen);
    }
    const id = msg.msg_id ?? 0;
    if (seen.has(id)) return false;
    seen.add(id);
    if (id > (this.highest.get(key) ?? 0)) this.highest.set(key, id);
    if (seen.size > SEEN_PER_SESSION) seen.delete(seen.values().next().value as number);
    return true;
  }

  /** The conversation a message belongs to, seen from this user. */
  private sessionKeyOf(msg: Pick<IM.Message.IIMMsgData, 'from_user_id' | 'to_session_id' | 'msg_type'>): SessionKey {
    const group = isGroupType(msg.msg_type ?? 0);
    const peer = group || msg.from_user_id === this.lastUserId ? (msg.to_session_id ?? 0) : (msg.from_user_id ?? 0);
    return sessionKey(group ? SessionType.SESSION_TYPE_GROUP : SessionType.SESSION_TYPE_SINGLE, peer);
  }

  private finish(reason: string, kicked: boolean): void {
    this.stopped = true;
    if (this.finished) return;
    this.finished = true;
    this.emit('closed', { reason, kicked });
  }
}
