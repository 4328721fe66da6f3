/**
 * No acknowledged message is lost or left unseen when a route server or a
 * db-proxy dies: cross-server deliveries lost with a route server (inside it,
 * or sent while no route server was up) reach their online receivers once one
 * is back, with their msg ids and exactly once; stores move to the live
 * db-proxy and are never stored twice.
 */
import t, { type Test } from 'tap';
import { IM } from '../../pdu/commands';
import { decryptMessageText } from '../../lib/message-crypto';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { sleep, waitFor } from '../helpers/wait';
import { TcpCutter } from '../db-proxy/harness';
import type { ImClient } from '../../tools/client/im-client';

/** Senders each send to one receiver, one message in flight each; receivers count what they get. */
class Traffic {
  /** text -> msg id, for every acked message. */
  readonly acked = new Map<string, number>();
  /** text -> how many times a receiver got it. */
  readonly received = new Map<string, number>();
  failed = 0;
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(pairs: Array<[ImClient, ImClient]>) {
    for (const [, receiver] of pairs) {
      receiver.on('message', (m: IM.Message.IMMsgData) => {
        const text = decryptMessageText(m.msg_data)?.toString() ?? '';
        this.received.set(text, (this.received.get(text) ?? 0) + 1);
      });
    }
    this.loops = pairs.map(async ([sender, receiver]) => {
      for (let n = 0; this.running; n++) {
        const text = `${sender.userId}->${receiver.userId} #${n}`;
        try {
          const ack = await sender.sendText(receiver.userId, text);
          this.acked.set(text, ack.msg_id);
        } catch {
          this.failed++;
        }
        await sleep(10);
      }
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** Acked messages no receiver got, and messages a receiver got more than once. */
  outcome(): { lost: string[]; duplicated: string[] } {
    return {
      lost: [...this.acked.keys()].filter((text) => !this.received.has(text)),
      duplicated: [...this.received].filter(([, n]) => n > 1).map(([text]) => text),
    };
  }

  /** Resolves once every acked message has been received (or fails after timeoutMs). */
  async allDelivered(timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.outcome().lost.length === 0, timeoutMs, 'every acked message delivered');
  }
}

async function storedCounts(cluster: TestCluster): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < 8; i++) {
    for (const row of await cluster.query<{ content: string }>(`SELECT content FROM IMMessage_${i}`)) {
      const text = decryptMessageText(Buffer.from(row.content, 'ascii'))?.toString() ?? '?';
      counts.set(text, (counts.get(text) ?? 0) + 1);
    }
  }
  return counts;
}

async function checkStoredOnce(t: Test, cluster: TestCluster, traffic: Traffic): Promise<void> {
  const stored = await storedCounts(cluster);
  const missing = [...traffic.acked.keys()].filter((text) => !stored.has(text));
  const twice = [...stored].filter(([, n]) => n > 1);
  t.same(missing, [], 'every acked message is in MySQL');
  t.same(twice, [], 'no message is stored twice');
}

async function pairsAcross(cluster: TestCluster, n: number): Promise<Array<[ImClient, ImClient]>> {
  const names = Array.from({ length: 2 * n }, (_, i) => `user${i}`);
  await cluster.addUsers(names);
  const pairs: Array<[ImClient, ImClient]> = [];
  for (let i = 0; i < n; i++) {
    const sender = await cluster.loginAs(names[2 * i], 0, { requestTimeoutMs: 20_000 });
    const receiver = await cluster.loginAs(names[2 * i + 1], 1, { requestTimeoutMs: 20_000 });
    pairs.push([sender, receiver]);
  }
  return pairs;
}

t.test('messages relayed while no route server is up reach their receivers once it is back, once each', async (t) => {
  const cluster = await startCluster(t, { linkTimeoutMs: 1500 });
  const traffic = new Traffic(await pairsAcross(cluster, 3));
  await waitFor(() => traffic.acked.size >= 20, 10_000, 'traffic flowing');
  const port = cluster.route.port;
  await cluster.route.stop('test: route server gone');
  const during = traffic.acked.size;
  await waitFor(() => traffic.acked.size >= during + 20, 10_000, 'messages acked while no route server is up');
  const heldBack = cluster.msgServers[0].context.routes.journal.stats.queued;
  t.ok(heldBack > 0, `${heldBack} relays waited for a route server`);
  await cluster.startRoute(port);
  await traffic.allDelivered();
  await traffic.stop();
  await traffic.allDelivered();
  const { lost, duplicated } = traffic.outcome();
  t.same(lost, [], 'nothing acked is lost');
  t.same(duplicated, [], 'nothing is delivered twice');
  await checkStoredOnce(t, cluster, traffic);
});

t.test('relays that died inside a route server are sent again and delivered once', async (t) => {
  const cluster = await startCluster(t, { linkTimeoutMs: 1500, msgServers: 0 });
  // msg server 0 reaches the route server through a relay that can swallow what it sends.
  const relay = await TcpCutter.in(t, `tcp://127.0.0.1:${cluster.route.port}`);
  await cluster.addMsgServer({ routeServers: [{ host: '127.0.0.1', port: relay.port }] });
  await cluster.addMsgServer();
  const traffic = new Traffic(await pairsAcross(cluster, 3));
  await waitFor(() => traffic.acked.size >= 20, 10_000, 'traffic flowing');
  // From now on what msg server 0 relays goes into the route server and never comes out...
  relay.hold('requests');
  const swallowedFrom = traffic.acked.size;
  await waitFor(() => traffic.acked.size >= swallowedFrom + 10, 10_000, 'messages acked whose relays were swallowed');
  // ...until the route server "dies" (for msg server 0: its link is reset) and comes back.
  relay.cut();
  relay.restore();
  await traffic.allDelivered(15_000);
  await traffic.stop();
  await traffic.allDelivered();
  const { lost, duplicated } = traffic.outcome();
  t.same(lost, [], 'the swallowed relays were sent again');
  t.same(duplicated, [], 'what had arrived before was not delivered again');
  const journal = cluster.msgServers[0].context.routes.journal.stats;
  t.ok(journal.replayed > 0, `${journal.replayed} relays sent again`);
  t.ok(cluster.msgServers[1].context.relayed.duplicatesSkipped > 0, 'the receiving msg server skipped the repeats it had delivered');
});

t.test('two route servers: killing the master moves every msg server to the other, nothing acked is lost', async (t) => {
  const cluster = await startCluster(t, { linkTimeoutMs: 1500, routeServers: 2 });
  const traffic = new Traffic(await pairsAcross(cluster, 3));
  await waitFor(() => traffic.acked.size >= 20, 10_000, 'traffic flowing');
  // Kill the route server msg server 1 relays through.
  const masterPort = Number(cluster.msgServers[0].context.routes.masterConnection()?.remoteAddress.split(':').pop());
  const master = cluster.routes.findIndex((r) => r.port === masterPort);
  const standby = cluster.routes[1 - master];
  t.ok(master >= 0, `route server ${master + 1} is the master`);
  await cluster.routes[master].stop('test: master route server killed');
  await waitFor(
    () => cluster.msgServers.every((m) => m.context.routes.masterConnection()?.remoteAddress.endsWith(`:${standby.port}`) === true),
    5000,
    'every msg server on the standby',
  );
  const after = traffic.acked.size;
  await waitFor(() => traffic.acked.size >= after + 20, 10_000, 'traffic on the standby');
  await traffic.stop();
  await traffic.allDelivered();
  const { lost, duplicated } = traffic.outcome();
  t.same(lost, [], 'nothing acked is lost');
  t.same(duplicated, [], 'nothing is delivered twice');
  t.equal(standby.users.size, 6, 'the standby knows everyone online');
});

t.test('two db-proxies: when one dies mid-traffic the stores move to the other, none is stored twice', async (t) => {
  const cluster = await startCluster(t, { linkTimeoutMs: 1500, msgServers: 0, dbProxies: 2 });
  // Both db-proxies behind relays, so one can die the way a process does: every connection reset at once.
  const relays = await Promise.all(cluster.dbProxies.map((d) => TcpCutter.in(t, `tcp://127.0.0.1:${d.port}`)));
  const dbProxies = relays.map((r) => ({ host: '127.0.0.1', port: r.port }));
  await cluster.addMsgServer({ dbProxies });
  await cluster.addMsgServer({ dbProxies });
  const traffic = new Traffic(await pairsAcross(cluster, 4));
  await waitFor(() => traffic.acked.size >= 30, 10_000, 'traffic flowing');
  // db-proxy 1 goes on storing, but its answers no longer come back...
  relays[0].hold('replies');
  await waitFor(() => cluster.msgServers.reduce((n, m) => n + m.context.db.pendingAt(relays[0].port), 0) >= 3, 10_000, 'stores waiting on db-proxy 1');
  // ...and then it is gone: those stores have an unknown outcome.
  relays[0].cut();
  const after = traffic.acked.size;
  await waitFor(() => traffic.acked.size >= after + 40, 15_000, 'traffic on the other db-proxy');
  await traffic.stop();
  await traffic.allDelivered();
  const { lost, duplicated } = traffic.outcome();
  t.same(lost, []);
  t.same(duplicated, []);
  await checkStoredOnce(t, cluster, traffic);
  t.ok(cluster.msgServers.some((m) => m.context.db.retries > 0), 'requests were sent again on the live db-proxy');
  t.ok(cluster.dbProxies[1].storeStats.retriesAlreadyStored > 0, 'stores db-proxy 1 had made were answered with their msg ids, not stored again');
});

t.test('one db-proxy: requests wait for it to come back instead of failing at once', async (t) => {
  const cluster = await startCluster(t, { linkTimeoutMs: 1500 });
  const [, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0, { requestTimeoutMs: 20_000 });
  const bob = await cluster.loginAs('bob', 1);
  const port = cluster.dbProxy.port;
  await cluster.dbProxy.stop('test: db-proxy restart');
  await waitFor(() => !cluster.msgServers[0].context.db.available, 5000, 'the db-proxy link to drop');
  const sent = alice.sendText(bobId, 'while the db-proxy is away');
  const history = alice.history(bobId);
  await sleep(500);
  await cluster.startDbProxy(port);
  const ack = await sent;
  t.ok(ack.msg_id > 0, 'the message was stored once the db-proxy was back');
  await bob.next(IM.Message.IMMsgData, (m) => m.msg_id === ack.msg_id);
  t.ok(Array.isArray((await history).msg_list), 'the read waited too');
});
