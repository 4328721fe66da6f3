/**
 * `npm run db:prefill`: the CLI fills an empty database and refuses one that
 * holds a history; what it loads is consistent (dense msg ids per
 * conversation, Redis counters and unread counts that match the rows, both
 * sides' recent sessions, times that grow with ids, the schema exactly as
 * migrated); and a prefilled cluster works through the protocol: a prefilled
 * user logs in, sees recent sessions, unread counts and history pages, and
 * the next message of an old conversation gets the next msg id.
 */
import t from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import Redis from 'ioredis';
import { IM } from '../../pdu/commands';
import { decryptMessageText } from '../../lib/message-crypto';
import { prefillHistory, finishedPrefill, PREFILL_DEFAULTS, type PrefillOptions } from '../../scripts/db/prefill';
import { RedisKeys } from '../../services/db-proxy/redis-keys';
import { PASSWORD, startCluster } from '../helpers/cluster';
import { freshDatabase, freshRedis, type TestDatabase } from '../helpers/storage';
import { runCli } from './run-cli';

const { SessionType } = IM.BaseDefine;

function options(url: string, redisUrl: string, prefix: string, overrides: Partial<PrefillOptions> = {}): PrefillOptions {
  return {
    mysqlUrl: url,
    redisUrl,
    redisKeyPrefix: prefix,
    messages: 20_000,
    users: 200,
    userPrefix: 'pf_',
    password: PASSWORD,
    days: 2,
    groupShare: 0.1,
    seed: PREFILL_DEFAULTS.seed,
    tableCount: 8,
    log: () => {},
    ...overrides,
  };
}

async function rows(db: TestDatabase, sql: string, values: unknown[] = []): Promise<RowDataPacket[]> {
  const [result] = await db.pool.query<RowDataPacket[]>(sql, values);
  return result;
}

async function createTables(db: TestDatabase): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const r of await rows(db, "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE 'IM%'", [db.name])) {
    const [create] = await rows(db, `SHOW CREATE TABLE \`${String(r.name)}\``);
    out.set(String(r.name), String(create['Create Table']).replace(/ AUTO_INCREMENT=\d+/, ''));
  }
  return out;
}

t.test('the CLI fills an empty database once, and says why it refuses a second time', async (t) => {
  const db = await freshDatabase(t);
  const redis = await freshRedis(t);
  const args = ['--messages', '5000', '--users', '100', '--prefix', 'cli_', '--password', 'pw', '--mysql-url', db.url, '--redis-url', redis.url, '--redis-prefix', redis.prefix];
  const first = await runCli('scripts/db-prefill.js', args);
  t.equal(first.code, 0, first.stderr);
  const summary = JSON.parse(first.stdout) as Record<string, unknown>;
  t.match(summary, { database: db.name, users: 100, loadedWith: 'LOAD DATA LOCAL INFILE' });
  t.equal(Number(summary.singleMessages) + Number(summary.groupMessages), 5000);
  t.match(first.stderr, /log in as cli_0/);
  const second = await runCli('scripts/db-prefill.js', args);
  t.equal(second.code, 1);
  t.match(second.stderr, /already holds a history/);
  const usage = await runCli('scripts/db-prefill.js', ['--users', '10']);
  t.equal(usage.code, 2, 'no --messages: usage');
  t.match(usage.stderr, /--messages N/);
  t.same(await finishedPrefill(db.url), { messages: 5000, users: 100, userPrefix: 'cli_', seed: PREFILL_DEFAULTS.seed });
});

t.test('a prefilled history is consistent with itself, with Redis and with the migrated schema', async (t) => {
  const db = await freshDatabase(t);
  const redis = await freshRedis(t);
  const reference = await freshDatabase(t);
  const summary = await prefillHistory(options(db.url, redis.url, redis.prefix));
  t.equal(summary.singleMessages + summary.groupMessages, 20_000);
  t.ok(summary.groupMessages > 1000 && summary.groupMessages < 3000, 'about a tenth are group messages');

  t.same(await createTables(db), await createTables(reference), 'tables, keys and indexes exactly as the migrations make them');

  const users = await rows(db, "SELECT id FROM IMUser WHERE name LIKE 'pf\\_%' ORDER BY id");
  t.equal(users.length, 200);
  const relations = await rows(db, 'SELECT id, smallId, bigId, created FROM IMRelationShip ORDER BY id');
  t.equal(relations.length, summary.relations);
  t.ok(relations.every((r, i) => i === 0 || Number(r.created) >= Number(relations[i - 1].created)), 'relation ids follow first-contact time');

  let stored = 0;
  const perRelation = new Map<number, { n: number; top: number; low: number }>();
  for (let i = 0; i < 8; i++) {
    const shard = await rows(db, `SELECT relateId, COUNT(*) AS n, MIN(msgId) AS low, MAX(msgId) AS top FROM IMMessage_${i} GROUP BY relateId`);
    t.ok(shard.every((r) => Number(r.relateId) % 8 === i), `IMMessage_${i} holds the conversations of its shard`);
    for (const r of shard) {
      perRelation.set(Number(r.relateId), { n: Number(r.n), top: Number(r.top), low: Number(r.low) });
      stored += Number(r.n);
    }
    const [backwards] = await rows(db, `SELECT COUNT(*) AS n FROM IMMessage_${i} a JOIN IMMessage_${i} b ON b.id = a.id + 1 WHERE b.created < a.created`);
    t.equal(Number(backwards.n), 0, `IMMessage_${i}: times never go back as ids grow`);
  }
  t.equal(stored, summary.singleMessages);
  t.equal(perRelation.size, summary.relations, 'every relation has messages');
  t.ok([...perRelation.values()].every((c) => c.low === 1 && c.top === c.n), 'msg ids are 1..n in every conversation');

  const counters = await redis.redis.mget(...relations.map((r) => redis.prefix + RedisKeys.msgId(Number(r.id))));
  t.ok(
    relations.every((r, i) => Number(counters[i]) === perRelation.get(Number(r.id))?.top),
    'each msg_id counter is its conversation\'s last msg id',
  );
  const singleOnes = [...perRelation.values()].filter((c) => c.n === 1).length;
  const counts = [...perRelation.values()].map((c) => c.n).sort((a, b) => b - a);
  const top = counts.slice(0, Math.ceil(counts.length / 10)).reduce((a, b) => a + b, 0);
  t.ok(top > 0.4 * summary.singleMessages, 'a tenth of the relations carry most of the traffic');
  t.ok(singleOnes > 0, 'and there is a long tail of conversations of one message');

  const groups = await rows(db, 'SELECT id, lastChated, userCnt FROM IMGroup ORDER BY id');
  t.equal(groups.length, summary.groups);
  for (const g of groups) {
    const gid = Number(g.id);
    const [m] = await rows(db, `SELECT COUNT(*) AS n, MAX(msgId) AS top, MAX(created) AS last FROM IMGroupMessage_${gid % 8} WHERE groupId = ?`, [gid]);
    t.equal(Number(await redis.redis.get(redis.prefix + RedisKeys.groupMsgId(gid))), Number(m.top), `group ${gid} counter`);
    t.equal(Number(await redis.redis.hget(redis.prefix + RedisKeys.groupMsgCount(gid), 'count')), Number(m.n), `group ${gid} count`);
    t.equal(Number(g.lastChated), Number(m.last), `group ${gid} lastChated`);
    t.equal(Object.keys(await redis.redis.hgetall(redis.prefix + RedisKeys.groupMembers(gid))).length, Number(g.userCnt), `group ${gid} members in Redis`);
  }

  const [sessions] = await rows(db, 'SELECT COUNT(*) AS n FROM IMRecentSession WHERE type = 1');
  t.equal(Number(sessions.n), 2 * summary.relations, 'both sides of every relation have a recent session');
  const r0 = relations[0];
  const [last] = await rows(db, `SELECT created FROM IMMessage_${Number(r0.id) % 8} WHERE relateId = ? ORDER BY msgId DESC LIMIT 1`, [r0.id]);
  const both = await rows(db, 'SELECT userId, updated FROM IMRecentSession WHERE type = 1 AND ((userId = ? AND peerId = ?) OR (userId = ? AND peerId = ?))', [
    r0.smallId,
    r0.bigId,
    r0.bigId,
    r0.smallId,
  ]);
  t.same(both.map((s) => Number(s.updated)), [Number(last.created), Number(last.created)], 'sessions updated at the last message');

  // Unread: messages from the peer after the user's last answer, within the last hours.
  let unreadChecked = 0;
  for (const u of users.slice(0, 20)) {
    const unread = await redis.redis.hgetall(redis.prefix + RedisKeys.unread(Number(u.id)));
    for (const [peer, n] of Object.entries(unread)) {
      const small = Math.min(Number(u.id), Number(peer));
      const big = Math.max(Number(u.id), Number(peer));
      const [rel] = await rows(db, 'SELECT id FROM IMRelationShip WHERE smallId = ? AND bigId = ?', [small, big]);
      const tail = await rows(db, `SELECT fromId FROM IMMessage_${Number(rel.id) % 8} WHERE relateId = ? ORDER BY msgId DESC LIMIT ?`, [rel.id, Number(n) + 1]);
      t.ok(tail.slice(0, Number(n)).every((m) => Number(m.fromId) === Number(peer)), `the last ${n} messages ${u.id} has not read are from ${peer}`);
      unreadChecked++;
    }
  }
  t.ok(unreadChecked > 0, 'some conversations have unread messages');
});

t.test('a prefilled cluster through the protocol: sessions, unread, history, and the next msg id', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 });
  const summary = await prefillHistory(options(cluster.db.url, cluster.redis.url, cluster.redis.prefix, { userPrefix: 'user_' }));
  t.equal(summary.firstUserId, 1);
  const alice = await cluster.connect(0);
  await alice.login('user_0', PASSWORD);
  const me = alice.userId;

  const recent = await alice.recentSessions(0);
  t.ok(recent.contact_session_list.length > 10, 'recent sessions from the history');
  const single = recent.contact_session_list.filter((s) => s.session_type === SessionType.SESSION_TYPE_SINGLE);
  const updated = recent.contact_session_list.map((s) => s.updated_time);
  t.same(updated, [...updated].sort((a, b) => b - a), 'newest first');
  const peer = single[0].session_id;
  const [rel] = await cluster.query('SELECT id FROM IMRelationShip WHERE smallId = ? AND bigId = ?', [Math.min(me, peer), Math.max(me, peer)]);
  const [top] = await cluster.query(`SELECT MAX(msgId) AS top FROM IMMessage_${Number(rel.id) % 8} WHERE relateId = ?`, [rel.id]);
  t.equal(single[0].latest_msg_id, Number(top.top), 'latest msg id of the session is the conversation\'s last');

  const page = await alice.history(peer, { count: 20 });
  const wanted = Math.min(20, Number(top.top));
  t.same(
    page.msg_list.map((m) => m.msg_id),
    Array.from({ length: wanted }, (_, i) => Number(top.top) - i),
    'the newest page, newest first',
  );
  t.ok(page.msg_list.every((m) => decryptMessageText(m.msg_data) !== null), 'texts encrypted as clients encrypt them');

  const unread = await alice.unreadCounts();
  const stored = await cluster.redis.redis.hgetall(cluster.redis.prefix + RedisKeys.unread(me));
  const singles = unread.unreadinfo_list.filter((u) => u.session_type === SessionType.SESSION_TYPE_SINGLE);
  t.same(
    Object.fromEntries(singles.map((u) => [String(u.session_id), String(u.unread_cnt)])),
    stored,
    'unread counts as prefilled',
  );

  const ack = await alice.sendText(peer, 'after the history');
  t.equal(ack.msg_id, Number(top.top) + 1, 'an old conversation continues with the next msg id');

  const groups = await alice.normalGroups();
  t.equal(groups.group_version_list.length, 1, 'member of the team group');
  const gid = groups.group_version_list[0].group_id;
  const groupTop = Number(await cluster.redis.redis.get(cluster.redis.prefix + RedisKeys.groupMsgId(gid)));
  const groupPage = await alice.history(gid, { group: true, count: 5 });
  t.equal(groupPage.msg_list[0]?.msg_id, groupTop, 'group history up to the last group message');
  t.equal((await alice.sendText(gid, 'to the team', { group: true })).msg_id, groupTop + 1);
});

t.test('refuses bad options and a history that is not empty, before writing anything', async (t) => {
  const db = await freshDatabase(t);
  const redis = await freshRedis(t);
  await t.rejects(prefillHistory(options(db.url, redis.url, redis.prefix, { messages: 0 })), /--messages/);
  await t.rejects(prefillHistory(options(db.url, redis.url, redis.prefix, { users: 1 })), /--users/);
  await t.rejects(prefillHistory(options(db.url, redis.url, redis.prefix, { groupShare: 2 })), /--group-share/);
  await db.pool.query('INSERT INTO IMRelationShip (smallId, bigId, status, created, updated) VALUES (1, 2, 0, 0, 0)');
  await t.rejects(prefillHistory(options(db.url, redis.url, redis.prefix)), /already holds a history/);
  const [users] = await db.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM IMUser');
  t.equal(Number(users[0].n), 0, 'no user created');
  const keys = new Redis(redis.url);
  t.same(await keys.keys(`${redis.prefix}*`), [], 'nothing written to Redis');
  keys.disconnect();
});
