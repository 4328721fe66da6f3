/**
 * schema/003_latest_messages.sql and IMLatestMessage, on a populated database:
 * a history prefilled before 003 is migrated; recent sessions and unread counts
 * then show exactly the newest stored message of each conversation, whether
 * IMLatestMessage has the row yet or not (readers fill it), and also when the
 * copy is behind: a row moved back, a message written straight into a message
 * table the way the original db_proxy writes (it knows nothing of the copy), a
 * lost msg-id counter. A message stored through the db-proxy is in the copy as
 * soon as it is acknowledged (same transaction).
 */
import t from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import { encodeHandleAttach } from '../../pdu/attach';
import { IM } from '../../pdu/commands';
import { migrate } from '../../scripts/db/migrate';
import { GROUP_CONVERSATION, SINGLE_CONVERSATION, backfillLatestMessages } from '../../services/db-proxy/latest-messages';
import { RedisKeys } from '../../services/db-proxy/redis-keys';
import { connectTo, proxyConfig, startProxy } from '../db-proxy/harness';
import { historyUnder } from '../helpers/prefilled';
import { waitFor } from '../helpers/wait';

const { SessionType, MsgType } = IM.BaseDefine;
const SINGLE = SessionType.SESSION_TYPE_SINGLE;

t.test('003 on a populated database: newest messages are right with or without their copy', async (t) => {
  const { db, redis, summary } = await historyUnder(t, ['001_initial.sql', '002_conversation_keys.sql'], { messages: 12_000, users: 120, groupShare: 0.15 });
  t.equal(summary.latestMessages, -1, 'the history was loaded before 003 (no IMLatestMessage)');
  t.same((await migrate(db.url)).applied, ['003_latest_messages.sql'], '003 applied to the populated database');

  const rows = async (sql: string, values: unknown[] = []) => (await db.pool.query<RowDataPacket[]>(sql, values))[0];
  const copies = async () => Number((await rows('SELECT COUNT(*) AS n FROM IMLatestMessage'))[0].n);
  t.equal(await copies(), 0, 'the new table starts empty: no backfill needed');

  const proxy = await startProxy(t, proxyConfig({ mysqlUrl: db.url, redisUrl: redis.url, redisKeyPrefix: redis.prefix }));
  const conn = await connectTo(t, proxy.port);
  const users = (await rows("SELECT id FROM IMUser WHERE name LIKE 'old\\_%' ORDER BY id LIMIT 30")).map((r) => Number(r.id));

  /** The newest stored message of a user's conversation, from the message tables. */
  const truth = async (userId: number, sessionId: number, type: number) => {
    if (type === SINGLE) {
      const [rel] = await rows('SELECT id FROM IMRelationShip WHERE smallId = ? AND bigId = ?', [Math.min(userId, sessionId), Math.max(userId, sessionId)]);
      const [m] = await rows(`SELECT msgId, type, content FROM IMMessage_${Number(rel.id) % 8} WHERE relateId = ? AND status = 0 ORDER BY msgId DESC LIMIT 1`, [rel.id]);
      return { id: Number(m.msgId), type: Number(m.type), data: String(m.content) };
    }
    const [m] = await rows(`SELECT msgId, type, content FROM IMGroupMessage_${sessionId % 8} WHERE groupId = ? AND status = 0 ORDER BY msgId DESC LIMIT 1`, [sessionId]);
    return { id: Number(m.msgId), type: Number(m.type), data: String(m.content) };
  };
  const shown = (e: { latest_msg_id: number; latest_msg_type: number; latest_msg_data: Uint8Array }) => ({
    id: e.latest_msg_id,
    type: e.latest_msg_type,
    data: Buffer.from(e.latest_msg_data).toString('utf8'),
  });

  /** Recent sessions and unread counts of the sample, each entry checked against the message tables. */
  const readAll = async (label: string) => {
    const answers: unknown[] = [];
    let entries = 0;
    let wrong = 0;
    for (const user of users) {
      const recent = await conn.request(IM.Buddy.IMRecentContactSessionReq, { user_id: user, latest_update_time: 0 }, IM.Buddy.IMRecentContactSessionRsp);
      const unread = await conn.request(IM.Message.IMUnreadMsgCntReq, { user_id: user }, IM.Message.IMUnreadMsgCntRsp);
      for (const e of [...recent.contact_session_list, ...unread.unreadinfo_list]) {
        entries++;
        if (JSON.stringify(shown(e)) !== JSON.stringify(await truth(user, e.session_id, e.session_type))) wrong++;
      }
      answers.push(recent.contact_session_list, unread.total_cnt, unread.unreadinfo_list);
    }
    t.ok(entries > 100, `${label}: the sample shows many conversations (${entries})`);
    t.equal(wrong, 0, `${label}: every entry shows the newest stored message`);
    return answers;
  };

  const first = await readAll('without copies');
  await waitFor(async () => (await copies()) > 0, 10_000, 'readers put what they read into IMLatestMessage');
  const filled = await copies();
  t.same(await readAll('with the copies readers made'), first, 'the same answers from the copies');

  // The operator's backfill (and the prefill's): every conversation, idempotent.
  const tables = Array.from({ length: 8 }, (_, i) => [
    { name: `IMMessage_${i}`, kind: SINGLE_CONVERSATION },
    { name: `IMGroupMessage_${i}`, kind: GROUP_CONVERSATION },
  ]).flat();
  const query = async (sql: string, values?: unknown[]) => rows(sql, values);
  const written = await backfillLatestMessages(tables, () => query, query, 97);
  const conversations = summary.relations + summary.groups;
  t.equal(written, conversations, 'the backfill wrote one row per conversation (in chunks)');
  t.equal(await copies(), conversations, `every conversation has its row (readers had made ${filled})`);
  t.equal(await backfillLatestMessages(tables, () => query, query), conversations, 'a second backfill changes nothing but runs');
  t.equal(await copies(), conversations);
  t.same(await readAll('after the backfill'), first, 'the same answers');

  // A copy that is behind is not shown: one moved back, as if a write had been missed.
  const [victim] = await rows("SELECT conversationId, msgId FROM IMLatestMessage WHERE sessionType = 1 AND msgId > 1 ORDER BY conversationId LIMIT 1");
  await db.pool.query("UPDATE IMLatestMessage SET msgId = msgId - 1, content = 'stale' WHERE sessionType = 1 AND conversationId = ?", [victim.conversationId]);
  // A message written straight into its table, with the counter raised (as the original db_proxy does).
  const [rel] = await rows('SELECT id, smallId, bigId FROM IMRelationShip WHERE id <> ? ORDER BY id DESC LIMIT 1', [victim.conversationId]);
  const relId = Number(rel.id);
  const next = Number(await redis.redis.incr(redis.prefix + RedisKeys.msgId(relId)));
  const now = Math.floor(Date.now() / 1000);
  await db.pool.query(`INSERT INTO IMMessage_${relId % 8} (relateId, fromId, toId, msgId, content, status, type, created, updated) VALUES (?, ?, ?, ?, 'behind its back', 0, 1, ?, ?)`, [
    relId,
    rel.smallId,
    rel.bigId,
    next,
    now,
    now,
  ]);
  // A counter Redis lost.
  const [lost] = await rows("SELECT conversationId FROM IMLatestMessage WHERE sessionType = 2 ORDER BY conversationId LIMIT 1");
  await redis.redis.del(redis.prefix + RedisKeys.groupMsgId(Number(lost.conversationId)));

  const [victimRel] = await rows('SELECT smallId, bigId FROM IMRelationShip WHERE id = ?', [victim.conversationId]);
  const sessionOf = async (user: number, peer: number) => {
    const recent = await conn.request(IM.Buddy.IMRecentContactSessionReq, { user_id: user, latest_update_time: 0 }, IM.Buddy.IMRecentContactSessionRsp);
    return recent.contact_session_list.find((s) => s.session_id === peer && s.session_type === SINGLE);
  };
  const victimShown = await sessionOf(Number(victimRel.smallId), Number(victimRel.bigId));
  t.same(victimShown && shown(victimShown), await truth(Number(victimRel.smallId), Number(victimRel.bigId), SINGLE), 'a copy moved back is not shown');
  const backShown = await sessionOf(Number(rel.bigId), Number(rel.smallId));
  t.same(backShown && shown(backShown), { id: next, type: MsgType.MSG_TYPE_SINGLE_TEXT, data: 'behind its back' }, 'a message the copy does not know is shown');
  await waitFor(async () => Number((await rows('SELECT msgId FROM IMLatestMessage WHERE sessionType = 1 AND conversationId = ?', [relId]))[0].msgId) === next, 10_000, 'its copy catching up');
  const [member] = await rows('SELECT userId FROM IMGroupMember WHERE groupId = ? AND status = 0 LIMIT 1', [lost.conversationId]);
  const groupShown = (await conn.request(IM.Buddy.IMRecentContactSessionReq, { user_id: Number(member.userId), latest_update_time: 0 }, IM.Buddy.IMRecentContactSessionRsp)).contact_session_list.find(
    (s) => s.session_id === Number(lost.conversationId),
  );
  if (groupShown !== undefined) t.same(shown(groupShown), await truth(Number(member.userId), Number(lost.conversationId), SessionType.SESSION_TYPE_GROUP), 'without its counter, a group shows its newest stored message');

  // A message stored through the db-proxy is in the copy once acknowledged.
  const [a, b] = [Number(rel.smallId), Number(rel.bigId)];
  const stored = await conn.request(
    IM.Message.IMMsgData,
    { from_user_id: a, to_session_id: b, msg_id: 0, create_time: now, msg_type: MsgType.MSG_TYPE_SINGLE_TEXT, msg_data: Buffer.from('through the proxy'), attach_data: encodeHandleAttach(3) },
    IM.Message.IMMsgData,
  );
  t.equal(stored.msg_id, next + 1, 'stored after the message written behind its back');
  const [copy] = await rows('SELECT msgId, fromId, type, content FROM IMLatestMessage WHERE sessionType = 1 AND conversationId = ?', [relId]);
  t.same({ ...copy }, { msgId: next + 1, fromId: a, type: MsgType.MSG_TYPE_SINGLE_TEXT, content: 'through the proxy' }, 'the copy was written with the message');
  const latest = await sessionOf(b, a);
  t.same(latest && shown(latest), { id: next + 1, type: MsgType.MSG_TYPE_SINGLE_TEXT, data: 'through the proxy' });
});
