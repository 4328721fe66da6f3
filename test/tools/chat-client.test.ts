/**
 * The terminal chat client, driven through stdin/stdout as a person would use
 * it: real client processes against a real cluster (two msg servers), with a
 * protocol-level observer checking what the server recorded (unread counts,
 * online status).
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import type { ImClient } from '../../tools/client/im-client';
import { PASSWORD, startCluster, type TestCluster } from '../helpers/cluster';
import { freeLoopbackPort } from '../../scripts/infra/system';
import { adminPost } from '../helpers/admin';
import { waitFor } from '../helpers/wait';
import { WAIT_MS, chat, time } from './chat-process';

const { ClientType, SessionType, UserStatType } = IM.BaseDefine;

function loginArgs(cluster: TestCluster, user: string): string[] {
  return ['--user', user, '--password', PASSWORD, '--login-url', cluster.loginUrl];
}

/** The server's unread count of `owner` for a session, as seen by `observer` (logged in as owner). */
async function unreadOf(observer: ImClient, sessionId: number, group = false): Promise<number> {
  const rsp = await observer.unreadCounts();
  const type = group ? SessionType.SESSION_TYPE_GROUP : SessionType.SESSION_TYPE_SINGLE;
  return rsp.unreadinfo_list.find((u) => u.session_id === sessionId && u.session_type === type)?.unread_cnt ?? 0;
}

t.test('two people chat through the terminal client across two msg servers', async (t) => {
  const cluster = await startCluster(t);
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob', 'carol']);

  const alice = chat(t, loginArgs(cluster, 'alice'));
  await alice.expect(/logged in as alice \(ALICE\), user id \d+, on 127\.0\.0\.1:(\d+)/);
  await alice.expect(/no recent conversations/);
  await alice.expect(/type \/help for commands/);
  const bob = chat(t, loginArgs(cluster, 'bob'));
  await bob.expect(/type \/help for commands/);
  const port = (s: string) => /on 127\.0\.0\.1:(\d+)/.exec(s)?.[1];
  t.not(port(alice.output()), port(bob.output()), 'the login server put them on different msg servers');
  // Bob's phone: a second device of bob (a phone does not log the computer out), used to read what the server recorded.
  const bobsPhone = await cluster.loginAs('bob', 0, { clientType: ClientType.CLIENT_TYPE_ANDROID });

  let mark = alice.mark();
  alice.type('/help');
  for (const command of ['/sessions', '/users', '/online', '/open NAME', '/group NAME|ID', '/groups', '/newgroup NAME a,b,c', '/history [N]', '/msg NAME TEXT', '/close', '/quit']) {
    await alice.expect(new RegExp(`^  ${command.replace(/[|[\]]/g, '\\$&')}\\s`, 'm'), mark);
  }

  alice.type('/open bob');
  await alice.expect(/--- conversation with bob ---\n\(no messages yet\)/);
  alice.type('hello bob, how are you?');
  await alice.expect(/sent to bob \(msg id 1\)/);
  await bob.expect(/\* new message from alice \(1 unread\) at \d\d:\d\d: hello bob, how are you\?/);
  t.equal(await unreadOf(bobsPhone, aliceId), 1, 'the server counts it unread for bob');

  mark = bob.mark();
  bob.type('/sessions');
  await bob.expect(/recent conversations:\n {2}alice {2}1 unread {2}\d\d:\d\d {2}hello bob, how are you\?\n/, mark);

  mark = bob.mark();
  bob.type('/open alice');
  await bob.expect(time(`--- conversation with alice ---\nTIME alice: hello bob, how are you\\?\n`), mark);
  await waitFor(async () => (await unreadOf(bobsPhone, aliceId)) === 0, WAIT_MS, 'the read ack of /open to clear the unread count');
  mark = bob.mark();
  bob.type('/sessions');
  await bob.expect(/recent conversations:\n {2}alice {2,}\d\d:\d\d {2}hello bob, how are you\?\n/, mark);

  // A message arriving in the open conversation is shown and read at once.
  mark = bob.mark();
  alice.type('are you there?');
  await alice.expect(/sent to bob \(msg id 2\)/);
  await bob.expect(time(`TIME alice: are you there\\?`), mark);
  t.notMatch(bob.output().slice(mark), /new message from/, 'shown in the conversation, not announced');
  await waitFor(async () => (await unreadOf(bobsPhone, aliceId)) === 0, WAIT_MS, 'the live read ack to clear the unread count');

  bob.type('fine, thanks!');
  await bob.expect(/sent to alice \(msg id 3\)/);
  await alice.expect(time(`TIME bob: fine, thanks!`));

  mark = alice.mark();
  alice.type('/users');
  await alice.expect(/^ {2}alice\s+ALICE\s+online \(you\)$/m, mark);
  await alice.expect(/^ {2}bob\s+BOB\s+online$/m, mark);
  await alice.expect(/^ {2}carol\s+CAROL\s+offline$/m, mark);
  mark = alice.mark();
  alice.type('/online');
  await alice.expect(/^ {2}alice\s+ALICE\s+online \(you\)\n {2}bob\s+BOB\s+online\n/m, mark);
  t.notMatch(alice.output().slice(mark), /carol/, 'carol is not online');

  // A group: created by alice with bob and carol, and a message each way.
  alice.type('/newgroup lunch bob,carol');
  const created = /created group #lunch \(id (\d+)\)/;
  await alice.expect(created);
  const groupId = Number(created.exec(alice.output())?.[1]);
  await alice.expect(/--- group #lunch ---\n\(no messages yet\)/);
  alice.type('pizza at noon?');
  await alice.expect(/sent to #lunch \(msg id 1\)/);
  await bob.expect(/\* new message from alice in #lunch \(1 unread\) at \d\d:\d\d: pizza at noon\?/);
  t.equal(await unreadOf(bobsPhone, groupId, true), 1, 'the group message is unread for bob');
  mark = bob.mark();
  bob.type('/sessions');
  await bob.expect(/^ {2}#lunch {2}1 unread {2}\S+ +alice: pizza at noon\?$/m, mark);
  mark = bob.mark();
  bob.type('/groups');
  await bob.expect(new RegExp(`#lunch\\s+id ${groupId}\\s+alice, bob, carol`), mark);
  bob.type('/group lunch');
  await bob.expect(time(`--- group #lunch ---\nTIME alice: pizza at noon\\?\n`), mark);
  await waitFor(async () => (await unreadOf(bobsPhone, groupId, true)) === 0, WAIT_MS, 'opening the group to clear its unread count');
  bob.type('yes!');
  await bob.expect(/sent to #lunch \(msg id 2\)/);
  await alice.expect(time(`TIME bob: yes!`));

  // A one-off message and leaving the conversation.
  mark = bob.mark();
  bob.type('/msg carol see you at lunch');
  await bob.expect(/sent to carol \(msg id 1\)/, mark);
  bob.type('/close');
  await bob.expect(/--- left group #lunch ---/, mark);
  bob.type('still here?');
  await bob.expect(/error: open a conversation first/, mark);

  mark = bob.mark();
  alice.type('/quit');
  await alice.expect(/logging out/);
  t.equal(await alice.exited, 0, 'alice logs out cleanly');
  await bob.expect(/\* alice is offline/, mark);
  const status = await bobsPhone.usersStatus([aliceId, bobId]);
  const statusOf = new Map(status.user_stat_list.map((s) => [s.user_id, s.status]));
  t.equal(statusOf.get(aliceId), UserStatType.USER_STATUS_OFFLINE, 'the server knows alice left');
  t.equal(statusOf.get(bobId), UserStatType.USER_STATUS_ONLINE, 'bob is still online');
  bob.proc.stdin.end(); // Ctrl-D
  t.equal(await bob.exited, 0, 'end of input logs out too');
  await waitFor(async () => {
    const s = await bobsPhone.usersStatus([bobId]);
    return s.user_stat_list[0]?.status === UserStatType.USER_STATUS_OFFLINE;
  }, WAIT_MS, 'bob offline after Ctrl-D');
});

t.test('clear errors: wrong password, servers down or missing, bad input', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 });
  await cluster.addUsers(['alice']);

  const wrong = chat(t, ['--user', 'alice', '--password', 'nope', '--login-url', cluster.loginUrl]);
  t.equal(await wrong.exited, 1, 'wrong password: exit 1');
  t.match(wrong.output(), /^login failed: wrong user name or password\n$/);

  const closedPort = await freeLoopbackPort();
  const down = chat(t, ['--user', 'alice', '--password', PASSWORD, '--login-url', `http://127.0.0.1:${closedPort}/msg_server`]);
  t.equal(await down.exited, 1, 'login server down: exit 1');
  t.equal(down.output(), `cannot reach the login server at http://127.0.0.1:${closedPort}/msg_server — is the cluster running? (npm start)\n`);

  const noServer = chat(t, ['--user', 'alice', '--password', PASSWORD, '--server', `127.0.0.1:${closedPort}`]);
  t.equal(await noServer.exited, 1, 'msg server down: exit 1');
  t.match(noServer.output(), new RegExp(`^cannot connect to the msg server 127\\.0\\.0\\.1:${closedPort}: .*ECONNREFUSED.* — is it running\\?\n$`));

  const usage = chat(t, ['--password', 'x']);
  t.equal(await usage.exited, 2, 'usage error: exit 2');
  t.match(usage.output(), /--user is required\nusage: npm run client -- --user NAME/);

  const noPassword = chat(t, ['--user', 'alice', '--login-url', cluster.loginUrl]);
  t.equal(await noPassword.exited, 1, 'no password and no terminal: exit 1');
  t.match(noPassword.output(), /no password given: use --password P, set TT_PASSWORD/);

  // The password from the environment, the msg server given directly, a phone client.
  const direct = chat(t, ['--user', 'alice', '--server', `127.0.0.1:${cluster.msgServers[0].port}`, '--client-type', 'android'], {
    TT_PASSWORD: PASSWORD,
  });
  await direct.expect(/type \/help for commands/);
  let mark = direct.mark();
  direct.type('/dance');
  await direct.expect(/error: unknown command \/dance \(try \/help\)/, mark);
  direct.type('hello?');
  await direct.expect(/error: open a conversation first/, mark);
  direct.type('/open nobody');
  await direct.expect(/error: no user named "nobody" \(see \/users\)/, mark);
  direct.type('/open alice');
  await direct.expect(/error: that is you/, mark);
  direct.type('/history');
  await direct.expect(/error: open a conversation first/, mark);
  direct.type('/msg alice');
  await direct.expect(/error: usage: \/msg NAME TEXT/, mark);
  direct.type('/newgroup lunch');
  await direct.expect(/error: usage: \/newgroup NAME user1,user2/, mark);
  direct.type('/group nowhere');
  await direct.expect(/error: no group "nowhere" \(see \/groups\)/, mark);
  mark = direct.mark();
  direct.type('/quit');
  t.equal(await direct.exited, 0, 'still works after the errors, and quits cleanly');

  const empty = await startCluster(t, { msgServers: 0 });
  const none = chat(t, ['--user', 'alice', '--password', PASSWORD, '--login-url', empty.loginUrl]);
  t.equal(await none.exited, 1, 'no msg server registered: exit 1');
  t.match(none.output(), /^no msg server available: .*no msg server is available.* — start one/);
});

t.test('older messages page by page with /history, oldest first', async (t) => {
  // Carol's 25 quick messages would otherwise trip the 20-per-second flood limit.
  const cluster = await startCluster(t, { msgServers: 1, msg: { floodLimitPerSecond: 1000 } });
  const [aliceId] = await cluster.addUsers(['alice', 'carol']);
  const carol = await cluster.loginAs('carol', 0);
  for (let i = 1; i <= 25; i++) await carol.sendText(aliceId, `note ${i}`);

  const alice = chat(t, loginArgs(cluster, 'alice'));
  await alice.expect(/recent conversations:\n {2}carol {2}25 unread {2}\d\d:\d\d {2}note 25\n/);
  await alice.expect(/type \/help for commands/);
  const notes = (from: number) => [...alice.output().slice(from).matchAll(time(`TIME carol: note (\\d+)`, 'g'))].map((m) => Number(m[1]));

  let mark = alice.mark();
  alice.type('/open carol');
  await alice.expect(/note 25\n/, mark);
  t.same(notes(mark), [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25], 'the last 20, oldest first');
  mark = alice.mark();
  alice.type('/history 3');
  await alice.expect(/note 5\n/, mark);
  t.same(notes(mark), [3, 4, 5]);
  mark = alice.mark();
  alice.type('/history');
  await alice.expect(/note 2\n/, mark);
  t.same(notes(mark), [1, 2]);
  mark = alice.mark();
  alice.type('/history');
  await alice.expect(/\(no older messages\)/, mark);
  t.same(notes(mark), []);

  alice.type('/quit');
  t.equal(await alice.exited, 0);
});

t.test('a script piped in before the login finishes runs every line', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 });
  const [aliceId] = await cluster.addUsers(['alice', 'bob']);
  // Everything is written at once, while the client is still connecting and logging in.
  const alice = chat(t, loginArgs(cluster, 'alice'));
  alice.proc.stdin.end('/open bob\nfirst line\nsecond line\n/quit\n');
  t.equal(await alice.exited, 0, 'the script ends with /quit');
  t.match(alice.output(), /sent to bob \(msg id 1\)[^]*sent to bob \(msg id 2\)/);
  const bob = await cluster.loginAs('bob', 0);
  const history = await bob.history(aliceId);
  t.equal(history.msg_list.length, 2, 'both lines were stored for bob to read');
});

t.test('a second login elsewhere logs the terminal client out with a clear message', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 });
  await cluster.addUsers(['alice']);
  const first = chat(t, loginArgs(cluster, 'alice'));
  await first.expect(/type \/help for commands/);
  await cluster.loginAs('alice', 0);
  await first.expect(/you were logged out: logged in elsewhere/);
  t.equal(await first.exited, 3);
  t.notMatch(first.output(), /connection to the msg server lost/, 'a kick is not reported as a lost connection');
});

t.test('a msg server going away: the client reconnects through the login server elsewhere and shows what it missed', async (t) => {
  // Drains close their connections only after a minute here: bob's msg server stays up but takes nobody new.
  const cluster = await startCluster(t, { msgServers: 2, msg: { drainIntervalMs: 60_000 } });
  await cluster.addUsers(['alice', 'bob']);
  const bob = await cluster.loginAs('bob', 1);
  const alice = chat(t, loginArgs(cluster, 'alice'));
  await alice.expect(/type \/help for commands/);
  t.match(alice.output(), `on 127.0.0.1:${cluster.msgServers[0].port}`, 'alice is on the first msg server (the less loaded one)');
  alice.type('/open bob');
  await alice.expect(/\(no messages yet\)/);

  await adminPost(cluster.msgServers[1].adminUrl, 'msg-server', '/drain', {});
  let mark = alice.mark();
  await cluster.msgServers[0].stop('test: msg server gone');
  await alice.expect(/connection to the msg server lost: .+; reconnecting/, mark);
  await alice.expect(/reconnect attempt 1 failed: .*(full|no msg server)/, mark);
  const missed = await bob.sendText(cluster.id('alice'), 'sent while you were away');
  alice.type('typed while away');

  mark = alice.mark();
  const third = await cluster.addMsgServer();
  await alice.expect(new RegExp(`reconnected to 127\\.0\\.0\\.1:${third.port}`), mark);
  await alice.expect(time('1 message arrived while disconnected:\\nTIME bob: sent while you were away'), mark);
  const typed = await bob.next(IM.Message.IMMsgData, (m) => m.from_user_id === cluster.id('alice'), WAIT_MS);
  t.ok(typed.msg_id > missed.msg_id, 'the line typed while away was sent once reconnected');
  await alice.expect(/sent to bob \(msg id \d+\)/, mark);
  t.equal(alice.output().split('sent while you were away').length - 1, 1, 'the missed message is shown once');
  alice.type('/quit');
  t.equal(await alice.exited, 0);
});

t.test('input that ends while reconnecting ends the client (exit 0)', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 });
  await cluster.addUsers(['alice']);
  const alice = chat(t, loginArgs(cluster, 'alice'));
  await alice.expect(/type \/help for commands/);
  await cluster.msgServers[0].stop('test: msg server gone');
  await alice.expect(/reconnect attempt 1 failed/);
  alice.proc.stdin.end();
  t.equal(await alice.exited, 0, 'it stops trying and exits');
});
