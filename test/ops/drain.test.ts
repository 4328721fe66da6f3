/**
 * Draining a msg server while people chat: the login server stops offering it,
 * its port stops accepting, its clients are closed a batch at a time and
 * reconnect through the login server to the other msg server, no acked message
 * is lost or shown twice, and the drained server finishes (then stops).
 */
import t from 'tap';
import net from 'node:net';
import { fetchMsgServer } from '../../tools/client/im-client';
import { adminGet, adminPost, metricsText, sample } from '../helpers/admin';
import { ChatFlow } from '../helpers/chat-flow';
import { PASSWORD, startCluster } from '../helpers/cluster';
import { sleep, waitFor } from '../helpers/wait';

const BATCH = 2;

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

t.test('a drained msg server moves its clients off in batches; nothing acked is lost', async (t) => {
  const cluster = await startCluster(t, { msgServers: 2, captureLogs: true, msg: { drainBatchSize: BATCH, drainIntervalMs: 500 } });
  const names = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7', 'u8'];
  await cluster.addUsers(names);
  const flow = await ChatFlow.start(cluster.loginUrl, names, PASSWORD);
  t.teardown(() => flow.close());
  const [draining, staying] = cluster.msgServers;
  const onDrained = flow.users.filter((u) => u.client.where.endsWith(`:${draining.port}`));
  t.equal(onDrained.length, 4, 'the login server spread the users over both msg servers');

  flow.run(30);
  await sleep(1000);
  const answer = await adminPost<{ started: boolean; state: string }>(draining.adminUrl, 'msg-server', '/drain', {}, 'tester');
  t.match(answer, { started: true, state: 'draining' });

  const listed = await adminGet<Array<{ port: number; state: string; max: number }>>(cluster.login.adminUrl, 'login-server', '/msg_servers');
  await waitFor(
    async () => (await adminGet<Array<{ port: number; state: string }>>(cluster.login.adminUrl, 'login-server', '/msg_servers')).some((m) => m.port === draining.port && m.state === 'draining'),
    3000,
    'the login server sees it draining',
  );
  t.ok(listed.length === 2, 'still listed while it drains');
  for (let i = 0; i < 4; i++) t.equal((await fetchMsgServer(cluster.loginUrl)).port, staying.port, 'new clients are sent to the other msg server');
  t.ok(await refused(draining.port), 'its client port accepts no new connection');
  t.equal(sample(await metricsText(draining.adminUrl, 'msg-server'), 'teamtalk_msg_server_draining'), 1, 'the metric says so');
  t.match(await adminPost(draining.adminUrl, 'msg-server', '/drain', {}), { started: false }, 'a second drain request changes nothing');

  t.equal(await draining.done, 'drained', 'it finishes once every client has gone');
  await draining.stop('drained');
  await waitFor(() => flow.users.every((u) => u.client.isOpen && u.client.where.endsWith(`:${staying.port}`)), 15_000, 'everyone on the other msg server');
  await sleep(1000);
  await flow.stop();

  const batches = cluster.logs.filter((l) => l.service === 'msg-server-1' && l.msg === 'draining: client connections closed');
  t.ok(batches.length >= 2, `closed in ${batches.length} batches`);
  t.ok(batches.every((b) => Number(b.closed) <= BATCH), `at most ${BATCH} at a time`);
  await cluster.logLine((l) => l.msg === 'draining: no new clients; closing client connections in batches so they reconnect elsewhere' && l.by === 'tester', 'the drain logged with who asked');

  t.ok(flow.acked.size > 100, `messages kept flowing (${flow.acked.size} acked)`);
  await waitFor(() => flow.missing().length === 0, 15_000, 'every acked message received').catch(() => undefined);
  t.same(flow.missing(), [], 'no acked message lost');
  t.equal(flow.duplicates, 0, 'none shown twice');
});
