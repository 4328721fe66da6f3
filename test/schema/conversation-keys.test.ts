/**
 * schema/002_conversation_keys.sql on a populated database: a history
 * prefilled under the 001 layout is re-keyed by conversation while a db-proxy
 * keeps storing messages (online: no store fails or waits for the end), every
 * read answers exactly as before (history pages, messages by id, latest ids,
 * unread counts, recent sessions), (conversation, msgId) is still unique, and
 * the original db_proxy's FORCE INDEX history query still reads in index order.
 */
import t from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import { IM } from '../../pdu/commands';
import { migrate } from '../../scripts/db/migrate';
import { connectTo, proxyConfig, startProxy } from '../db-proxy/harness';
import { historyUnder, migrateWhileChatting } from '../helpers/prefilled';

const { SessionType } = IM.BaseDefine;
const SINGLE = SessionType.SESSION_TYPE_SINGLE;
const GROUP = SessionType.SESSION_TYPE_GROUP;

t.test('002 re-keys a populated database online; reads answer as before', async (t) => {
  const { db, redis, summary } = await historyUnder(t, ['001_initial.sql', '003_recent_sessions_covering.sql'], { messages: 20_000, users: 150, groupShare: 0.1 });
  const rows = async (sql: string, values: unknown[] = []) => (await db.pool.query<RowDataPacket[]>(sql, values))[0];
  const [oldKey] = await rows("SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) AS cols FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'IMMessage_3' AND INDEX_NAME = 'PRIMARY'", [db.name]);
  t.equal(oldKey.cols, 'id', 'the history was loaded under the 001 layout');

  const proxy = await startProxy(t, proxyConfig({ mysqlUrl: db.url, redisUrl: redis.url, redisKeyPrefix: redis.prefix }));
  const conn = await connectTo(t, proxy.port);
  const relations = await rows('SELECT smallId, bigId FROM IMRelationShip ORDER BY id LIMIT 40');
  const groups = await rows('SELECT id, creator FROM IMGroup ORDER BY id');
  const users = await rows("SELECT id FROM IMUser WHERE name LIKE 'old\\_%' ORDER BY id LIMIT 25");

  /** Everything a client can read of the sample, as the db-proxy answers it. */
  const readAll = async () => {
    const answers: unknown[] = [];
    for (const r of relations) {
      const [user, peer] = [Number(r.smallId), Number(r.bigId)];
      const newest = await conn.request(IM.Message.IMGetMsgListReq, { user_id: user, session_type: SINGLE, session_id: peer, msg_id_begin: 0, msg_cnt: 10 }, IM.Message.IMGetMsgListRsp);
      const top = newest.msg_list[0]?.msg_id ?? 0;
      const older = await conn.request(IM.Message.IMGetMsgListReq, { user_id: peer, session_type: SINGLE, session_id: user, msg_id_begin: Math.ceil(top / 2), msg_cnt: 7 }, IM.Message.IMGetMsgListRsp);
      const byId = await conn.request(IM.Message.IMGetMsgByIdReq, { user_id: user, session_type: SINGLE, session_id: peer, msg_id_list: [1, top, Math.ceil(top / 3)] }, IM.Message.IMGetMsgByIdRsp);
      const latest = await conn.request(IM.Message.IMGetLatestMsgIdReq, { user_id: user, session_type: SINGLE, session_id: peer }, IM.Message.IMGetLatestMsgIdRsp);
      answers.push(newest.msg_list, older.msg_list, byId.msg_list, latest.latest_msg_id);
    }
    for (const g of groups) {
      const page = await conn.request(IM.Message.IMGetMsgListReq, { user_id: Number(g.creator), session_type: GROUP, session_id: Number(g.id), msg_id_begin: 0, msg_cnt: 10 }, IM.Message.IMGetMsgListRsp);
      answers.push(page.msg_list);
    }
    for (const u of users) {
      const unread = await conn.request(IM.Message.IMUnreadMsgCntReq, { user_id: Number(u.id) }, IM.Message.IMUnreadMsgCntRsp);
      const recent = await conn.request(IM.Buddy.IMRecentContactSessionReq, { user_id: Number(u.id), latest_update_time: 0 }, IM.Buddy.IMRecentContactSessionRsp);
      answers.push(unread.total_cnt, unread.unreadinfo_list, recent.contact_session_list);
    }
    return answers;
  };
  const before = await readAll();
  t.ok((before[0] as unknown[]).length > 0, 'the sample has history');

  // Two users of their own keep chatting while the migration runs.
  const { result, acked } = await migrateWhileChatting(db, conn);
  t.same(result.applied, ['002_conversation_keys.sql']);
  t.same(acked, acked.map((_, i) => i + 1), 'every store during the migration was acknowledged, ids in order');

  t.same(await readAll(), before, 'every read answers as before the migration');
  let count = 0;
  for (let i = 0; i < 8; i++) count += Number((await rows(`SELECT COUNT(*) AS n FROM IMMessage_${i}`))[0].n);
  t.equal(count, summary.singleMessages + acked.length, 'no row lost or added');

  const keys = await rows(
    `SELECT TABLE_NAME AS tbl, INDEX_NAME AS idx, NON_UNIQUE AS nonUnique, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) AS cols
       FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME IN ('IMMessage_3', 'IMGroupMessage_3', 'IMRelationShip')
      GROUP BY TABLE_NAME, INDEX_NAME, NON_UNIQUE ORDER BY TABLE_NAME, INDEX_NAME`,
    [db.name],
  );
  t.same(
    keys.map((k) => `${k.tbl}.${k.idx}(${k.cols})${Number(k.nonUnique) === 0 ? ' unique' : ''}`),
    [
      'IMGroupMessage_3.idx_groupId_status_created(groupId,status,created,id)',
      'IMGroupMessage_3.PRIMARY(groupId,msgId) unique',
      'IMGroupMessage_3.uk_id(id) unique',
      'IMMessage_3.idx_relateId_status_created(relateId,status,created,id)',
      'IMMessage_3.PRIMARY(relateId,msgId) unique',
      'IMMessage_3.uk_id(id) unique',
      'IMRelationShip.PRIMARY(id) unique',
      'IMRelationShip.uk_smallId_bigId(smallId,bigId) unique',
    ],
  );

  const [existing] = await rows('SELECT relateId, fromId, toId, msgId FROM IMMessage_3 LIMIT 1');
  await t.rejects(
    db.pool.query('INSERT INTO IMMessage_3 (relateId, fromId, toId, msgId, content, type, status, created, updated) VALUES (?, ?, ?, ?, ?, 1, 0, 0, 0)', [
      existing.relateId,
      existing.fromId,
      existing.toId,
      existing.msgId,
      'again',
    ]),
    { code: 'ER_DUP_ENTRY' },
    'a conversation still cannot hold a msg id twice',
  );
  const [plan] = await rows('EXPLAIN SELECT * FROM IMMessage_3 FORCE INDEX (idx_relateId_status_created) WHERE relateId = ? AND status = 0 ORDER BY created DESC, id DESC LIMIT 20', [
    existing.relateId,
  ]);
  t.notMatch(String(plan.Extra ?? ''), /filesort/, "the original db_proxy's history query reads the index in order");
  t.equal((await migrate(db.url)).applied.length, 0, 'nothing applied twice');
});
