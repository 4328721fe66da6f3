/**
 * The web chat's state and everything it does over the protocol, without the
 * page: sign in the way every TeamTalk client does (ask the login server, here
 * /msg_server?transport=ws, connect, log in with md5 of the password), keep who
 * is who, recent sessions with unread counts, the conversations' messages, and
 * reconnect with backoff when the msg server goes away, then catch up on what
 * arrived meanwhile (unread counts, recent sessions, the open conversation's
 * latest page). The view (view.ts) renders it and calls its methods.
 */
import { PduSocket, RequestError, type CloseInfo } from './connection.js';
import { imageMarkup, previewOf } from './markup.js';
import { CID, bytesOf, type BodyOf, type DecodedPdu, type IM, type MessageName, type Messages } from './protocol.js';
import { decryptText, encryptText, passwordDigest } from './text-crypto.js';

const CLIENT_TYPE_WINDOWS = 1;
const STATUS = { ONLINE: 1, OFFLINE: 2, AWAY: 3 } as const;
const SESSION_SINGLE = 1;
const SESSION_GROUP = 2;
const MSG = { SINGLE_TEXT: 1, SINGLE_AUDIO: 2, GROUP_TEXT: 17, GROUP_AUDIO: 18 } as const;
const GROUP_TYPE_TMP = 2;
const REFUSE_DB_VALIDATE_FAILED = 6;
const REFUSE_VERSION_TOO_OLD = 7;
/** IMUser.status 3: the person left the company; hidden like real clients do. */
const USER_LEFT = 3;
/** A page of history. */
export const PAGE_SIZE = 20;
/** msg_data is stored in a varchar(4096) column: the Base64 ciphertext must fit. */
const MAX_MSG_DATA = 4096;
/** msfs stores files up to 5 MiB (files.md §1.2). */
export const MAX_PICTURE_BYTES = 5 * 1024 * 1024;
/** Reconnect delays (s), then the last one again; each with up to 30 % added at random. */
const RECONNECT_DELAYS_S = [1, 2, 4, 8, 15, 30];

export type ConversationKind = 'user' | 'group';
export type Presence = 'online' | 'away' | 'offline';

export interface Person {
  id: number;
  name: string;
  nick: string;
  presence: Presence;
  left: boolean;
}

export interface Group {
  id: number;
  name: string;
  members: number[];
  temporary: boolean;
}

export interface ChatMessage {
  /** Unique within the page: "m<msgId>" once stored, "l<n>" while only local. */
  key: string;
  msgId: number;
  from: number;
  time: number;
  text: string;
  state: 'sent' | 'pending' | 'failed';
  error?: string;
}

export interface Conversation {
  key: string;
  kind: ConversationKind;
  id: number;
  unread: number;
  /** Unix seconds of the latest activity (orders the session list). */
  updated: number;
  lastText: string;
  lastFrom: number;
  /** Listed among recent sessions. */
  listed: boolean;
  messages: ChatMessage[];
  /** The latest page was loaded (after sign-in or reconnect). */
  loaded: boolean;
  noOlder: boolean;
}

export type ConnectionState =
  | { kind: 'signed-out'; error: string }
  | { kind: 'signing-in' }
  | { kind: 'online'; server: string }
  | { kind: 'reconnecting'; attempt: number; retryAt: number; problem: string };

export type FileStore = { kind: 'unknown' } | { kind: 'available'; url: string } | { kind: 'unavailable'; why: string };

/** What the page shows when a sign-in or a request fails. */
export class UserError extends Error {}

export const conversationKey = (kind: ConversationKind, id: number) => `${kind === 'group' ? 'g' : 'u'}:${id}`;

export class ChatClient {
  connection: ConnectionState = { kind: 'signed-out', error: '' };
  me: Person | null = null;
  readonly people = new Map<number, Person>();
  readonly groups = new Map<number, Group>();
  readonly conversations = new Map<string, Conversation>();
  openKey: string | null = null;
  /** Whether pictures can be uploaded (probed once per sign-in). */
  fileStore: FileStore = { kind: 'unknown' };
  /** Pictures from here are shown inline; other URLs in image markup become links. */
  fileStoreOrigin = '';
  /** Called after every change; the view re-renders what it shows. */
  onChange: () => void = () => {};
  /** Called for a message from someone else, for a notice (title, sound) when it is not on screen. */
  onIncoming: (conversation: Conversation, message: ChatMessage) => void = () => {};

  private socket: PduSocket | null = null;
  private credentials: { user: string; digest: string } | null = null;
  private usersUpdatedAt = 0;
  private reconnectTimer = 0;
  private localSeq = 0;
  /** Ends every pending operation of an old connection (a late answer must not touch new state). */
  private generation = 0;

  constructor(private readonly loginBase: string) {}

  get myId(): number {
    return this.me?.id ?? 0;
  }

  // ---------------------------------------------------------------- signing in

  async signIn(user: string, password: string): Promise<void> {
    this.credentials = { user: user.trim(), digest: passwordDigest(password) };
    this.setConnection({ kind: 'signing-in' });
    try {
      await this.connect();
    } catch (err) {
      this.stopReconnecting();
      this.credentials = null;
      this.generation++;
      this.socket?.close();
      this.socket = null;
      this.setConnection({ kind: 'signed-out', error: messageOf(err) });
      throw err;
    }
  }

  /** Logs out on the server (this device only) and forgets the session. */
  async signOut(): Promise<void> {
    const socket = this.socket;
    this.stopReconnecting();
    this.credentials = null;
    this.generation++;
    this.socket = null;
    if (socket?.isOpen) {
      await socket.request('IM.Login.IMLogoutReq', {}, 'IM.Login.IMLogoutRsp', 3_000).catch(() => {});
      socket.close();
    }
    this.reset();
    this.setConnection({ kind: 'signed-out', error: '' });
  }

  /** During the backoff: try at once (a button, the browser coming back online). */
  retryNow(): void {
    if (this.connection.kind !== 'reconnecting') return;
    window.clearTimeout(this.reconnectTimer);
    void this.reconnect(this.connection.attempt);
  }

  private reset(): void {
    this.me = null;
    this.people.clear();
    this.groups.clear();
    this.conversations.clear();
    this.openKey = null;
    this.usersUpdatedAt = 0;
    this.fileStore = { kind: 'unknown' };
    this.fileStoreOrigin = '';
  }

  private async connect(): Promise<void> {
    const credentials = this.credentials;
    if (credentials === null) throw new UserError('not signed in');
    const answer = await this.askLoginServer();
    let socket: PduSocket;
    try {
      socket = await PduSocket.open(answer.wsUrl);
    } catch (err) {
      throw new UserError(`${messageOf(err)}. It may be down; try again in a moment.`);
    }
    let res: IM.Login.IMLoginRes;
    try {
      res = await socket.request(
        'IM.Login.IMLoginReq',
        { user_name: credentials.user, password: credentials.digest, online_status: STATUS.ONLINE, client_type: CLIENT_TYPE_WINDOWS, client_version: 'teamtalk-web/1.0' },
        'IM.Login.IMLoginRes',
      );
    } catch (err) {
      socket.close();
      throw new UserError(`The msg server did not complete the sign-in (${messageOf(err)}); try again.`);
    }
    if (res.result_code !== 0) {
      socket.close();
      throw new LoginRefused(res.result_code, res.result_string ?? '');
    }
    const info = res.user_info;
    if (!info) {
      socket.close();
      throw new UserError('The msg server accepted the sign-in but sent no user information; try again.');
    }
    const generation = ++this.generation;
    this.socket = socket;
    socket.onPush = (pdu) => {
      if (generation === this.generation) this.onPush(pdu);
    };
    socket.onClose = (closed) => {
      if (generation === this.generation) this.onClosed(closed);
    };
    if (this.me === null || this.me.id !== info.user_id) this.reset();
    this.me = personOf(info, 'online');
    this.people.set(this.me.id, this.me);
    this.fileStoreOrigin = originOf(answer.msfsPrior);
    this.setConnection({ kind: 'online', server: answer.wsUrl });
    try {
      await this.catchUp(generation);
    } catch (err) {
      // Half-loaded state is worse than none: start over (a reconnect, or the sign-in form).
      if (generation === this.generation) socket.close();
      throw new UserError(`Signed in, but loading your conversations failed (${messageOf(err)}).`);
    }
    if (this.fileStore.kind === 'unknown') void this.probeFileStore(answer.msfsPrior);
  }

  private async askLoginServer(): Promise<{ wsUrl: string; msfsPrior: string }> {
    let body: Record<string, unknown>;
    try {
      const res = await fetch(`${this.loginBase}msg_server?transport=ws`, { cache: 'no-store' });
      body = (await res.json()) as Record<string, unknown>;
    } catch {
      throw new UserError('Cannot reach the login server. Check your connection, or the server may be down.');
    }
    if (body.code === 1) throw new UserError('No msg server accepts web connections right now; try again shortly.');
    if (body.code === 2) throw new UserError('All msg servers are full; try again later.');
    if (body.code !== 0 || typeof body.wsUrl !== 'string' || body.wsUrl === '') {
      throw new UserError(`The login server gave an unexpected answer (${String(body.msg ?? body.code)}).`);
    }
    return { wsUrl: body.wsUrl, msfsPrior: typeof body.msfsPrior === 'string' ? body.msfsPrior : '' };
  }

  /** After (re)login: people, groups, sessions and unread counts, the open conversation's latest page. */
  private async catchUp(generation: number): Promise<void> {
    await this.refreshPeople();
    const [groupList, sessions, unread] = await Promise.all([
      this.request('IM.Group.IMNormalGroupListReq', { user_id: this.myId }, 'IM.Group.IMNormalGroupListRsp'),
      this.request('IM.Buddy.IMRecentContactSessionReq', { user_id: this.myId, latest_update_time: 0 }, 'IM.Buddy.IMRecentContactSessionRsp'),
      this.request('IM.Message.IMUnreadMsgCntReq', { user_id: this.myId }, 'IM.Message.IMUnreadMsgCntRsp'),
    ]);
    if (generation !== this.generation) return;
    const groupIds = new Set<number>([...this.groups.keys(), ...groupList.group_version_list.map((g) => g.group_id)]);
    for (const s of [...sessions.contact_session_list, ...unread.unreadinfo_list]) {
      if (s.session_type === SESSION_GROUP) groupIds.add(s.session_id);
    }
    await this.loadGroups([...groupIds]);
    for (const conversation of this.conversations.values()) {
      conversation.unread = 0;
      conversation.loaded = false;
    }
    for (const s of sessions.contact_session_list) {
      const c = this.conversation(s.session_type === SESSION_GROUP ? 'group' : 'user', s.session_id);
      c.listed = true;
      this.noteLatest(c, s.updated_time, s.latest_msg_type, bytesOf(s.latest_msg_data), s.latest_msg_from_user_id);
    }
    for (const u of unread.unreadinfo_list) {
      const c = this.conversation(u.session_type === SESSION_GROUP ? 'group' : 'user', u.session_id);
      c.listed = true;
      c.unread = u.unread_cnt;
      // A session row for a brand-new conversation may lag behind its unread count.
      if (c.updated === 0) this.noteLatest(c, Math.floor(Date.now() / 1000), u.latest_msg_type, bytesOf(u.latest_msg_data), u.latest_msg_from_user_id);
    }
    await this.refreshPresence();
    const open = this.openKey !== null ? this.conversations.get(this.openKey) : undefined;
    if (open !== undefined && generation === this.generation) {
      await this.loadLatest(open);
      this.markRead(open);
    }
    this.changed();
  }

  private onClosed(info: CloseInfo): void {
    this.socket = null;
    if (this.credentials === null || this.connection.kind === 'signed-out') return;
    const why = info.code === 1001 ? 'the msg server is restarting' : 'the connection to the msg server was lost';
    this.scheduleReconnect(1, why);
  }

  private scheduleReconnect(attempt: number, problem: string): void {
    const base = RECONNECT_DELAYS_S[Math.min(attempt - 1, RECONNECT_DELAYS_S.length - 1)] * 1000;
    const delay = base * (1 + Math.random() * 0.3);
    this.setConnection({ kind: 'reconnecting', attempt, retryAt: Date.now() + delay, problem });
    window.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = window.setTimeout(() => void this.reconnect(attempt), delay);
  }

  private async reconnect(attempt: number): Promise<void> {
    if (this.credentials === null) return;
    try {
      await this.connect();
    } catch (err) {
      if (this.credentials === null) return;
      if (err instanceof LoginRefused && err.final) {
        // The password changed, the account was disabled: retrying will not help.
        this.credentials = null;
        this.reset();
        this.setConnection({ kind: 'signed-out', error: err.message });
        return;
      }
      this.scheduleReconnect(attempt + 1, messageOf(err));
    }
  }

  private stopReconnecting(): void {
    window.clearTimeout(this.reconnectTimer);
  }

  private setConnection(state: ConnectionState): void {
    this.connection = state;
    this.changed();
  }

  // ---------------------------------------------------------------- who is who

  private async refreshPeople(): Promise<void> {
    const rsp = await this.request('IM.Buddy.IMAllUserReq', { user_id: this.myId, latest_update_time: this.usersUpdatedAt }, 'IM.Buddy.IMAllUserRsp');
    for (const u of rsp.user_list) {
      const known = this.people.get(u.user_id);
      this.people.set(u.user_id, personOf(u, known?.presence ?? 'offline'));
    }
    this.usersUpdatedAt = rsp.latest_update_time;
    if (this.me !== null) this.me = this.people.get(this.me.id) ?? this.me;
  }

  private async refreshPresence(): Promise<void> {
    const ids = [...this.people.keys()];
    for (let i = 0; i < ids.length; i += 500) {
      const rsp = await this.request('IM.Buddy.IMUsersStatReq', { user_id: this.myId, user_id_list: ids.slice(i, i + 500) }, 'IM.Buddy.IMUsersStatRsp');
      for (const s of rsp.user_stat_list) this.setPresence(s.user_id, s.status);
    }
    if (this.me !== null) this.me.presence = 'online';
  }

  private setPresence(userId: number, status: number): void {
    const person = this.people.get(userId);
    if (person) person.presence = status === STATUS.ONLINE ? 'online' : status === STATUS.AWAY ? 'away' : 'offline';
  }

  private async loadGroups(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    const rsp = await this.request(
      'IM.Group.IMGroupInfoListReq',
      { user_id: this.myId, group_version_list: ids.map((group_id) => ({ group_id, version: 0 })) },
      'IM.Group.IMGroupInfoListRsp',
    );
    for (const g of rsp.group_info_list) {
      this.groups.set(g.group_id, { id: g.group_id, name: g.group_name, members: [...(g.group_member_list ?? [])], temporary: g.group_type === GROUP_TYPE_TMP });
    }
  }

  /** People still with the company, by name (me excluded). */
  activePeople(): Person[] {
    return [...this.people.values()].filter((p) => !p.left && p.id !== this.myId).sort((a, b) => a.name.localeCompare(b.name));
  }

  nameOf(userId: number): string {
    const p = this.people.get(userId);
    return p ? p.nick || p.name : `user ${userId}`;
  }

  titleOf(c: Conversation): string {
    if (c.kind === 'group') return this.groups.get(c.id)?.name ?? `group ${c.id}`;
    return this.nameOf(c.id);
  }

  // ---------------------------------------------------------------- conversations

  /** Recent sessions, newest first. */
  sessions(): Conversation[] {
    return [...this.conversations.values()].filter((c) => c.listed).sort((a, b) => b.updated - a.updated || b.id - a.id);
  }

  get totalUnread(): number {
    let n = 0;
    for (const c of this.conversations.values()) n += c.unread;
    return n;
  }

  conversation(kind: ConversationKind, id: number): Conversation {
    const key = conversationKey(kind, id);
    let c = this.conversations.get(key);
    if (c === undefined) {
      c = { key, kind, id, unread: 0, updated: 0, lastText: '', lastFrom: 0, listed: false, messages: [], loaded: false, noOlder: false };
      this.conversations.set(key, c);
    }
    return c;
  }

  /** Shows a conversation: its latest page (once per connection) and marks it read. */
  async open(kind: ConversationKind, id: number): Promise<void> {
    const c = this.conversation(kind, id);
    this.openKey = c.key;
    this.changed();
    if (!c.loaded && this.online) await this.loadLatest(c);
    this.markRead(c);
    this.changed();
  }

  close(): void {
    this.openKey = null;
    this.changed();
  }

  get openConversation(): Conversation | null {
    return this.openKey !== null ? (this.conversations.get(this.openKey) ?? null) : null;
  }

  get online(): boolean {
    return this.connection.kind === 'online' && this.socket !== null;
  }

  /** The page before the oldest message shown. */
  async loadOlder(c: Conversation): Promise<void> {
    const oldest = c.messages.find((m) => m.msgId > 0);
    if (c.noOlder || oldest === undefined) return;
    const page = await this.history(c, oldest.msgId - 1);
    this.merge(c, page);
    if (page.length < PAGE_SIZE || oldest.msgId <= 1) c.noOlder = true;
    this.changed();
  }

  private async loadLatest(c: Conversation): Promise<void> {
    const page = await this.history(c, 0);
    // Messages that arrived while away may be more than a page: then what was shown before is not contiguous.
    const newestKnown = Math.max(0, ...c.messages.map((m) => m.msgId));
    const contiguous = page.length < PAGE_SIZE || page.some((m) => m.msgId <= newestKnown);
    if (!contiguous) c.messages = c.messages.filter((m) => m.msgId === 0);
    this.merge(c, page);
    c.noOlder = page.length < PAGE_SIZE;
    c.loaded = true;
  }

  private async history(c: Conversation, fromMsgId: number): Promise<ChatMessage[]> {
    const rsp = await this.request(
      'IM.Message.IMGetMsgListReq',
      { user_id: this.myId, session_type: c.kind === 'group' ? SESSION_GROUP : SESSION_SINGLE, session_id: c.id, msg_id_begin: fromMsgId, msg_cnt: PAGE_SIZE },
      'IM.Message.IMGetMsgListRsp',
    );
    return rsp.msg_list.map((m) => this.stored(m.msg_id, m.from_session_id, m.create_time, m.msg_type, bytesOf(m.msg_data)));
  }

  /** Adds stored messages, once each, in msg id order (local ones still unsent stay last). */
  private merge(c: Conversation, messages: ChatMessage[]): void {
    const have = new Set(c.messages.filter((m) => m.msgId > 0).map((m) => m.msgId));
    const added = messages.filter((m) => !have.has(m.msgId));
    if (added.length === 0) return;
    const stored = [...c.messages.filter((m) => m.msgId > 0), ...added].sort((a, b) => a.msgId - b.msgId);
    c.messages = [...stored, ...c.messages.filter((m) => m.msgId === 0)];
  }

  private markRead(c: Conversation): void {
    if (c.unread === 0 || !this.online || document.visibilityState !== 'visible') return;
    const latest = Math.max(0, ...c.messages.map((m) => m.msgId));
    this.socket?.send('IM.Message.IMMsgDataReadAck', {
      user_id: this.myId,
      session_id: c.id,
      msg_id: latest,
      session_type: c.kind === 'group' ? SESSION_GROUP : SESSION_SINGLE,
    });
    c.unread = 0;
  }

  /** The page became visible again: what is on screen has now been read. */
  pageVisible(): void {
    const c = this.openConversation;
    if (c !== null) {
      this.markRead(c);
      this.changed();
    }
  }

  // ---------------------------------------------------------------- sending

  async sendText(c: Conversation, text: string): Promise<void> {
    const msgData = encryptText(text);
    if (msgData.length > MAX_MSG_DATA) {
      throw new UserError(`This message is too long to send (${text.length} characters); split it into smaller ones.`);
    }
    const message: ChatMessage = { key: `l${++this.localSeq}`, msgId: 0, from: this.myId, time: Math.floor(Date.now() / 1000), text, state: 'pending' };
    c.messages.push(message);
    c.listed = true;
    this.noteText(c, message.time, text, this.myId);
    this.changed();
    await this.deliver(c, message, msgData);
  }

  /** Sends a failed message again (it may be stored twice if the first try got through unconfirmed). */
  async retry(c: Conversation, key: string): Promise<void> {
    const message = c.messages.find((m) => m.key === key);
    if (message === undefined || message.state !== 'failed') return;
    message.state = 'pending';
    message.error = undefined;
    this.changed();
    await this.deliver(c, message, encryptText(message.text));
  }

  private async deliver(c: Conversation, message: ChatMessage, msgData: Uint8Array): Promise<void> {
    try {
      if (!this.online) throw new RequestError('offline', 'not connected');
      const ack = await this.request(
        'IM.Message.IMMsgData',
        {
          from_user_id: this.myId,
          to_session_id: c.id,
          msg_id: 0,
          create_time: message.time,
          msg_type: c.kind === 'group' ? MSG.GROUP_TEXT : MSG.SINGLE_TEXT,
          msg_data: msgData,
        },
        'IM.Message.IMMsgDataAck',
      );
      message.msgId = ack.msg_id;
      message.key = `m${ack.msg_id}`;
      message.state = 'sent';
      // Keep stored messages in msg id order ahead of what is still unsent.
      c.messages = [...c.messages.filter((m) => m.msgId > 0).sort((a, b) => a.msgId - b.msgId), ...c.messages.filter((m) => m.msgId === 0)];
    } catch (err) {
      message.state = 'failed';
      message.error = sendFailure(err);
    }
    this.changed();
  }

  async createGroup(name: string, memberIds: number[]): Promise<Group> {
    const members = [...new Set([this.myId, ...memberIds])]; // clients list themselves: the server does not add the creator
    const rsp = await this.request(
      'IM.Group.IMGroupCreateReq',
      { user_id: this.myId, group_type: GROUP_TYPE_TMP, group_name: name, group_avatar: '', member_id_list: members },
      'IM.Group.IMGroupCreateRsp',
    );
    if (rsp.result_code !== 0) throw new UserError('The server did not create the group.');
    await this.loadGroups([rsp.group_id]);
    this.changed();
    return this.groups.get(rsp.group_id) ?? { id: rsp.group_id, name, members, temporary: true };
  }

  // ---------------------------------------------------------------- pictures

  private async probeFileStore(url: string): Promise<void> {
    if (url === '') {
      this.fileStore = { kind: 'unavailable', why: 'this server has no file store for pictures' };
      return this.changed();
    }
    try {
      // Any answer will do (msfs answers GET / with an error): what matters is that it answers this page.
      await fetch(url, { method: 'GET', cache: 'no-store', signal: AbortSignal.timeout(5_000) });
      this.fileStore = { kind: 'available', url };
    } catch {
      this.fileStore = { kind: 'unavailable', why: `the file store at ${url} does not answer this page (it may be down, or not accept uploads from browsers)` };
    }
    this.changed();
  }

  /** Uploads a picture to the file store (msfs) and sends it as TeamTalk image markup. */
  async sendPicture(c: Conversation, file: File): Promise<void> {
    const store = this.fileStore;
    if (store.kind !== 'available') throw new UserError(store.kind === 'unavailable' ? `Pictures cannot be sent: ${store.why}.` : 'Still checking the file store; try again in a moment.');
    if (!file.type.startsWith('image/')) throw new UserError(`${file.name} is not a picture.`);
    if (file.size > MAX_PICTURE_BYTES) throw new UserError(`${file.name} is larger than 5 MB, the file store's limit.`);
    const form = new FormData();
    form.append('image', file, await uploadName(file));
    let body: { error_code?: number; error_msg?: string; url?: string; path?: string };
    try {
      const res = await fetch(store.url, { method: 'POST', body: form });
      body = (await res.json()) as typeof body;
    } catch {
      throw new UserError(`The picture was not sent: the file store at ${store.url} did not take it.`);
    }
    if (body.error_code !== 0 || !(body.url || body.path)) {
      throw new UserError(`The picture was not sent: the file store refused it (error ${String(body.error_code)}).`);
    }
    const url = body.url || new URL(body.path as string, store.url.endsWith('/') ? store.url : `${store.url}/`).href;
    await this.sendText(c, imageMarkup(url));
  }

  /** Whether a picture URL may be shown inline: only from the file store this server names. */
  isFileStoreUrl(url: string): boolean {
    return this.fileStoreOrigin !== '' && originOf(url) === this.fileStoreOrigin;
  }

  // ---------------------------------------------------------------- pushes

  private onPush(pdu: DecodedPdu): void {
    const m = pdu.message;
    if (m === null) return;
    switch (pdu.commandId) {
      case CID.MSG_DATA:
        return this.onMessage(m as unknown as IM.Message.IMMsgData);
      case CID.MSG_READ_NOTIFY: {
        const n = m as unknown as IM.Message.IMMsgDataReadNotify;
        const c = this.conversations.get(conversationKey(n.session_type === SESSION_GROUP ? 'group' : 'user', n.session_id));
        if (c) c.unread = 0; // read on another of my devices
        return this.changed();
      }
      case CID.STATUS_NOTIFY: {
        const { user_id, status } = (m as unknown as IM.Buddy.IMUserStatNotify).user_stat;
        if (user_id === this.myId) return;
        if (!this.people.has(user_id)) void this.refreshPeople().then(() => this.setPresence(user_id, status)).then(() => this.changed());
        this.setPresence(user_id, status);
        return this.changed();
      }
      case CID.GROUP_CHANGE_MEMBER_NOTIFY: {
        const n = m as unknown as IM.Group.IMGroupChangeMemberNotify;
        void this.loadGroups([n.group_id]).then(() => this.changed(), () => {});
        return;
      }
      case CID.REMOVE_SESSION_NOTIFY: {
        const n = m as unknown as IM.Buddy.IMRemoveSessionNotify;
        const c = this.conversations.get(conversationKey(n.session_type === SESSION_GROUP ? 'group' : 'user', n.session_id));
        if (c) c.listed = false;
        return this.changed();
      }
      case CID.KICK_USER: {
        const kick = m as unknown as IM.Login.IMKickUser;
        const why =
          kick.kick_reason === 2
            ? 'You were signed out from your phone.'
            : 'You were signed out because this account signed in on another computer or browser.';
        this.stopReconnecting();
        this.credentials = null;
        this.generation++;
        this.socket?.close();
        this.socket = null;
        this.reset();
        return this.setConnection({ kind: 'signed-out', error: why });
      }
      default:
        return;
    }
  }

  private onMessage(m: IM.Message.IMMsgData): void {
    const group = m.msg_type === MSG.GROUP_TEXT || m.msg_type === MSG.GROUP_AUDIO;
    if (!group && m.msg_type !== MSG.SINGLE_TEXT && m.msg_type !== MSG.SINGLE_AUDIO) return;
    if (!group) {
      // Every delivered single message is acked, or the server resends it.
      this.socket?.send('IM.Message.IMMsgDataAck', { user_id: this.myId, session_id: m.from_user_id, msg_id: m.msg_id, session_type: SESSION_SINGLE });
    }
    const fromMe = m.from_user_id === this.myId;
    const peer = group || fromMe ? m.to_session_id : m.from_user_id;
    const c = this.conversation(group ? 'group' : 'user', peer);
    const message = this.stored(m.msg_id, m.from_user_id, m.create_time, m.msg_type, bytesOf(m.msg_data));
    const duplicate = c.messages.some((x) => x.msgId === m.msg_id);
    c.listed = true;
    this.noteText(c, m.create_time, message.text, m.from_user_id);
    if (!duplicate) {
      if (c.loaded || c.key === this.openKey) this.merge(c, [message]);
      if (!fromMe) {
        c.unread++;
        this.onIncoming(c, message);
      }
    }
    if (group && !this.groups.has(peer)) void this.loadGroups([peer]).then(() => this.changed(), () => {});
    if (!this.people.has(m.from_user_id)) void this.refreshPeople().then(() => this.changed(), () => {});
    if (c.key === this.openKey) this.markRead(c);
    this.changed();
  }

  // ---------------------------------------------------------------- helpers

  private stored(msgId: number, from: number, time: number, type: number, data: Uint8Array): ChatMessage {
    return { key: `m${msgId}`, msgId, from, time, text: textOf(type, data), state: 'sent' };
  }

  private noteLatest(c: Conversation, time: number, type: number, data: Uint8Array, from: number): void {
    this.noteText(c, time, textOf(type, data), from);
  }

  private noteText(c: Conversation, time: number, text: string, from: number): void {
    if (time < c.updated) return;
    c.updated = time;
    c.lastText = previewOf(text);
    c.lastFrom = from;
  }

  private request<N extends MessageName, R extends MessageName>(name: N, body: BodyOf<N>, replyName: R, timeoutMs?: number): Promise<Messages[R]> {
    if (this.socket === null) return Promise.reject(new RequestError('offline', 'not connected to the msg server'));
    return this.socket.request(name, body, replyName, timeoutMs);
  }

  private changed(): void {
    this.onChange();
  }
}

class LoginRefused extends UserError {
  /** Retrying with the same password cannot succeed. */
  readonly final: boolean;
  constructor(code: number, text: string) {
    super(loginRefusal(code, text));
    this.final = code === REFUSE_DB_VALIDATE_FAILED || code === REFUSE_VERSION_TOO_OLD;
  }
}

function loginRefusal(code: number, text: string): string {
  if (code === REFUSE_DB_VALIDATE_FAILED) {
    // The msg server reports every validation failure as code 6; the db-proxy's text tells a locked account apart.
    return text.includes('次数太多')
      ? 'Too many wrong passwords for this user: it is locked for a while (30 minutes by default). Try again later.'
      : 'Wrong user name or password.';
  }
  if (code === REFUSE_VERSION_TOO_OLD) return 'The server does not accept this client version.';
  if (code >= 3 && code <= 5) return 'The msg server is not ready (it has lost one of its own servers); try again shortly.';
  return `The server refused the sign-in (code ${code}${text ? `: ${text}` : ''}).`;
}

function personOf(u: IM.BaseDefine.IUserInfo, presence: Presence): Person {
  return { id: u.user_id ?? 0, name: u.user_real_name ?? '', nick: u.user_nick_name ?? '', presence, left: u.status === USER_LEFT };
}

function textOf(type: number, data: Uint8Array): string {
  if (type === MSG.SINGLE_AUDIO || type === MSG.GROUP_AUDIO) return '[voice message: open a TeamTalk app to listen]';
  return decryptText(data) ?? '[a message this client cannot read]';
}

function sendFailure(err: unknown): string {
  if (err instanceof RequestError) {
    if (err.kind === 'timeout') return 'no answer from the server in time; it may or may not have been stored';
    if (err.kind === 'closed') return 'the connection closed before the server confirmed it; it may or may not have been stored';
    if (err.kind === 'refused') return 'the server could not store it; try again';
    return 'not connected: it was not sent';
  }
  return messageOf(err);
}

/** scheme://host:port of an http(s) URL; '' for anything else. */
function originOf(url: string): string {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : '';
  } catch {
    return '';
  }
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** msfs keeps a `_<w>x<h>` size tag before the extension (files.md §1.3), as the Windows client sends it. */
async function uploadName(file: File): Promise<string> {
  const ext = (/\.([A-Za-z0-9]{1,10})$/.exec(file.name)?.[1] ?? file.type.replace('image/', '')).toLowerCase() || 'png';
  const base = file.name.replace(/\.[^.]*$/, '').replace(/[^\w-]+/g, '_').slice(0, 64) || 'picture';
  try {
    const bitmap = await createImageBitmap(file);
    const tag = `_${bitmap.width}x${bitmap.height}`;
    bitmap.close();
    return bitmap.width < 10_000 && bitmap.height < 10_000 ? `${base}${tag}.${ext}` : `${base}.${ext}`;
  } catch {
    return `${base}.${ext}`;
  }
}
