/**
 * Message tables on two database servers (the shard map), more than eight of
 * them: messages land on the server the map names, history and unread counts
 * read across both, a batch whose shard server fails after main committed
 * answers only those messages as failed (a retry stores each once), migrations
 * reach every table on every server, and a table moves to the other server
 * while messages keep flowing (npm run storage -- move-table).
 */
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import { schemaDir } from '../../lib/paths';
import { IM } from '../../pdu/commands';
import { migrateServers } from '../../scripts/db/migrate';
import { moveTable } from '../../scripts/db/move-table';
import { storageStatus } from '../../scripts/db/storage-status';
import { startCluster } from '../helpers/cluster';
import { freshDatabase, type TestDatabase } from '../helpers/storage';
import { StorageServers, adminQuery } from '../helpers/storage-servers';
import { Traffic } from '../helpers/traffic';
import { sleep, waitFor } from '../helpers/wait';

const { MsgType } = IM.BaseDefine;
const COUNT = 16;
const SHARD_MAP = { '8-15': 'shard2' };

async function messageTablesOn(url: string): Promise<string[]> {
  const rows = await adminQuery<RowDataPacket[]>(url, "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name REGEXP '^IM(Group)?Message_[0-9]+$'");
  return rows.map((r) => String(r.t)).sort();
}

const tablesOf = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => [`IMMessage_${from + i}`, `IMGroupMessage_${from + i}`]).flat().sort();

t.test('message tables on two servers', async (t) => {
  const servers = await StorageServers.create(t);
  const shard = await servers.mariaDb('shard2', 1);
  const main = await freshDatabase(t, { migrate: false });
  const shardDb: TestDatabase = await freshDatabase(t, { migrate: false, base: servers.adminUrl(shard.port), name: main.name });
  const layout = { messageTableCount: COUNT, shardMap: SHARD_MAP };
  const results = await migrateServers({ main: main.url, shard2: shardDb.url }, layout);
  t.same(results.shard2.applied, results.main.applied, 'every migration file recorded on both servers');
  t.same(await messageTablesOn(main.url), tablesOf(0, 7), 'main holds tables 0-7');
  t.same(await messageTablesOn(shardDb.url), tablesOf(8, 15), 'shard2 holds tables 8-15 (made like IMMessage_0 / IMGroupMessage_0)');
  t.same(await adminQuery<unknown[]>(shardDb.url, "SHOW TABLES LIKE 'IMUser'"), [], 'users stay on main');
  const again = await migrateServers({ main: main.url, shard2: shardDb.url }, layout);
  t.same([again.main.applied, again.shard2.applied], [[], []], 'migrating again changes nothing');

  const cluster = await startCluster(t, {
    database: main,
    captureLogs: true,
    // A short storage timeout: a retry settles (timeout + 2 s) well within the msg server's 5 s retry window.
    dbProxy: { messageTableCount: COUNT, shardMap: SHARD_MAP, mysqlServers: { shard2: { url: shardDb.url, replicaUrls: [] } }, storageTimeoutMs: 1500 },
  });
  const serverOf = (table: string) => (Number(/_(\d+)$/.exec(table)?.[1]) >= 8 ? shardDb.url : main.url);
  const rowsIn = async (table: string, column: string, id: number) => {
    const rows = await adminQuery<RowDataPacket[]>(serverOf(table), `SELECT msgId, content FROM ${table} WHERE ${column} = ?`, [id]);
    return new Map(rows.map((r) => [Number(r.msgId), String(r.content)]));
  };
  const relation = async (a: number, b: number) =>
    Number((await cluster.query<{ id: number }>('SELECT id FROM IMRelationShip WHERE smallId = ? AND bigId = ?', [Math.min(a, b), Math.max(a, b)]))[0].id);

  const names = Array.from({ length: 20 }, (_, i) => `u${i}`);
  const ids = await cluster.addUsers(names);
  const clients = await Promise.all(names.slice(0, 4).map((n, i) => cluster.loginAs(n, i % 2, { requestTimeoutMs: 20_000 })));
  const [u0, u1] = clients;

  await t.test('each message lands on the server the shard map names; reads span both', async (t) => {
    for (const to of ids.slice(1)) await u0.sendMessage(to, Buffer.from(`to ${to}`), MsgType.MSG_TYPE_SINGLE_TEXT);
    let onShard = 0;
    for (const to of ids.slice(1)) {
      const rel = await relation(ids[0], to);
      const table = `IMMessage_${rel % COUNT}`;
      const rows = await rowsIn(table, 'relateId', rel);
      t.same([...rows.values()], [`to ${to}`], `relation ${rel}: its message is in ${table} on ${rel % COUNT >= 8 ? 'shard2' : 'main'}`);
      if (rel % COUNT >= 8) onShard++;
    }
    t.ok(onShard >= 8, `${onShard} conversations on shard2`);
    await u1.sendMessage(ids[0], Buffer.from('back'), MsgType.MSG_TYPE_SINGLE_TEXT);
    t.ok((await u0.unreadCounts()).unreadinfo_list.length >= 1, 'unread counts with the latest message');
    t.same((await clients[2].history(ids[0])).msg_list.map((m) => Buffer.from(m.msg_data).toString()), [`to ${ids[2]}`], 'history');
    t.ok((await u0.recentSessions()).contact_session_list.length >= 19, 'recent sessions with their latest messages from both servers');

    // Groups: ids up to 9, so IMGroupMessage_9 on shard2 gets one.
    let gid = 0;
    for (let i = 0; gid < 9; i++) gid = (await u0.createGroup(`g${i}`, [ids[0], ids[1]])).group_id;
    t.equal((await u1.sendMessage(gid, Buffer.from('group hi'), MsgType.MSG_TYPE_GROUP_TEXT)).msg_id, 1, 'group message stored');
    t.same([...(await rowsIn(`IMGroupMessage_${gid % COUNT}`, 'groupId', gid)).values()], ['group hi'], `group ${gid}: in IMGroupMessage_${gid % COUNT} on shard2`);
    t.equal((await u0.history(gid, { group: true })).msg_list.length, 1, 'group history from shard2');
  });

  await t.test('shard2 fails after main committed: only its messages fail; the retry stores each once', async (t) => {
    // u0 -> u8 is on shard2 (relation 8, the 8th one created), u1 -> u0 on main (relation 1).
    const target = ids[8];
    const rel = await relation(ids[0], target);
    t.ok(rel % COUNT >= 8, `conversation ${rel} is on shard2`);
    const table = `IMMessage_${rel % COUNT}`;
    await adminQuery(shardDb.url, `CREATE TRIGGER tt_test_fail BEFORE INSERT ON ${table} FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'shard2 write refused by the test'`);
    const toShard = u0.sendMessage(target, Buffer.from('through the failure'), MsgType.MSG_TYPE_SINGLE_TEXT);
    const toMain = await u1.sendMessage(ids[0], Buffer.from('main meanwhile'), MsgType.MSG_TYPE_SINGLE_TEXT);
    t.ok(toMain.msg_id > 0, 'a message on main is acknowledged while shard2 fails');
    let settled = false;
    void toShard.finally(() => (settled = true));
    await sleep(1500);
    t.notOk(settled, 'the message on shard2 is not acknowledged while its server fails');
    t.equal((await rowsIn(table, 'relateId', rel)).size, 1, 'and nothing of it is stored');
    await adminQuery(shardDb.url, 'DROP TRIGGER tt_test_fail');
    const ack = await toShard;
    const rows = await rowsIn(table, 'relateId', rel);
    t.equal(rows.get(ack.msg_id), 'through the failure', 'the msg server retried with the same store token: stored');
    t.equal([...rows.values()].filter((v) => v === 'through the failure').length, 1, 'exactly once');
  });

  await t.test('a migration with IMMessage_N reaches every message table on both servers', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tt-schema-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    for (const f of readdirSync(schemaDir)) copyFileSync(join(schemaDir, f), join(dir, f));
    writeFileSync(join(dir, '999_test_every_message_table.sql'), 'ALTER TABLE `IMMessage_N` ADD COLUMN tt_probe int NULL;\n');
    const r = await migrateServers({ main: main.url, shard2: shardDb.url }, layout, dir);
    t.same([r.main.applied, r.shard2.applied], [['999_test_every_message_table.sql'], ['999_test_every_message_table.sql']], 'applied on both servers');
    for (const [url, range] of [[main.url, [0, 7]], [shardDb.url, [8, 15]]] as const) {
      const cols = await adminQuery<RowDataPacket[]>(url, "SELECT table_name AS t FROM information_schema.columns WHERE table_schema = DATABASE() AND column_name = 'tt_probe'");
      t.same(cols.map((c) => String(c.t)).sort(), Array.from({ length: 8 }, (_, i) => `IMMessage_${range[0] + i}`).sort(), `every IMMessage table of ${url === main.url ? 'main' : 'shard2'} has the column`);
    }
  });

  await t.test('a table moves from main to shard2 while its conversations keep chatting', async (t) => {
    // u0 <-> u3 (relation 3) is in table 3, both directions on two msg servers; u1 -> u2 elsewhere.
    const rel3 = await relation(ids[0], ids[3]);
    t.equal(rel3 % COUNT, 3, 'the conversation of u0 and u3 is in IMMessage_3');
    const traffic = new Traffic(
      [
        { sender: clients[0], to: ids[3], receivers: [clients[3]] },
        { sender: clients[3], to: ids[0], receivers: [clients[0]] },
        { sender: clients[1], to: ids[2], receivers: [clients[2]] },
      ],
      'move',
      20,
    );
    await waitFor(() => traffic.ackedCount > 20, 20_000, 'traffic flowing');
    const report = await moveTable({
      index: 3,
      servers: { main: main.url, shard2: shardDb.url },
      to: 'shard2',
      chunkRows: 10,
      log: (line) => t.comment(line),
      onPhase: async (phase) => {
        if (phase === 'copied') {
          const n = traffic.ackedCount;
          await waitFor(() => traffic.ackedCount > n + 10, 20_000, 'more messages after the copy');
        }
        if (phase === 'fenced') await sleep(500);
      },
    });
    t.match(report, { from: 'main', to: 'shard2', tables: ['IMMessage_3', 'IMGroupMessage_3'] }, 'moved');
    t.ok(report.resynced.IMMessage_3 > 0, `rows written during the copy were synced (${report.resynced.IMMessage_3})`);
    const opened = traffic.ackedCount;
    await waitFor(() => traffic.ackedCount > opened + 20, 30_000, 'the moved conversations are acknowledged again');
    await traffic.stop();
    await cluster.logLine((l) => /IMMessage_3 is on server shard2, not on main/.test(l.msg), 'the db-proxy found the table on shard2', 5000);
    t.same(await messageTablesOn(main.url), tablesOf(0, 7).filter((x) => !/_3$/.test(x)), 'main no longer has table 3 (tt_moved_IMMessage_3 is kept for a backup)');
    t.ok((await messageTablesOn(shardDb.url)).includes('IMMessage_3'), 'shard2 has it');
    await traffic.verify(t, async (c) => {
      const r = await relation(c.sender.userId, c.to);
      const table = `IMMessage_${r % COUNT}`;
      const url = r % COUNT === 3 || r % COUNT >= 8 ? shardDb.url : main.url;
      const rows = await adminQuery<RowDataPacket[]>(url, `SELECT msgId, content FROM ${table} WHERE relateId = ?`, [r]);
      return new Map(rows.map((x) => [Number(x.msgId), String(x.content)]));
    });
    const history = await clients[3].history(ids[0], { count: 100 });
    const acked = traffic.acked[0].length + traffic.acked[1].length;
    t.ok(history.msg_list.length >= Math.min(100, acked), 'history of the moved conversation reads from shard2');
    const status = await storageStatus({ primaries: { main: main.url, shard2: shardDb.url }, replicas: {}, redis: { url: cluster.redis.url, clusterNodes: [], sentinels: [], sentinelName: 'mymaster', sentinelPassword: '', keyPrefix: cluster.redis.prefix } });
    t.ok(status.mysql.find((m) => m.server === 'shard2')?.messageTables.includes('IMMessage_3'), 'status lists IMMessage_3 on shard2');
    t.ok((status.mysql.find((m) => m.server === 'shard2')?.rows.IMMessage_3 ?? 0) >= acked, 'with its rows');
    t.comment(`moved with ${report.fencedMs} ms fenced; ${traffic.failed} sends not acked meanwhile, ${traffic.ackedCount} acked`);
  });
});

