/**
 * What `npm run fuzz` found, each as the smallest PDU that showed it, sent the
 * way the fuzzer sent it, with the fixed behaviour asserted. One subtest per
 * finding; the README's Fuzzing section lists them.
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { startCluster } from '../helpers/cluster';
import { waitFor } from '../helpers/wait';
import { FakeMsgServer, frameOf, WINDOWS, ONLINE } from '../route-server/fake-msg-server';
import { connectFakes, settle, startRoute } from '../route-server/route-fixture';

t.test('route server: a users-status query with a huge id list is answered for its first maxStatusQueryIds ids', async (t) => {
  // Found on the route port (authenticated): 2.8 million ids held the route
  // server for 17 s, and with it every relay and every msg server's link.
  const route = await startRoute(t, { maxStatusQueryIds: 1000 });
  const [a, b] = await connectFakes(t, route, 2);
  a.status(7, ONLINE, WINDOWS);
  await settle(a, [b]);
  const ids = Array.from({ length: 250_000 }, (_, i) => i + 1);
  const reply = await b.usersStatus(ids);
  t.equal(reply.user_stat_list.length, 1000, 'only the first 1000 ids are answered');
  t.same(
    reply.user_stat_list.slice(5, 8).map((s) => [s.user_id, s.status]),
    [
      [6, IM.BaseDefine.UserStatType.USER_STATUS_OFFLINE],
      [7, ONLINE],
      [8, IM.BaseDefine.UserStatType.USER_STATUS_OFFLINE],
    ],
    'in order, with the right statuses',
  );
  const small = await b.usersStatus([7, 9]);
  t.same(small.user_stat_list.map((s) => s.user_id), [7, 9], 'queries under the limit are answered whole');
});

t.test('route server: a relayed PDU over maxRelayPduBytes is dropped, smaller ones still pass', async (t) => {
  const route = await startRoute(t, { maxRelayPduBytes: 64 * 1024 });
  const [a, b] = await connectFakes(t, route, 2);
  const huge = frameOf(IM.Buddy.IMSignInfoChangedNotify, { changed_user_id: 5, sign_info: 'x'.repeat(100_000) });
  const small = frameOf(IM.Buddy.IMSignInfoChangedNotify, { changed_user_id: 5, sign_info: 'hello' });
  a.sendFrame(huge);
  a.sendFrame(small);
  await settle(a, [b]);
  const got = b.decoded(IM.Buddy.IMSignInfoChangedNotify);
  t.same(got.map((n) => n.sign_info), ['hello'], 'only the small notify is relayed');
});

t.test('cluster: one huge sign-info notify from a msg server no longer disconnects every client', async (t) => {
  // Found on the route port (authenticated): a 12 MB IMSignInfoChangedNotify was
  // relayed to every msg server, which pushed it to every client; a push over
  // the 4 MiB client write queue closed each of them.
  const cluster = await startCluster(t);
  await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0);
  const bob = await cluster.loginAs('bob', 1);
  const rogue = await FakeMsgServer.start(t, cluster.route.port, { connection: { maxWriteQueueBytes: 64 * 1024 * 1024 } });
  rogue.sendFrame(frameOf(IM.Buddy.IMSignInfoChangedNotify, { changed_user_id: cluster.id('alice'), sign_info: 'x'.repeat(12 * 1024 * 1024) }));
  rogue.sendFrame(frameOf(IM.Buddy.IMSignInfoChangedNotify, { changed_user_id: cluster.id('alice'), sign_info: 'after it' }));
  await bob.next(IM.Buddy.IMSignInfoChangedNotify, (n) => n.sign_info === 'after it');
  t.ok(alice.isOpen && bob.isOpen, 'both clients are still connected');
  t.equal(bob.received(IM.Buddy.IMSignInfoChangedNotify).length, 0, 'the huge notify never reached a client');
  const ack = await alice.sendText(cluster.id('bob'), 'still chatting');
  const msg = await bob.next(IM.Message.IMMsgData, (m) => m.msg_id === ack.msg_id);
  t.equal(msg.from_user_id, cluster.id('alice'));
  await waitFor(() => rogue.link.isUp, 1000, 'the rogue link stays up (oversized relays are dropped, not fatal)');
});
