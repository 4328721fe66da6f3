/**
 * The db-proxy on a real Redis Cluster (redis-server --cluster-enabled, three
 * masters with a replica each, joined by redis-cli --cluster create): chat,
 * groups, unread counts and history through the msg servers as clients use
 * them; the cluster key layout (a group's keys in one slot); counters re-seeded
 * from MySQL; and a master killed under load (its replica takes over): no
 * acknowledged message lost, no msg id given twice.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import calculateSlot from 'cluster-key-slot';
import Redis, { Cluster } from 'ioredis';
import { IM } from '../../pdu/commands';
import { ClusterRedisKeys } from '../../services/db-proxy/redis-keys';
import { createRedisClient } from '../../services/db-proxy/redis-gateway';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { StorageServers, killServer } from '../helpers/storage-servers';
import { Traffic } from '../helpers/traffic';
import { sleep, waitFor } from '../helpers/wait';

const { MsgType } = IM.BaseDefine;

async function messageRows(cluster: TestCluster, table: string, column: string, id: number): Promise<Map<number, string>> {
  const rows = await cluster.query<{ msgId: number; content: string }>(`SELECT msgId, content FROM ${table} WHERE ${column} = ?`, [id]);
  return new Map(rows.map((r) => [Number(r.msgId), String(r.content)]));
}

async function relationOf(cluster: TestCluster, a: number, b: number): Promise<number> {
  const rows = await cluster.query<{ id: number }>('SELECT id FROM IMRelationShip WHERE smallId = ? AND bigId = ?', [Math.min(a, b), Math.max(a, b)]);
  return Number(rows[0].id);
}

t.test('Redis Cluster', async (t) => {
  const servers = await StorageServers.create(t);
  const rc = await servers.redisCluster(3, 1, 2000);
  const nodes = rc.nodes.map((n) => ({ host: n.host, port: n.port }));
  const cluster = await startCluster(t, { dbProxies: 2, captureLogs: true, dbProxy: { redisUrl: rc.url, redisClusterNodes: nodes } });
  const prefix = cluster.redis.prefix;
  const inspect = createRedisClient({ url: rc.url, clusterNodes: nodes }, { lazyConnect: true }) as Cluster;
  inspect.on('error', () => {});
  await inspect.connect();
  t.teardown(() => inspect.disconnect());

  const [alice, bob, carol] = await cluster.addUsers(['alice', 'bob', 'carol']);
  const a = await cluster.loginAs('alice', 0);
  const b = await cluster.loginAs('bob', 1);
  const c = await cluster.loginAs('carol', 1);

  await t.test('chat, groups, unread counts and history work; group keys share one slot', async (t) => {
    for (let i = 1; i <= 3; i++) t.equal((await a.sendMessage(bob, Buffer.from(`hi ${i}`), MsgType.MSG_TYPE_SINGLE_TEXT)).msg_id, i, `single msg id ${i}`);
    await b.next(IM.Message.IMMsgData, (m) => m.msg_id === 3);
    const unread = await b.unreadCounts();
    t.match(unread.unreadinfo_list, [{ session_id: alice, unread_cnt: 3, latest_msg_id: 3 }], 'bob has 3 unread from alice');
    t.same((await b.history(alice)).msg_list.map((m) => m.msg_id), [3, 2, 1], 'history');
    b.readAck(alice, 3);
    await waitFor(async () => (await b.unreadCounts()).unreadinfo_list.length === 0, 5000, 'read ack clears the count');

    const group = await a.createGroup('cluster group', [alice, bob, carol]);
    t.equal(group.result_code, 0, 'group created');
    const gid = group.group_id;
    for (let i = 1; i <= 4; i++) t.equal((await b.sendMessage(gid, Buffer.from(`g ${i}`), MsgType.MSG_TYPE_GROUP_TEXT)).msg_id, i, `group msg id ${i}`);
    await c.next(IM.Message.IMMsgData, (m) => m.msg_id === 4 && m.to_session_id === gid);
    const carolUnread = await c.unreadCounts();
    t.match(carolUnread.unreadinfo_list, [{ session_id: gid, unread_cnt: 4 }], "carol's group unread count");
    t.notOk((await b.unreadCounts()).unreadinfo_list.some((u: { session_id: number }) => u.session_id === gid), 'the sender has read its own group messages');
    t.equal((await c.history(gid, { group: true })).msg_list.length, 4, 'group history');

    // The layout: TeamTalk's names, the group id as hash tag in the group's keys.
    const rel = await relationOf(cluster, alice, bob);
    t.equal(await inspect.get(`${prefix}msg_id_${rel}`), '3', 'msg_id_<relation> counter');
    const members = Object.keys(await inspect.hgetall(`${prefix}group_member_{${gid}}`)).map(Number);
    t.same(members.sort((x, y) => x - y), [alice, bob, carol].sort((x, y) => x - y), 'group_member_{gid} holds the members');
    t.equal(await inspect.hget(`${prefix}{${gid}}_im_group_msg`, 'count'), '4', '{gid}_im_group_msg');
    t.equal(await inspect.hget(`${prefix}${bob}_{${gid}}_im_user_group`, 'count'), '4', "<uid>_{gid}_im_user_group: the sender's copy");
    t.equal(await inspect.get(`${prefix}group_msg_id_{${gid}}`), '4', 'group_msg_id_{gid}');
    t.equal(await inspect.exists(`${prefix}group_member_${gid}`), 0, 'no untagged group key');
    const k = ClusterRedisKeys;
    const slots = [k.groupMsgId(gid), k.groupMsgCount(gid), k.userGroupCount(carol, gid), k.groupMembers(gid), k.groupSettings(gid)].map((key) => calculateSlot(prefix + key));
    t.equal(new Set(slots).size, 1, "a group's keys are in one slot");

    // Many conversations in one batch: counters on every master, each script call inside one slot.
    const more = await cluster.addUsers(Array.from({ length: 12 }, (_, i) => `m${i}`));
    const acks = await Promise.all(more.map((id) => a.sendMessage(id, Buffer.from('batch'), MsgType.MSG_TYPE_SINGLE_TEXT)));
    t.same(acks.map((x) => x.msg_id), more.map(() => 1), 'a batch across slots: every conversation starts at 1');
    const rels = await Promise.all(more.map((id) => relationOf(cluster, alice, id)));
    t.ok(new Set(rels.map((r) => calculateSlot(`${prefix}msg_id_${r}`))).size > 1, 'the counters are in many slots');
  });

  await t.test('a counter lost in Redis is re-seeded from MySQL: ids go on, never back', async (t) => {
    const rel = await relationOf(cluster, alice, bob);
    await inspect.del(`${prefix}msg_id_${rel}`);
    const ack = await a.sendMessage(bob, Buffer.from('after loss'), MsgType.MSG_TYPE_SINGLE_TEXT);
    t.equal(ack.msg_id, 4, 'the next id follows the highest one in MySQL');
    t.equal(await inspect.get(`${prefix}msg_id_${rel}`), '4', 'the counter is back in step');
  });

  await t.test('a master killed under load: no acknowledged message lost, no msg id given twice', async (t) => {
    const names = Array.from({ length: 6 }, (_, i) => `f${i}`);
    const ids = await cluster.addUsers(names);
    const clients = await Promise.all(names.map((n, i) => cluster.loginAs(n, i % 2, { requestTimeoutMs: 15_000 })));
    const conversations = [0, 2, 4].map((i) => ({ sender: clients[i], to: ids[i + 1], receivers: [clients[i + 1]] }));
    const group = await clients[0].createGroup('failover group', ids);
    conversations.push({ sender: clients[5], to: group.group_id, group: true, receivers: [clients[1]] } as (typeof conversations)[number] & { group: boolean });
    const traffic = new Traffic(conversations, 'failover');
    await waitFor(() => traffic.ackedCount > 40, 20_000, 'traffic flowing');

    // The master that holds the first conversation's counter.
    const rel = await relationOf(cluster, ids[0], ids[1]);
    const counterKey = `${prefix}msg_id_${rel}`;
    const slot = calculateSlot(counterKey);
    const masterPort = Number((await inspect.cluster("SLOTS")).find(([lo, hi]) => slot >= lo && slot <= hi)?.[2][1]);
    const victim = rc.nodes.find((n) => n.port === masterPort);
    if (!victim) throw new Error('master not found');
    const before = traffic.ackedCount;
    await killServer(victim.server);
    const killedAt = Date.now();
    t.pass(`master 127.0.0.1:${masterPort} killed with ${before} messages acked`);
    // Its replica is promoted (cluster-node-timeout 2 s, then an election): asked of a node that lives.
    const witness = new Redis({ host: '127.0.0.1', port: (rc.nodes.find((n) => n !== victim) as { port: number }).port, password: servers.credentials.redisPassword, lazyConnect: true });
    witness.on('error', () => {});
    await witness.connect();
    t.teardown(() => witness.disconnect());
    await waitFor(
      async () => {
        const ranges = (await witness.cluster('SLOTS').catch(() => [])) as Array<[number, number, [string, number]]>;
        const owner = ranges.find(([lo, hi]) => slot >= lo && slot <= hi);
        return owner !== undefined && owner[2][1] !== masterPort;
      },
      30_000,
      'the replica takes the slots over',
    ).then(() => t.comment(`measured: the replica owned the slot ${Date.now() - killedAt} ms after the kill`)).catch(async (err: Error) => {
      const nodes = String(await witness.cluster('NODES'));
      const replicaPort = /127\.0\.0\.1:(\d+)@\d+ slave (\w+)/g;
      const victimId = new RegExp(`(\\w+) 127\\.0\\.0\\.1:${masterPort}@`).exec(nodes)?.[1];
      const follower = [...nodes.matchAll(replicaPort)].find((m) => m[2] === victimId)?.[1];
      const logTail = follower ? readFileSync(join(servers.dir, `redis-${follower}`, 'redis.log'), 'utf8').split('\n').filter((l) => /fail|elect|vote|unable|epoch|sync: Finished|Full resync/i.test(l)).slice(-30).join('\n') : '';
      throw new Error(`${err.message}; the cluster says:\n${nodes}\nreplica ${follower} log:\n${logTail}`);
    });
    // What an unreplicated tail looks like: the promoted replica's counter is behind.
    const current = Number(await inspect.get(counterKey));
    await inspect.set(counterKey, String(Math.max(0, current - 5)));
    const atFailover = traffic.ackedCount;
    await waitFor(() => traffic.ackedCount > atFailover + 40, 30_000, 'traffic flowing again after the failover');
    t.comment(`measured: 40 more messages acked ${Date.now() - killedAt} ms after the kill`);
    await traffic.stop();
    t.ok(traffic.ackedCount > before, `${traffic.ackedCount} acked in all (${traffic.failed} not acked during the failover)`);
    await cluster.logLine((l) => /Redis Cluster changed/.test(l.msg), 'the db-proxy noticed the failover (new epoch)', 10_000);

    await traffic.verify(t, async (c) => {
      if (c.group) return messageRows(cluster, `IMGroupMessage_${c.to % 8}`, 'groupId', c.to);
      const r = await relationOf(cluster, c.sender.userId, c.to);
      return messageRows(cluster, `IMMessage_${r % 8}`, 'relateId', r);
    });
    await sleep(100);
  });
});
