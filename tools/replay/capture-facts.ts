/**
 * What a capture shows about the deployment it was recorded on, read from the
 * recorded replies: the accounts, departments and groups, the messages that
 * existed before the capture started, the unread counters and recent sessions
 * the clients were shown, and how each login ended. provision.ts recreates
 * this state in a target deployment; the replayer uses the login outcomes.
 *
 * State before the capture is told apart from what the capture itself did:
 * messages acknowledged during the capture (IMMsgDataAck) and groups created
 * during it (IMGroupCreateRsp) are replayed, so they are not provisioned; an
 * unread count shown after such messages arrived is reduced by them (and a read
 * ack during the capture makes the earlier count irrelevant).
 *
 * All ids here are the recorded ones. Pure: no I/O.
 */
import { CID, IM, commandById } from '../../pdu/commands';
import { bodyOf, type CaptureRecord, type PduRecord } from '../capture/format';
import type { UserProfile } from '../../scripts/db/accounts';

const { SessionType, ResultType } = IM.BaseDefine;

export interface RecordedLogin {
  conn: number;
  /** Position of the IMLoginReq among the records. */
  index: number;
  line?: number;
  userName: string;
  /** The password digest as sent (md5 hex). */
  digest: string;
  /** From the recorded IMLoginRes of the same connection and seq; 'unknown' when the capture has none. */
  outcome: 'succeeded' | 'failed' | 'unknown';
  resultCode?: number;
  /** user_info.user_id of a successful login. */
  userId?: number;
}

/**
 * A user's IMUser profile as the recording shows it (status: login replies force 0,
 * so a list's value wins), with the recorded id; the protocol calls IMUser.sex gender.
 */
export interface RecordedUser extends Omit<UserProfile, 'sex'> {
  id: number;
  gender: number;
}

export interface RecordedDepartment {
  id: number;
  name: string;
  priority: number;
  parentId: number;
  deleted: boolean;
}

export interface RecordedGroup {
  id: number;
  name: string;
  avatar: string;
  creatorId: number;
  type: number;
  version: number;
  members: number[];
}

export interface RecordedMessage {
  group: boolean;
  fromId: number;
  /** Peer user id (single) or group id. */
  toId: number;
  msgId: number;
  type: number;
  /** msg_data, base64. */
  data: string;
  /**
   * Only seen as the newest message of an unread count or recent session: the
   * sender of a single message is taken to be the peer (those summaries name the
   * peer, not the sender), and audio comes without its bytes.
   */
  summaryOnly: boolean;
}

export interface RecordedUnread {
  userId: number;
  /** Counts as they were before the capture. */
  sessions: Array<{ sessionId: number; sessionType: number; count: number }>;
  /** False when what the capture did before the reply does not add up to it (then the counts are a best guess). */
  certain: boolean;
}

export interface RecordedRecentSessions {
  userId: number;
  /** latest_update_time of the request: 0 lists every session, T only those updated after T. */
  since: number;
  /** In the recorded order (most recent first), without sessions whose newest message the capture itself sent. */
  sessions: Array<{ sessionId: number; sessionType: number; updated: number }>;
}

export interface CaptureFacts {
  logins: RecordedLogin[];
  users: Map<number, RecordedUser>;
  /** User ids that appear (members, peers, senders) without a recorded profile. */
  usersWithoutProfile: Set<number>;
  departments: Map<number, RecordedDepartment>;
  groups: Map<number, RecordedGroup>;
  /** Groups created during the capture: the replay creates them again. */
  groupsCreatedInCapture: Set<number>;
  /** Messages that existed before the capture, ascending msg id per conversation. */
  messages: RecordedMessage[];
  /** Conversation (conversationKey) -> the first msg id the capture itself created there. */
  firstCaptureMsgId: Map<string, number>;
  /** One per user: their first unread reply, turned back into the counts before the capture. */
  unread: RecordedUnread[];
  /** One per user: their first recent-session reply. */
  recent: RecordedRecentSessions[];
  /** IMUser.updated a user needs so that requests with a latest_update_time list what they listed. */
  userUpdated: Map<number, number>;
  /** IMDepart.updated, likewise. */
  departUpdated: Map<number, number>;
  /** What could not be worked out, for the report. */
  notes: string[];
}

/** A single conversation (either direction) or a group, by recorded ids. */
export function conversationKey(group: boolean, a: number, b: number): string {
  if (group) return `group:${b}`;
  return a < b ? `single:${a}:${b}` : `single:${b}:${a}`;
}

/** Decoded with numeric enums (the other shape than format.ts DECODE_OPTIONS: numbers are easier to reason on here). */
function decode(record: PduRecord): Record<string, unknown> | null {
  const info = commandById(record.command);
  if (!info) return null;
  try {
    return info.type.toObject(info.type.decode(bodyOf(record)), { enums: Number, bytes: String, longs: Number, defaults: false });
  } catch {
    return null;
  }
}

type Obj = Record<string, unknown>;
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const list = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const isGroupSession = (sessionType: number) => sessionType === SessionType.SESSION_TYPE_GROUP;
const isGroupMsgType = (type: number) => type === IM.BaseDefine.MsgType.MSG_TYPE_GROUP_TEXT || type === IM.BaseDefine.MsgType.MSG_TYPE_GROUP_AUDIO;

/** Something the capture did that changes unread counts of a conversation. */
type UnreadEvent =
  /** A single message for `receiver`. */
  | { kind: 'arrived'; session: string; receiver: number }
  /** A group message: one more unread for every member but its sender. */
  | { kind: 'group-message'; session: string; sender: number }
  /** `userId` read the conversation (read ack, removed session, or their own group message). */
  | { kind: 'cleared'; session: string; userId: number };

interface ListQuery {
  since: number;
  listed: Set<number>;
}

interface ConnState {
  userId: number;
  pending: Map<number, { command: number; body: Obj; login?: RecordedLogin }>;
}

class FactReader {
  readonly facts: CaptureFacts = {
    logins: [],
    users: new Map(),
    usersWithoutProfile: new Set(),
    departments: new Map(),
    groups: new Map(),
    groupsCreatedInCapture: new Set(),
    messages: [],
    firstCaptureMsgId: new Map(),
    unread: [],
    recent: [],
    userUpdated: new Map(),
    departUpdated: new Map(),
    notes: [],
  };
  private readonly conns = new Map<number, ConnState>();
  /** Messages before the capture by "conversation#msgId"; a full copy replaces a summary. */
  private readonly messages = new Map<string, RecordedMessage>();
  /** "conversation#msgId" of every message the capture created. */
  private readonly created = new Set<string>();
  /** By conversation, in capture order. */
  private readonly events = new Map<string, UnreadEvent[]>();
  private readonly userQueries: ListQuery[] = [];
  private readonly departQueries: ListQuery[] = [];
  private readonly groupsListedWithoutInfo = new Set<number>();
  private readonly referencedUsers = new Set<number>();
  /** Users whose only profile so far came from a login reply (which forces status 0). */
  private readonly loginOnly = new Set<number>();
  /** Member changes the capture made to groups whose info it has not shown yet: undone on the first info. */
  private readonly memberChanges = new Map<number, Array<{ added: boolean; users: number[] }>>();

  read(records: readonly CaptureRecord[], lines: readonly number[]): CaptureFacts {
    records.forEach((record, index) => {
      if (record.type === 'open') this.conns.set(record.conn, { userId: 0, pending: new Map() });
      if (record.type !== 'pdu') return;
      const conn = this.conns.get(record.conn);
      const body = decode(record);
      if (!conn || !body) return;
      if (record.dir === 'c2s') this.clientPdu(conn, record, body, index, lines[index]);
      else this.serverPdu(conn, record, body);
    });
    return this.finish();
  }

  private clientPdu(conn: ConnState, record: PduRecord, body: Obj, index: number, line: number | undefined): void {
    const pending = { command: record.command, body } as { command: number; body: Obj; login?: RecordedLogin };
    switch (record.command) {
      case CID.LOGIN_REQ_USERLOGIN: {
        const login: RecordedLogin = {
          conn: record.conn,
          index,
          ...(line !== undefined ? { line } : {}),
          userName: str(body.user_name),
          digest: str(body.password),
          outcome: 'unknown',
        };
        this.facts.logins.push(login);
        pending.login = login;
        break;
      }
      case CID.MSG_READ_ACK:
        this.cleared(conn.userId, num(body.session_type), num(body.session_id));
        return;
      case CID.BUDDY_LIST_REMOVE_SESSION_REQ:
        // Removing a session also clears its unread count (the reply says whether it existed).
        this.cleared(conn.userId, num(body.session_type), num(body.session_id));
        break;
    }
    conn.pending.set(record.seq, pending);
  }

  private cleared(userId: number, sessionType: number, sessionId: number): void {
    if (userId === 0) return;
    this.event({ kind: 'cleared', userId, session: conversationKey(isGroupSession(sessionType), userId, sessionId) });
  }

  private event(e: UnreadEvent): void {
    const list = this.events.get(e.session);
    if (list) list.push(e);
    else this.events.set(e.session, [e]);
  }

  private serverPdu(conn: ConnState, record: PduRecord, body: Obj): void {
    const request = record.seq !== 0 ? conn.pending.get(record.seq) : undefined;
    if (request) conn.pending.delete(record.seq);
    const asked = request?.body ?? {};
    switch (record.command) {
      case CID.LOGIN_RES_USERLOGIN: {
        const login = request?.login ?? [...this.facts.logins].reverse().find((l) => l.conn === record.conn && l.outcome === 'unknown');
        if (!login) return;
        login.resultCode = num(body.result_code);
        login.outcome = login.resultCode === ResultType.REFUSE_REASON_NONE ? 'succeeded' : 'failed';
        const info = body.user_info as Obj | undefined;
        if (login.outcome === 'succeeded' && info) {
          login.userId = num(info.user_id);
          conn.userId = login.userId;
          this.user(info, true);
        }
        return;
      }
      case CID.BUDDY_LIST_ALL_USER_RESPONSE: {
        const listed = new Set<number>();
        for (const u of list(body.user_list)) listed.add(this.user(u, false));
        this.userQueries.push({ since: num(asked.latest_update_time), listed });
        return;
      }
      case CID.BUDDY_LIST_USER_INFO_RESPONSE:
        for (const u of list(body.user_info_list)) this.user(u, false);
        return;
      case CID.BUDDY_LIST_DEPARTMENT_RESPONSE: {
        const listed = new Set<number>();
        for (const d of list(body.dept_list)) {
          const id = num(d.dept_id);
          listed.add(id);
          if (!this.facts.departments.has(id)) {
            this.facts.departments.set(id, {
              id,
              name: str(d.dept_name),
              priority: num(d.priority),
              parentId: num(d.parent_dept_id),
              deleted: num(d.dept_status) !== IM.BaseDefine.DepartmentStatusType.DEPT_STATUS_OK,
            });
          }
        }
        this.departQueries.push({ since: num(asked.latest_update_time), listed });
        return;
      }
      case CID.GROUP_CREATE_RESPONSE:
        if (num(body.result_code) === 0 && num(body.group_id) !== 0) this.facts.groupsCreatedInCapture.add(num(body.group_id));
        return;
      case CID.GROUP_CHANGE_MEMBER_RESPONSE: {
        const groupId = num(body.group_id);
        if (num(body.result_code) !== 0 || this.facts.groups.has(groupId)) return;
        const changes = this.memberChanges.get(groupId) ?? [];
        const added = num(body.change_type) === IM.BaseDefine.GroupModifyType.GROUP_MODIFY_TYPE_ADD;
        changes.push({ added, users: (Array.isArray(body.chg_user_id_list) ? (body.chg_user_id_list as unknown[]) : []).map(num) });
        this.memberChanges.set(groupId, changes);
        return;
      }
      case CID.GROUP_NORMAL_LIST_RESPONSE:
        for (const v of list(body.group_version_list)) this.groupsListedWithoutInfo.add(num(v.group_id));
        return;
      case CID.GROUP_INFO_RESPONSE:
        for (const g of list(body.group_info_list)) this.group(g);
        return;
      case CID.MSG_DATA_ACK:
        if (request?.command === CID.MSG_DATA) this.createdByCapture(conn, request.body, body);
        return;
      case CID.MSG_UNREAD_CNT_RESPONSE:
        this.unread(conn, body);
        return;
      case CID.BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE:
        this.recent(conn, body, num(asked.latest_update_time));
        return;
      case CID.MSG_LIST_RESPONSE:
      case CID.MSG_GET_BY_MSG_ID_RES: {
        const group = isGroupSession(num(body.session_type));
        const sessionId = num(body.session_id);
        const userId = num(body.user_id) || conn.userId;
        for (const m of list(body.msg_list)) {
          const from = num(m.from_session_id);
          this.message({
            group,
            fromId: from,
            toId: group ? sessionId : from === userId ? sessionId : userId,
            msgId: num(m.msg_id),
            type: num(m.msg_type),
            data: str(m.msg_data),
            summaryOnly: false,
          });
        }
        return;
      }
    }
  }

  /** A profile from a login reply or a user list; returns its id. */
  private user(info: Obj, fromLogin: boolean): number {
    const id = num(info.user_id);
    const known = this.facts.users.get(id);
    const status = num(info.status);
    if (known) {
      // The first profile is the state before the capture, except that lists know the real status.
      if (!fromLogin && this.loginOnly.delete(id)) known.status = status;
      return id;
    }
    this.facts.users.set(id, {
      id,
      name: str(info.user_real_name),
      nick: str(info.user_nick_name),
      gender: num(info.user_gender),
      departId: num(info.department_id),
      email: str(info.email),
      phone: str(info.user_tel),
      domain: str(info.user_domain),
      avatar: str(info.avatar_url),
      signInfo: str(info.sign_info),
      status: fromLogin ? 0 : status,
    });
    if (fromLogin) this.loginOnly.add(id);
    return id;
  }

  private group(g: Obj): void {
    const id = num(g.group_id);
    if (this.facts.groups.has(id) || this.facts.groupsCreatedInCapture.has(id)) return;
    let members = (Array.isArray(g.group_member_list) ? (g.group_member_list as unknown[]) : []).map(num);
    // The group before the capture: without what the capture changed so far (the replay changes it again).
    const changes = this.memberChanges.get(id) ?? [];
    for (const change of [...changes].reverse()) {
      members = change.added ? members.filter((m) => !change.users.includes(m)) : [...members, ...change.users.filter((m) => !members.includes(m))];
    }
    this.facts.groups.set(id, {
      id,
      name: str(g.group_name),
      avatar: str(g.group_avatar),
      creatorId: num(g.group_creator_id),
      type: num(g.group_type),
      // Every member change bumps the version.
      version: Math.max(1, num(g.version) - changes.length),
      members,
    });
    for (const uid of [num(g.group_creator_id), ...members]) this.referencedUsers.add(uid);
  }

  /** An IMMsgData the capture sent, and the ack that stored it. */
  private createdByCapture(conn: ConnState, sent: Obj, ack: Obj): void {
    const group = isGroupSession(num(ack.session_type)) || isGroupMsgType(num(sent.msg_type));
    const from = conn.userId || num(sent.from_user_id);
    const to = num(ack.session_id) || num(sent.to_session_id);
    const msgId = num(ack.msg_id);
    if (msgId === 0) return;
    const conversation = conversationKey(group, from, to);
    this.created.add(`${conversation}#${msgId}`);
    const first = this.facts.firstCaptureMsgId.get(conversation);
    if (first === undefined || msgId < first) this.facts.firstCaptureMsgId.set(conversation, msgId);
    if (group) {
      // The sender has read their group up to their own message; every other member has one more unread.
      this.event({ kind: 'cleared', session: conversation, userId: from });
      this.event({ kind: 'group-message', session: conversation, sender: from });
    } else {
      this.event({ kind: 'arrived', session: conversation, receiver: to });
    }
  }

  private unread(conn: ConnState, body: Obj): void {
    const userId = num(body.user_id) || conn.userId;
    if (userId === 0 || this.facts.unread.some((u) => u.userId === userId)) return;
    let certain = true;
    const sessions: RecordedUnread['sessions'] = [];
    const listed = new Set<string>();
    for (const info of list(body.unreadinfo_list)) {
      const sessionType = num(info.session_type);
      const group = isGroupSession(sessionType);
      const sessionId = num(info.session_id);
      const conversation = conversationKey(group, userId, sessionId);
      listed.add(conversation);
      const count = num(info.unread_cnt);
      const { arrived, clearedSince } = this.activity(userId, conversation, group);
      let before = count - arrived;
      // After a read in the capture, nothing from before it counts; else the reply must cover what arrived since.
      if (clearedSince ? before !== 0 : before < 0) certain = false;
      if (clearedSince || before < 0) before = 0;
      sessions.push({ sessionId, sessionType, count: before });
      this.summary(group, userId, sessionId, info);
    }
    // Messages that arrived during the capture and were not read since must be listed.
    for (const conversation of this.events.keys()) {
      if (!listed.has(conversation) && this.activity(userId, conversation, conversation.startsWith('group:')).arrived > 0) certain = false;
    }
    this.facts.unread.push({ userId, sessions, certain });
  }

  private concerns(e: UnreadEvent, userId: number): boolean {
    if (e.kind === 'arrived') return e.receiver === userId;
    if (e.kind === 'group-message') return e.sender !== userId;
    return e.userId === userId;
  }

  /** Messages that arrived for the user in the conversation during the capture so far, since its last clear. */
  private activity(userId: number, conversation: string, group: boolean): { arrived: number; clearedSince: boolean } {
    let arrived = 0;
    let clearedSince = false;
    for (const e of this.events.get(conversation) ?? []) {
      if (!this.concerns(e, userId)) continue;
      if (e.kind === 'cleared') {
        arrived = 0;
        clearedSince = true;
      } else if (!group || this.isMember(conversation, userId)) {
        arrived++;
      }
    }
    return { arrived, clearedSince };
  }

  private isMember(conversation: string, userId: number): boolean {
    const group = this.facts.groups.get(Number(conversation.slice('group:'.length)));
    return group === undefined || group.members.includes(userId);
  }

  private recent(conn: ConnState, body: Obj, since: number): void {
    const userId = num(body.user_id) || conn.userId;
    if (userId === 0 || this.facts.recent.some((r) => r.userId === userId)) return;
    const sessions: RecordedRecentSessions['sessions'] = [];
    for (const info of list(body.contact_session_list)) {
      const sessionType = num(info.session_type);
      const sessionId = num(info.session_id);
      const group = isGroupSession(sessionType);
      if (this.created.has(`${conversationKey(group, userId, sessionId)}#${num(info.latest_msg_id)}`)) continue;
      sessions.push({ sessionId, sessionType, updated: num(info.updated_time) });
      this.summary(group, userId, sessionId, info);
    }
    this.facts.recent.push({ userId, since, sessions });
  }

  /** The newest message of a session, as an unread count or recent session shows it. */
  private summary(group: boolean, userId: number, sessionId: number, info: Obj): void {
    if (!group) this.referencedUsers.add(sessionId);
    this.message({
      group,
      // Single summaries name the peer as the sender (see RecordedMessage.summaryOnly).
      fromId: group ? num(info.latest_msg_from_user_id) : sessionId,
      toId: group ? sessionId : userId,
      msgId: num(info.latest_msg_id),
      type: num(info.latest_msg_type),
      data: str(info.latest_msg_data),
      summaryOnly: true,
    });
  }

  private message(m: RecordedMessage): void {
    if (m.msgId === 0) return;
    const key = `${conversationKey(m.group, m.fromId, m.toId)}#${m.msgId}`;
    if (this.created.has(key)) return;
    const known = this.messages.get(key);
    if (known && !(known.summaryOnly && !m.summaryOnly)) return;
    this.messages.set(key, m);
    this.referencedUsers.add(m.fromId);
  }

  private finish(): CaptureFacts {
    const facts = this.facts;
    for (const [key, m] of this.messages) {
      const conversation = key.slice(0, key.indexOf('#'));
      const first = facts.firstCaptureMsgId.get(conversation);
      if (first !== undefined && m.msgId >= first) {
        facts.notes.push(`message ${m.msgId} of ${conversation} was sent during the capture by a client it did not record: not provisioned`);
        continue;
      }
      if (m.group && facts.groupsCreatedInCapture.has(m.toId)) continue;
      facts.messages.push(m);
    }
    facts.messages.sort((a, b) => a.msgId - b.msgId);

    for (const id of this.groupsListedWithoutInfo) {
      if (!facts.groups.has(id) && !facts.groupsCreatedInCapture.has(id)) {
        facts.notes.push(`group ${id} is listed but its info (IMGroupInfoListRsp) was never recorded: not provisioned`);
      }
    }
    for (const id of this.referencedUsers) if (id !== 0 && !facts.users.has(id)) facts.usersWithoutProfile.add(id);

    // Users are listed when updated >= T, departments when updated > T.
    const updatedTimes = (ids: Iterable<number>, queries: ListQuery[], listedAbove: number, unlistedAt: number, out: Map<number, number>) => {
      for (const id of ids) {
        let low: number | undefined;
        let high: number | undefined;
        for (const q of queries) {
          if (q.since === 0) continue;
          if (q.listed.has(id)) low = Math.max(low ?? 0, q.since + listedAbove);
          else high = Math.min(high ?? Infinity, q.since + unlistedAt);
        }
        if (low !== undefined && high !== undefined && low > high) {
          facts.notes.push(`id ${id} is listed by one update-time query and not by an earlier one: its update time cannot satisfy both`);
        }
        const value = low ?? high;
        if (value !== undefined && value > 0) out.set(id, value);
      }
    };
    updatedTimes(facts.users.keys(), this.userQueries, 0, -1, facts.userUpdated);
    updatedTimes(facts.departments.keys(), this.departQueries, 1, 0, facts.departUpdated);
    return facts;
  }
}

/**
 * `records`: a parsed capture's records (with `lines`, its line numbers), or the
 * records the capture proxy emits. RecordedLogin.index is a position in `records`.
 */
export function readCaptureFacts(records: readonly CaptureRecord[], lines: readonly number[] = []): CaptureFacts {
  return new FactReader().read(records, lines);
}
