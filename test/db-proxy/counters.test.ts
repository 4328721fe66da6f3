/**
 * Counters never go backwards: a msg-id counter that was lost or set back in
 * Redis is re-seeded from MAX(msgId) in MySQL, for single and group
 * conversations, whether the loss happens while a db-proxy runs or before it
 * starts.
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { captureLogger, connectTo, harness, startProxy } from './harness';

const { MsgType, GroupType } = IM.BaseDefine;

t.test('single chat: counter deleted, then set backwards, while the db-proxy runs', async (t) => {
  const { logger, lines } = captureLogger();
  const h = await harness(t, {}, logger);
  const [a, b] = await h.addUsers('ann', 'ben');
  for (let i = 1; i <= 3; i++) t.equal((await h.send(a, b, `m${i}`)).msg_id, i);
  const [{ id: rel }] = await h.rows('SELECT id FROM IMRelationShip');
  const counter = h.key(`msg_id_${rel}`);

  await h.redis.redis.del(counter);
  t.equal((await h.send(b, a, 'after delete')).msg_id, 4, 'continues after MAX(msgId), no collision, no reset to 1');
  t.ok(lines.some((l) => /counter was behind/.test(String(l.msg))), 'the duplicate was caught by the unique key and logged');

  await h.redis.redis.set(counter, '2');
  t.equal((await h.send(a, b, 'after set back')).msg_id, 5);
  t.equal(await h.redis.redis.get(counter), '5');
  t.same(
    (await h.allMessages()).map((m) => [m.msgId, m.content]),
    [
      [1, 'm1'],
      [2, 'm2'],
      [3, 'm3'],
      [4, 'after delete'],
      [5, 'after set back'],
    ],
  );
});

t.test('a db-proxy started after the counter was lost verifies it before the first id', async (t) => {
  const h = await harness(t);
  const [a, b] = await h.addUsers('cat', 'dan');
  for (let i = 1; i <= 4; i++) await h.send(a, b, `m${i}`);
  const [{ id: rel }] = await h.rows('SELECT id FROM IMRelationShip');
  await h.redis.redis.set(h.key(`msg_id_${rel}`), '1');

  const { logger, lines } = captureLogger();
  const fresh = await startProxy(t, h.config(), logger);
  const conn = await connectTo(t, fresh.port);
  const reply = await conn.request(
    IM.Message.IMMsgData,
    { from_user_id: b, to_session_id: a, msg_id: 0, create_time: 1, msg_type: MsgType.MSG_TYPE_SINGLE_TEXT, msg_data: Buffer.from('x') },
    IM.Message.IMMsgData,
  );
  t.equal(reply.msg_id, 5);
  t.notOk(lines.some((l) => /counter was behind/.test(String(l.msg))), 'raised before use, no duplicate tried');
});

t.test('group: counter deleted while running, and lost before a fresh db-proxy starts', async (t) => {
  const h = await harness(t);
  const [a, b] = await h.addUsers('eve', 'fay');
  const created = await h.request(
    IM.Group.IMGroupCreateReq,
    { user_id: a, group_type: GroupType.GROUP_TYPE_TMP, group_name: 'g', group_avatar: '', member_id_list: [a, b] },
    IM.Group.IMGroupCreateRsp,
  );
  const gid = created.group_id!;
  const sendGroup = (conn: typeof h.conn, from: number) =>
    conn.request(
      IM.Message.IMMsgData,
      { from_user_id: from, to_session_id: gid, msg_id: 0, create_time: 1, msg_type: MsgType.MSG_TYPE_GROUP_TEXT, msg_data: Buffer.from('hi') },
      IM.Message.IMMsgData,
    );
  t.equal((await sendGroup(h.conn, a)).msg_id, 1);
  t.equal((await sendGroup(h.conn, b)).msg_id, 2);
  await h.redis.redis.del(h.key(`group_msg_id_${gid}`));
  t.equal((await sendGroup(h.conn, a)).msg_id, 3);

  await h.redis.redis.set(h.key(`group_msg_id_${gid}`), '0');
  const fresh = await startProxy(t, h.config());
  t.equal((await sendGroup(await connectTo(t, fresh.port), b)).msg_id, 4);
  const rows = await h.rows(`SELECT msgId FROM IMGroupMessage_${gid % 8} WHERE groupId = ? ORDER BY msgId`, [gid]);
  t.same(rows.map((r) => Number(r.msgId)), [1, 2, 3, 4]);
});
