/**
 * A budget per client, tried by a hostile logged-in client: floods of expensive
 * commands, of heartbeats, of requests in flight, and oversized lists. The
 * flooder is refused and cut off; everyone else keeps chatting.
 */
import t from 'tap';
import { CID, IM, commandOf } from '../../pdu/commands';
import { encodeBody } from '../../pdu/encode';
import { encodeFrame } from '../../pdu/frame';
import { metricsText, sample } from '../helpers/admin';
import { PASSWORD, startCluster } from '../helpers/cluster';
import { waitFor } from '../helpers/wait';

const { SessionType } = IM.BaseDefine;

/** `count` copies of one request PDU in one buffer (one write: the server reads them together). */
function burst(type: Parameters<typeof encodeBody>[0], body: object, count: number, firstSeq = 1): Buffer {
  const info = commandOf(type);
  const bytes = encodeBody(type, body as never);
  return Buffer.concat(Array.from({ length: count }, (_, i) => encodeFrame(info.serviceId, info.commandId, (firstSeq + i) & 0xffff || 1, bytes)));
}

t.test('a client flooding IMAllUserReq is refused and cut off; the others keep chatting', async (t) => {
  const cluster = await startCluster(t, { captureLogs: true });
  const [, bobId] = await cluster.addUsers(['alice', 'bob', 'mallory']);
  const alice = await cluster.loginAs('alice', 0);
  const bob = await cluster.loginAs('bob', 1);
  const mallory = await cluster.loginAs('mallory', 0, { autoAck: false });
  let answered = 0;
  mallory.on('push', (p: { commandId: number }) => {
    if (p.commandId === CID.BUDDY_LIST_ALL_USER_RESPONSE) answered++;
  });
  const closed = new Promise<string>((resolve) => mallory.once('close', resolve));
  // 10 000 requests, written as fast as the socket takes them.
  const flood = burst(IM.Buddy.IMAllUserReq, { user_id: 0, latest_update_time: 0 }, 500);
  let writes = 0;
  const pump = setInterval(() => {
    for (let i = 0; i < 4 && mallory.isOpen && writes < 20; i++, writes++) mallory.conn.socket.write(flood);
  }, 5);
  t.teardown(() => clearInterval(pump));

  // Meanwhile alice and bob chat (under the 20/s flood limit); every message is acked and delivered.
  const acks = await Promise.all(Array.from({ length: 10 }, (_, i) => alice.sendText(bobId, `during the flood ${i}`)));
  for (const ack of acks) await bob.next(IM.Message.IMMsgData, (m) => m.msg_id === ack.msg_id);
  await closed;
  clearInterval(pump);
  const cut = await cluster.logLine((l) => l.msg === 'client disconnected: it kept sending over its budget', 'the disconnect');
  t.equal(cut.userId, mallory.userId, 'the flooder is disconnected, nobody else');
  const { stats } = cluster.msgServers[0].context.budget;
  t.ok(stats.budgetRefused > 0, `refused: ${stats.budgetRefused}`);
  t.equal(stats.budgetDisconnects, 1);
  // A full bucket (600) pays for 12 all-user lists (50 each), plus what refills while it floods.
  t.ok(answered <= 30, `the flooder got ${answered} of ${writes * 500} all-user lists`);
  t.ok(cluster.logs.some((l) => l.msg === 'client command refused' && l.userId === mallory.userId), 'logged');
  // Into the next flood-control window, so alice may send again.
  const window = cluster.msgServers[0].context.floodWindow;
  await waitFor(() => cluster.msgServers[0].context.floodWindow > window, 3000, 'the next flood window');
  const after = await alice.sendText(bobId, 'after the flood');
  await bob.next(IM.Message.IMMsgData, (m) => m.msg_id === after.msg_id);
});

t.test('heartbeats count against the budget too', async (t) => {
  const cluster = await startCluster(t, { captureLogs: true });
  await cluster.addUsers(['mallory']);
  const mallory = await cluster.loginAs('mallory', 0);
  const closed = new Promise<string>((resolve) => mallory.once('close', resolve));
  const heartbeat = encodeFrame(7, CID.OTHER_HEARTBEAT, 0, Buffer.alloc(0));
  mallory.conn.socket.write(Buffer.concat(Array.from({ length: 5000 }, () => heartbeat)));
  await closed;
  const cut = await cluster.logLine((l) => l.msg === 'client disconnected: it kept sending over its budget', 'the disconnect');
  t.equal(cut.userId, mallory.userId);
  t.ok(cluster.logs.some((l) => l.msg === 'client command refused' && l.cmd === '0x0701'), 'refused as heartbeats');
});

t.test('a user cut off for its budget cannot log in again on that msg server for clientBudgetLoginBanMs', async (t) => {
  const cluster = await startCluster(t, { captureLogs: true, msg: { clientBudgetLoginBanMs: 60_000 } });
  const [, bobId] = await cluster.addUsers(['alice', 'bob', 'mallory']);
  const mallory = await cluster.loginAs('mallory', 0);
  const closed = new Promise<string>((resolve) => mallory.once('close', resolve));
  mallory.conn.socket.write(burst(IM.Buddy.IMAllUserReq, { user_id: 0, latest_update_time: 0 }, 2000));
  await closed;
  const cut = await cluster.logLine((l) => l.msg === 'client disconnected: it kept sending over its budget', 'the disconnect');
  t.equal(cut.userId, mallory.userId, 'she was cut off for her budget');
  // Her reconnect is refused before anyone hears of it: no status notices for a flooder's logins.
  const alice = await cluster.loginAs('alice', 0);
  const notices: number[] = [];
  alice.on('push', (p: { commandId: number; message: { user_stat?: { user_id?: number } } }) => {
    if (p.commandId === CID.BUDDY_LIST_STATUS_NOTIFY) notices.push(p.message.user_stat?.user_id ?? 0);
  });
  const validations = async () =>
    sample(await metricsText(cluster.dbProxy.adminUrl, 'db-proxy'), 'teamtalk_db_proxy_requests_total', { command: 'CID_OTHER_VALIDATE_REQ', result: 'ok' }) ?? 0;
  const validatedBefore = await validations();
  t.ok(validatedBefore >= 2, 'logins so far were validated by the db-proxy');
  const again = await cluster.connect(0);
  const refusal = await again.login('mallory', PASSWORD).then(
    () => null,
    (err: { resultCode?: number; resultString?: string }) => err,
  );
  t.equal(refusal?.resultCode, IM.BaseDefine.ResultType.REFUSE_REASON_MSG_SERVER_FULL, 'refused as "server busy"');
  t.match(refusal?.resultString, /over its budget: log in again in (59|60) s/);
  t.equal(cluster.msgServers[0].context.budget.stats.loginsRefusedAfterDisconnect, 1);
  t.equal(await validations(), validatedBefore, 'refused before validation: the reconnect cost the db-proxy nothing');
  // The ban is hers and this msg server's only.
  const bob = await cluster.loginAs('bob', 0);
  const ack = await alice.sendText(bobId, 'others log in and chat as usual');
  await bob.next(IM.Message.IMMsgData, (m) => m.msg_id === ack.msg_id);
  t.ok(!notices.includes(mallory.userId), 'alice heard nothing of the refused login');
  const elsewhere = await cluster.loginAs('mallory', 1);
  t.ok(elsewhere.isOpen, 'she can log in on the other msg server (each msg server bans for itself)');
});

t.test('requests in flight per connection are capped', async (t) => {
  const cluster = await startCluster(t, { msg: { clientMaxRequestsInFlight: 8, clientBudgetBurst: 10_000, clientBudgetMaxRefusedPerSecond: 1000 } });
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0);
  let answered = 0;
  alice.on('push', (p: { commandId: number }) => {
    if (p.commandId === CID.MSG_LIST_RESPONSE) answered++;
  });
  const page = { user_id: aliceId, session_type: SessionType.SESSION_TYPE_SINGLE, session_id: bobId, msg_id_begin: 0, msg_cnt: 10 };
  alice.conn.socket.write(burst(IM.Message.IMGetMsgListReq, page, 40, 1000));
  const { stats } = cluster.msgServers[0].context.budget;
  await waitFor(() => answered + stats.inFlightRefused >= 40, 5000, 'every request answered or refused');
  t.ok(answered >= 8, `answered ${answered}`);
  t.ok(stats.inFlightRefused > 0, `refused ${stats.inFlightRefused} beyond 8 in flight`);
  // The connection is still usable afterwards.
  const again = await alice.history(bobId);
  t.same(again.msg_list, []);
});

t.test('lists inside requests are capped', async (t) => {
  const cluster = await startCluster(t, { msg: { maxMessagesPerPage: 5, clientMaxPduBytes: 4 * 1024 * 1024 } });
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0);
  const ids = Array.from({ length: 150_000 }, (_, i) => i + 1);
  const status = await alice.usersStatus(ids);
  t.equal(status.user_stat_list.length, 1000, '150 000 ids asked, maxUsersPerStatusQuery (1000) answered');
  const info = await alice.request(IM.Buddy.IMUsersInfoReq, { user_id: aliceId, user_id_list: ids }, IM.Buddy.IMUsersInfoRsp);
  t.ok(info.user_info_list.length <= 1000);
  for (let i = 0; i < 12; i++) await alice.sendText(bobId, `m${i}`);
  const page = await alice.history(bobId, { count: 50 });
  t.equal(page.msg_list.length, 5, 'a history page is at most maxMessagesPerPage');
  const byId = await alice.request(
    IM.Message.IMGetMsgByIdReq,
    { user_id: aliceId, session_type: SessionType.SESSION_TYPE_SINGLE, session_id: bobId, msg_id_list: ids.slice(0, 12) },
    IM.Message.IMGetMsgByIdRsp,
  );
  t.equal(byId.msg_list.length, 5, 'and so is a msg-by-id answer');
});

t.test('expensive reads queue behind a shared limit instead of crowding out message stores', async (t) => {
  const cluster = await startCluster(t, { msg: { maxHeavyRequestsInFlight: 1, maxHeavyRequestsQueued: 3 } });
  const [, bobId] = await cluster.addUsers(['alice', 'bob', 'carol']);
  const carol = await cluster.loginAs('carol', 0);
  const alice = await cluster.loginAs('alice', 0);
  let answered = 0;
  carol.on('push', (p: { commandId: number }) => {
    if (p.commandId === CID.BUDDY_LIST_ALL_USER_RESPONSE) answered++;
  });
  // Six expensive reads read together: one runs, three queue, two are refused.
  carol.conn.socket.write(burst(IM.Buddy.IMAllUserReq, { user_id: 0, latest_update_time: 0 }, 6, 2000));
  const ack = await alice.sendText(bobId, 'stores do not wait behind heavy reads');
  t.ok(ack.msg_id > 0);
  const heavy = cluster.msgServers[0].context.heavy;
  await waitFor(() => answered === 4, 5000, 'the running and the queued reads answered');
  t.equal(heavy.refused, 2, 'the reads beyond the queue were refused');
  t.equal(heavy.queued, 0);
});
