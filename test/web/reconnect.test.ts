/**
 * The page survives its msg server going away: it says so, retries with
 * backoff, signs in again on its own when a msg server with a WebSocket port is
 * back, and shows what arrived meanwhile (the open conversation's new messages,
 * unread counts elsewhere). Then it chats live again.
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { decryptMessageText } from '../../lib/message-crypto';
import { freeLoopbackPort } from '../../scripts/infra/system';
import { launchBrowser } from '../helpers/browser';
import { PASSWORD, startCluster } from '../helpers/cluster';
import { ChatPage } from './chat-page';

/** In the page functions below (they run in the browser). */
declare const document: { getElementById(id: string): { textContent: string | null } | null };

t.test('the page reconnects after its msg server restarts and shows what arrived meanwhile', async (t) => {
  const cluster = await startCluster(t, { msgServers: 0 });
  const [aliceId, bobId, carolId] = await cluster.addUsers(['alice', 'bob', 'carol']);
  const wsPort = await freeLoopbackPort();
  const webServer = await cluster.addMsgServer({ wsListenPort: wsPort }); // the only one browsers can use
  await cluster.addMsgServer(); // TCP only: bob and carol stay on it
  const bob = await cluster.loginAs('bob', 1);
  const carol = await cluster.loginAs('carol', 1);

  const browser = await launchBrowser(t);
  const alice = await ChatPage.signedIn(browser, cluster.webChatUrl, 'alice', PASSWORD);
  await alice.openPerson(bobId);
  await bob.sendText(aliceId, 'before the restart');
  await alice.waitForMessage('before the restart');

  await webServer.stop('restart for maintenance');
  cluster.msgServers.splice(cluster.msgServers.indexOf(webServer), 1);
  await alice.waitConnection('reconnecting');
  t.match(await alice.bannerText(), /msg server is restarting|connection to the msg server was lost/, 'the page says what happened');
  t.match(await alice.bannerText(), /Reconnecting/);

  // Meanwhile: stored, not delivered (alice is offline).
  const first = await bob.sendText(aliceId, 'while you were away (1)');
  const second = await bob.sendText(aliceId, 'while you were away (2)');
  await carol.sendText(aliceId, 'carol wrote meanwhile');
  // Still down: a retry fails and is said to fail, and the page keeps trying.
  await alice.page.waitForFunction(() => /No msg server accepts web connections/.test(document.getElementById('banner')?.textContent ?? ''), { timeout: 20_000 });

  await cluster.addMsgServer({ wsListenPort: wsPort });
  await alice.waitConnection('online', 60_000);
  t.match(await alice.bannerText(), /Reconnected/);
  await alice.waitForMessage('while you were away (2)');
  const shown = await alice.messages();
  t.same(
    shown.map((m) => m.text),
    ['before the restart', 'while you were away (1)', 'while you were away (2)'],
    'the open conversation caught up, in order, nothing twice',
  );
  t.same(shown.slice(1).map((m) => m.msgId), [first.msg_id, second.msg_id]);
  await alice.waitUnread(`u:${carolId}`, 1);
  t.pass('the other conversation shows its unread message');

  // And live again, both ways.
  await bob.sendText(aliceId, 'are you back?');
  await alice.waitForMessage('are you back?');
  await alice.send('yes, back');
  const got = await bob.next(IM.Message.IMMsgData, (m) => m.from_user_id === aliceId, 10_000);
  t.equal(decryptMessageText(got.msg_data)?.toString(), 'yes, back');
  t.same(browser.pageErrors, []);
});
