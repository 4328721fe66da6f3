/**
 * The msg server's WebSocket port, end to end through a real cluster: a
 * WebSocket user and a TCP user chat across two msg servers; the TCP port's
 * rules (login first, login deadline, flood control, connection cap) hold on
 * WebSocket connections too; foreign web origins are refused; plain HTTP gets
 * 426; wss:// works with a certificate (bad TLS or URL settings are config
 * errors naming the key); the login server hands web clients the
 * least-loaded msg server that has a WebSocket port.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IM } from '../../pdu/commands';
import { decryptMessageText } from '../../lib/message-crypto';
import { msgServerConfig } from '../../services/msg-server/config';
import { freeLoopbackPort } from '../../scripts/infra/system';
import { ImClient, fetchMsgServer } from '../../tools/client/im-client';
import { PASSWORD, startCluster } from '../helpers/cluster';
import { adminGet } from '../helpers/admin';
import { waitFor } from '../helpers/wait';

const { MsgType } = IM.BaseDefine;

t.test('a WebSocket user and a TCP user chat across two msg servers', async (t) => {
  const cluster = await startCluster(t, { msgServers: 2, webSocket: true });
  const [webId, tcpId] = await cluster.addUsers(['web', 'tcp']);
  const web = await cluster.loginOverWebSocket('web', 0);
  const tcp = await cluster.loginAs('tcp', 1);
  t.equal(web.userId, webId);

  const ack = await web.sendText(tcpId, 'hello from the browser side');
  const got = await tcp.next(IM.Message.IMMsgData, (m) => m.msg_id === ack.msg_id, 10_000);
  t.equal(got.from_user_id, webId);
  t.equal(decryptMessageText(got.msg_data)?.toString(), 'hello from the browser side');

  const back = await tcp.sendText(webId, 'and back over TCP');
  const reply = await web.next(IM.Message.IMMsgData, (m) => m.msg_id === back.msg_id, 10_000);
  t.equal(decryptMessageText(reply.msg_data)?.toString(), 'and back over TCP');
  // The web user acked it (ImClient does, as every client must): nothing waits for a resend.
  await waitFor(() => cluster.msgServers[0].context.deliveries.stats.acked === 1, 5000, 'the delivery acked');

  const unread = await web.unreadCounts();
  t.same(unread.unreadinfo_list.map((u) => [u.session_id, u.unread_cnt]), [[tcpId, 1]], 'unread counts over WebSocket too');
  const history = await web.history(tcpId);
  t.same(history.msg_list.map((m) => m.msg_id).sort(), [ack.msg_id, back.msg_id].sort(), 'and history');
});

t.test('the TCP rules hold: login first, login deadline, flood control, connection cap', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1, webSocket: true, msg: { loginTimeoutMs: 300, floodLimitPerSecond: 5, maxConnections: 3 } });
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const stats = cluster.msgServers[0].context.stats;

  const sneaky = await cluster.connectWebSocket(0);
  const sneakyClosed = new Promise<string>((resolve) => sneaky.once('close', resolve));
  sneaky.send(IM.Message.IMMsgData, { from_user_id: 1, to_session_id: 2, msg_id: 0, create_time: 0, msg_type: 1, msg_data: Buffer.from('x') }, 9);
  await sneakyClosed;
  t.equal(stats.refusedBeforeLogin, 1, 'a message before login closes the connection');

  const idle = await cluster.connectWebSocket(0);
  await new Promise<string>((resolve) => idle.once('close', resolve));
  t.pass('a connection that does not log in is closed after the login deadline');

  const alice = await cluster.loginOverWebSocket('alice', 0);
  const bob = await cluster.loginAs('bob', 0);
  for (let i = 0; i < 12; i++) {
    alice.send(IM.Message.IMMsgData, { from_user_id: aliceId, to_session_id: bobId, msg_id: 0, create_time: 0, msg_type: MsgType.MSG_TYPE_SINGLE_TEXT, msg_data: Buffer.from(`m${i}`) });
  }
  await waitFor(() => stats.floodDropped > 0 && stats.messagesStored >= 5, 5000, 'flood control');
  t.ok(stats.floodDropped >= 1 && stats.messagesStored <= 10, `flood control: ${stats.messagesStored} stored, ${stats.floodDropped} dropped`);

  // alice (WebSocket) + bob (TCP) + one more = 3 connections; the fourth is refused, over either port.
  const third = await cluster.connectWebSocket(0);
  t.ok(third.isOpen);
  await t.rejects(cluster.connectWebSocket(0), /HTTP 503/, 'the WebSocket port refuses beyond maxConnections');
  t.ok(alice.isOpen && bob.isOpen, 'the others are unaffected');
});

t.test('web origins: the allowed one and non-browser clients get in, a foreign page is refused with 403', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1, webSocket: true });
  await cluster.addUsers(['alice']);
  const fromChat = await cluster.connectWebSocket(0, { origin: cluster.webOrigin });
  await fromChat.login('alice', PASSWORD);
  t.ok(fromChat.isOpen, 'the login server\'s own origin');
  fromChat.close();
  await t.rejects(cluster.connectWebSocket(0, { origin: 'https://evil.example' }), /HTTP 403/, 'another site\'s page');
  await t.rejects(cluster.connectWebSocket(0, { origin: 'null' }), /HTTP 403/, 'a sandboxed or file:// page');
  const noOrigin = await cluster.connectWebSocket(0);
  t.ok(noOrigin.isOpen, 'no Origin header: not a browser');

  // Peers that reset in the middle of a refused or accepted handshake harm nobody.
  const { port } = new URL(cluster.msgServers[0].wsUrl);
  for (const origin of ['https://evil.example', cluster.webOrigin]) {
    for (let i = 0; i < 20; i++) {
      const socket = net.connect({ host: '127.0.0.1', port: Number(port) });
      socket.on('error', () => {});
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${Buffer.alloc(16, i).toString('base64')}\r\nOrigin: ${origin}\r\n\r\n`,
      );
      socket.resetAndDestroy();
    }
  }
  const after = await cluster.connectWebSocket(0, { origin: cluster.webOrigin });
  await after.login('alice', PASSWORD);
  t.ok(after.isOpen, 'the msg server still serves after peers reset mid-handshake');

  const plain = await fetch(cluster.msgServers[0].wsUrl.replace(/^ws/, 'http'));
  t.equal(plain.status, 426, 'plain HTTP is told to upgrade');
  t.match(await plain.text(), /speaks WebSocket/);
});

t.test('wss:// with a certificate; a TLS key without a certificate is a config error naming both keys', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tt-wss-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const cluster = await startCluster(t, { msgServers: 0 });
  await cluster.addUsers(['alice']);
  const server = await cluster.addMsgServer({ wsListenPort: await freeLoopbackPort(), wsTlsCertFile: cert, wsTlsKeyFile: key });
  t.match(server.wsUrl, /^wss:\/\/127\.0\.0\.1:\d+\/$/);
  const { readFileSync } = await import('node:fs');
  const client = await ImClient.connectWebSocket({ url: server.wsUrl, ca: readFileSync(cert) });
  t.teardown(() => client.close());
  await client.login('alice', PASSWORD);
  t.ok(client.userId > 0, 'logged in over wss://');
  await t.rejects(ImClient.connectWebSocket({ url: server.wsUrl }), /self-signed|certificate/, 'an untrusted certificate is refused by the client');

  await t.rejects(cluster.addMsgServer({ wsListenPort: await freeLoopbackPort(), wsTlsKeyFile: key }), /"wsTlsCertFile" and "wsTlsKeyFile" go together/);
  await t.rejects(cluster.addMsgServer({ wsListenPort: await freeLoopbackPort(), wsPublicUrl: 'http://chat.example/' }), /key "wsPublicUrl" must be a ws:\/\/ or wss:\/\/ URL/);
  await t.rejects(
    cluster.addMsgServer({ wsListenPort: await freeLoopbackPort(), wsAllowedOrigins: msgServerConfig.load({ env: { TT_MSG_WS_ALLOWED_ORIGINS: 'http://ok.example,chat.example.com' } }).wsAllowedOrigins }),
    /key "wsAllowedOrigins" must list origins like https:\/\/chat\.example\.com .*got "chat\.example\.com"/,
  );
});

t.test('the login server sends web clients to the least-loaded msg server with a WebSocket port', async (t) => {
  const cluster = await startCluster(t, { msgServers: 0 });
  const users = await cluster.addUsers(['u1', 'u2', 'u3']);
  await cluster.addMsgServer(); // TCP only
  const a = await cluster.addMsgServer({ wsListenPort: await freeLoopbackPort() });
  const b = await cluster.addMsgServer({ wsListenPort: await freeLoopbackPort(), wsPublicUrl: 'wss://chat.example.com/tt' });
  t.equal(b.wsUrl, 'wss://chat.example.com/tt', 'wsPublicUrl is what is reported');

  const admin = await adminGet<Array<{ port: number; wsUrl: string }>>(cluster.login.adminUrl, 'login-server', '/msg_servers');
  t.same(admin.map((s) => s.wsUrl), ['', a.wsUrl, b.wsUrl], 'each registration carries its URL (or none)');

  const first = await fetchMsgServer(cluster.loginUrl, { transport: 'ws' });
  t.equal(first.wsUrl, a.wsUrl, 'least loaded among the WebSocket ones (a tie: the earlier registration)');
  t.equal(first.port, a.port, 'the rest of the answer is that msg server\'s');
  t.equal(first.raw.msfsPrior, 'http://127.0.0.1:8700/');
  await cluster.loginOverWebSocket('u1', 1);
  await waitFor(async () => (await fetchMsgServer(cluster.loginUrl, { transport: 'ws' })).wsUrl === b.wsUrl, 5000, 'b to be the least loaded');
  await cluster.loginAs('u2', 2);
  await cluster.loginAs('u3', 2);
  await waitFor(async () => (await fetchMsgServer(cluster.loginUrl, { transport: 'ws' })).wsUrl === a.wsUrl, 5000, 'a to be the least loaded again');

  const tcpAnswer = await fetchMsgServer(cluster.loginUrl);
  t.equal(tcpAnswer.port, cluster.msgServers[0].port, 'TCP clients still get the least loaded of all');
  t.notOk('wsUrl' in tcpAnswer.raw, 'and an answer without wsUrl');
  t.equal(users.length, 3);

  await a.stop('test');
  await b.stop('test');
  const none = await fetch(`${cluster.loginUrl}?transport=ws`);
  t.equal(await none.text(), '{\n   "code" : 1,\n   "msg" : "no msg server accepts WebSocket connections"\n}\n', 'none left with a WebSocket port');
});
