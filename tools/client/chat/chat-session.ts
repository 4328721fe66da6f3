/**
 * The chat client's state and what each command does over the protocol: which
 * conversation is open, what is unread, and what to do with what the server
 * pushes. Messages of the open conversation are shown and marked read at once
 * (they have been seen); others are announced with the unread count.
 */
import { CID, IM } from '../../../pdu/commands';
import { PduFlag, describeFlag } from '../../../pdu/frame';
import { errorMessage } from '../../../lib/errors';
import type { Push } from '../im-client';
import type { ReconnectingClient } from '../reconnecting-client';
import { Directory } from './directory';
import { FileTransfers } from './files';
import { clock, isGroupMessageType, messageLine, messageText, preview, table, type Style } from './render';
import type { Output } from './terminal';

const { SessionType, UserStatType, KickReasonType } = IM.BaseDefine;

export interface Conversation {
  kind: 'user' | 'group';
  id: number;
  name: string;
}

/** Messages shown when a conversation is opened. */
export const OPEN_HISTORY_COUNT = 20;
/** How long a message typed while reconnecting waits for the connection to come back. */
export const RECONNECT_WAIT_MS = 60_000;

/** What a recent session and an unread entry both tell about a conversation. */
type SessionSummary = Pick<IM.BaseDefine.IContactSessionInfo, 'session_id' | 'session_type' | 'latest_msg_type' | 'latest_msg_data' | 'latest_msg_from_user_id'>;

const key = (kind: Conversation['kind'], id: number) => `${kind}:${id}`;
const kindOf = (sessionType: number): Conversation['kind'] => (sessionType === SessionType.SESSION_TYPE_GROUP ? 'group' : 'user');

export class ChatSession {
  conversation: Conversation | null = null;
  /** Set when the server logged us out because we logged in elsewhere. */
  kickReason: string | null = null;
  readonly directory: Directory;
  readonly files: FileTransfers;
  private readonly unread = new Map<string, number>();
  /** Oldest msg id shown in the open conversation (for /history paging); 0 = none shown yet. */
  private oldestShown = 0;
  /** Pushes are handled one at a time, in arrival order, so lines never interleave. */
  private pushes: Promise<void> = Promise.resolve();

  constructor(
    readonly client: ReconnectingClient,
    private readonly out: Output,
    private readonly style: Style,
    downloadDir = process.cwd(),
  ) {
    this.directory = new Directory(client);
    this.files = new FileTransfers(client, this.directory, out, style, downloadDir);
  }

  get me(): number {
    return this.client.userId;
  }

  /** After login: who is who, then live pushes and reconnections, then the recent sessions. */
  async start(): Promise<void> {
    await this.directory.refreshUsers();
    await this.directory.refreshGroups();
    this.client.on('push', (push: Push) => this.queuePush(push));
    this.client.on('message', (m: IM.Message.IMMsgData) => this.queue(() => this.onMessage(m)));
    this.client.on('disconnected', ({ reason }: { reason: string }) =>
      this.out.line(this.style.error(`connection to the msg server lost: ${reason}; reconnecting`)),
    );
    this.client.on('reconnecting', ({ attempt, inMs, error }: { attempt: number; inMs: number; error: string | null }) => {
      if (error !== null) this.out.line(this.style.dim(`reconnect attempt ${attempt - 1} failed: ${error}; next in ${(inMs / 1000).toFixed(1)} s`));
    });
    this.client.on('reconnected', ({ where }: { where: string }) => this.out.line(this.style.notice(`reconnected to ${where}`)));
    this.client.on('caught-up', ({ messages }: { messages: IM.Message.IMMsgData[] }) => {
      if (messages.length === 0) return;
      // Names first, then the heading and the messages in one go: nothing printed in between.
      this.queue(async () => {
        await this.learnSenders(messages);
        this.out.line(this.style.notice(`${messages.length} message${messages.length > 1 ? 's' : ''} arrived while disconnected:`));
        for (const m of messages) this.showMessage(m);
      });
    });
    this.client.on('catch-up-failed', ({ error }: { error: string }) =>
      this.out.line(this.style.error(`could not fetch what arrived while disconnected (${error}); see /sessions`)),
    );
    await this.showSessions();
  }

  /** Resolves once every push received so far has been handled (and printed). */
  settled(): Promise<void> {
    return this.pushes;
  }

  async showSessions(): Promise<void> {
    const [sessions, unread] = await Promise.all([this.client.recentSessions(0), this.client.unreadCounts()]);
    this.unread.clear();
    for (const u of unread.unreadinfo_list) this.unread.set(key(kindOf(u.session_type), u.session_id), u.unread_cnt);
    const listed = new Set(sessions.contact_session_list.map((s) => key(kindOf(s.session_type), s.session_id)));
    // A group's session row for its members is written by the server's periodic sync
    // (every few seconds): until then a new group's unread messages show only here.
    const unlisted = unread.unreadinfo_list.filter((u) => !listed.has(key(kindOf(u.session_type), u.session_id)));
    const groupIds = [...sessions.contact_session_list, ...unlisted].filter((s) => s.session_type === SessionType.SESSION_TYPE_GROUP).map((s) => s.session_id);
    const unknownGroups = groupIds.filter((id) => !this.directory.knowsGroup(id));
    if (unknownGroups.length > 0) await this.directory.loadGroups(unknownGroups);
    if (sessions.contact_session_list.length === 0 && unlisted.length === 0) {
      this.out.line('no recent conversations');
      return;
    }
    const row = (s: SessionSummary, when: string) => {
      const kind = kindOf(s.session_type);
      const name = kind === 'group' ? `#${this.directory.groupName(s.session_id)}` : this.directory.userName(s.session_id);
      const count = this.unread.get(key(kind, s.session_id)) ?? 0;
      const text = messageText(s.latest_msg_type, s.latest_msg_data);
      // For a single session the server reports the peer as sender whoever wrote it; for a group it is the real sender.
      const last = kind === 'group' ? `${this.directory.userName(s.latest_msg_from_user_id)}: ${text}` : text;
      return [name, count > 0 ? `${count} unread` : '', when, preview(last)];
    };
    const rows = [...unlisted.map((u) => row(u, 'new')), ...sessions.contact_session_list.map((s) => row(s, clock(s.updated_time)))];
    this.out.line('recent conversations:');
    for (const line of table(rows)) this.out.line(line);
  }

  async showUsers(onlineOnly: boolean): Promise<void> {
    await this.directory.refreshUsers();
    const users = this.directory.activeUsers();
    const status = users.length > 0 ? await this.client.usersStatus(users.map((u) => u.user_id)) : { user_stat_list: [] };
    const statusOf = new Map(status.user_stat_list.map((s) => [s.user_id, s.status]));
    const shown = users.filter((u) => !onlineOnly || statusOf.get(u.user_id) === UserStatType.USER_STATUS_ONLINE);
    if (shown.length === 0) {
      // Only computer clients count as online (as in TeamTalk); phones do not.
      this.out.line(onlineOnly ? 'nobody is online' : 'no users');
      return;
    }
    const rows = shown.map((u) => [u.user_real_name, u.user_nick_name, statusName(statusOf.get(u.user_id)) + (u.user_id === this.me ? ' (you)' : '')]);
    for (const line of table(rows)) this.out.line(line);
  }

  async showGroups(): Promise<void> {
    await this.directory.refreshGroups();
    const groups = this.directory.allGroups();
    if (groups.length === 0) {
      this.out.line('no groups (create one with /newgroup NAME user1,user2)');
      return;
    }
    const rows = groups.map((g) => [`#${g.name}`, `id ${g.id}`, g.members.map((m) => this.directory.userName(m)).sort().join(', ')]);
    for (const line of table(rows)) this.out.line(line);
  }

  async open(name: string): Promise<void> {
    const user = await this.directory.findUser(name);
    if (!user) throw new Error(`no user named "${name}" (see /users)`);
    if (user.user_id === this.me) throw new Error('that is you; open a conversation with someone else');
    await this.enter({ kind: 'user', id: user.user_id, name: user.user_real_name });
  }

  async openGroup(nameOrId: string): Promise<void> {
    const group = await this.directory.findGroup(nameOrId);
    if (!group) throw new Error(`no group "${nameOrId}" (see /groups)`);
    await this.enter({ kind: 'group', id: group.id, name: group.name });
  }

  async newGroup(name: string, memberNames: string[]): Promise<void> {
    const ids = new Set<number>([this.me]); // real clients list themselves (the original server does not add the creator)
    for (const n of memberNames) {
      const u = await this.directory.findUser(n);
      if (!u) throw new Error(`no user named "${n}" (see /users)`);
      ids.add(u.user_id);
    }
    let rsp: IM.Group.IMGroupCreateRsp;
    try {
      rsp = await this.client.createGroup(name, [...ids]);
    } catch (err) {
      throw new Error(`group not created: ${failureReason(err)}`);
    }
    if (rsp.result_code !== 0) throw new Error(`group not created: the server refused (code ${rsp.result_code})`);
    await this.directory.loadGroups([rsp.group_id]);
    this.out.line(`created group #${name} (id ${rsp.group_id})`);
    await this.enter({ kind: 'group', id: rsp.group_id, name });
  }

  close(): void {
    if (!this.conversation) throw new Error('no conversation is open');
    this.out.line(`--- left ${describe(this.conversation)} ---`);
    this.conversation = null;
  }

  /** Shows up to `count` messages older than those shown, oldest first; the first page marks the conversation read. */
  async showHistory(count: number): Promise<number> {
    const c = this.conversation;
    if (!c) throw new Error('open a conversation first (/open NAME or /group NAME)');
    if (this.oldestShown === 1) {
      this.out.line(this.style.dim('(no older messages)'));
      return 0;
    }
    const rsp = await this.client.history(c.id, {
      group: c.kind === 'group',
      fromMsgId: this.oldestShown > 0 ? this.oldestShown - 1 : 0,
      count,
    });
    const messages = [...rsp.msg_list].sort((a, b) => a.msg_id - b.msg_id);
    for (const m of messages) {
      this.out.line(messageLine(this.style, m.create_time, this.directory.userName(m.from_session_id), messageText(m.msg_type, m.msg_data)));
    }
    if (messages.length === 0) {
      if (this.oldestShown > 0) this.out.line(this.style.dim('(no older messages)'));
      return 0;
    }
    if (this.oldestShown === 0) this.markRead(c, messages[messages.length - 1].msg_id);
    this.oldestShown = messages[0].msg_id;
    return messages.length;
  }

  async send(text: string): Promise<void> {
    const c = this.conversation;
    if (!c) throw new Error('open a conversation first (/open NAME or /group NAME), or use /msg NAME TEXT');
    await this.sendTo(c, text);
  }

  async sendToName(name: string, text: string): Promise<void> {
    const user = await this.directory.findUser(name);
    if (!user) throw new Error(`no user named "${name}" (see /users)`);
    if (user.user_id === this.me) throw new Error('you cannot send a message to yourself');
    await this.sendTo({ kind: 'user', id: user.user_id, name: user.user_real_name }, text);
  }

  private async enter(conversation: Conversation): Promise<void> {
    this.conversation = conversation;
    this.oldestShown = 0;
    this.out.line(`--- ${describe(conversation)} ---`);
    const shown = await this.showHistory(OPEN_HISTORY_COUNT);
    if (shown === 0) this.out.line(this.style.dim('(no messages yet)'));
  }

  private markRead(c: Conversation, msgId: number): void {
    this.client.readAck(c.id, msgId, c.kind === 'group');
    this.unread.delete(key(c.kind, c.id));
  }

  /**
   * Sends and waits for the server's ack. A message typed while reconnecting,
   * or whose connection went before its ack came, is sent (again) once
   * reconnected: without an ack it counts as not stored.
   */
  private async sendTo(c: Conversation, text: string): Promise<void> {
    const target = c.kind === 'group' ? `#${c.name}` : c.name;
    const send = () => this.client.sendText(c.id, text, { group: c.kind === 'group' });
    let ack: IM.Message.IMMsgDataAck;
    let retried = false;
    try {
      if (!this.client.isOpen) await this.waitForReconnect();
      try {
        ack = await send();
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== 'TT_ERR_CONNECTION_CLOSED' && code !== 'TT_ERR_NOT_CONNECTED') throw err;
        await this.waitForReconnect();
        retried = true;
        ack = await send();
      }
    } catch (err) {
      throw new Error(`message to ${target} not sent: ${failureReason(err)}`);
    }
    this.out.line(this.style.dim(`sent to ${target} (msg id ${ack.msg_id})${retried ? ' after reconnecting' : ''}`));
  }

  private async waitForReconnect(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still not reconnected after ${RECONNECT_WAIT_MS / 1000} s`)), RECONNECT_WAIT_MS);
    });
    try {
      await Promise.race([this.client.whenConnected(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private queuePush(push: Push): void {
    if (push.commandId === CID.LOGIN_KICK_USER) {
      // Noted at once: the connection closes right after this notice.
      const kick = push.message as IM.Login.IMKickUser;
      this.kickReason = kick.kick_reason === KickReasonType.KICK_REASON_MOBILE_KICK ? 'your phone logged this client out' : 'logged in elsewhere';
    }
    // Messages come through 'message' (each once, resends left out).
    if (push.commandId === CID.MSG_DATA) return;
    this.queue(() => this.onPush(push));
  }

  private queue(work: () => Promise<void>): void {
    this.pushes = this.pushes
      .then(work)
      .catch((err: unknown) => {
        // A lookup failing because the connection just closed is reported by the close itself.
        if (this.client.isOpen) this.out.line(this.style.error(`error: ${errorMessage(err)}`));
      });
  }

  private async onPush(push: Push): Promise<void> {
    switch (push.commandId) {
      case CID.MSG_READ_NOTIFY: {
        // Read on another of my devices.
        const n = push.message as IM.Message.IMMsgDataReadNotify;
        this.unread.delete(key(kindOf(n.session_type), n.session_id));
        return;
      }
      case CID.LOGIN_KICK_USER:
        this.out.line(this.style.error(`you were logged out: ${this.kickReason}`));
        return;
      case CID.BUDDY_LIST_STATUS_NOTIFY: {
        const { user_id, status } = (push.message as IM.Buddy.IMUserStatNotify).user_stat;
        if (user_id === this.me) return;
        if (!this.directory.knowsUser(user_id)) await this.directory.refreshUsers();
        this.out.line(this.style.dim(`* ${this.directory.userName(user_id)} is ${statusName(status)}`));
        return;
      }
      case CID.FILE_NOTIFY: {
        const n = push.message as IM.File.IMFileNotify;
        if (!this.directory.knowsUser(n.from_user_id)) await this.directory.refreshUsers();
        this.files.onNotify(n);
        return;
      }
      case CID.GROUP_CHANGE_MEMBER_NOTIFY: {
        const n = push.message as IM.Group.IMGroupChangeMemberNotify;
        await this.directory.loadGroups([n.group_id]);
        this.out.line(this.style.notice(`* members of #${this.directory.groupName(n.group_id)} changed`));
        return;
      }
      default:
        return;
    }
  }

  private async onMessage(m: IM.Message.IMMsgData): Promise<void> {
    await this.learnSenders([m]);
    this.showMessage(m);
  }

  /** Loads the users and groups of `messages` the directory does not know yet. */
  private async learnSenders(messages: readonly IM.Message.IMMsgData[]): Promise<void> {
    if (messages.some((m) => !this.directory.knowsUser(m.from_user_id))) await this.directory.refreshUsers();
    const groups = [...new Set(messages.filter((m) => isGroupMessageType(m.msg_type) && !this.directory.knowsGroup(m.to_session_id)).map((m) => m.to_session_id))];
    if (groups.length > 0) await this.directory.loadGroups(groups);
  }

  /** Prints a message (open conversation) or a notice of it (elsewhere). */
  private showMessage(m: IM.Message.IMMsgData): void {
    const group = isGroupMessageType(m.msg_type);
    // A single message I sent from another device has the peer in to_session_id.
    const peer = group || m.from_user_id === this.me ? m.to_session_id : m.from_user_id;
    const kind = group ? 'group' : 'user';
    const c = this.conversation;
    if (c && c.kind === kind && c.id === peer) {
      this.out.line(messageLine(this.style, m.create_time, this.directory.userName(m.from_user_id), messageText(m.msg_type, m.msg_data)));
      // Shown, so read: the unread count is cleared and my other devices learn it.
      if (m.from_user_id !== this.me) this.markRead(c, m.msg_id);
      return;
    }
    if (m.from_user_id === this.me) return; // sent from another of my devices, not open here
    const k = key(kind, peer);
    const count = (this.unread.get(k) ?? 0) + 1;
    this.unread.set(k, count);
    const where = group ? ` in #${this.directory.groupName(peer)}` : '';
    const text = preview(messageText(m.msg_type, m.msg_data), 60);
    this.out.line(this.style.notice(`* new message from ${this.directory.userName(m.from_user_id)}${where} (${count} unread) at ${clock(m.create_time)}: ${text}`));
  }
}

function describe(c: Conversation): string {
  return c.kind === 'group' ? `group #${c.name}` : `conversation with ${c.name}`;
}

function statusName(status: number | undefined): string {
  if (status === UserStatType.USER_STATUS_ONLINE) return 'online';
  if (status === UserStatType.USER_STATUS_LEAVE) return 'away';
  return 'offline';
}

/** Why a request failed, for a person. */
function failureReason(err: unknown): string {
  const e = err as { code?: string; flag?: number };
  switch (e.code) {
    case 'TT_ERR_REMOTE':
      return e.flag === PduFlag.STORAGE_ERROR
        ? 'the server could not store it; try again'
        : `the server refused (${describeFlag(e.flag ?? 0)})`;
    case 'TT_ERR_REQUEST_TIMEOUT':
      return 'no answer from the server in time (it may or may not have been stored)';
    case 'TT_ERR_CONNECTION_CLOSED':
      return 'the connection to the msg server closed';
    case 'TT_ERR_NOT_CONNECTED':
      return 'not connected to a msg server (reconnecting)';
    default:
      return errorMessage(err);
  }
}
