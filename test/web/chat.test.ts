/**
 * The web chat in a real headless Chromium against a real cluster: two people
 * chat in their browsers (live messages, unread counts, read acks that reach
 * the server, history paging).
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { launchBrowser } from '../helpers/browser';
import { PASSWORD, startCluster } from '../helpers/cluster';
import { waitFor } from '../helpers/wait';
import { ChatPage } from './chat-page';

const { ClientType } = IM.BaseDefine;

t.test('two people chat in their browsers', async (t) => {
  const cluster = await startCluster(t, { msgServers: 2, webSocket: true });
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const browser = await launchBrowser(t);
  const alice = new ChatPage(await browser.newPerson());
  const bob = new ChatPage(await browser.newPerson());
  await alice.load(cluster.webChatUrl);
  await bob.load(cluster.webChatUrl);
  await alice.signInAndWait('alice', PASSWORD);
  await bob.signInAndWait('bob', PASSWORD);
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
