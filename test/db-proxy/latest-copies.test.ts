/**
 * Newest-message copies in Redis (services/db-proxy/latest-messages.ts) on a
 * populated database: recent sessions and unread counts show exactly the newest
 * stored message of each conversation whether its copy is there or not (readers
 * make missing ones), and also when a copy is behind: one moved back, a message
 * written straight into a message table the way the original db_proxy writes
 * (it knows nothing of copies), a lost msg-id counter, a message too long to
 * copy. A message stored through the db-proxy is copied by the time it is
 * acknowledged.
 */
import t from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import { encodeHandleAttach } from '../../pdu/attach';
import { IM } from '../../pdu/commands';
import { DEFAULT_COPY_LIMITS, GROUP_CONVERSATION, SINGLE_CONVERSATION, copyCommands, decodeCopy, forEachNewestMessage } from '../../services/db-proxy/latest-messages';
import { RedisKeys } from '../../services/db-proxy/redis-keys';
import { connectTo, proxyConfig, startProxy } from './harness';
import { historyUnder } from '../helpers/prefilled';
import { waitFor } from '../helpers/wait';

const { SessionType, MsgType } = IM.BaseDefine;
const SINGLE = SessionType.SESSION_TYPE_SINGLE;

t.test('newest messages are right with or without their copies, and when copies are behind', async (t) => {
  const { db, redis, summary } = await historyUnder(t, ['001_initial.sql', '002_conversation_keys.sql'], { messages: 12_000, users: 120, groupShare: 0.15 });
  const conversations = summary.relations + summary.groups;
  t.equal(summary.latestCopies, conversations, 'the prefill copied every conversation\'s newest message');

  const rows = async (sql: string, values: unknown[] = []) => (await db.pool.query<RowDataPacket[]>(sql, values))[0];
  const copyKeys = async () => [...(await redis.redis.keys(`${redis.prefix}tt_latest_msg_*`)), ...(await redis.redis.keys(`${redis.prefix}tt_group_latest_msg_*`))];
  const copies = async () => (await copyKeys()).length;
  // As after an upgrade from a version without copies.
  await redis.redis.del(...(await copyKeys()));
  t.equal(await copies(), 0, 'no copies');

  const proxy = await startProxy(t, proxyConfig({ mysqlUrl: db.url, redisUrl: redis.url, redisKeyPrefix: redis.prefix, latestCopyMaxBytes: 200 }));
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
  await waitFor(async () => (await copies()) > 0, 10_000, 'readers copying what they read');
  const made = await copies();
  t.same(await readAll('with the copies readers made'), first, 'the same answers from the copies');

  // What the prefill does, and an operator may (never needed for correctness): copy every conversation.
  const tables = Array.from({ length: 8 }, (_, i) => [
    { name: `IMMessage_${i}`, kind: SINGLE_CONVERSATION },
    { name: `IMGroupMessage_${i}`, kind: GROUP_CONVERSATION },
  ]).flat();
  const query = async (sql: string, values?: unknown[]) => rows(sql, values);
  const copyAll = () =>
    forEachNewestMessage(
      tables,
      () => query,
      async (found) => {
        for (const [, key, value, ex, ttl] of copyCommands(RedisKeys, found, DEFAULT_COPY_LIMITS, Math.floor(Date.now() / 1000))) await redis.redis.set(redis.prefix + key, value, ex as 'EX', Number(ttl));
      },
      97,
    );
  t.equal(await copyAll(), conversations, 'the newest message of every conversation found (in chunks)');
  t.equal(await copies(), conversations, `every conversation has its copy (readers had made ${made})`);
  t.same(await readAll('with every copy'), first, 'the same answers');

  // A copy that is behind is not shown: one moved back, as if a write had been missed.
  // Conversations at the top of their users' recent sessions (each list shows the newest 100).
  const pairOf = async (userId: number, peerId: number) =>
    (await rows('SELECT id, smallId, bigId FROM IMRelationShip WHERE smallId = ? AND bigId = ?', [Math.min(userId, peerId), Math.max(userId, peerId)]))[0];
  const topSessions = await rows('SELECT userId, peerId FROM IMRecentSession WHERE type = 1 AND status = 0 ORDER BY updated DESC, id DESC LIMIT 10');
  const topPairs = await Promise.all(topSessions.map((r) => pairOf(Number(r.userId), Number(r.peerId))));
  const victimPair = topPairs[0];
  const otherPair = topPairs.find((p) => Number(p.id) !== Number(victimPair.id)) ?? victimPair;
  const victim = { conversationId: Number(victimPair.id) };
  const victimKey = redis.prefix + RedisKeys.latestMsg(Number(victim.conversationId));
  const victimCopy = decodeCopy(SINGLE_CONVERSATION, Number(victim.conversationId), await redis.redis.get(victimKey));
  t.ok(victimCopy !== null && victimCopy.msgId > 1, 'a copy to move back');
  await redis.redis.set(victimKey, `${(victimCopy?.msgId ?? 2) - 1}|1|1|1|stale`);
  // A message written straight into its table, with the counter raised (as the original db_proxy does).
  const rel = otherPair;
  t.not(Number(rel.id), victim.conversationId, 'two conversations');
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
  const [lostSession] = await rows('SELECT userId, peerId FROM IMRecentSession WHERE type = 2 AND status = 0 ORDER BY updated DESC, id DESC LIMIT 1');
  const lost = { conversationId: Number(lostSession.peerId) };
  await redis.redis.del(redis.prefix + RedisKeys.groupMsgId(Number(lost.conversationId)));

  const victimRel = victimPair;
  const sessionOf = async (user: number, peer: number) => {
    const recent = await conn.request(IM.Buddy.IMRecentContactSessionReq, { user_id: user, latest_update_time: 0 }, IM.Buddy.IMRecentContactSessionRsp);
    return recent.contact_session_list.find((s) => s.session_id === peer && s.session_type === SINGLE);
  };
  const victimShown = await sessionOf(Number(victimRel.smallId), Number(victimRel.bigId));
  t.same(victimShown && shown(victimShown), await truth(Number(victimRel.smallId), Number(victimRel.bigId), SINGLE), 'a copy moved back is not shown');
  const backShown = await sessionOf(Number(rel.bigId), Number(rel.smallId));
  t.same(backShown && shown(backShown), { id: next, type: MsgType.MSG_TYPE_SINGLE_TEXT, data: 'behind its back' }, 'a message the copy does not know is shown');
  const copyOf = async (id: number) => decodeCopy(SINGLE_CONVERSATION, id, await redis.redis.get(redis.prefix + RedisKeys.latestMsg(id)));
  await waitFor(async () => (await copyOf(relId))?.msgId === next, 10_000, 'its copy catching up');
  const member = Number(lostSession.userId);
  const groupShown = (await conn.request(IM.Buddy.IMRecentContactSessionReq, { user_id: member, latest_update_time: 0 }, IM.Buddy.IMRecentContactSessionRsp)).contact_session_list.find(
    (s) => s.session_id === lost.conversationId && s.session_type === SessionType.SESSION_TYPE_GROUP,
  );
  t.same(groupShown && shown(groupShown), await truth(member, lost.conversationId, SessionType.SESSION_TYPE_GROUP), 'without its counter, a group shows its newest stored message');

  // A message stored through the db-proxy is in the copy once acknowledged.
  const [a, b] = [Number(rel.smallId), Number(rel.bigId)];
  const stored = await conn.request(
    IM.Message.IMMsgData,
    { from_user_id: a, to_session_id: b, msg_id: 0, create_time: now, msg_type: MsgType.MSG_TYPE_SINGLE_TEXT, msg_data: Buffer.from('through the proxy'), attach_data: encodeHandleAttach(3) },
    IM.Message.IMMsgData,
  );
  t.equal(stored.msg_id, next + 1, 'stored after the message written behind its back');
  const copy = await copyOf(relId);
  t.same(copy && { msgId: copy.msgId, fromId: copy.fromId, type: copy.type, content: copy.content }, { msgId: next + 1, fromId: a, type: MsgType.MSG_TYPE_SINGLE_TEXT, content: 'through the proxy' }, 'copied by the time it was acknowledged');
  const latest = await sessionOf(b, a);
  t.same(latest && shown(latest), { id: next + 1, type: MsgType.MSG_TYPE_SINGLE_TEXT, data: 'through the proxy' });

  // Longer than latestCopyMaxBytes (200 here): no copy, and still shown.
  const long = 'L'.repeat(300);
  const stored2 = await conn.request(
    IM.Message.IMMsgData,
    { from_user_id: b, to_session_id: a, msg_id: 0, create_time: now, msg_type: MsgType.MSG_TYPE_SINGLE_TEXT, msg_data: Buffer.from(long), attach_data: encodeHandleAttach(3) },
    IM.Message.IMMsgData,
  );
  t.equal((await copyOf(relId))?.msgId, next + 1, 'the copy still names the message before the long one');
  const longShown = await sessionOf(a, b);
  t.same(longShown && shown(longShown), { id: stored2.msg_id, type: MsgType.MSG_TYPE_SINGLE_TEXT, data: long }, 'the long message is shown, read from its table');
  const unread = await conn.request(IM.Message.IMUnreadMsgCntReq, { user_id: a }, IM.Message.IMUnreadMsgCntRsp);
  const entry = unread.unreadinfo_list.find((u) => u.session_id === b);
  t.same(entry && shown(entry), { id: stored2.msg_id, type: MsgType.MSG_TYPE_SINGLE_TEXT, data: long }, 'in unread counts too');
});
