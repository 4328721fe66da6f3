/**
 * Capture and replay against the real thing: a session recorded through the
 * capture proxy in front of a real msg server (db-proxy, route and login
 * servers, MariaDB and Redis behind it) replays against a fresh cluster with a
 * clean report; a changed answer is reported as a mismatch.
 */
import t, { type Test } from 'tap';
import { IM } from '../../pdu/commands';
import { parseCapture, serializeRecord, type CaptureRecord } from '../../tools/capture/format';
import { replayCapture } from '../../tools/replay/replay';
import { formatReport } from '../../tools/replay/report';
import { ImClient } from '../../tools/client/im-client';
import { PASSWORD, startCluster, type TestCluster } from '../helpers/cluster';
import { waitFor } from '../helpers/wait';
import { startProxy } from './session';

const USERS = ['alice', 'bob'];

/** alice and bob log in through the proxy, chat, read, look at their sessions, log out. */
async function scriptedSession(port: number): Promise<void> {
  const bob = await ImClient.connect({ host: '127.0.0.1', port, heartbeatIntervalMs: 0 });
  await bob.login('bob', PASSWORD);
  const alice = await ImClient.connect({ host: '127.0.0.1', port, heartbeatIntervalMs: 0 });
  await alice.login('alice', PASSWORD);
  await alice.request(IM.Message.IMClientTimeReq, {}, IM.Message.IMClientTimeRsp);
  const ack = await alice.sendText(bob.userId, 'hello bob');
  await bob.next(IM.Message.IMMsgData, (m) => m.msg_id === ack.msg_id);
  await bob.unreadCounts();
  await bob.history(alice.userId, { count: 10 });
  await alice.recentSessions(0);
  await alice.usersStatus([bob.userId]);
  await alice.logout();
  await bob.logout();
}

async function record(t: Test, cluster: TestCluster) {
  const records: CaptureRecord[] = [];
  const proxy = await startProxy(t, cluster.msgServers[0].port, (r) => records.push(r));
  await scriptedSession(proxy.address.port);
  await waitFor(() => records.filter((r) => r.type === 'close').length === 2, 5000, 'both recorded closes');
  await proxy.close();
  // Through the file format, as QA would keep it.
  return parseCapture(records.map(serializeRecord).join('\n') + '\n');
}

t.test('a session captured in front of a real msg server replays cleanly against a fresh cluster', async (t) => {
  const original = await startCluster(t, { msgServers: 1 });
  await original.addUsers(USERS);
  const capture = await record(t, original);
  const names = capture.records.filter((r) => r.type === 'pdu').map((r) => (r as { name: string }).name);
  t.ok(names.includes('CID_MSG_DATA') && names.includes('CID_MSG_DATA_ACK') && names.includes('CID_MSG_LIST_RESPONSE'), 'the capture holds the chat');

  const fresh = await startCluster(t, { msgServers: 1 });
  await fresh.addUsers(USERS);
  const report = await replayCapture(capture, { server: `127.0.0.1:${fresh.msgServers[0].port}`, fast: true });
  t.ok(report.ok, formatReport(report));
  t.ok(report.totals.matched >= 12, `${report.totals.matched} server PDUs matched`);
  t.same([report.totals.mismatched, report.totals.missing, report.totals.unexpected], [0, 0, 0]);
});

t.test('a server that answers differently is reported as a mismatch', async (t) => {
  const original = await startCluster(t, { msgServers: 1 });
  await original.addUsers(USERS);
  const capture = await record(t, original);

  const changed = await startCluster(t, { msgServers: 1 });
  await changed.addUsers(USERS);
  await changed.query("UPDATE IMUser SET nick = 'Bobby' WHERE name = 'bob'");
  const report = await replayCapture(capture, { server: `127.0.0.1:${changed.msgServers[0].port}`, fast: true });
  t.notOk(report.ok);
  const diffs = report.connections.flatMap((c) => c.mismatched.flatMap((m) => m.diffs.map((d) => ({ pdu: m.expected.name, ...d }))));
  t.ok(
    diffs.some((d) => d.pdu === 'CID_LOGIN_RES_USERLOGIN' && d.path === 'user_info.user_nick_name' && d.actual === 'Bobby'),
    formatReport(report),
  );
});
