/**
 * The db-proxy on a Sentinel-watched Redis (a master, a replica, three
 * Sentinels): chat works with TeamTalk's own key names, and when the master is
 * killed under load the Sentinels promote the replica and the db-proxy follows
 * it: no acknowledged message lost, no msg id given twice.
 */
import t from 'tap';
import Redis from 'ioredis';
import { IM } from '../../pdu/commands';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { StorageServers, killServer } from '../helpers/storage-servers';
import { Traffic } from '../helpers/traffic';
import { waitFor } from '../helpers/wait';

const { MsgType } = IM.BaseDefine;

async function rowsOf(cluster: TestCluster, a: number, b: number): Promise<Map<number, string>> {
  const rel = await cluster.query<{ id: number }>('SELECT id FROM IMRelationShip WHERE smallId = ? AND bigId = ?', [Math.min(a, b), Math.max(a, b)]);
  const id = Number(rel[0].id);
  const rows = await cluster.query<{ msgId: number; content: string }>(`SELECT msgId, content FROM IMMessage_${id % 8} WHERE relateId = ?`, [id]);
  return new Map(rows.map((r) => [Number(r.msgId), String(r.content)]));
}

t.test('Redis behind Sentinels: chat, then a master failover under load', async (t) => {
  const servers = await StorageServers.create(t);
  const masterName = 'ttmaster';
  const rs = await servers.redisWithSentinels(1, 3, masterName, 2000);
  const cluster = await startCluster(t, {
    captureLogs: true,
    dbProxy: { redisUrl: rs.url, redisSentinels: rs.sentinelPorts.map((port) => ({ host: '127.0.0.1', port })), redisSentinelName: masterName, redisSentinelPassword: rs.password },
  });
  const direct = (port: number) => {
    const client = new Redis({ host: '127.0.0.1', port, password: rs.password, lazyConnect: true, maxRetriesPerRequest: 3, retryStrategy: () => 100 });
    client.on('error', () => {});
    t.teardown(() => client.disconnect());
    return client;
  };
  const [alice, bob] = await cluster.addUsers(['alice', 'bob']);
  const a = await cluster.loginAs('alice', 0, { requestTimeoutMs: 15_000 });
  const b = await cluster.loginAs('bob', 1, { requestTimeoutMs: 15_000 });
  t.equal((await a.sendMessage(bob, Buffer.from('hello'), MsgType.MSG_TYPE_SINGLE_TEXT)).msg_id, 1, 'stored through the master the sentinels name');
  // The master as the sentinels see it now (on a busy machine they may have failed over once already).
  const sentinel = direct(rs.sentinelPorts[0]);
  await sentinel.connect();
  const masterNow = async () => Number(((await sentinel.call('SENTINEL', 'get-master-addr-by-name', masterName)) as string[])[1]);
  const masterPort = await masterNow();
  const master = rs.servers.find((s) => s.port === masterPort) as (typeof rs.servers)[number];
  const replica = rs.servers.find((s) => s.port !== masterPort) as (typeof rs.servers)[number];
  const onMaster = direct(master.port);
  await onMaster.connect();
  t.same(await onMaster.keys(`${cluster.redis.prefix}msg_id_*`), [`${cluster.redis.prefix}msg_id_1`], "TeamTalk's key names (no hash tags) on a Sentinel master");
  // The replica has caught up before its master goes.
  const onReplica = direct(replica.port);
  await onReplica.connect();
  await waitFor(async () => (await onReplica.get(`${cluster.redis.prefix}msg_id_1`)) === '1', 10_000, 'the replica in sync');

  const traffic = new Traffic([{ sender: a, to: bob, receivers: [b] }, { sender: b, to: alice, receivers: [a] }], 'sentinel');
  await waitFor(() => traffic.ackedCount > 30, 20_000, 'traffic flowing');
  await killServer(master.server);
  const killedAt = Date.now();
  onMaster.disconnect();
  const atKill = traffic.ackedCount;
  await waitFor(async () => (await masterNow()) === replica.port && /role:master/.test(await onReplica.info('replication')), 30_000, 'the sentinels promote the replica');
  t.pass(`master killed with ${atKill} acked; the replica is master now (measured: ${Date.now() - killedAt} ms after the kill)`);
  await waitFor(() => traffic.ackedCount > atKill + 30, 30_000, 'traffic flowing again through the new master');
  t.comment(`measured: 30 more messages acked ${Date.now() - killedAt} ms after the kill`);
  await traffic.stop();
  await cluster.logLine((l) => /Redis available again/.test(l.msg), 'the db-proxy reconnected to the new master (new epoch)', 10_000);
  t.ok(traffic.ackedCount > atKill, `${traffic.ackedCount} acked (${traffic.failed} not acked during the failover)`);
  await traffic.verify(t, (c) => rowsOf(cluster, c.sender.userId, c.to));
});
