/**
 * The web chat as a person uses it, for the browser tests: sign in, pick a
 * conversation, type, read what is on screen. Everything goes through the page
 * (clicks and keys on the real elements); state is read back from the DOM.
 */
import type { Page } from 'puppeteer-core';
import { clickWhenReady, type TestBrowser } from '../helpers/browser';

export interface ShownMessage {
  msgId: number;
  from: string;
  text: string;
  state: string;
}

const WAIT_MS = 20_000;

// The functions handed to page.evaluate / waitForFunction run in the browser; this
// file compiles with Node's types, so the little of the DOM they use is declared here.
interface DomElement {
  textContent: string | null;
  hidden: boolean;
  dataset: Record<string, string | undefined>;
  querySelector(selector: string): DomElement | null;
}
declare const document: {
  body: DomElement;
  getElementById(id: string): DomElement | null;
  querySelector(selector: string): DomElement | null;
  querySelectorAll(selector: string): Iterable<DomElement> & ArrayLike<DomElement>;
};

export class ChatPage {
  constructor(readonly page: Page) {}

  /** A new person's window on the web chat at `url`, signed in as `user` and online. */
  static async signedIn(browser: TestBrowser, url: string, user: string, password: string): Promise<ChatPage> {
    const chat = new ChatPage(await browser.newPerson());
    await chat.load(url);
    await chat.signInAndWait(user, password);
    return chat;
  }

  async load(url: string): Promise<void> {
    await this.page.goto(url, { waitUntil: 'load' });
    await this.page.waitForSelector('#signin:not([hidden])', { timeout: WAIT_MS });
  }

  /** Types the name and password and presses Enter, as a person would. */
  async signIn(user: string, password: string): Promise<void> {
    await this.page.click('#signin-user', { count: 3 });
    await this.page.keyboard.press('Backspace');
    await this.page.type('#signin-user', user);
    await this.page.click('#signin-password', { count: 3 });
    await this.page.keyboard.press('Backspace');
    await this.page.type('#signin-password', password);
    await this.page.keyboard.press('Enter');
  }

  async signInAndWait(user: string, password: string): Promise<void> {
    await this.signIn(user, password);
    await this.waitConnection('online');
    await this.page.waitForSelector('#app:not([hidden])', { timeout: WAIT_MS });
  }

  async waitConnection(kind: 'online' | 'reconnecting' | 'signed-out', timeoutMs = WAIT_MS): Promise<void> {
    await this.page.waitForFunction((k) => document.body.dataset.connection === k, { timeout: timeoutMs }, kind);
  }

  async signInError(): Promise<string> {
    await this.page.waitForFunction(() => (document.getElementById('signin-error')?.textContent ?? '') !== '', { timeout: WAIT_MS });
    return this.page.$eval('#signin-error', (e) => e.textContent ?? '');
  }

  async bannerText(): Promise<string> {
    return this.page.$eval('#banner', (e) => ((e as unknown as DomElement).hidden ? '' : (e.textContent ?? '').trim()));
  }

  /** Opens the conversation with a person from the People tab. */
  async openPerson(userId: number): Promise<void> {
    await this.click('#tab-people');
    await this.click(`#people [data-user-id="${userId}"]`);
    await this.waitOpen();
  }

  /** Opens a conversation from the recent list ("u:ID" or "g:ID"). */
  async openSession(key: string): Promise<void> {
    await this.click('#tab-recent');
    await this.click(`#sessions [data-key="${key}"]`);
    await this.waitOpen();
  }

  /** Clicks an element once it is there and still (the lists re-render as presence and messages arrive). */
  async click(selector: string): Promise<void> {
    await clickWhenReady(this.page, selector, WAIT_MS);
  }

  private async waitOpen(): Promise<void> {
    await this.page.waitForSelector('#conversation-view:not([hidden])', { timeout: WAIT_MS });
  }

  /** Types into the message box and presses Enter; waits until the server confirmed it. */
  async send(text: string): Promise<void> {
    const before = (await this.messages()).length;
    await this.page.focus('#composer-text');
    for (const [i, line] of text.split('\n').entries()) {
      if (i > 0) {
        await this.page.keyboard.down('Shift');
        await this.page.keyboard.press('Enter');
        await this.page.keyboard.up('Shift');
      }
      await this.page.keyboard.type(line);
    }
    await this.page.keyboard.press('Enter');
    await this.page.waitForFunction(
      (n) => {
        const items = [...document.querySelectorAll('#message-list li')];
        return items.length > n && items[items.length - 1].dataset.state !== 'pending';
      },
      { timeout: WAIT_MS },
      before,
    );
  }

  async messages(): Promise<ShownMessage[]> {
    return this.page.$$eval('#message-list li', (items) =>
      items.map((li) => ({
        msgId: Number((li as unknown as DomElement).dataset.msgId),
        from: li.querySelector('.from')?.textContent ?? '',
        text: li.querySelector('.body')?.textContent ?? '',
        state: (li as unknown as DomElement).dataset.state ?? '',
      })),
    );
  }

  async waitForMessage(text: string, timeoutMs = WAIT_MS): Promise<void> {
    await this.page.waitForFunction(
      (wanted) => [...document.querySelectorAll('#message-list li .body')].some((b) => b.textContent === wanted),
      { timeout: timeoutMs },
      text,
    );
  }

  /** The unread badge of a recent conversation (0 when there is none). */
  async unread(key: string): Promise<number> {
    return this.page.evaluate((k) => Number(document.querySelector(`#sessions [data-key="${k}"] [data-unread]`)?.dataset.unread ?? 0), key);
  }

  async waitUnread(key: string, count: number, timeoutMs = WAIT_MS): Promise<void> {
    await this.page.waitForFunction(
      (k, n) => Number(document.querySelector(`#sessions [data-key="${k}"] [data-unread]`)?.dataset.unread ?? 0) === n,
      { timeout: timeoutMs },
      key,
      count,
    );
  }
}
