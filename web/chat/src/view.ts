/**
 * The page: renders ChatClient's state into index.html's elements and turns
 * clicks and keys into ChatClient calls. Text from the network only ever goes
 * into textContent or attributes, never into markup. Everything is reachable
 * with the keyboard: Tab through the lists (arrow keys switch tabs), Enter sends,
 * Shift+Enter starts a new line, Escape goes back to the list on a small screen,
 * Alt+Up / Alt+Down move to the previous / next conversation.
 */
import { splitMarkup } from './markup.js';
import { messageOf, type ChatClient, type ChatMessage, type Conversation, type Person } from './chat-client.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`index.html has no #${id}`);
  return el as T;
};

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: { className?: string; text?: string } = {}, ...children: Node[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.className) node.className = props.className;
  if (props.text !== undefined) node.textContent = props.text;
  for (const child of children) node.appendChild(child);
  return node;
}

type Tab = 'recent' | 'people' | 'groups';

export class ChatView {
  private tab: Tab = 'recent';
  private scheduled = false;
  private shownKey: string | null = null;
  private reconnectedUntil = 0;
  private lastConnection = '';
  private bannerTimer = 0;

  constructor(private readonly client: ChatClient) {
    client.onChange = () => this.schedule();
    client.onIncoming = () => this.schedule();
    this.wire();
    this.render();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.render();
    });
  }

  // ---------------------------------------------------------------- input

  private wire(): void {
    const user = $<HTMLInputElement>('signin-user');
    user.value = localStorage.getItem('teamtalk-web-user') ?? '';
    $('signin-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const password = $<HTMLInputElement>('signin-password');
      const name = user.value.trim();
      if (name === '' || password.value === '') {
        $('signin-error').textContent = 'Enter your user name and password.';
        (name === '' ? user : password).focus();
        return;
      }
      localStorage.setItem('teamtalk-web-user', name);
      $('signin-error').textContent = '';
      this.client.signIn(name, password.value).then(
        () => {
          password.value = '';
        },
        () => {
          password.select();
          password.focus();
        },
      );
    });
    $('signout').addEventListener('click', () => void this.client.signOut());
    $('banner-retry').addEventListener('click', () => this.client.retryNow());

    const tabs: Tab[] = ['recent', 'people', 'groups'];
    for (const tab of tabs) {
      const button = $(`tab-${tab}`);
      button.addEventListener('click', () => this.selectTab(tab));
      button.addEventListener('keydown', (event) => {
        if (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return;
        const next = tabs[(tabs.indexOf(tab) + (event.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length];
        this.selectTab(next);
        $(`tab-${next}`).focus();
      });
    }
    $('people-filter').addEventListener('input', () => this.schedule());
    $('online-only').addEventListener('change', () => this.schedule());

    $('sessions').addEventListener('click', (event) => {
      const key = (event.target as HTMLElement).closest<HTMLElement>('[data-key]')?.dataset.key;
      if (key) void this.openKey(key);
    });
    $('people').addEventListener('click', (event) => {
      const id = Number((event.target as HTMLElement).closest<HTMLElement>('[data-user-id]')?.dataset.userId);
      if (id) void this.open('user', id);
    });
    $('groups').addEventListener('click', (event) => {
      const id = Number((event.target as HTMLElement).closest<HTMLElement>('[data-group-id]')?.dataset.groupId);
      if (id) void this.open('group', id);
    });

    $('new-group').addEventListener('click', () => this.showGroupForm(true));
    $('group-cancel').addEventListener('click', () => this.showGroupForm(false));
    $('group-form').addEventListener('submit', (event) => {
      event.preventDefault();
      void this.createGroup();
    });

    $('back').addEventListener('click', () => this.back());
    $('older').addEventListener('click', () => {
      const c = this.client.openConversation;
      if (c) void this.client.loadOlder(c).catch((err) => this.note(`Older messages could not be loaded: ${messageOf(err)}`));
    });
    $('message-list').addEventListener('click', (event) => {
      const retry = (event.target as HTMLElement).closest<HTMLElement>('[data-retry]');
      const c = this.client.openConversation;
      if (retry && c) void this.client.retry(c, retry.dataset.retry ?? '');
    });

    const text = $<HTMLTextAreaElement>('composer-text');
    $('composer').addEventListener('submit', (event) => {
      event.preventDefault();
      void this.send();
    });
    text.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        void this.send();
      }
    });
    text.addEventListener('input', () => this.fitComposer());
    $<HTMLInputElement>('picture-input').addEventListener('change', (event) => {
      const input = event.target as HTMLInputElement;
      const file = input.files?.[0];
      input.value = '';
      const c = this.client.openConversation;
      if (!file || !c) return;
      this.note(`Sending ${file.name}…`);
      this.client.sendPicture(c, file).then(
        () => this.note(''),
        (err) => this.note(messageOf(err)),
      );
    });

    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.client.openKey !== null && window.matchMedia('(max-width: 700px)').matches) {
        this.back();
      } else if (event.altKey && (event.key === 'ArrowUp' || event.key === 'ArrowDown')) {
        event.preventDefault();
        this.step(event.key === 'ArrowUp' ? -1 : 1);
      }
    });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.client.pageVisible();
    });
    window.addEventListener('online', () => this.client.retryNow());
  }

  private selectTab(tab: Tab): void {
    this.tab = tab;
    this.render();
  }

  private async open(kind: 'user' | 'group', id: number): Promise<void> {
    try {
      await this.client.open(kind, id);
    } catch (err) {
      this.note(`The conversation could not be loaded: ${messageOf(err)}`);
    }
    $('composer-text').focus();
  }

  private async openKey(key: string): Promise<void> {
    const c = this.client.conversations.get(key);
    if (c) await this.open(c.kind, c.id);
  }

  private back(): void {
    const key = this.client.openKey;
    this.client.close();
    this.render();
    if (key) document.querySelector<HTMLElement>(`#sessions [data-key="${key}"]`)?.focus();
  }

  /** Alt+Up / Alt+Down: the previous / next recent conversation. */
  private step(direction: number): void {
    const sessions = this.client.sessions();
    if (sessions.length === 0) return;
    const at = sessions.findIndex((c) => c.key === this.client.openKey);
    const next = sessions[Math.max(0, Math.min(sessions.length - 1, at < 0 ? 0 : at + direction))];
    void this.open(next.kind, next.id);
  }

  private async send(): Promise<void> {
    const text = $<HTMLTextAreaElement>('composer-text');
    const c = this.client.openConversation;
    const value = text.value;
    if (!c || value.trim() === '') return;
    try {
      text.value = '';
      this.fitComposer();
      this.note('');
      await this.client.sendText(c, value);
    } catch (err) {
      text.value = value;
      this.note(messageOf(err));
    }
  }

  private fitComposer(): void {
    const text = $<HTMLTextAreaElement>('composer-text');
    text.style.height = 'auto';
    text.style.height = `${Math.min(text.scrollHeight, 160)}px`;
  }

  private note(message: string): void {
    $('composer-note').textContent = message;
  }

  private showGroupForm(show: boolean): void {
    $('group-form').hidden = !show;
    $('new-group').hidden = show;
    $('group-error').textContent = '';
    if (!show) return;
    const box = $('group-members');
    box.replaceChildren(
      ...this.client.activePeople().map((p) => {
        const input = el('input');
        input.type = 'checkbox';
        input.value = String(p.id);
        return el('label', { className: 'check' }, input, document.createTextNode(` ${displayName(p)}`));
      }),
    );
    $('group-name').focus();
  }

  private async createGroup(): Promise<void> {
    const name = $<HTMLInputElement>('group-name').value.trim();
    const members = [...document.querySelectorAll<HTMLInputElement>('#group-members input:checked')].map((i) => Number(i.value));
    if (name === '' || members.length === 0) {
      $('group-error').textContent = 'Give the group a name and pick at least one member.';
      return;
    }
    try {
      const group = await this.client.createGroup(name, members);
      $<HTMLInputElement>('group-name').value = '';
      this.showGroupForm(false);
      await this.open('group', group.id);
    } catch (err) {
      $('group-error').textContent = messageOf(err);
    }
  }

  // ---------------------------------------------------------------- rendering

  private render(): void {
    const client = this.client;
    const state = client.connection;
    document.body.dataset.connection = state.kind;
    const inApp = client.me !== null && (state.kind === 'online' || state.kind === 'reconnecting' || state.kind === 'signing-in');
    $('signin').hidden = inApp;
    $('app').hidden = !inApp;
    if (this.lastConnection === 'reconnecting' && state.kind === 'online') this.reconnectedUntil = Date.now() + 3000;
    this.renderBanner();
    if (!inApp) {
      const busy = state.kind === 'signing-in';
      $<HTMLButtonElement>('signin-submit').disabled = busy;
      $('signin-submit').textContent = busy ? 'Signing in…' : 'Sign in';
      if (state.kind === 'signed-out') $('signin-error').textContent = state.error;
      // On arrival (or when signed out from the app); after a failed try the form keeps the focus where it put it.
      if (state.kind === 'signed-out' && this.lastConnection !== 'signed-out' && this.lastConnection !== 'signing-in') $('signin-user').focus();
      this.lastConnection = state.kind;
      document.title = 'TeamTalk';
      return;
    }
    this.lastConnection = state.kind;
    const me = client.me as Person;
    $('me').textContent = displayName(me);
    const unread = client.totalUnread;
    document.title = unread > 0 ? `(${unread}) TeamTalk` : 'TeamTalk';
    const badge = $('total-unread');
    badge.hidden = unread === 0;
    badge.textContent = String(unread);
    for (const tab of ['recent', 'people', 'groups'] as Tab[]) {
      const selected = this.tab === tab;
      $(`tab-${tab}`).setAttribute('aria-selected', String(selected));
      $(`tab-${tab}`).tabIndex = selected ? 0 : -1;
      $(`panel-${tab}`).hidden = !selected;
    }
    this.renderSessions();
    this.renderPeople();
    this.renderGroups();
    this.renderConversation();
  }

  private renderBanner(): void {
    const state = this.client.connection;
    const banner = $('banner');
    const retry = $('banner-retry');
    window.clearTimeout(this.bannerTimer);
    if (state.kind === 'reconnecting') {
      const seconds = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
      const problem = capitalize(state.problem.replace(/[.\s]+$/, ''));
      $('banner-text').textContent = seconds > 0 ? `${problem}. Reconnecting in ${seconds} s…` : `${problem}. Reconnecting…`;
      banner.className = 'warning';
      banner.hidden = false;
      retry.hidden = false;
      this.bannerTimer = window.setTimeout(() => this.renderBanner(), 1000);
    } else if (state.kind === 'online' && Date.now() < this.reconnectedUntil) {
      $('banner-text').textContent = 'Reconnected. Unread counts show what arrived meanwhile.';
      banner.className = 'ok';
      banner.hidden = false;
      retry.hidden = true;
      this.bannerTimer = window.setTimeout(() => this.renderBanner(), this.reconnectedUntil - Date.now());
    } else {
      banner.hidden = true;
    }
  }

  private renderSessions(): void {
    const client = this.client;
    const sessions = client.sessions();
    $('sessions-empty').hidden = sessions.length > 0;
    replaceList(
      $('sessions'),
      'data-key',
      sessions.map((c) => {
        const who = c.kind === 'group' ? `${client.nameOf(c.lastFrom)}: ` : c.lastFrom === client.myId ? 'You: ' : '';
        const top = el('span', { className: 'line' }, el('span', { className: 'name', text: client.titleOf(c) }), el('span', { className: 'time', text: c.updated ? when(c.updated) : '' }));
        const bottom = el('span', { className: 'line' }, el('span', { className: 'preview', text: c.lastText ? who + c.lastText : '' }));
        if (c.unread > 0) {
          const count = el('span', { className: 'badge', text: String(c.unread) });
          count.dataset.unread = String(c.unread);
          count.setAttribute('aria-label', `${c.unread} unread`);
          bottom.appendChild(count);
        }
        if (c.kind === 'user') top.prepend(presenceDot(client.people.get(c.id)?.presence ?? 'offline'));
        const button = itemButton({ key: c.key }, top, bottom);
        if (c.key === client.openKey) button.setAttribute('aria-current', 'true');
        return el('li', {}, button);
      }),
    );
  }

  private renderPeople(): void {
    const client = this.client;
    const filter = $<HTMLInputElement>('people-filter').value.trim().toLowerCase();
    const onlineOnly = $<HTMLInputElement>('online-only').checked;
    const everyone = client.activePeople();
    const online = everyone.filter((p) => p.presence !== 'offline').length;
    $('online-count').textContent = String(online);
    $('online-count').setAttribute('aria-label', `${online} online`);
    $('online-count').title = `${online} online`;
    const shown = everyone
      .filter((p) => !onlineOnly || p.presence !== 'offline')
      .filter((p) => filter === '' || p.name.toLowerCase().includes(filter) || p.nick.toLowerCase().includes(filter))
      .sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
    replaceList(
      $('people'),
      'data-user-id',
      shown.map((p) => {
        const line = el('span', { className: 'line' }, presenceDot(p.presence), el('span', { className: 'name', text: displayName(p) }), el('span', { className: 'time', text: p.presence }));
        return el('li', {}, itemButton({ userId: String(p.id), presence: p.presence }, line));
      }),
    );
  }

  private renderGroups(): void {
    const client = this.client;
    const groups = [...client.groups.values()].sort((a, b) => a.name.localeCompare(b.name));
    replaceList(
      $('groups'),
      'data-group-id',
      groups.map((g) => {
        const line = el('span', { className: 'line' }, el('span', { className: 'name', text: `# ${g.name}` }), el('span', { className: 'time', text: `${g.members.length} members` }));
        return el('li', {}, itemButton({ groupId: String(g.id) }, line));
      }),
    );
  }

  private renderConversation(): void {
    const client = this.client;
    const c = client.openConversation;
    $('app').classList.toggle('conversation-open', c !== null);
    $('no-conversation').hidden = c !== null;
    $('conversation-view').hidden = c === null;
    if (c === null) {
      this.shownKey = null;
      return;
    }
    $('conversation-title').textContent = client.titleOf(c);
    $('conversation-sub').textContent =
      c.kind === 'group'
        ? (client.groups.get(c.id)?.members ?? []).map((id) => (id === client.myId ? 'you' : client.nameOf(id))).join(', ')
        : (client.people.get(c.id)?.presence ?? 'offline');
    $('older').hidden = c.noOlder || !c.loaded || c.messages.length === 0;
    const online = client.online;
    $<HTMLButtonElement>('send').disabled = !online;
    const store = client.fileStore;
    const picture = $<HTMLInputElement>('picture-input');
    picture.disabled = !online || store.kind !== 'available';
    $('picture-label').classList.toggle('disabled', picture.disabled);
    $('picture-label').title =
      store.kind === 'available' ? 'Send a picture' : store.kind === 'unavailable' ? `Pictures cannot be sent: ${store.why}` : 'Checking the file store…';
    $('picture-label').dataset.fileStore = store.kind;
    this.renderMessages(c);
  }

  private renderMessages(c: Conversation): void {
    const box = $('messages');
    const list = $('message-list');
    const switched = this.shownKey !== c.key;
    this.shownKey = c.key;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 48;
    const firstBefore = list.firstElementChild as HTMLElement | null;
    const offsetBefore = firstBefore ? firstBefore.offsetTop - box.scrollTop : 0;
    const existing = new Map<string, HTMLElement>();
    for (const child of [...list.children] as HTMLElement[]) existing.set(child.dataset.key ?? '', child);
    if (switched) existing.clear();
    const items = c.messages.map((m) => {
      const signature = `${m.state}|${m.error ?? ''}|${m.msgId}`;
      const old = existing.get(m.key);
      return old !== undefined && old.dataset.signature === signature ? old : this.messageItem(c, m, signature);
    });
    list.replaceChildren(...items);
    if (switched || atBottom) {
      box.scrollTop = box.scrollHeight;
    } else if (firstBefore && firstBefore.isConnected) {
      // Older messages were added above: keep what was on screen where it was.
      box.scrollTop = firstBefore.offsetTop - offsetBefore;
    }
  }

  private messageItem(c: Conversation, m: ChatMessage, signature: string): HTMLElement {
    const client = this.client;
    const mine = m.from === client.myId;
    const li = el('li', { className: `message${mine ? ' mine' : ''}` });
    li.dataset.key = m.key;
    li.dataset.signature = signature;
    li.dataset.msgId = String(m.msgId);
    li.dataset.state = m.state;
    const head = el('div', { className: 'head' });
    if (!mine || c.kind === 'group') head.appendChild(el('span', { className: 'from', text: mine ? 'You' : client.nameOf(m.from) }));
    const time = el('time', { text: when(m.time) });
    time.dateTime = new Date(m.time * 1000).toISOString();
    head.appendChild(time);
    const body = el('div', { className: 'body' });
    for (const piece of splitMarkup(m.text)) {
      if (piece.kind === 'text') {
        body.appendChild(document.createTextNode(piece.text));
      } else if (client.isFileStoreUrl(piece.url)) {
        const img = el('img');
        img.src = piece.url;
        img.alt = 'picture';
        img.loading = 'lazy';
        body.appendChild(link(piece.url, img));
      } else if (/^https?:\/\//i.test(piece.url)) {
        body.appendChild(link(piece.url, document.createTextNode(`picture: ${piece.url}`)));
      } else {
        body.appendChild(document.createTextNode('[picture]'));
      }
    }
    li.append(head, body);
    if (m.state === 'pending') li.appendChild(el('div', { className: 'status', text: 'sending…' }));
    if (m.state === 'failed') {
      const retry = el('button', { className: 'retry', text: 'Retry' });
      retry.type = 'button';
      retry.dataset.retry = m.key;
      li.appendChild(el('div', { className: 'status error', text: `Not sent: ${m.error ?? 'unknown error'}. ` }, retry));
    }
    return li;
  }
}

/** The button of an entry in the recent, people or groups list (class "item"); `data` are its data-* attributes. */
function itemButton(data: Record<string, string>, ...children: Node[]): HTMLButtonElement {
  const button = el('button', { className: 'item' }, ...children);
  button.type = 'button';
  Object.assign(button.dataset, data);
  return button;
}

/** Re-renders a list without losing the keyboard focus on one of its items. */
function replaceList(list: HTMLElement, attribute: string, items: HTMLElement[]): void {
  const active = document.activeElement as HTMLElement | null;
  const focused = active !== null && list.contains(active) ? active.getAttribute(attribute) : null;
  list.replaceChildren(...items);
  if (focused !== null) list.querySelector<HTMLElement>(`[${attribute}="${CSS.escape(focused)}"]`)?.focus();
}

function link(url: string, content: Node): HTMLAnchorElement {
  const a = el('a', {}, content);
  a.href = url;
  a.target = '_blank';
  a.rel = 'noopener noreferrer nofollow';
  return a;
}

function presenceDot(presence: string): HTMLElement {
  const dot = el('span', { className: `dot ${presence}` });
  dot.setAttribute('aria-label', presence);
  dot.setAttribute('role', 'img');
  return dot;
}

function displayName(p: Person): string {
  return p.nick && p.nick !== p.name ? `${p.nick} (${p.name})` : p.name;
}

function rank(p: Person): number {
  return p.presence === 'online' ? 0 : p.presence === 'away' ? 1 : 2;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** "14:05" today, "Mon 14:05" this week, else the date. */
function when(unixSeconds: number): string {
  const date = new Date(unixSeconds * 1000);
  const now = new Date();
  const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (date.toDateString() === now.toDateString()) return time;
  if (now.getTime() - date.getTime() < 6 * 86_400_000) return `${date.toLocaleDateString([], { weekday: 'short' })} ${time}`;
  return date.toLocaleDateString();
}
