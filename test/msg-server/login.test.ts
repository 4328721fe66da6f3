/**
 * Login, logout, kicks, refusals, timeouts and online status, end to end.
 */
import t from 'tap';
import net from 'node:net';
import { IM } from '../../pdu/commands';
import { encodeFrame } from '../../pdu/frame';
import { LoginRefusedError } from '../../tools/client/im-client';
import { PASSWORD, startCluster } from '../helpers/cluster';
import { waitFor } from '../helpers/wait';
import { adminGet } from '../helpers/admin';

const { ClientType, UserStatType, ResultType, KickReasonType } = IM.BaseDefine;

/** Matches the LoginRefusedError of a refusal with `code`. */
const refusedWith = (code: number) => ({ code: 'TT_ERR_LOGIN_REFUSED', message: new RegExp(`\\(code ${code}\\)`) });

t.test('login returns the user info; a wrong password is refused with code 6 and the connection closed', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 });
  const [aliceId] = await cluster.addUsers(['alice']);
  const alice = await cluster.connect(0);
  const res = await alice.login('alice', PASSWORD, { onlineStatus: UserStatType.USER_STATUS_LEAVE });
  t.match(res, { result_code: 0, online_status: UserStatType.USER_STATUS_LEAVE, user_info: { user_id: aliceId, user_real_name: 'alice', user_nick_name: 'ALICE', status: 0 } });
  t.ok(Math.abs(res.server_time - Date.now() / 1000) < 60);

  const intruder = await cluster.connect(0);
  const closed = new Promise<string>((resolve) => intruder.once('close', resolve));
  await t.rejects(intruder.login('alice', 'wrong'), refusedWith(ResultType.REFUSE_REASON_DB_VALIDATE_FAILED));
  t.match(await closed, /login refused|peer closed/);
  await t.rejects(cluster.connect(0).then((c) => c.login('nobody', 'x')), LoginRefusedError);
});

t.test('repeated wrong passwords lock the account for a while (distinct refusal)', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 });
  await cluster.addUsers(['alice']);
  const texts: string[] = [];
  for (let i = 0; i < 11; i++) {
    const c = await cluster.connect(0);
    const err = await c.login('alice', 'bad guess').then(
      () => null,
      (e: LoginRefusedError) => e,
    );
    t.equal(err?.resultCode, ResultType.REFUSE_REASON_DB_VALIDATE_FAILED, `guess ${i + 1} refused`);
    texts.push(err?.resultString ?? '');
  }
  const right = await cluster.connect(0);
  const refusal = await right.login('alice', PASSWORD).then(
    () => null,
    (err: LoginRefusedError) => err,
  );
  t.equal(refusal?.resultCode, ResultType.REFUSE_REASON_DB_VALIDATE_FAILED, 'even the right password is refused during the cool-down');
  t.not(refusal?.resultString, texts[0], 'the client is told it is locked, not that the password is wrong');
});

t.test('anything but a login before login closes the connection without touching storage', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 });
  await cluster.addUsers(['alice', 'bob']);
  const sneaky = await cluster.connect(0);
  const closed = new Promise<string>((resolve) => sneaky.once('close', resolve));
  sneaky.send(IM.Message.IMMsgData, { from_user_id: 1, to_session_id: 2, msg_id: 0, create_time: 0, msg_type: 1, msg_data: Buffer.from('x') }, 9);
  await closed;
  t.equal(cluster.msgServers[0].context.stats.refusedBeforeLogin, 1);
  const rows = await cluster.query<{ n: number }>('SELECT COUNT(*) AS n FROM IMRelationShip');
  t.equal(Number(rows[0].n), 0, 'no relation was created');
});

t.test('a connection that does not log in is closed after the login timeout', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1, msg: { loginTimeoutMs: 300 } });
  const idle = await cluster.connect(0, { heartbeatIntervalMs: 50 });
  const reason = await new Promise<string>((resolve) => idle.once('close', resolve));
  t.equal(reason, 'peer closed the connection', 'the server closed it even though it sent heartbeats');
  t.equal(idle.inbox.length, 0, 'with nothing sent before');
});

t.test('an idle PC client is closed; heartbeats keep a client alive', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1, msg: { pcIdleTimeoutMs: 500 } });
  await cluster.addUsers(['alice', 'bob']);
  const quiet = await cluster.connect(0, { heartbeatIntervalMs: 0 });
  await quiet.login('alice', PASSWORD);
  const chatty = await cluster.connect(0, { heartbeatIntervalMs: 100 });
  await chatty.login('bob', PASSWORD);
  await new Promise<string>((resolve) => quiet.once('close', resolve));
  await new Promise((r) => setTimeout(r, 700));
  t.ok(chatty.isOpen, 'the heartbeating client is still connected');
  await waitFor(() => cluster.msgServers[0].context.users.get(quiet.userId) === undefined, 2000, 'idle user removed');
});

t.test('heartbeats are echoed back byte for byte', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 });
  const socket = net.connect({ host: '127.0.0.1', port: cluster.msgServers[0].port });
  t.teardown(() => socket.destroy());
  await new Promise((r) => socket.once('connect', r));
  const hb = encodeFrame(7, 0x0701, 321, Buffer.alloc(0));
  const echoed = new Promise<Buffer>((resolve) => socket.once('data', resolve));
  socket.write(hb);
  t.same([...(await echoed)], [...hb]);
});

t.test('a second PC login kicks the first, on another msg server too; PC and phone coexist', async (t) => {
  const cluster = await startCluster(t);
  const [aliceId] = await cluster.addUsers(['alice']);
  const first = await cluster.loginAs('alice', 0);
  const phone = await cluster.loginAs('alice', 0, { clientType: ClientType.CLIENT_TYPE_ANDROID });
  const firstClosed = new Promise<string>((resolve) => first.once('close', resolve));
  const second = await cluster.loginAs('alice', 1, { clientType: ClientType.CLIENT_TYPE_MAC });
  const kick = await first.next(IM.Login.IMKickUser);
  t.same({ user_id: kick.user_id, kick_reason: kick.kick_reason }, { user_id: aliceId, kick_reason: KickReasonType.KICK_REASON_DUPLICATE_USER });
  await firstClosed;
  t.ok(phone.isOpen, 'the phone (other client class) was not kicked');
  t.ok(second.isOpen);
  const third = await cluster.loginAs('alice', 1);
  const kick2 = await second.next(IM.Login.IMKickUser);
  t.equal(kick2.kick_reason, KickReasonType.KICK_REASON_DUPLICATE_USER, 'same server: the older PC login is kicked');
  t.ok(third.isOpen);
});

t.test('a phone can kick the PC client', async (t) => {
  const cluster = await startCluster(t);
  const [aliceId] = await cluster.addUsers(['alice']);
  const pc = await cluster.loginAs('alice', 1);
  const phone = await cluster.loginAs('alice', 0, { clientType: ClientType.CLIENT_TYPE_IOS });
  const rsp = await phone.request(IM.Login.IMKickPCClientReq, { user_id: aliceId }, IM.Login.IMKickPCClientRsp);
  t.same({ user_id: rsp.user_id, result_code: rsp.result_code }, { user_id: aliceId, result_code: 0 });
  const kick = await pc.next(IM.Login.IMKickUser);
  t.equal(kick.kick_reason, KickReasonType.KICK_REASON_MOBILE_KICK);
});

t.test('status queries and notifications follow logins and logouts', async (t) => {
  const cluster = await startCluster(t);
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const bob = await cluster.loginAs('bob', 0);
  const status = async () => (await bob.usersStatus([aliceId, bobId])).user_stat_list.map((s) => [s.user_id, s.status]);
  t.same(await status(), [
    [aliceId, UserStatType.USER_STATUS_OFFLINE],
    [bobId, UserStatType.USER_STATUS_ONLINE],
  ]);

  const alicePhone = await cluster.loginAs('alice', 1, { clientType: ClientType.CLIENT_TYPE_ANDROID });
  t.same((await status())[0], [aliceId, UserStatType.USER_STATUS_OFFLINE], 'mobile-only reads as offline, as the original');

  const alicePc = await cluster.loginAs('alice', 1);
  const online = await bob.next(IM.Buddy.IMUserStatNotify, (n) => n.user_stat.user_id === aliceId);
  t.equal(online.user_stat.status, UserStatType.USER_STATUS_ONLINE, "bob's PC is told alice came online");
  const pcLogin = await alicePhone.next(IM.Buddy.IMPCLoginStatusNotify);
  t.same({ user_id: pcLogin.user_id, login_stat: pcLogin.login_stat }, { user_id: aliceId, login_stat: UserStatType.USER_STATUS_ONLINE }, "alice's phone learns her PC is online");
  t.same((await status())[0], [aliceId, UserStatType.USER_STATUS_ONLINE]);

  await alicePc.logout();
  const offline = await bob.next(IM.Buddy.IMUserStatNotify, (n) => n.user_stat.user_id === aliceId);
  t.same({ user_id: offline.user_stat.user_id, status: offline.user_stat.status }, { user_id: aliceId, status: UserStatType.USER_STATUS_OFFLINE }, "bob's PC is told alice went offline");
  t.same((await status())[0], [aliceId, UserStatType.USER_STATUS_OFFLINE]);
  const pcGone = await alicePhone.next(IM.Buddy.IMPCLoginStatusNotify);
  t.same({ user_id: pcGone.user_id, login_stat: pcGone.login_stat }, { user_id: aliceId, login_stat: UserStatType.USER_STATUS_OFFLINE }, 'the phone learns the PC left');
});

t.test('login servers are told the load; logout and close decrement it', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 });
  await cluster.addUsers(['alice', 'bob']);
  const load = async () => {
    const list = await adminGet<Array<{ cur: number }>>(cluster.login.adminUrl, 'login-server', '/msg_servers');
    return list[0].cur;
  };
  const alice = await cluster.loginAs('alice', 0);
  const bob = await cluster.loginAs('bob', 0);
  await waitFor(async () => (await load()) === 2, 3000, 'load 2');
  await alice.logout();
  bob.close();
  await waitFor(async () => (await load()) === 0, 3000, 'load 0');
  t.pass('counts followed');
});

t.test('refusals: no route server (5), no db-proxy (3), client version too old (7)', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1, linkTimeoutMs: 1000 });
  await cluster.addUsers(['alice']);
  const old = await startOld(cluster);
  await t.rejects(old.login('alice', PASSWORD, { clientVersion: 'win_1.0' }), refusedWith(ResultType.REFUSE_REASON_VERSION_TOO_OLD));

  await cluster.route.stop('test');
  await waitFor(() => !cluster.msgServers[0].context.routes.available, 5000, 'route link down');
  const noRoute = await cluster.connect(0);
  await t.rejects(noRoute.login('alice', PASSWORD), refusedWith(ResultType.REFUSE_REASON_NO_ROUTE_SERVER));

  await cluster.dbProxy.stop('test');
  await waitFor(() => !cluster.msgServers[0].context.db.available, 5000, 'db links down');
  const noDb = await cluster.connect(0);
  await t.rejects(noDb.login('alice', PASSWORD), refusedWith(ResultType.REFUSE_REASON_NO_DB_SERVER));
});

async function startOld(cluster: Awaited<ReturnType<typeof startCluster>>) {
  const server = await cluster.addMsgServer({ minClientVersion: '2.0' });
  const client = await cluster.connect(cluster.msgServers.indexOf(server));
  return client;
}

t.test('logout answers, then closes; device token is answered with the user id', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 });
  const [aliceId] = await cluster.addUsers(['alice']);
  const phone = await cluster.loginAs('alice', 0, { clientType: ClientType.CLIENT_TYPE_IOS });
  const rsp = await phone.request(IM.Login.IMDeviceTokenReq, { user_id: aliceId, device_token: 'tok-123' }, IM.Login.IMDeviceTokenRsp);
  t.equal(rsp.user_id, aliceId, 'required user_id filled (the original left it out)');
  await waitFor(async () => (await cluster.redis.redis.get(`${cluster.redis.prefix}device_${aliceId}`)) === 'ios:tok-123', 3000, 'token stored');
  const closed = new Promise<string>((resolve) => phone.once('close', resolve));
  const out = await phone.request(IM.Login.IMLogoutReq, {}, IM.Login.IMLogoutRsp);
  t.equal(out.result_code, 0);
  await closed;
});

t.test('a malformed PDU from one client closes only that client', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 });
  const [, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0);
  const bob = await cluster.loginAs('bob', 0);
  const bad = net.connect({ host: '127.0.0.1', port: cluster.msgServers[0].port });
  await new Promise((r) => bad.once('connect', r));
  const badClosed = new Promise((r) => bad.once('close', r));
  const header = Buffer.alloc(16);
  header.writeUInt32BE(3, 0);
  bad.write(header);
  await badClosed;
  const oversize = net.connect({ host: '127.0.0.1', port: cluster.msgServers[0].port });
  await new Promise((r) => oversize.once('connect', r));
  const overClosed = new Promise((r) => oversize.once('close', r));
  const big = Buffer.alloc(16);
  big.writeUInt32BE(64 * 1024 * 1024, 0);
  oversize.write(big);
  await overClosed;
  const ack = await alice.sendText(bobId, 'still here');
  await bob.next(IM.Message.IMMsgData, (m) => m.msg_id === ack.msg_id);
  t.pass('other users unaffected');
});
