/**
 * ImClient: a TeamTalk client over the real protocol, for the terminal chat
 * client, the benchmarks and the end-to-end tests. It logs in like the real
 * clients (md5 of the password), heartbeats like the Windows client, acks every
 * delivered message, and keeps what the server pushes in an inbox that tests
 * can wait on.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { IM, commandById, commandOf, type BodyOf, type MessageClass, type MessageOf } from '../../pdu/commands';
import { PduConnection } from '../../pdu/connection';
import type { Pdu } from '../../pdu/frame';
import { openWebSocketDuplex } from '../../pdu/websocket-duplex';
import { TTError } from '../../lib/errors';
import { encryptMessageText } from '../../lib/message-crypto';
import { clientPasswordDigest } from '../../lib/password';

const { ClientType, UserStatType, SessionType, MsgType } = IM.BaseDefine;

export class LoginRefusedError extends TTError {
  constructor(
    readonly resultCode: number,
    readonly resultString: string,
  ) {
    super('TT_ERR_LOGIN_REFUSED', `login refused (code ${resultCode}): ${resultString || 'no reason given'}`);
  }
}

export interface ImClientOptions extends ClientConnectionOptions {
  host: string;
  port: number;
}

/** A client over the msg server's WebSocket port (one binary message per PDU), as the web chat connects. */
export interface WebSocketClientOptions extends ClientConnectionOptions {
  /** ws:// or wss:// URL, as the login server hands it out (wsUrl). */
  url: string;
  /** Origin header to send (browsers always send one; by default none is sent). */
  origin?: string;
  /** wss:// with a private CA or a self-signed certificate: trust this PEM. */
  ca?: string | Buffer;
}

interface ClientConnectionOptions {  /** Heartbeat period; the Windows client uses 5 s. 0 disables. */
  heartbeatIntervalMs?: number;
  requestTimeoutMs?: number;
  /** Ack every delivered single-chat message at once (what real clients do). */
  autoAck?: boolean;
  /** Keep pushes for next(); turn off for long-running load clients. */
  keepInbox?: boolean;
  /** Largest PDU accepted from the server (user lists can be big). */
  maxPduLength?: number;
  /** Give up connecting after this long (default: the OS's own TCP timeout). */
  connectTimeoutMs?: number;
}

export interface Push {
  commandId: number;
  name: string;
  message: unknown;
  pdu: Pdu;
}

export interface LoginOptions {
  clientType?: number;
  onlineStatus?: number;
  clientVersion?: string;
}

/**
 * The msg server address a login server hands out (GET /msg_server); `backupHost`
 * is its other address (the answer's backupIP). With transport 'ws' it asks for a
 * msg server with a WebSocket port (/msg_server?transport=ws) and `wsUrl` is set.
 * No time limit unless timeoutMs.
 */
export async function fetchMsgServer(
  loginUrl: string,
  options: { timeoutMs?: number; transport?: 'tcp' | 'ws' } = {},
): Promise<{ host: string; port: number; backupHost: string; wsUrl: string; raw: Record<string, unknown> }> {
  const base = loginUrl.includes('/msg_server') ? loginUrl : `${loginUrl.replace(/\/$/, '')}/msg_server`;
  const url = options.transport === 'ws' ? `${base}${base.includes('?') ? '&' : '?'}transport=ws` : base;
  let res: Response;
  let body: Record<string, unknown>;
  try {
    res = await fetch(url, options.timeoutMs === undefined ? {} : { signal: AbortSignal.timeout(options.timeoutMs) });
  } catch (err) {
    const why = (err as Error).name === 'TimeoutError' ? 'no answer in time' : String((err as { cause?: Error }).cause?.message ?? (err as Error).message);
    throw new TTError('TT_ERR_LOGIN_SERVER_UNREACHABLE', `cannot reach the login server at ${url}: ${why}`);
  }
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    throw new TTError('TT_ERR_LOGIN_SERVER_ANSWER', `${url} answered HTTP ${res.status} with something that is not a login server answer`);
  }
  if (body.code !== 0) {
    throw new TTError('TT_ERR_NO_MSG_SERVER', `login server has no msg server for us (code ${String(body.code)}: ${String(body.msg)})`);
  }
  const host = String(body.priorIP);
  const wsUrl = typeof body.wsUrl === 'string' ? body.wsUrl : '';
  if (options.transport === 'ws' && wsUrl === '') throw new TTError('TT_ERR_LOGIN_SERVER_ANSWER', `${url} answered without a wsUrl: not a login server that knows WebSocket msg servers`);
  return { host, port: Number(body.port), backupHost: typeof body.backupIP === 'string' && body.backupIP !== '' ? body.backupIP : host, wsUrl, raw: body };
}

export class ImClient extends EventEmitter {
  readonly conn: PduConnection;
  userId = 0;
  userInfo: IM.BaseDefine.IUserInfo | null = null;
  clientType: number = ClientType.CLIENT_TYPE_WINDOWS;
  readonly inbox: Push[] = [];
  private readonly keepInbox: boolean;
  private readonly autoAck: boolean;
  private waiters: Array<{ match: (p: Push) => boolean; resolve: (p: Push) => void }> = [];
  private closedReason: string | null = null;

  private constructor(socket: Duplex, options: ClientConnectionOptions) {
    super();
    this.keepInbox = options.keepInbox ?? true;
    this.autoAck = options.autoAck ?? true;
    this.conn = new PduConnection(
      socket,
      {
        onPdu: (_conn, pdu) => this.onPush(pdu),
        onClose: (_conn, reason) => {
          this.closedReason = reason;
          this.emit('close', reason);
        },
      },
      {
        heartbeatIntervalMs: options.heartbeatIntervalMs ?? 5_000,
        requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
        maxPduLength: options.maxPduLength ?? 64 * 1024 * 1024,
        maxWriteQueueBytes: 64 * 1024 * 1024,
      },
    );
  }

  static connect(options: ImClientOptions): Promise<ImClient> {
    return new Promise((resolve, reject) => {
      const where = `${options.host}:${options.port}`;
      const socket = net.connect({ host: options.host, port: options.port, noDelay: true });
      const timer =
        options.connectTimeoutMs === undefined
          ? null
          : setTimeout(() => socket.destroy(new Error(`no answer within ${options.connectTimeoutMs} ms`)), options.connectTimeoutMs);
      socket.once('error', (err) => {
        if (timer) clearTimeout(timer);
        reject(new TTError('TT_ERR_CONNECT', `cannot connect to the msg server ${where}: ${err.message}`));
      });
      socket.once('connect', () => {
        if (timer) clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new ImClient(socket, options));
      });
    });
  }

  static async connectWebSocket(options: WebSocketClientOptions): Promise<ImClient> {
    try {
      const duplex = await openWebSocketDuplex(options.url, {
        maxPayload: options.maxPduLength ?? 64 * 1024 * 1024,
        origin: options.origin,
        timeoutMs: options.connectTimeoutMs,
        ca: options.ca,
      });
      return new ImClient(duplex, options);
    } catch (err) {
      throw new TTError('TT_ERR_CONNECT', `cannot connect to the msg server ${options.url}: ${(err as Error).message}`);
    }
  }

  get isOpen(): boolean {
    return this.conn.isOpen;
  }

  get closeReason(): string | null {
    return this.closedReason;
  }

  /** Logs in with a plain password (sent as md5 hex, as every TeamTalk client does). */
  async login(userName: string, password: string, options: LoginOptions = {}): Promise<IM.Login.IMLoginRes> {
    this.clientType = options.clientType ?? ClientType.CLIENT_TYPE_WINDOWS;
    const res = await this.conn.request(
      IM.Login.IMLoginReq,
      {
        user_name: userName,
        password: clientPasswordDigest(password),
        online_status: options.onlineStatus ?? UserStatType.USER_STATUS_ONLINE,
        client_type: this.clientType,
        client_version: options.clientVersion ?? 'teamtalk-ts/1.0',
      },
      IM.Login.IMLoginRes,
    );
    if (res.result_code !== 0) throw new LoginRefusedError(res.result_code, res.result_string ?? '');
    this.userInfo = res.user_info ?? null;
    this.userId = res.user_info?.user_id ?? 0;
    return res;
  }

  /** A request with our own seq_num; resolves with the server's reply. */
  request<Q extends MessageClass, R extends MessageClass>(type: Q, body: BodyOf<Q>, replyType: R): Promise<MessageOf<R>> {
    return this.conn.request(type, body, replyType);
  }

  send<T extends MessageClass>(type: T, body: BodyOf<T>, seq = 0): boolean {
    return this.conn.send(type, body, seq);
  }

  /** Sends a text (encrypted like real clients) and resolves with the server's ack (the message is stored then). */
  sendText(toSessionId: number, text: string, options: { group?: boolean } = {}): Promise<IM.Message.IMMsgDataAck> {
    return this.sendMessage(toSessionId, encryptMessageText(text), options.group ? MsgType.MSG_TYPE_GROUP_TEXT : MsgType.MSG_TYPE_SINGLE_TEXT);
  }

  sendMessage(toSessionId: number, msgData: Uint8Array, msgType: number): Promise<IM.Message.IMMsgDataAck> {
    return this.conn.request(
      IM.Message.IMMsgData,
      {
        from_user_id: this.userId,
        to_session_id: toSessionId,
        msg_id: 0,
        create_time: Math.floor(Date.now() / 1000),
        msg_type: msgType,
        msg_data: msgData,
      },
      IM.Message.IMMsgDataAck,
    );
  }

  /** Marks a session read up to msgId (clears its unread count). */
  readAck(sessionId: number, msgId: number, group = false): void {
    this.conn.send(IM.Message.IMMsgDataReadAck, {
      user_id: this.userId,
      session_id: sessionId,
      msg_id: msgId,
      session_type: group ? SessionType.SESSION_TYPE_GROUP : SessionType.SESSION_TYPE_SINGLE,
    });
  }

  unreadCounts(): Promise<IM.Message.IMUnreadMsgCntRsp> {
    return this.request(IM.Message.IMUnreadMsgCntReq, { user_id: this.userId }, IM.Message.IMUnreadMsgCntRsp);
  }

  history(sessionId: number, options: { group?: boolean; fromMsgId?: number; count?: number } = {}): Promise<IM.Message.IMGetMsgListRsp> {
    return this.request(
      IM.Message.IMGetMsgListReq,
      {
        user_id: this.userId,
        session_type: options.group ? SessionType.SESSION_TYPE_GROUP : SessionType.SESSION_TYPE_SINGLE,
        session_id: sessionId,
        msg_id_begin: options.fromMsgId ?? 0,
        msg_cnt: options.count ?? 20,
      },
      IM.Message.IMGetMsgListRsp,
    );
  }

  recentSessions(since = 0): Promise<IM.Buddy.IMRecentContactSessionRsp> {
    return this.request(
      IM.Buddy.IMRecentContactSessionReq,
      { user_id: this.userId, latest_update_time: since },
      IM.Buddy.IMRecentContactSessionRsp,
    );
  }

  allUsers(since = 0): Promise<IM.Buddy.IMAllUserRsp> {
    return this.request(IM.Buddy.IMAllUserReq, { user_id: this.userId, latest_update_time: since }, IM.Buddy.IMAllUserRsp);
  }

  usersStatus(userIds: number[]): Promise<IM.Buddy.IMUsersStatRsp> {
    return this.request(IM.Buddy.IMUsersStatReq, { user_id: this.userId, user_id_list: userIds }, IM.Buddy.IMUsersStatRsp);
  }

  /** Normal (fixed) groups the user is in; temporary groups show up in recent sessions. */
  normalGroups(): Promise<IM.Group.IMNormalGroupListRsp> {
    return this.request(IM.Group.IMNormalGroupListReq, { user_id: this.userId }, IM.Group.IMNormalGroupListRsp);
  }

  groupInfo(groupIds: number[]): Promise<IM.Group.IMGroupInfoListRsp> {
    return this.request(
      IM.Group.IMGroupInfoListReq,
      { user_id: this.userId, group_version_list: groupIds.map((group_id) => ({ group_id, version: 0 })) },
      IM.Group.IMGroupInfoListRsp,
    );
  }

  /** A temporary group (clients may not create normal ones) with these members (the creator is added by the server). */
  createGroup(name: string, memberIds: number[]): Promise<IM.Group.IMGroupCreateRsp> {
    return this.request(
      IM.Group.IMGroupCreateReq,
      {
        user_id: this.userId,
        group_type: IM.BaseDefine.GroupType.GROUP_TYPE_TMP,
        group_name: name,
        group_avatar: '',
        member_id_list: memberIds,
      },
      IM.Group.IMGroupCreateRsp,
    );
  }

  async logout(): Promise<void> {
    if (!this.conn.isOpen) return;
    const closed = new Promise<void>((resolve) => this.once('close', () => resolve()));
    await this.request(IM.Login.IMLogoutReq, {}, IM.Login.IMLogoutRsp);
    await closed;
  }

  close(): void {
    this.conn.destroy('client closed');
  }

  /**
   * The next push of `type` (optionally matching `predicate`): from the inbox if
   * it already arrived, else when it comes. Rejects after timeoutMs.
   */
  next<T extends MessageClass>(type: T, predicate: (m: MessageOf<T>) => boolean = () => true, timeoutMs = 5_000): Promise<MessageOf<T>> {
    const commandId = commandOf(type).commandId;
    const match = (p: Push) => p.commandId === commandId && predicate(p.message as MessageOf<T>);
    const i = this.inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0].message as MessageOf<T>);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (p: Push) => {
          clearTimeout(timer);
          resolve(p.message as MessageOf<T>);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new TTError('TT_ERR_WAIT_TIMEOUT', `no ${commandById(commandId)?.name} arrived within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Pushes of a command received so far (not removed). */
  received<T extends MessageClass>(type: T): Array<MessageOf<T>> {
    const commandId = commandOf(type).commandId;
    return this.inbox.filter((p) => p.commandId === commandId).map((p) => p.message as MessageOf<T>);
  }

  private onPush(pdu: Pdu): void {
    const info = commandById(pdu.commandId);
    let message: unknown = null;
    if (info) {
      try {
        message = info.type.decode(pdu.body);
      } catch (err) {
        this.emit('malformed', pdu, err);
        return;
      }
    }
    if (this.autoAck && pdu.commandId === 0x0301) {
      const msg = message as IM.Message.IMMsgData;
      if (msg.msg_type === MsgType.MSG_TYPE_SINGLE_TEXT || msg.msg_type === MsgType.MSG_TYPE_SINGLE_AUDIO) {
        this.conn.send(IM.Message.IMMsgDataAck, {
          user_id: this.userId,
          session_id: msg.from_user_id,
          msg_id: msg.msg_id,
          session_type: SessionType.SESSION_TYPE_SINGLE,
        });
      }
    }
    const push: Push = { commandId: pdu.commandId, name: info?.name ?? `0x${pdu.commandId.toString(16)}`, message, pdu };
    this.emit('push', push);
    if (pdu.commandId === 0x0301) this.emit('message', message as IM.Message.IMMsgData);
    const waiter = this.waiters.find((w) => w.match(push));
    if (waiter) {
      this.waiters = this.waiters.filter((w) => w !== waiter);
      waiter.resolve(push);
      return;
    }
    if (this.keepInbox) {
      this.inbox.push(push);
      if (this.inbox.length > 10_000) this.inbox.shift();
    }
  }
}
