/**
 * schema/003_recent_sessions_covering.sql on a populated database: the index
 * that serves recent-session lists is replaced by one that covers the query,
 * while a db-proxy keeps storing messages (every store acknowledged, ids in
 * order); recent sessions answer exactly as before; the query now reads the
 * index alone, in order (no lookups in the table, no sort).
 */
import t from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import { IM } from '../../pdu/commands';
import { migrate } from '../../scripts/db/migrate';
import { connectTo, proxyConfig, startProxy } from '../db-proxy/harness';
import { historyUnder, migrateWhileChatting } from '../helpers/prefilled';

t.test('003 makes recent sessions one index range, online, answers unchanged', async (t) => {
  const { db, redis } = await historyUnder(t, ['001_initial.sql', '002_conversation_keys.sql'], { messages: 15_000, users: 100, groupShare: 0.1 });
  const rows = async (sql: string, values: unknown[] = []) => (await db.pool.query<RowDataPacket[]>(sql, values))[0];
  const indexes = async () =>
    (
      await rows(
        "SELECT INDEX_NAME AS idx, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) AS cols FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'IMRecentSession' GROUP BY INDEX_NAME ORDER BY INDEX_NAME",
        [db.name],
      )
    ).map((r) => `${r.idx}(${r.cols})`);
  t.same(await indexes(), ['idx_userId_status_updated(userId,status,updated)', 'PRIMARY(id)', 'uk_userId_peerId_type(userId,peerId,type)'], 'before: the 001 index');

  const proxy = await startProxy(t, proxyConfig({ mysqlUrl: db.url, redisUrl: redis.url, redisKeyPrefix: redis.prefix }));
  const conn = await connectTo(t, proxy.port);
  const users = (await rows("SELECT id FROM IMUser WHERE name LIKE 'old\\_%' ORDER BY id LIMIT 30")).map((r) => Number(r.id));
  const readAll = async () => {
    const lists: unknown[] = [];
    for (const user of users) {
      for (const since of [0, Math.floor(Date.now() / 1000) - 86400]) {
        const recent = await conn.request(IM.Buddy.IMRecentContactSessionReq, { user_id: user, latest_update_time: since }, IM.Buddy.IMRecentContactSessionRsp);
        lists.push(recent.contact_session_list);
      }
    }
    return lists;
  };
  const before = await readAll();
  t.ok((before[0] as unknown[]).length > 20, 'the sample has many sessions');

  // Two users of their own keep chatting while the migration runs.
  const { result, ann, acked, ben } = await migrateWhileChatting(db, conn);
  t.same(result.applied, ['003_recent_sessions_covering.sql']);
  t.same(acked, acked.map((_, i) => i + 1), 'every store during the migration was acknowledged, ids in order');

  t.same(await indexes(), ['idx_userId_status_updated_id_peer(userId,status,updated,id,peerId,type)', 'PRIMARY(id)', 'uk_userId_peerId_type(userId,peerId,type)'], 'after: the covering index replaced it');
  t.same(await readAll(), before, 'recent sessions answer as before the migration');
  const annSessions = await conn.request(IM.Buddy.IMRecentContactSessionReq, { user_id: ann, latest_update_time: 0 }, IM.Buddy.IMRecentContactSessionRsp);
  t.same(annSessions.contact_session_list.map((s) => [s.session_id, s.latest_msg_id]), [[ben, acked.length]], 'sessions touched during the migration are there');

  const [plan] = await rows('EXPLAIN SELECT peerId, type, updated FROM IMRecentSession WHERE userId = ? AND status = 0 AND updated > 0 ORDER BY updated DESC, id DESC LIMIT 100', [users[0]]);
  t.equal(plan.key, 'idx_userId_status_updated_id_peer');
  t.match(String(plan.Extra), /Using index/, 'read from the index alone');
  t.notMatch(String(plan.Extra), /filesort/, 'in index order');
  t.equal((await migrate(db.url)).applied.length, 0, 'nothing applied twice');
});
