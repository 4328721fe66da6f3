/**
 * msg-server registration over real TCP: registering, updating, user-count
 * updates, a msg server that disconnects or stops heartbeating leaves the list
 * at once, bad PDUs close only the sender's link, the loopback-address warning,
 * and the operators' endpoints.
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { encodeFrame } from '../../pdu/frame';
import { adminGet } from '../helpers/admin';
import { waitFor } from '../helpers/wait';
import { captureLogger, FakeMsgServer } from '../route-server/fake-msg-server';
import { adminList, askMsgServer, registerMsgServer, startLogin, userCount, waitForCount } from './login-fixture';

t.test('the admin port lists msg servers with their loads and reports health', async (t) => {
  const login = await startLogin(t);
  await registerMsgServer(t, login, { ip1: '10.1.0.1', ip2: '10.1.0.11', port: 8001, cur: 3, max: 50, hostName: 'alpha' });
  await registerMsgServer(t, login, { ip1: '10.1.0.2', port: 8002, cur: 7, max: 7, hostName: 'beta' });
  const list = await adminList(login);
  t.match(list, [
    { hostName: 'alpha', ip1: '10.1.0.1', ip2: '10.1.0.11', port: 8001, cur: 3, max: 50, full: false, peer: /^127\.0\.0\.1:\d+$/ },
    { hostName: 'beta', ip1: '10.1.0.2', ip2: '10.1.0.2', port: 8002, cur: 7, max: 7, full: true },
  ]);
  for (const entry of list) t.ok(Date.parse(entry.connectedSince) <= Date.now(), 'connectedSince is a date');

  t.match(await adminGet(login.adminUrl, 'login-server', '/health'), { status: 'ok', msgServers: 2, available: 1, users: 10 });
});

t.test('admin URLs are listed as others reach them; a msg server reporting capacity 0 is draining and gets nobody', async (t) => {
  const login = await startLogin(t);
  await registerMsgServer(t, login, { ip1: '10.3.0.1', port: 8001, cur: 5, hostName: 'plain' });
  await registerMsgServer(t, login, { ip1: '10.3.0.2', port: 8002, cur: 5, hostName: 'named', adminUrl: 'https://10.3.0.2:9002' });
  await registerMsgServer(t, login, { ip1: '10.3.0.3', port: 8003, cur: 5, hostName: 'wildcard', adminUrl: 'https://0.0.0.0:9003' });
  await registerMsgServer(t, login, { ip1: '10.3.0.4', port: 8004, cur: 5, hostName: 'hostile', adminUrl: 'javascript:alert(1)' });
  const admin = Object.fromEntries((await adminList(login)).map((e) => [e.hostName, e.admin]));
  t.same(admin, { plain: null, named: 'https://10.3.0.2:9002', wildcard: 'https://127.0.0.1:9003', hostile: null }, 'none, as sent, the link\'s address for a wildcard, nothing for junk');

  const drainingFake = await registerMsgServer(t, login, { ip1: '10.3.0.5', port: 8005, cur: 0, max: 10, hostName: 'idle' });
  drainingFake.send(IM.Server.IMMsgServInfo, { ip1: '10.3.0.5', ip2: '10.3.0.5', port: 8005, max_conn_cnt: 0, cur_conn_cnt: 0, host_name: 'idle' });
  await waitFor(async () => (await adminList(login)).some((s) => s.port === 8005 && s.state === 'draining'), 3000, 'draining');
  for (let i = 0; i < 10; i++) t.not((await askMsgServer(login)).json.port, '8005', 'the draining one (the least loaded) is never handed out');
});

t.test('a second registration on the same link updates the entry; counts never go below zero', async (t) => {
  const login = await startLogin(t);
  const fake = await registerMsgServer(t, login, { ip1: '10.2.0.1', port: 8001, cur: 1, max: 10, hostName: 'gamma' });
  fake.send(IM.Server.IMMsgServInfo, { ip1: '10.2.0.9', ip2: '10.2.0.9', port: 8009, max_conn_cnt: 20, cur_conn_cnt: 4, host_name: 'gamma' });
  await waitFor(async () => (await adminList(login)).some((s) => s.port === 8009), 3000, 'update');
  t.match(await adminList(login), [{ ip1: '10.2.0.9', port: 8009, cur: 4, max: 20 }]);
  t.equal((await adminList(login)).length, 1, 'still one entry');

  for (let i = 0; i < 6; i++) userCount(fake, false);
  await waitForCount(login, 8009, 0);
  userCount(fake, true);
  await waitForCount(login, 8009, 1);
  // user_action values other than 1 count as a logout, as in the original.
  fake.send(IM.Server.IMUserCntUpdate, { user_action: 7, user_id: 1 });
  await waitForCount(login, 8009, 0);
});

t.test('count updates from a link that never registered are ignored', async (t) => {
  const login = await startLogin(t);
  const stranger = await FakeMsgServer.start(t, login.msgServerPort, { name: 'stranger', serverRole: 'login-server' });
  userCount(stranger, true);
  const listed = await registerMsgServer(t, login, { ip1: '10.3.0.1', port: 8001, cur: 0 });
  userCount(listed, true);
  await waitForCount(login, 8001, 1);
  t.equal((await adminList(login)).length, 1);
});

t.test('a msg server that disconnects leaves the list at once and clients go elsewhere', async (t) => {
  const { logger, lines } = captureLogger();
  const login = await startLogin(t, {}, logger);
  const a = await registerMsgServer(t, login, { ip1: '10.4.0.1', port: 8001, cur: 0, hostName: 'delta' });
  await registerMsgServer(t, login, { ip1: '10.4.0.2', port: 8002, cur: 5, hostName: 'epsilon' });
  t.equal((await askMsgServer(login)).json.port, '8001');
  a.stop();
  await waitFor(async () => (await adminList(login)).length === 1, 3000, 'delta gone');
  t.equal((await askMsgServer(login)).json.port, '8002');
  t.ok(lines().some((l) => l.msg === 'msg server disconnected; removed from the list' && l.hostName === 'delta'));
});

t.test('a msg server that stops heartbeating is dropped', async (t) => {
  const { logger, lines } = captureLogger();
  const login = await startLogin(t, { linkTimeoutMs: 500, heartbeatIntervalMs: 100 }, logger);
  const alive = await registerMsgServer(t, login, { ip1: '10.5.0.1', port: 8001, cur: 9, hostName: 'alive' }, { heartbeatIntervalMs: 100 });
  const silent = await registerMsgServer(t, login, { ip1: '10.5.0.2', port: 8002, cur: 0, hostName: 'silent' }, { heartbeatIntervalMs: 0 });
  const firstLink = (await adminList(login)).find((s) => s.port === 8002)?.conn;
  t.equal((await askMsgServer(login)).json.port, '8002', 'the silent one is the least loaded while it lasts');
  await waitFor(() => silent.downs > 0, 5000, 'silent link closed by the login server');
  await waitFor(async () => !(await adminList(login)).some((s) => s.conn === firstLink), 3000, 'its entry removed');
  t.ok(lines().some((l) => l.msg === 'msg server disconnected; removed from the list' && /idle timeout/.test(String(l.reason))));
  t.equal(alive.downs, 0, 'the heartbeating one stays');
});

t.test('bad PDUs close only the sender\'s link; unknown commands are logged', async (t) => {
  const { logger, lines } = captureLogger();
  const login = await startLogin(t, {}, logger);
  const good = await registerMsgServer(t, login, { ip1: '10.6.0.1', port: 8001, hostName: 'good' });
  const bad = await registerMsgServer(t, login, { ip1: '10.6.0.2', port: 8002, hostName: 'bad' });
  good.sendFrame(encodeFrame(0x0007, 0x0799, 0, Buffer.alloc(0)));
  good.sendFrame(encodeFrame(0x0007, 0x070b, 0, Buffer.from([0xff])));
  const tooShort = Buffer.alloc(16);
  tooShort.writeUInt32BE(3, 0);
  bad.sendFrame(tooShort);
  await waitFor(() => bad.downs > 0, 3000, 'bad link closed');
  await waitFor(() => lines().some((l) => l.msg === 'malformed PDU body from msg server; dropped'), 3000, 'malformed logged');
  t.ok(lines().some((l) => l.msg === 'unknown command from msg server; dropped' && l.commandId === '0x0799'));
  t.ok(lines().some((l) => l.msg === 'bad PDU from msg server; closing its connection' && l.code === 'TT_ERR_PDU_LENGTH_TOO_SMALL'));
  t.equal(good.downs, 0, 'the well-behaved msg server keeps its link');
  userCount(good, true);
  await waitForCount(login, 8001, 1);
});

t.test('a msg server advertising a loopback address to a remote client is reported, at most once a minute', async (t) => {
  const { logger, lines } = captureLogger();
  // A reverse proxy on this host passes the real client address; that is how a remote client is simulated over loopback.
  const login = await startLogin(t, { trustProxy: true }, logger);
  await registerMsgServer(t, login, { ip1: '127.0.0.1', port: 8001, hostName: 'misconfigured' });
  const warnings = () => lines().filter((l) => l.level === 40 && /advertises loopback/.test(String(l.msg)));

  await askMsgServer(login);
  t.equal(warnings().length, 0, 'a client on this machine can use 127.0.0.1: no warning');

  const remote = { headers: { 'X-Forwarded-For': '203.0.113.7' } };
  const answer = await askMsgServer(login, remote);
  t.equal(answer.json.priorIP, '127.0.0.1', 'the answer itself is unchanged');
  t.equal(warnings().length, 1);
  const [warning] = warnings();
  t.match(String(warning.msg), /misconfigured/);
  t.match(String(warning.msg), /publicIp1/);
  t.match(String(warning.msg), /TT_MSG_PUBLIC_IP1/);
  t.equal(warning.client, '203.0.113.7');

  await askMsgServer(login, remote);
  await askMsgServer(login, { headers: { 'X-Forwarded-For': '198.51.100.99' } });
  t.equal(warnings().length, 1, 'rate-limited');

  const registered = lines().find((l) => l.msg === 'msg server registered');
  t.equal(registered?.advertisesLoopback, true, 'the registration line says so too');
});

t.test('no warning for a msg server with a public address, and a forwarded address is ignored unless trustProxy is set', async (t) => {
  const { logger, lines } = captureLogger();
  const login = await startLogin(t, {}, logger);
  await registerMsgServer(t, login, { ip1: '127.0.0.1', ip2: '127.0.0.2', port: 8001 });
  await askMsgServer(login, { headers: { 'X-Forwarded-For': '203.0.113.7' } });
  t.equal(lines().filter((l) => l.level === 40).length, 0, 'the header is not believed: the peer is loopback');

  const trusting = captureLogger();
  const proxied = await startLogin(t, { trustProxy: true }, trusting.logger);
  await registerMsgServer(t, proxied, { ip1: '198.51.100.1', port: 8001 });
  await askMsgServer(proxied, { headers: { 'X-Forwarded-For': '203.0.113.7' } });
  t.equal(trusting.lines().filter((l) => l.level === 40).length, 0);
});
