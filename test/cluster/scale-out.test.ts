/**
 * Scaling out: a third msg server joins a running cluster, registers with the
 * login server and the route server, and new logins land on it.
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { fetchMsgServer } from '../../tools/client/im-client';
import { PASSWORD, startCluster } from '../helpers/cluster';
import { adminGet } from '../helpers/admin';
import { waitFor } from '../helpers/wait';

t.test('a third msg server joins and takes the next logins; users on it reach the others', async (t) => {
  const cluster = await startCluster(t, { msgServers: 2 });
  const names = ['u1', 'u2', 'u3', 'u4', 'n1', 'n2'];
  await cluster.addUsers(names);
  // Load the two first msg servers: two users each.
  for (const [i, name] of ['u1', 'u2', 'u3', 'u4'].entries()) await cluster.loginAs(name, i % 2);
  const list = () => adminGet<Array<{ cur: number }>>(cluster.login.adminUrl, 'login-server', '/msg_servers');
  await waitFor(async () => (await list()).every((s) => s.cur === 2), 3000, 'loads reported');

  const third = await cluster.addMsgServer();
  await waitFor(async () => (await list()).length === 3, 3000, 'third server registered');

  // Clients ask the login server where to go, as real clients do.
  const target = await fetchMsgServer(cluster.loginUrl);
  t.equal(target.port, third.port, 'the least-loaded (new) msg server is handed out');
  const n1 = await cluster.connect(2);
  await n1.login('n1', PASSWORD);
  const u1 = cluster.userIds.get('u1') as number;
  const ack = await n1.sendText(u1, 'hello from the new server');
  t.ok(ack.msg_id > 0, 'stored and acked');
  const status = await n1.usersStatus([u1, n1.userId]);
  t.same(
    status.user_stat_list.map((s) => s.status),
    [IM.BaseDefine.UserStatType.USER_STATUS_ONLINE, IM.BaseDefine.UserStatType.USER_STATUS_ONLINE],
    'the route server knows users of every msg server',
  );
});
