/**
 * Storing single-chat messages (CID_MSG_DATA) through a real TCP connection:
 * relation, shard table, msg ids, recent sessions, unread counters, echo of
 * seq_num and attach_data.
 */
import t from 'tap';
import { encodeHandleAttach } from '../../pdu/attach';
import { IM } from '../../pdu/commands';
import { RemoteError } from '../../lib/errors';
import { waitFor } from '../helpers/wait';
import { connectTo, harness, startProxy } from './harness';

const { MsgType, SessionType } = IM.BaseDefine;

t.test('3 messages A->B and 2 B->A: ids 1..5 in one relation, right shard, unread 3 and 2, read ack zeroes', async (t) => {
  const h = await harness(t);
  const [a, b] = await h.addUsers('alice', 'bob');
  const ids: number[] = [];
  for (let i = 1; i <= 3; i++) ids.push((await h.send(a, b, `a to b ${i}`)).msg_id);
  for (let i = 1; i <= 2; i++) ids.push((await h.send(b, a, `b to a ${i}`)).msg_id);
  t.same(ids, [1, 2, 3, 4, 5]);

  const relations = await h.rows('SELECT id, smallId, bigId, status FROM IMRelationShip');
  t.equal(relations.length, 1, 'one relation for the pair');
  t.match(relations[0], { smallId: Math.min(a, b), bigId: Math.max(a, b), status: 0 });
  const relationId = Number(relations[0].id);

  const messages = await h.allMessages();
  t.same(
    messages.map((m) => [m.table, m.relateId, m.fromId, m.toId, m.msgId, m.content]),
    [
      [`IMMessage_${relationId % 8}`, relationId, a, b, 1, 'a to b 1'],
      [`IMMessage_${relationId % 8}`, relationId, a, b, 2, 'a to b 2'],
      [`IMMessage_${relationId % 8}`, relationId, a, b, 3, 'a to b 3'],
      [`IMMessage_${relationId % 8}`, relationId, b, a, 4, 'b to a 1'],
      [`IMMessage_${relationId % 8}`, relationId, b, a, 5, 'b to a 2'],
    ],
  );
  t.equal(await h.redis.redis.get(h.key(`msg_id_${relationId}`)), '5');
  t.same(await h.redis.redis.hgetall(h.key(`unread_${b}`)), { [a]: '3' });
  t.same(await h.redis.redis.hgetall(h.key(`unread_${a}`)), { [b]: '2' });

  const sessions = await h.rows('SELECT userId, peerId, type, status FROM IMRecentSession ORDER BY userId');
  t.same(
    sessions.map((s) => [Number(s.userId), Number(s.peerId), Number(s.type), Number(s.status)]),
    [
      [a, b, 1, 0],
      [b, a, 1, 0],
    ].sort((x, y) => x[0] - y[0]),
  );

  h.conn.send(IM.Message.IMMsgDataReadAck, { user_id: b, session_id: a, msg_id: 3, session_type: SessionType.SESSION_TYPE_SINGLE });
  await waitFor(async () => (await h.redis.redis.exists(h.key(`unread_${b}`))) === 0, 3000, "B's counter to clear");
  t.same(await h.redis.redis.hgetall(h.key(`unread_${a}`)), { [b]: '2' }, "A's counter is untouched");
  t.equal(h.conn.pushes.length, 0, 'a read ack is not answered');
});

t.test('the reply echoes seq_num and attach_data and keeps the message fields', async (t) => {
  const h = await harness(t);
  const [a, b] = await h.addUsers('carol', 'dave');
  const attach = encodeHandleAttach(4242);
  const pdu = await h.conn.requestFrame(
    0x0003,
    0x0301,
    IM.Message.IMMsgData.encode({
      from_user_id: a,
      to_session_id: b,
      msg_id: 99,
      create_time: 1700000000,
      msg_type: MsgType.MSG_TYPE_SINGLE_TEXT,
      msg_data: Buffer.from('hello'),
      attach_data: attach,
    }).finish(),
    0x0301,
  );
  const reply = IM.Message.IMMsgData.decode(pdu.body);
  t.equal(pdu.flag, 0);
  t.equal(reply.msg_id, 1, 'the client-local msg_id is replaced');
  t.equal(reply.create_time, 1700000000);
  t.same(Buffer.from(reply.attach_data), attach);
  t.equal(Buffer.from(reply.msg_data).toString(), 'hello');
});

t.test('concurrent first messages between new contacts get distinct ids in one relation', async (t) => {
  const h = await harness(t);
  const [a, b] = await h.addUsers('erin', 'fred');
  // A second db-proxy on the same storage: the two race to create the relation and counter.
  const other = await startProxy(t, h.config());
  const otherConn = await connectTo(t, other.port);
  const send = (conn: typeof h.conn, from: number, to: number, text: string) =>
    conn.request(
      IM.Message.IMMsgData,
      { from_user_id: from, to_session_id: to, msg_id: 0, create_time: 1, msg_type: MsgType.MSG_TYPE_SINGLE_TEXT, msg_data: Buffer.from(text) },
      IM.Message.IMMsgData,
    );
  const replies = await Promise.all([
    send(h.conn, a, b, 'x1'),
    send(otherConn, b, a, 'y1'),
    send(h.conn, b, a, 'x2'),
    send(otherConn, a, b, 'y2'),
  ]);
  t.same(replies.map((r) => r.msg_id).sort(), [1, 2, 3, 4], 'four distinct ids, none lost');
  t.equal((await h.rows('SELECT id FROM IMRelationShip')).length, 1, 'one relation');
  t.same((await h.allMessages()).map((m) => m.msgId), [1, 2, 3, 4]);
  t.equal((await h.rows('SELECT id FROM IMRecentSession')).length, 2, 'one session row per side');
});

t.test('invalid messages are refused with msg_id 0 and BAD_REQUEST; nothing is stored', async (t) => {
  const h = await harness(t);
  const [a, b] = await h.addUsers('gina', 'hank');
  const cases: Array<[string, Promise<unknown>]> = [
    ['empty data', h.send(a, b, '')],
    ['to oneself', h.send(a, a, 'me')],
    ['unknown type', h.send(a, b, 'x', 5 as IM.BaseDefine.MsgType)],
    ['audio without bytes', h.send(a, b, Buffer.from([0, 0, 0, 3]), MsgType.MSG_TYPE_SINGLE_AUDIO)],
    ['not UTF-8', h.send(a, b, Buffer.from([0xff, 0xfe, 0x80]))],
    ['longer than the column', h.send(a, b, 'x'.repeat(4097))],
  ];
  for (const [what, p] of cases) {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    t.ok(err instanceof RemoteError, what);
    t.equal((err as RemoteError).flag, 3, `${what}: BAD_REQUEST`);
    t.equal(((err as RemoteError).reply as IM.Message.IMMsgData).msg_id, 0);
  }
  t.equal((await h.send(a, b, 'x'.repeat(4096))).msg_id, 1, 'exactly 4096 characters fit');
  t.equal((await h.send(a, b, '字'.repeat(4096))).msg_id, 2, '4096 multi-byte characters fit too');
  t.equal((await h.allMessages()).length, 2);
});

t.test('a msg server may use several connections and store many messages at once', async (t) => {
  const h = await harness(t, { storeBatchMaxMessages: 7, storeBatchConcurrency: 2 });
  const users = await h.addUsers('u1', 'u2', 'u3', 'u4');
  const sends = [];
  for (let i = 0; i < 60; i++) {
    const from = users[i % 4];
    const to = users[(i + 1 + (i % 3)) % 4];
    sends.push(h.send(from, to, `m${i}`).then((r) => ({ from, to, id: r.msg_id })));
  }
  const results = await Promise.all(sends);
  const byPair = new Map<string, number[]>();
  for (const r of results) {
    const key = [Math.min(r.from, r.to), Math.max(r.from, r.to)].join(':');
    byPair.set(key, [...(byPair.get(key) ?? []), r.id]);
  }
  for (const [pair, ids] of byPair) {
    t.same(
      [...ids].sort((x, y) => x - y),
      Array.from({ length: ids.length }, (_, i) => i + 1),
      `pair ${pair}: ids 1..${ids.length}`,
    );
  }
  t.equal((await h.allMessages()).length, 60);
  const expected = new Map<string, number>();
  for (const r of results) expected.set(`${r.to}:${r.from}`, (expected.get(`${r.to}:${r.from}`) ?? 0) + 1);
  for (const [key, n] of expected) {
    const [to, from] = key.split(':');
    t.equal(await h.redis.redis.hget(h.key(`unread_${to}`), from), String(n), `unread of ${to} from ${from}`);
  }
});
