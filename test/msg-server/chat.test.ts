/**
 * Single chat end to end: real msg servers, route server, db-proxy, MariaDB and
 * Redis; clients speak the PDU protocol over TCP like the real ones.
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { decryptMessageText } from '../../lib/message-crypto';
import { startCluster } from '../helpers/cluster';
import { expectNoPush, waitFor } from '../helpers/wait';

const { SessionType, ClientType, MsgType } = IM.BaseDefine;
const text = (m: IM.Message.IMMsgData) => decryptMessageText(m.msg_data)?.toString('utf8');

t.test('two users on two msg servers chat both ways; ids are +1 per conversation; every device gets it', async (t) => {
  const cluster = await startCluster(t);
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alicePc = await cluster.loginAs('alice', 0);
  const alicePhone = await cluster.loginAs('alice', 1, { clientType: ClientType.CLIENT_TYPE_ANDROID });
  const bob = await cluster.loginAs('bob', 1);

  const ids: number[] = [];
  for (let i = 1; i <= 3; i++) {
    const ack = await alicePc.sendText(bobId, `hello ${i}`);
    t.match(ack, { user_id: aliceId, session_id: bobId, session_type: SessionType.SESSION_TYPE_SINGLE });
    ids.push(ack.msg_id);
    const got = await bob.next(IM.Message.IMMsgData, (m) => m.msg_id === ack.msg_id);
    t.equal(got.from_user_id, aliceId);
    t.equal(text(got), `hello ${i}`, 'bob reads the text on the other msg server');
    const synced = await alicePhone.next(IM.Message.IMMsgData, (m) => m.msg_id === ack.msg_id);
    t.equal(text(synced), `hello ${i}`, "alice's phone (other server) gets her own message");
  }
  for (let i = 1; i <= 2; i++) {
    const ack = await bob.sendText(aliceId, `reply ${i}`);
    ids.push(ack.msg_id);
    const onPc = await alicePc.next(IM.Message.IMMsgData, (m) => m.msg_id === ack.msg_id);
    const onPhone = await alicePhone.next(IM.Message.IMMsgData, (m) => m.msg_id === ack.msg_id);
    t.equal(text(onPc), `reply ${i}`);
    t.equal(text(onPhone), `reply ${i}`);
  }
  t.same(ids, [1, 2, 3, 4, 5], 'one counter per conversation, both directions');
  t.equal(alicePc.received(IM.Message.IMMsgData).length, 0, 'the sending device does not get its own message back');

  const rows = await cluster.query<{ msgId: number; fromId: number }>(
    `SELECT msgId, fromId FROM IMMessage_0 UNION ALL SELECT msgId, fromId FROM IMMessage_1 UNION ALL
     SELECT msgId, fromId FROM IMMessage_2 UNION ALL SELECT msgId, fromId FROM IMMessage_3 UNION ALL
     SELECT msgId, fromId FROM IMMessage_4 UNION ALL SELECT msgId, fromId FROM IMMessage_5 UNION ALL
     SELECT msgId, fromId FROM IMMessage_6 UNION ALL SELECT msgId, fromId FROM IMMessage_7 ORDER BY msgId`,
  );
  t.same(rows.map((r) => Number(r.msgId)), [1, 2, 3, 4, 5], 'all five stored once');
});

t.test('a pushed message carries seq 0 and no attach_data, locally and through the route server', async (t) => {
  const cluster = await startCluster(t);
  const [, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0);
  const bobHere = await cluster.loginAs('bob', 0);
  const bobThere = await cluster.loginAs('bob', 1, { clientType: ClientType.CLIENT_TYPE_IOS });
  const seen: Array<{ seq: number; hasAttach: boolean }> = [];
  for (const client of [bobHere, bobThere]) {
    client.on('push', (p: { commandId: number; pdu: { seqNum: number }; message: object }) => {
      if (p.commandId === 0x0301) seen.push({ seq: p.pdu.seqNum, hasAttach: Object.prototype.hasOwnProperty.call(p.message, 'attach_data') });
    });
  }
  await alice.sendText(bobId, 'hi');
  await waitFor(() => seen.length === 2);
  t.same(seen, [
    { seq: 0, hasAttach: false },
    { seq: 0, hasAttach: false },
  ]);
});

t.test('an offline receiver finds the message in unread counts and history after login', async (t) => {
  const cluster = await startCluster(t);
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0);
  for (const word of ['one', 'two', 'three']) await alice.sendText(bobId, word);

  const bob = await cluster.loginAs('bob', 1);
  const unread = await bob.unreadCounts();
  t.equal(unread.total_cnt, 3);
  t.equal(unread.unreadinfo_list.length, 1);
  t.match(unread.unreadinfo_list[0], { session_id: aliceId, session_type: SessionType.SESSION_TYPE_SINGLE, unread_cnt: 3, latest_msg_id: 3 });
  t.equal(decryptMessageText(unread.unreadinfo_list[0].latest_msg_data)?.toString(), 'three');

  const history = await bob.history(aliceId, { count: 10 });
  t.same(history.msg_list.map((m) => m.msg_id), [3, 2, 1], 'newest first');
  t.same(history.msg_list.map((m) => decryptMessageText(m.msg_data)?.toString()), ['three', 'two', 'one']);
  const page = await bob.history(aliceId, { fromMsgId: 2, count: 1 });
  t.same(page.msg_list.map((m) => m.msg_id), [2], 'paging by msg id');

  const sessions = await bob.recentSessions(0);
  t.match(sessions.contact_session_list, [{ session_id: aliceId, latest_msg_id: 3 }]);
  t.equal(bob.received(IM.Message.IMMsgData).length, 0, 'nothing is pushed for messages sent while offline');
});

t.test("read ack clears unread and tells the reader's other device on another msg server", async (t) => {
  const cluster = await startCluster(t);
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0);
  const bobPc = await cluster.loginAs('bob', 0);
  const bobPhone = await cluster.loginAs('bob', 1, { clientType: ClientType.CLIENT_TYPE_IOS });
  let last = 0;
  for (let i = 0; i < 4; i++) last = (await alice.sendText(bobId, `m${i}`)).msg_id;
  t.equal((await bobPc.unreadCounts()).total_cnt, 4);

  bobPc.readAck(aliceId, last);
  const onPhone = await bobPhone.next(IM.Message.IMMsgDataReadNotify);
  t.match(onPhone, { user_id: bobId, session_id: aliceId, msg_id: last, session_type: SessionType.SESSION_TYPE_SINGLE });
  await waitFor(async () => (await bobPhone.unreadCounts()).total_cnt === 0, 3000, 'unread cleared');
  t.equal(alice.received(IM.Message.IMMsgDataReadNotify).length, 0, 'the sender is not told (as the original)');
  t.equal(bobPc.received(IM.Message.IMMsgDataReadNotify).length, 0, 'the reading device is not told');
});

t.test("read ack notifies the reader's other device on the same msg server", async (t) => {
  const cluster = await startCluster(t);
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 1);
  const bobPc = await cluster.loginAs('bob', 0);
  const bobPhone = await cluster.loginAs('bob', 0, { clientType: ClientType.CLIENT_TYPE_ANDROID });
  const { msg_id } = await alice.sendText(bobId, 'read me');
  await bobPhone.next(IM.Message.IMMsgData, (m) => m.msg_id === msg_id);
  bobPhone.readAck(aliceId, msg_id);
  t.match(await bobPc.next(IM.Message.IMMsgDataReadNotify), { user_id: bobId, session_id: aliceId, msg_id });
});

t.test('an unacked delivery is resent with the same msg id, then counted as missed', async (t) => {
  const cluster = await startCluster(t, { msg: { deliveryAckTimeoutMs: 200, deliveryRetries: 2 } });
  const [, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0);
  const bob = await cluster.loginAs('bob', 1, { autoAck: false });
  const ack = await alice.sendText(bobId, 'are you there?');
  const server = cluster.msgServers[1].context;
  await waitFor(() => server.deliveries.stats.missed === 1, 15_000, 'delivery counted as missed');
  const copies = bob.received(IM.Message.IMMsgData).filter((m) => m.msg_id === ack.msg_id);
  t.equal(copies.length, 3, 'first delivery + 2 resends');
  t.equal(server.deliveries.stats.resent, 2);
  // The message is still in storage for the client to fetch.
  t.equal((await bob.unreadCounts()).total_cnt, 1);
});

t.test('an acked delivery is not resent', async (t) => {
  const cluster = await startCluster(t, { msg: { deliveryAckTimeoutMs: 150, deliveryRetries: 2 } });
  const [, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0);
  const bob = await cluster.loginAs('bob', 0);
  const ack = await alice.sendText(bobId, 'ack me');
  await bob.next(IM.Message.IMMsgData, (m) => m.msg_id === ack.msg_id);
  const server = cluster.msgServers[0].context;
  // Once the server has the ack nothing is pending; the quiet period spans more
  // than one resend check (once a second) in case it was not honoured.
  await waitFor(() => server.deliveries.stats.acked === 1, 5000, 'the ack to reach the msg server');
  await expectNoPush(bob, IM.Message.IMMsgData, 1200);
  t.equal(server.deliveries.stats.resent, 0);
  t.equal(server.deliveries.stats.missed, 0);
});

t.test('flood control drops messages beyond the per-second cap, counts them, never acks them', async (t) => {
  const cluster = await startCluster(t, { msg: { floodLimitPerSecond: 5 } });
  const [, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0);
  const outcomes = await Promise.allSettled(
    Array.from({ length: 12 }, (_, i) =>
      alice.conn.request(
        IM.Message.IMMsgData,
        { from_user_id: alice.userId, to_session_id: bobId, msg_id: 0, create_time: 0, msg_type: MsgType.MSG_TYPE_SINGLE_TEXT, msg_data: Buffer.from(`x${i}`) },
        IM.Message.IMMsgDataAck,
      ),
    ),
  );
  const acked = outcomes.filter((o) => o.status === 'fulfilled').length;
  t.ok(acked >= 5 && acked < 12, `some were acked (${acked}), the excess was not`);
  t.equal(cluster.msgServers[0].context.stats.floodDropped, 12 - acked, 'every drop is counted');
});

t.test('empty and self-addressed messages are dropped without an ack', async (t) => {
  const cluster = await startCluster(t, { msg: { requestTimeoutMs: 5000 } });
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.connect(0, {});
  await alice.login('alice', 'secret-pass');
  alice.conn.requestTimeoutMs = 600;
  await t.rejects(alice.sendMessage(bobId, Buffer.alloc(0), MsgType.MSG_TYPE_SINGLE_TEXT), { code: 'TT_ERR_REQUEST_TIMEOUT' });
  await t.rejects(alice.sendText(aliceId, 'me'), { code: 'TT_ERR_REQUEST_TIMEOUT' });
  const ok = await alice.sendText(bobId, 'fine');
  t.equal(ok.msg_id, 1, 'the dropped ones used no msg id');
});
