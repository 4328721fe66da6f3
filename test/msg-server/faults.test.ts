/**
 * Faults are normal: a route server and a db-proxy restart in the middle of
 * traffic. The cluster heals by itself, and every message acked to its sender
 * is in MySQL exactly once.
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { decryptMessageText } from '../../lib/message-crypto';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { sleep, waitFor } from '../helpers/wait';
import type { ImClient } from '../../tools/client/im-client';

const { UserStatType } = IM.BaseDefine;

interface Traffic {
  acked: Set<string>;
  failed: number;
  stop(): Promise<void>;
}

/** Every client sends to a peer on the other msg server, one message in flight each, unique texts. */
function startTraffic(clients: ImClient[], peerOf: (i: number) => number): Traffic {
  const acked = new Set<string>();
  let failed = 0;
  let running = true;
  const loops = clients.map(async (client, i) => {
    let n = 0;
    while (running) {
      const text = `${client.userId}-${n++}`;
      try {
        await client.sendText(peerOf(i), text);
        acked.add(text);
      } catch {
        failed++;
        await sleep(50);
      }
      await sleep(5);
    }
  });
  return {
    acked,
    get failed() {
      return failed;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function storedTexts(cluster: TestCluster): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < 8; i++) {
    const rows = await cluster.query<{ content: string }>(`SELECT content FROM IMMessage_${i}`);
    for (const row of rows) {
      const text = decryptMessageText(Buffer.from(row.content, 'ascii'))?.toString() ?? '(undecryptable)';
      counts.set(text, (counts.get(text) ?? 0) + 1);
    }
  }
  return counts;
}

t.test('route server and db-proxy restarts during traffic', async (t) => {
  const cluster = await startCluster(t, { linkTimeoutMs: 1500, msg: { requestTimeoutMs: 2000 } });
  const names = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5'];
  const ids = await cluster.addUsers(names);
  // u0..u2 on msg server 0, u3..u5 on msg server 1; each talks to its counterpart on the other server.
  const clients = await Promise.all(names.map((n, i) => cluster.loginAs(n, i < 3 ? 0 : 1)));
  for (const c of clients) c.conn.requestTimeoutMs = 3000;
  const traffic = startTraffic(clients, (i) => ids[(i + 3) % 6]);

  await waitFor(() => traffic.acked.size >= 30, 10_000, 'traffic flowing');
  const beforeRoute = traffic.acked.size;
  await cluster.route.stop('test: route server restart');
  await sleep(300);
  await cluster.startRoute(cluster.route.port);
  await waitFor(() => cluster.msgServers.every((s) => s.context.routes.available), 10_000, 'route links back');
  await waitFor(() => traffic.acked.size >= beforeRoute + 30, 10_000, 'traffic after the route restart');

  const beforeDb = traffic.acked.size;
  const dbPort = cluster.dbProxy.port;
  await cluster.dbProxy.stop('test: db-proxy restart');
  await sleep(300);
  await cluster.startDbProxy(dbPort);
  await waitFor(() => cluster.msgServers.every((s) => s.context.db.available), 10_000, 'db links back');
  await waitFor(() => traffic.acked.size >= beforeDb + 30, 10_000, 'traffic after the db-proxy restart');
  await traffic.stop();

  // Healed: the new route server knows who is online (snapshots were resent) and relays.
  const status = await clients[0].usersStatus(ids);
  t.same(
    status.user_stat_list.map((s) => s.status),
    ids.map(() => UserStatType.USER_STATUS_ONLINE),
    'every user is online again in the new route server',
  );
  const probe = await clients[0].sendText(ids[3], 'after the storm');
  await clients[3].next(IM.Message.IMMsgData, (m) => m.msg_id === probe.msg_id, 5000);
  traffic.acked.add('after the storm');

  const stored = await storedTexts(cluster);
  let missing = 0;
  let duplicated = 0;
  for (const text of traffic.acked) {
    const n = stored.get(text) ?? 0;
    if (n === 0) missing++;
    if (n > 1) duplicated++;
  }
  t.ok(traffic.acked.size > 90, `${traffic.acked.size} messages acked across both restarts`);
  t.equal(missing, 0, 'no acked message is missing from MySQL');
  t.equal(duplicated, 0, 'no acked message is stored twice');

  // msg ids stay unique per conversation after the db-proxy restart.
  for (let i = 0; i < 8; i++) {
    const dups = await cluster.query<{ n: number }>(`SELECT COUNT(*) AS n FROM (SELECT relateId, msgId FROM IMMessage_${i} GROUP BY relateId, msgId HAVING COUNT(*) > 1) d`);
    t.equal(Number(dups[0].n), 0, `IMMessage_${i}: msg ids unique per relation`);
  }
});

t.test('a msg server that stops takes its users out of the route map at once', async (t) => {
  const cluster = await startCluster(t, { msgServers: 3 });
  const [, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0);
  await cluster.loginAs('bob', 2);
  const cameOnline = await alice.next(IM.Buddy.IMUserStatNotify, (n) => n.user_stat.user_id === bobId);
  t.equal(cameOnline.user_stat.status, UserStatType.USER_STATUS_ONLINE, 'watchers are told bob came online');
  const online = await alice.usersStatus([bobId]);
  t.equal(online.user_stat_list[0].status, UserStatType.USER_STATUS_ONLINE);
  await cluster.msgServers[2].stop('test: scale in');
  const notify = await alice.next(IM.Buddy.IMUserStatNotify, (n) => n.user_stat.user_id === bobId);
  t.equal(notify.user_stat.status, UserStatType.USER_STATUS_OFFLINE, 'watchers are told bob is offline');
  const offline = await alice.usersStatus([bobId]);
  t.equal(offline.user_stat_list[0].status, UserStatType.USER_STATUS_OFFLINE);
});
