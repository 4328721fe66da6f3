/**
 * The web chat and the TCP clients speak the same protocol: a browser user and
 * a TCP user (the ImClient that `npm run client` uses) chat across two msg
 * servers, one to one and in a group; the page encrypts text byte for byte as
 * lib/message-crypto.ts (TeamTalk's AES-256-ECB and padding) does.
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { decryptMessageText, encryptMessageText } from '../../lib/message-crypto';
import { launchBrowser } from '../helpers/browser';
import { PASSWORD, startCluster } from '../helpers/cluster';
import { ChatPage } from './chat-page';

const { MsgType } = IM.BaseDefine;

t.test('a browser user and a TCP user chat across two msg servers, one to one and in a group', async (t) => {
  const cluster = await startCluster(t, { msgServers: 2, webSocket: true });
  const [aliceId, daveId] = await cluster.addUsers(['alice', 'dave']);
  const browser = await launchBrowser(t);
  const alice = await ChatPage.signedIn(browser, cluster.webChatUrl, 'alice', PASSWORD);
  const aliceServer = cluster.msgServers.findIndex((s) => s.context.users.get(aliceId) !== undefined);
  t.ok(aliceServer >= 0, 'alice is on a msg server');
  const dave = await cluster.loginAs('dave', 1 - aliceServer); // the other one

  const greeting = 'Grüße aus dem Terminal, 你好 👋';
  const ack = await dave.sendText(aliceId, greeting);
  await alice.waitUnread(`u:${daveId}`, 1);
  await alice.openSession(`u:${daveId}`);
  await alice.waitForMessage(greeting);
  t.same((await alice.messages()).map((m) => m.msgId), [ack.msg_id], 'decrypted and shown under its msg id');

  const reply = 'Hello from the browser: 12 + 1 = 13 bytes? no, longer: padding across blocks';
  await alice.send(reply);
  const got = await dave.next(IM.Message.IMMsgData, (m) => m.from_user_id === aliceId, 10_000);
  t.equal(got.msg_type, MsgType.MSG_TYPE_SINGLE_TEXT);
  t.equal(decryptMessageText(got.msg_data)?.toString('utf8'), reply, 'the TCP client decrypts what the page encrypted');

  // A group made from the terminal: the browser user finds it in the recent list and answers in it.
  const group = await dave.createGroup('release', [daveId, aliceId]);
  t.equal(group.result_code, 0);
  await dave.sendText(group.group_id, 'release at five?', { group: true });
  await alice.waitUnread(`g:${group.group_id}`, 1);
  await alice.openSession(`g:${group.group_id}`);
  await alice.waitForMessage('release at five?');
  t.match(await alice.page.$eval('#conversation-title', (e) => e.textContent), 'release');
  await alice.send('five works');
  const groupMessage = await dave.next(IM.Message.IMMsgData, (m) => m.msg_type === MsgType.MSG_TYPE_GROUP_TEXT && m.from_user_id === aliceId, 10_000);
  t.equal(groupMessage.to_session_id, group.group_id);
  t.equal(decryptMessageText(groupMessage.msg_data)?.toString('utf8'), 'five works');
  t.same(browser.pageErrors, []);
});

t.test('the page encrypts and decrypts text exactly as TeamTalk clients do', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1, webSocket: true });
  const browser = await launchBrowser(t);
  const page = await browser.newPerson();
  await new ChatPage(page).load(cluster.webChatUrl);
  // Lengths around the padding rule (an extra block when n mod 16 is 0 or above 12), and multi-byte UTF-8.
  const samples = ['', 'a', 'x'.repeat(12), 'x'.repeat(13), 'x'.repeat(16), 'x'.repeat(28), 'x'.repeat(29), 'Grüße 世界 👋', 'y'.repeat(3000)];
  // The page's own module, imported in the page (as a string: TypeScript would turn import() into require()).
  const fromPage = (await page.evaluate(`(async (texts) => {
    const crypto = await import(new URL('js/text-crypto.js', location.href).href);
    return texts.map((text) => {
      const encrypted = crypto.encryptText(text);
      return { encrypted: String.fromCharCode(...encrypted), back: crypto.decryptText(encrypted), digest: crypto.passwordDigest(text) };
    });
  })(${JSON.stringify(samples)})`)) as Array<{ encrypted: string; back: string; digest: string }>;
  const { md5Hex } = await import('../../lib/password');
  samples.forEach((text, i) => {
    const label = `${Buffer.byteLength(text)} bytes`;
    t.equal(fromPage[i].encrypted, encryptMessageText(text).toString('ascii'), `${label}: the same ciphertext as the servers' reference`);
    t.equal(fromPage[i].back, text, `${label}: decrypts back`);
    t.equal(fromPage[i].digest, md5Hex(text), `${label}: md5 as clients send passwords`);
  });
  const refused = await page.evaluate(`(async () => {
    const crypto = await import(new URL('js/text-crypto.js', location.href).href);
    const bytes = (s) => Uint8Array.from(s, (c) => c.charCodeAt(0));
    return [crypto.decryptText(bytes('not base64!')), crypto.decryptText(bytes('QUJD')), crypto.decryptText(bytes(''))];
  })()`);
  t.same(refused, [null, null, null], 'what is not TeamTalk ciphertext is refused, not garbled');
});
