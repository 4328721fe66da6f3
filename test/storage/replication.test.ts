/**
 * Reads from a real MariaDB replica (mariadbd with a GTID binlog, CHANGE
 * MASTER TO ... MASTER_USE_GTID = slave_pos): history, user lists and sessions
 * are served by the replica, and a user never misses a message they were just
 * told about, also while the replica lags (delayed replication, a stopped SQL
 * thread): such reads wait for the replica or go to the primary. Lag is measured
 * and reported (db-proxy status, `npm run storage -- status`).
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { addUser } from '../../scripts/db/accounts';
import { storageStatus } from '../../scripts/db/storage-status';
import { startCluster, PASSWORD } from '../helpers/cluster';
import { freshDatabase } from '../helpers/storage';
import { StorageServers, adminQuery } from '../helpers/storage-servers';
import { waitFor } from '../helpers/wait';

const { MsgType } = IM.BaseDefine;

t.test('MariaDB replica reads with read-your-writes, and a lagging replica', async (t) => {
  const servers = await StorageServers.create(t);
  const primary = await servers.mariaDb('primary', 1);
  const replica = await servers.mariaDb('replica', 2, primary.port);
  const db = await freshDatabase(t, { base: servers.adminUrl(primary.port) });
  const replicaUrl = servers.adminUrl(replica.port, db.name);
  await waitFor(async () => (await adminQuery<unknown[]>(replicaUrl, 'SHOW TABLES')).length > 0, 20_000, 'the schema replicated');
  const cluster = await startCluster(t, {
    database: db,
    captureLogs: true,
    dbProxy: { mysqlReplicaUrls: [replicaUrl], replicaWaitMs: 300, replicaMaxLagMs: 1500, replicaLagProbeMs: 200 },
  });
  const main = cluster.dbProxy.databases.main;
  const replicaOf = () => main.replicas[0];
  await waitFor(() => replicaOf().healthy && replicaOf().lagMs !== null, 10_000, 'the replica measured and usable');

  const [alice, bob] = await cluster.addUsers(['alice', 'bob']);
  const a = await cluster.loginAs('alice', 0);
  const b = await cluster.loginAs('bob', 1);

  await t.test('reads go to the replica and see the writes just acknowledged', async (t) => {
    const before = replicaOf().reads;
    for (let i = 1; i <= 5; i++) {
      const ack = await a.sendMessage(bob, Buffer.from(`m${i}`), MsgType.MSG_TYPE_SINGLE_TEXT);
      await b.next(IM.Message.IMMsgData, (m) => m.msg_id === ack.msg_id);
      // Bob was just told about message i: his history must hold it.
      const page = await b.history(alice);
      t.equal(page.msg_list[0]?.msg_id, ack.msg_id, `history right after message ${i} holds it`);
    }
    const carol = await addUser(db.pool, { name: 'carol', password: PASSWORD, departId: Number((await cluster.query<{ id: number }>('SELECT id FROM IMDepart LIMIT 1'))[0].id) });
    const everyone = await a.allUsers();
    t.ok(everyone.user_list.some((u) => u.user_id === carol), 'a user added on the primary is in the list read right after');
    t.ok((await b.recentSessions()).contact_session_list.some((s) => s.session_id === alice), 'recent sessions');
    t.ok(replicaOf().reads > before, `the replica served ${replicaOf().reads - before} of those reads`);
  });

  await t.test('a replica applying 3 s late: reads after a write go to the primary, still complete; its lag is reported', async (t) => {
    await adminQuery(replicaUrl, 'STOP SLAVE');
    await adminQuery(replicaUrl, 'CHANGE MASTER TO MASTER_DELAY = 3');
    await adminQuery(replicaUrl, 'START SLAVE');
    const fallbacks = main.primaryFallbackReads;
    for (let i = 1; i <= 3; i++) {
      const ack = await a.sendMessage(bob, Buffer.from(`late${i}`), MsgType.MSG_TYPE_SINGLE_TEXT);
      t.equal((await b.history(alice)).msg_list[0]?.msg_id, ack.msg_id, `history holds message late${i} at once`);
    }
    t.ok(main.primaryFallbackReads > fallbacks, 'reads the replica could not serve in time went to the primary');
    await waitFor(() => (replicaOf().lagMs ?? 0) > 1500 && !replicaOf().healthy, 15_000, 'the lag measured above replicaMaxLagMs');
    t.pass(`measured lag ${replicaOf().lagMs} ms: the replica is not read from`);
    await cluster.logLine((l) => /replica lags too far behind/.test(l.msg), 'the db-proxy logs it', 5000);
    // A fresh write: the delayed replica applies it only 3 s after it was made, whenever status asks.
    await a.sendMessage(bob, Buffer.from('late4'), MsgType.MSG_TYPE_SINGLE_TEXT);
    const status = await storageStatus({ primaries: { main: servers.adminUrl(primary.port, db.name) }, replicas: { main: [replicaUrl] }, redis: { url: cluster.redis.url, clusterNodes: [], sentinels: [], sentinelName: 'mymaster', sentinelPassword: '', keyPrefix: cluster.redis.prefix } });
    const r = status.mysql.find((m) => m.role === 'replica');
    t.match(r, { server: 'main', role: 'replica', up: true, ioRunning: true, sqlRunning: true }, 'status: the replica, its threads running');
    t.ok(r?.lagMs === null || (r?.lagMs ?? 0) > 0, `status: its measured lag behind the latest write (${r?.lagMs} ms, null = more than 5 s)`);
    t.ok((status.mysql.find((m) => m.role === 'primary')?.rows.IMMessage_1 ?? 0) >= 9, 'status: rows per message table on the primary');
  });

  await t.test('a stopped SQL thread: lag grows, reads stay correct; caught up again, the replica serves reads', async (t) => {
    await adminQuery(replicaUrl, 'STOP SLAVE');
    await adminQuery(replicaUrl, 'CHANGE MASTER TO MASTER_DELAY = 0');
    await adminQuery(replicaUrl, 'START SLAVE IO_THREAD');
    const ack = await a.sendMessage(bob, Buffer.from('while stopped'), MsgType.MSG_TYPE_SINGLE_TEXT);
    t.equal((await b.history(alice)).msg_list[0]?.msg_id, ack.msg_id, 'history holds it (read on the primary)');
    const lagBefore = replicaOf().lagMs ?? 0;
    await waitFor(() => (replicaOf().lagMs ?? 0) > lagBefore + 500, 10_000, 'the lag keeps growing');
    const status = await storageStatus({ primaries: { main: servers.adminUrl(primary.port, db.name) }, replicas: { main: [replicaUrl] }, redis: { url: cluster.redis.url, clusterNodes: [], sentinels: [], sentinelName: 'mymaster', sentinelPassword: '', keyPrefix: cluster.redis.prefix } });
    t.match(status.mysql.find((m) => m.role === 'replica'), { sqlRunning: false, lagMs: null }, 'status: SQL thread stopped, not caught up');

    await adminQuery(replicaUrl, 'START SLAVE');
    await waitFor(() => replicaOf().healthy, 20_000, 'the replica caught up');
    await cluster.logLine((l) => /replica caught up/.test(l.msg), 'the db-proxy logs it', 5000);
    const reads = replicaOf().reads;
    t.equal((await b.history(alice)).msg_list[0]?.msg_id, ack.msg_id, 'history read again');
    t.ok(replicaOf().reads > reads, 'served by the replica again');
  });
});
