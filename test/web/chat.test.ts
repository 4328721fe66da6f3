/**
 * The web chat in a real headless Chromium against a real cluster: two people
 * chat in their browsers (live messages, unread counts, read acks that reach
 * the server), history paging, who is online, groups made in the page, clear
 * errors (wrong password, no msg server, login server gone, signed in
 * elsewhere), and a phone-sized screen driven by the keyboard.
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { launchBrowser } from '../helpers/browser';
import { PASSWORD, startCluster } from '../helpers/cluster';
import { waitFor } from '../helpers/wait';
import { freeLoopbackPort } from '../../scripts/infra/system';
import { ChatPage } from './chat-page';

/** In the page functions below (they run in the browser). */
declare const document: {
  documentElement: { scrollWidth: number };
  activeElement: { id: string } | null;
  getElementById(id: string): { hidden: boolean; textContent: string | null } | null;
};
declare function getComputedStyle(element: unknown): { display: string };

const { ClientType } = IM.BaseDefine;

t.test('two people chat in their browsers', async (t) => {
  const cluster = await startCluster(t, { msgServers: 2, webSocket: true });
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const browser = await launchBrowser(t);
  const alice = await ChatPage.signedIn(browser, cluster.webChatUrl, 'alice', PASSWORD);
  const bob = await ChatPage.signedIn(browser, cluster.webChatUrl, 'bob', PASSWORD);
  const servers = cluster.msgServers.map((s) => [s.context.users.get(aliceId) !== undefined, s.context.users.get(bobId) !== undefined]);
  t.same(servers, [[true, false], [false, true]], 'the login server put them on different msg servers');

  await alice.openPerson(bobId);
  await alice.send('Hello Bob!');
  await bob.waitUnread(`u:${aliceId}`, 1);
  t.pass('bob sees one unread message from alice');

  await bob.openSession(`u:${aliceId}`);
  await bob.waitForMessage('Hello Bob!');
  await bob.waitUnread(`u:${aliceId}`, 0);
  // The read ack reached the server: bob's phone would see nothing unread.
  const phone = await cluster.loginAs('bob', 0, { clientType: ClientType.CLIENT_TYPE_ANDROID });
  await waitFor(async () => (await phone.unreadCounts()).total_cnt === 0, 5000, 'the read ack stored');

  await bob.send('Hi Alice,\nhow are you?');
  await alice.waitForMessage('Hi Alice,\nhow are you?');
  const shown = await alice.messages();
  t.same(shown.map((m) => [m.text, m.state]), [['Hello Bob!', 'sent'], ['Hi Alice,\nhow are you?', 'sent']], 'alice sees both, in order');
  t.ok(shown.every((m) => m.msgId > 0), 'with their msg ids');
  t.same(browser.pageErrors, [], 'no script error in either page');
});

t.test('history pages back; who is online follows logins and logouts; a group made in the page reaches its members', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1, webSocket: true, msg: { floodLimitPerSecond: 100 } });
  const [aliceId, bobId, carolId] = await cluster.addUsers(['alice', 'bob', 'carol']);
  const carol = await cluster.loginAs('carol');
  const acks = [];
  for (let i = 1; i <= 25; i++) acks.push(await carol.sendText(aliceId, `note ${i}`));
  const browser = await launchBrowser(t);
  const alice = await ChatPage.signedIn(browser, cluster.webChatUrl, 'alice', PASSWORD);
  await alice.waitUnread(`u:${carolId}`, 25);
  await alice.openSession(`u:${carolId}`);
  await alice.waitForMessage('note 25');
  t.same((await alice.messages()).map((m) => m.text), Array.from({ length: 20 }, (_, i) => `note ${i + 6}`), 'the latest page, oldest first');
  await alice.click('#older');
  await alice.waitForMessage('note 1');
  t.same((await alice.messages()).map((m) => m.msgId), acks.map((a) => a.msg_id), 'all 25 after paging back, in order');
  await alice.page.waitForSelector('#older', { hidden: true });
  t.pass('nothing older: the button is gone');

  await alice.click('#tab-people');
  await alice.page.waitForSelector(`#people [data-user-id="${carolId}"][data-presence="online"]`);
  await alice.page.waitForSelector(`#people [data-user-id="${bobId}"][data-presence="offline"]`);
  const bob = await cluster.loginAs('bob');
  await alice.page.waitForSelector(`#people [data-user-id="${bobId}"][data-presence="online"]`);
  t.pass('bob shows as online when he logs in');
  await carol.logout();
  await alice.page.waitForSelector(`#people [data-user-id="${carolId}"][data-presence="offline"]`);
  t.pass('carol shows as offline when she logs out');

  await alice.click('#tab-groups');
  await alice.click('#new-group');
  await alice.page.type('#group-name', 'lunch');
  await alice.click(`#group-members input[value="${bobId}"]`);
  await alice.click('#group-form button[type="submit"]');
  await alice.page.waitForFunction(() => document.getElementById('conversation-title')?.textContent === 'lunch');
  t.pass('the new group\'s conversation opens');
  await alice.send('pizza?');
  const got = await bob.next(IM.Message.IMMsgData, (m) => m.from_user_id === aliceId, 10_000);
  t.equal(got.msg_type, IM.BaseDefine.MsgType.MSG_TYPE_GROUP_TEXT, 'bob gets it as a group message');
  const groups = await bob.normalGroups();
  t.equal(groups.group_version_list.length, 0, 'a temporary group, as clients may create');
  t.same(browser.pageErrors, []);
});

t.test('errors are clear: no msg server for browsers, wrong password, login server gone, signed in elsewhere', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 }); // no WebSocket port yet
  await cluster.addUsers(['alice']);
  const browser = await launchBrowser(t);
  const first = new ChatPage(await browser.newPerson());
  await first.load(cluster.webChatUrl);
  await first.signIn('alice', PASSWORD);
  t.match(await first.signInError(), /No msg server accepts web connections/);

  await cluster.addMsgServer({ wsListenPort: await freeLoopbackPort() });
  await first.signIn('alice', 'not the password');
  await first.page.waitForFunction(() => /Wrong user name or password/.test(document.getElementById('signin-error')?.textContent ?? ''));
  t.equal(await first.page.evaluate(() => document.activeElement?.id), 'signin-password', 'the password field is ready for another try');

  await first.signInAndWait('alice', PASSWORD);
  await ChatPage.signedIn(browser, cluster.webChatUrl, 'alice', PASSWORD); // alice again, in another window
  await first.waitConnection('signed-out');
  t.match(await first.signInError(), /signed in on another computer or browser/, 'the older page says why it was signed out');
  t.equal(await first.bannerText(), '', 'and does not try to reconnect');

  await cluster.login.stop('test');
  await first.signIn('alice', PASSWORD);
  await first.page.waitForFunction(() => /Cannot reach the login server/.test(document.getElementById('signin-error')?.textContent ?? ''));
  t.pass('login server gone');
  t.same(browser.pageErrors, []);
});

t.test('on a phone-sized screen, with the keyboard only', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1, webSocket: true });
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const bob = await cluster.loginAs('bob');
  await bob.sendText(aliceId, 'ping from bob');
  const browser = await launchBrowser(t);
  const page = await browser.newPerson({ width: 375, height: 740 });
  const alice = new ChatPage(page);
  await alice.load(cluster.webChatUrl);
  t.equal(await page.evaluate(() => document.activeElement?.id), 'signin-user', 'the user name field has the focus');
  await page.keyboard.type('alice');
  await page.keyboard.press('Tab');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  await alice.waitConnection('online');
  await alice.waitUnread(`u:${bobId}`, 1);
  const visible = (id: string) => page.evaluate((i) => getComputedStyle(document.getElementById(i)).display !== 'none', id);
  t.ok(await visible('sidebar'), 'the list fills the screen');
  t.notOk(await visible('conversation'), 'the conversation pane is hidden');

  // Tab to the first conversation of the list and open it with Enter.
  for (let i = 0; i < 12; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => (document.activeElement as unknown as { dataset?: { key?: string } } | null)?.dataset?.key ?? '');
    if (focused === `u:${bobId}`) break;
  }
  await page.keyboard.press('Enter');
  await alice.waitForMessage('ping from bob');
  t.notOk(await visible('sidebar'), 'the open conversation fills the screen');
  t.equal(await page.evaluate(() => document.activeElement?.id), 'composer-text', 'ready to type');
  await alice.send('pong from a phone');
  const got = await bob.next(IM.Message.IMMsgData, (m) => m.from_user_id === aliceId, 10_000);
  t.ok(got.msg_id > 0);
  t.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 375), 'nothing wider than the screen');
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => getComputedStyle(document.getElementById('sidebar')).display !== 'none');
  t.pass('Escape goes back to the list');
  t.same(browser.pageErrors, []);
});
