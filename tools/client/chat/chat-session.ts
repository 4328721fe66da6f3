/**
 * The chat client's state and what each command does over the protocol: who is
 * who, which conversation is open, what is unread; live messages are shown in
 * the open conversation (and marked read) or announced.
 */
import { IM } from '../../../pdu/commands';
import { encryptMessageText } from '../../../lib/message-crypto';
import type { ImClient, Push } from '../im-client';
import { clock, messageLine, messageText, table, type Style } from './render';

const { SessionType, MsgType, UserStatType, KickReasonType } = IM.BaseDefine;

export interface Conversation {
  kind: 'user' | 'group';
  id: number;
  name: string;
}

export interface Output {
  line(text: string): void;
}

interface Group {
  name: string;
  members: number[];
}

const key = (kind: 'user' | 'group', id: number) => `${kind}:${id}`;

export class ChatSession {
  conversation: Conversation | null = null;
  private readonly users = new Map<number, IM.BaseDefine.IUserInfo>();
  private readonly groups = new Map<number, Group>();
  private readonly unread = new Map<string, number>();
  private usersUpdatedAt = 0;
  /** Oldest msg id shown in the open conversation (for /history paging); 0 = none. */
  private oldestShown = 0;

  constructor(
    readonly client: ImClient,
    private readonly out: Output,
    private readonly style: Style,
  ) {}

  get me(): number {
    return this.client.userId;
  }

  /** After login: directory, groups, unread counts, recent sessions; then live pushes. */
  async start(): Promise<void> {
    await this.refreshUsers();
    await this.refreshGroups();
    const unread = await this.client.unreadCounts();
    for (const u of unread.unreadinfo_list) {
      this.unread.set(key(u.session_type === SessionType.SESSION_TYPE_GROUP ? 'group' : 'user', u.session_id), u.unread_cnt);
    }
    this.client.on('push', (push: Push) => void this.onPush(push));
    await this.showSessions();
  }

  userName(id: number): string {
    const u = this.users.get(id);
    return u ? u.user_real_name : `user#${id}`;
  }

  private findUser(name: string): IM.BaseDefine.IUserInfo | undefined {
    const lower = name.toLowerCase();
    for (const u of this.users.values()) if (u.user_real_name.toLowerCase() === lower) return u;
    return undefined;
  }

  async refreshUsers(): Promise<void> {
    const rsp = await this.client.allUsers(this.usersUpdatedAt);
    for (const u of rsp.user_list) this.users.set(u.user_id, u);
    this.usersUpdatedAt = rsp.latest_update_time;
  }

  /** Normal groups, plus the temporary ones that appear in recent sessions. */
  async refreshGroups(extra: number[] = []): Promise<void> {
    const ids = new Set<number>(extra);
    for (const g of (await this.client.normalGroups()).group_version_list) ids.add(g.group_id);
    for (const s of (await this.client.recentSessions(0)).contact_session_list) {
      if (s.session_type === SessionType.SESSION_TYPE_GROUP) ids.add(s.session_id);
    }
    if (ids.size === 0) return;
    const info = await this.client.groupInfo([...ids]);
    for (const g of info.group_info_list) this.groups.set(g.group_id, { name: g.group_name, members: [...(g.group_member_list ?? [])] });
  }

  async showSessions(): Promise<void> {
    const [sessions, unread] = await Promise.all([this.client.recentSessions(0), this.client.unreadCounts()]);
    for (const u of unread.unreadinfo_list) {
      this.unread.set(key(u.session_type === SessionType.SESSION_TYPE_GROUP ? 'group' : 'user', u.session_id), u.unread_cnt);
    }
    if (sessions.contact_session_list.length === 0) {
      this.out.line('no recent conversations');
      return;
    }
    this.out.line('recent conversations:');
    const rows = sessions.contact_session_list.map((s) => {
      const group = s.session_type === SessionType.SESSION_TYPE_GROUP;
      const name = group ? `#${this.groups.get(s.session_id)?.name ?? s.session_id}` : this.userName(s.session_id);
      const count = this.unread.get(key(group ? 'group' : 'user', s.session_id)) ?? 0;
      const preview = messageText(s.latest_msg_type, s.latest_msg_data).slice(0, 40);
      return [name, count > 0 ? `${count} unread` : '', clock(s.updated_time), preview];
    });
    for (const line of table(rows)) this.out.line(line);
  }

  async showUsers(onlineOnly: boolean): Promise<void> {
    await this.refreshUsers();
    const users = [...this.users.values()].filter((u) => u.status !== 3);
    const status = await this.client.usersStatus(users.map((u) => u.user_id));
    const online = new Set(status.user_stat_list.filter((s) => s.status === UserStatType.USER_STATUS_ONLINE).map((s) => s.user_id));
    const shown = users.filter((u) => !onlineOnly || online.has(u.user_id));
    if (shown.length === 0) {
      this.out.line(onlineOnly ? 'nobody is online (on a PC client)' : 'no users');
      return;
    }
    const rows = shown.map((u) => [u.user_real_name, u.user_nick_name, online.has(u.user_id) ? 'online' : 'offline']);
    for (const line of table(rows)) this.out.line(line);
  }

  async showGroups(): Promise<void> {
    await this.refreshGroups();
    if (this.groups.size === 0) {
      this.out.line('no groups (create one with /newgroup NAME user1,user2)');
      return;
    }
    const rows = [...this.groups.entries()].map(([id, g]) => [`#${g.name}`, `id ${id}`, g.members.map((m) => this.userName(m)).join(', ')]);
    for (const line of table(rows)) this.out.line(line);
  }

  async open(name: string): Promise<void> {
    let user = this.findUser(name);
    if (!user) {
      await this.refreshUsers();
      user = this.findUser(name);
    }
    if (!user) throw new Error(`no user named "${name}" (see /users)`);
    if (user.user_id === this.me) throw new Error('that is you');
    await this.enter({ kind: 'user', id: user.user_id, name: user.user_real_name });
  }

  async openGroup(nameOrId: string): Promise<void> {
    const find = () => {
      for (const [id, g] of this.groups) if (String(id) === nameOrId || g.name.toLowerCase() === nameOrId.toLowerCase()) return id;
      return undefined;
    };
    let id = find();
    if (id === undefined) {
      await this.refreshGroups(/^\d+$/.test(nameOrId) ? [Number(nameOrId)] : []);
      id = find();
    }
    if (id === undefined) throw new Error(`no group "${nameOrId}" (see /groups)`);
    await this.enter({ kind: 'group', id, name: (this.groups.get(id) as Group).name });
  }

  async newGroup(name: string, memberNames: string[]): Promise<void> {
    const ids: number[] = [];
    for (const n of memberNames) {
      const u = this.findUser(n);
      if (!u) throw new Error(`no user named "${n}"`);
      ids.push(u.user_id);
    }
    const rsp = await this.client.createGroup(name, ids);
    if (rsp.result_code !== 0) throw new Error(`the server refused to create the group (code ${rsp.result_code})`);
    await this.refreshGroups([rsp.group_id]);
    this.out.line(`created group #${name} (id ${rsp.group_id})`);
    await this.enter({ kind: 'group', id: rsp.group_id, name });
  }

  close(): void {
    if (this.conversation) this.out.line(`--- left ${this.describe(this.conversation)} ---`);
    this.conversation = null;
  }

  private describe(c: Conversation): string {
    return c.kind === 'group' ? `group #${c.name}` : `conversation with ${c.name}`;
  }

  private async enter(conversation: Conversation): Promise<void> {
    this.conversation = conversation;
    this.oldestShown = 0;
    this.out.line(`--- ${this.describe(conversation)} ---`);
    const shown = await this.showHistory(20);
    if (shown === 0) this.out.line(this.style.dim('(no messages yet)'));
  }

  /** Shows up to `count` messages older than those shown; marks the conversation read. */
  async showHistory(count: number): Promise<number> {
    const c = this.conversation;
    if (!c) throw new Error('open a conversation first (/open NAME)');
    if (this.oldestShown === 1) {
      this.out.line(this.style.dim('(no older messages)'));
      return 0;
    }
    const rsp = await this.client.history(c.id, {
      group: c.kind === 'group',
      fromMsgId: this.oldestShown > 0 ? this.oldestShown - 1 : 0,
      count,
    });
    const messages = [...rsp.msg_list].reverse();
    for (const m of messages) this.out.line(messageLine(this.style, m.create_time, this.userName(m.from_session_id), messageText(m.msg_type, m.msg_data)));
    if (messages.length > 0) {
      const newest = messages[messages.length - 1].msg_id;
      if (this.oldestShown === 0) this.markRead(c, newest);
      this.oldestShown = messages[0].msg_id;
    } else if (this.oldestShown > 0) {
      this.out.line(this.style.dim('(no older messages)'));
    }
    return messages.length;
  }

  private markRead(c: Conversation, msgId: number): void {
    this.client.readAck(c.id, msgId, c.kind === 'group');
    this.unread.delete(key(c.kind, c.id));
  }

  async send(text: string): Promise<void> {
    const c = this.conversation;
    if (!c) throw new Error('open a conversation first (/open NAME or /group NAME), or use /msg NAME TEXT');
    await this.sendTo(c, text);
  }

  async sendToName(name: string, text: string): Promise<void> {
    const user = this.findUser(name);
    if (!user) throw new Error(`no user named "${name}" (see /users)`);
    await this.sendTo({ kind: 'user', id: user.user_id, name: user.user_real_name }, text);
  }

  private async sendTo(c: Conversation, text: string): Promise<void> {
    const msgType = c.kind === 'group' ? MsgType.MSG_TYPE_GROUP_TEXT : MsgType.MSG_TYPE_SINGLE_TEXT;
    const ack = await this.client.sendMessage(c.id, encryptMessageText(text), msgType);
    this.out.line(this.style.dim(`sent to ${c.kind === 'group' ? '#' + c.name : c.name} (msg id ${ack.msg_id})`));
  }

  private async onPush(push: Push): Promise<void> {
    switch (push.commandId) {
      case 0x0301:
        return this.onMessage(push.message as IM.Message.IMMsgData);
      case 0x0107: {
        const kick = push.message as IM.Login.IMKickUser;
        const why = kick.kick_reason === KickReasonType.KICK_REASON_MOBILE_KICK ? 'logged out by your phone' : 'you logged in elsewhere';
        this.out.line(this.style.error(`you were logged out: ${why}`));
        return;
      }
      case 0x040b: {
        const n = push.message as IM.Group.IMGroupChangeMemberNotify;
        await this.refreshGroups([n.group_id]);
        this.out.line(this.style.notice(`* members of #${this.groups.get(n.group_id)?.name ?? n.group_id} changed`));
        return;
      }
      default:
        return;
    }
  }

  private async onMessage(m: IM.Message.IMMsgData): Promise<void> {
    const group = m.msg_type === MsgType.MSG_TYPE_GROUP_TEXT || m.msg_type === MsgType.MSG_TYPE_GROUP_AUDIO;
    if (!this.users.has(m.from_user_id)) await this.refreshUsers();
    if (group && !this.groups.has(m.to_session_id)) await this.refreshGroups([m.to_session_id]);
    const peer = group ? m.to_session_id : m.from_user_id === this.me ? m.to_session_id : m.from_user_id;
    const kind = group ? 'group' : 'user';
    const c = this.conversation;
    if (c && c.kind === kind && c.id === peer) {
      this.out.line(messageLine(this.style, m.create_time, this.userName(m.from_user_id), messageText(m.msg_type, m.msg_data)));
      // Shown, so read: the sender's other devices and the unread count learn it.
      if (m.from_user_id !== this.me) this.markRead(c, m.msg_id);
      return;
    }
    if (m.from_user_id === this.me) return; // sent from another of my devices, not open here
    const k = key(kind, peer);
    const count = (this.unread.get(k) ?? 0) + 1;
    this.unread.set(k, count);
    const where = group ? ` in #${this.groups.get(peer)?.name ?? peer}` : '';
    this.out.line(this.style.notice(`* new message from ${this.userName(m.from_user_id)}${where} (${count} unread)`));
  }
}
