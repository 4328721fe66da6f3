/**
 * Internal ports as an outsider on the network sees them: every server-to-server
 * port (db-proxy, route server, login registration) answers nothing and drops
 * the connection unless the peer proves, with a certificate from the cluster CA,
 * that it is a msg server; and a msg server trusts no server that cannot prove
 * its own role. The attacks of issue 10 are replayed through each port.
 */
import t from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { IM, commandOf, type BodyOf, type MessageClass } from '../../pdu/commands';
import { encodeHandleAttach } from '../../pdu/attach';
import { PduConnection } from '../../pdu/connection';
import { encodeFrame } from '../../pdu/frame';
import { PduServer } from '../../pdu/server';
import { dialInternal, type InternalTls } from '../../lib/internal-tls';
import { fetchMsgServer } from '../../tools/client/im-client';
import { startCluster, type LogLine, type TestCluster } from '../helpers/cluster';
import { testIdentity, tlsSettings } from '../helpers/tls';
import { waitFor } from '../helpers/wait';
import { FakeMsgServer } from '../route-server/fake-msg-server';
import { startRoute } from '../route-server/route-fixture';
import { captureLogger } from '../route-server/fake-msg-server';

function frame<T extends MessageClass>(type: T, body: BodyOf<T>, seq = 1): Buffer {
  const info = commandOf(type);
  return encodeFrame(info.serviceId, info.commandId, seq, (type as unknown as { encode(m: unknown): { finish(): Uint8Array } }).encode(body).finish());
}

/** Everything the peer said (application data) until it hung up. */
function untilClosed(socket: Duplex): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  return new Promise((resolve) => socket.once('close', () => resolve(Buffer.concat(chunks))));
}

function plainSocket(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * A TLS client that trusts the cluster CA (so its handshake completes) and
 * presents no certificate, or a msg-server certificate from another CA.
 */
function outsiderTls(port: number, cert: 'none' | 'rogue'): Promise<tls.TLSSocket> {
  const rogue = tlsSettings('msg-server', 'rogue');
  const own = cert === 'rogue' ? { cert: readFileSync(rogue.tlsCertFile), key: readFileSync(rogue.tlsKeyFile) } : {};
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(tlsSettings('msg-server').tlsCaFile), checkServerIdentity: () => undefined, ...own }, () =>
      resolve(s),
    );
    s.once('error', reject);
  });
}

const authFailures = (service: string) => (l: LogLine) => l.service === service && l.msg.startsWith('internal peer did not authenticate');

interface Port {
  service: string;
  port: (c: TestCluster) => number;
  role: 'db-proxy' | 'route-server' | 'login-server';
  /** A request that the port would act on if it trusted the sender. */
  attack: (c: TestCluster) => Buffer;
}

const PORTS: Port[] = [
  {
    service: 'db-proxy',
    port: (c) => c.dbProxy.port,
    role: 'db-proxy',
    // Someone else's history.
    attack: (c) => frame(IM.Message.IMGetMsgListReq, { user_id: c.id('alice'), session_type: 1, session_id: c.id('bob'), msg_id_begin: 0, msg_cnt: 20, attach_data: encodeHandleAttach(1) }),
  },
  {
    service: 'route-server',
    port: (c) => c.route.port,
    role: 'route-server',
    attack: (c) => frame(IM.Server.IMServerKickUser, { user_id: c.id('bob'), client_type: 1, reason: 1 }, 0),
  },
  {
    service: 'login-server',
    port: (c) => c.login.msgServerPort,
    role: 'login-server',
    attack: () => frame(IM.Server.IMMsgServInfo, { ip1: '203.0.113.66', ip2: '203.0.113.66', port: 9999, max_conn_cnt: 100000, cur_conn_cnt: 0, host_name: 'evil' }, 0),
  },
];

t.test('internal ports answer nothing to peers that do not authenticate', async (t) => {
  const cluster = await startCluster(t, { captureLogs: true });
  await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0);
  const bob = await cluster.loginAs('bob', 1);
  await alice.sendText(cluster.id('bob'), 'a real message');

  for (const p of PORTS) {
    const port = p.port(cluster);
    const attempts: Array<[string, () => Promise<Duplex>, RegExp]> = [
      ['plain TCP (the attacks of issue 10)', () => plainSocket(port), /does not speak TLS/],
      ['TLS without a client certificate', () => outsiderTls(port, 'none'), /TLS handshake failed|no client certificate/],
      ['a msg-server certificate from another CA', () => outsiderTls(port, 'rogue'), /not signed by the cluster CA/],
      ['a cluster certificate of a role that may not use the port', () => dialInternal(testIdentity('push-server'), '127.0.0.1', port, p.role), /role push-server may not use this port/],
    ];
    for (const [how, open, reason] of attempts) {
      await t.test(`${p.service}: ${how}`, async (t) => {
        const before = cluster.logs.length;
        const socket = await open();
        const said = untilClosed(socket);
        socket.write(p.attack(cluster));
        const reply = await said;
        t.equal(reply.length, 0, 'no application byte comes back');
        const line = await cluster.logLine(
          (l) => cluster.logs.indexOf(l) >= before && authFailures(p.service)(l) && reason.test(String(l.reason)),
          `${p.service} logs the refused peer`,
        );
        t.match(line.peer, /^127\.0\.0\.1:\d+$/, 'the log line names the address');
      });
    }
  }

  // The attacks got nowhere: bob was not kicked, the forged registration is not
  // offered, and the cluster still works.
  t.ok(bob.isOpen, 'bob was not kicked by a forged IMServerKickUser');
  const ports = new Set(cluster.msgServers.map((m) => m.port));
  for (let i = 0; i < 5; i++) {
    const offered = await fetchMsgServer(cluster.loginUrl);
    t.ok(ports.has(offered.port), `clients are sent to a real msg server (${offered.port})`);
  }
  t.equal(cluster.login.registry.size, 2, 'only the two real msg servers are registered');
  const ack = await alice.sendText(cluster.id('bob'), 'still chatting');
  const got = await bob.next(IM.Message.IMMsgData, (m) => m.msg_id === ack.msg_id);
  t.equal(got.from_user_id, cluster.id('alice'));
});

t.test('a forged relay on the route port reaches nobody', async (t) => {
  const cluster = await startCluster(t, { captureLogs: true });
  await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0);
  const bob = await cluster.loginAs('bob', 1);
  const socket = await plainSocket(cluster.route.port);
  const said = untilClosed(socket);
  socket.write(
    frame(
      IM.Message.IMMsgData,
      { from_user_id: cluster.id('alice'), to_session_id: cluster.id('bob'), msg_id: 77, create_time: 1, msg_type: 1, msg_data: Buffer.from('forged') },
      0,
    ),
  );
  t.equal((await said).length, 0);
  // A real message after the forged one: it arrives, the forged one never did.
  const ack = await alice.sendText(cluster.id('bob'), 'genuine');
  await bob.next(IM.Message.IMMsgData, (m) => m.msg_id === ack.msg_id);
  t.same(
    bob.received(IM.Message.IMMsgData).filter((m) => m.msg_id === 77),
    [],
    'the forged message was not delivered',
  );
});

t.test('a msg server does not trust servers that cannot prove their role', async (t) => {
  // Impostors on the db-proxy address: one with a route-server certificate, one from another CA.
  for (const [how, identity, reason] of [
    ['a cluster certificate of the wrong role', testIdentity('route-server'), /role route-server, expected db-proxy/],
    ['a certificate from another CA', testIdentity('db-proxy', 'rogue'), /certificate|self-signed|unable to verify/i],
  ] as Array<[string, InternalTls, RegExp]>) {
    await t.test(how, async (t) => {
      const impostor = new PduServer(
        { onPdu: () => t.fail('the impostor must never receive a PDU') },
        { name: 'impostor', internal: { tls: identity, allowedRoles: ['msg-server'], onAuthFailure: () => {} } },
      );
      const { port } = await impostor.listen('127.0.0.1', 0);
      t.teardown(() => impostor.close());
      const cluster = await startCluster(t, { captureLogs: true, msgServers: 0 });
      const server = await import('../../services/msg-server/msg-server').then((m) =>
        m.startMsgServer(cluster.msgConfig({ dbProxies: [{ host: '127.0.0.1', port }] }), cluster.logger('msg-server-x')),
      );
      t.teardown(() => server.stop('test over'));
      const line = await cluster.logLine((l) => l.service === 'msg-server-x' && l.link === 'db-proxy#1' && reason.test(String(l.reason)), 'the refused db-proxy link');
      t.match(line.msg, /link unavailable/);
      t.notOk(server.context.db.available, 'no db-proxy link is up');
      t.equal(cluster.login.registry.size, 0, 'a msg server without a db-proxy does not register with the login server');
    });
  }
});

t.test('plaintextPeers let an original C++ server in without TLS, and are logged at start', async (t) => {
  const { logger, lines } = captureLogger('info');
  const route = await startRoute(t, { plaintextPeers: ['127.0.0.1'] }, logger);
  const warning = lines().find((l) => /WITHOUT authentication/.test(String(l.msg)));
  t.same(warning?.plaintextPeers, ['127.0.0.1'], 'the allowlist is logged at start');
  const original = await FakeMsgServer.start(t, route.port, { name: 'original msg_server', plaintext: true });
  t.same(await original.statusOf([42]), { 42: IM.BaseDefine.UserStatType.USER_STATUS_OFFLINE }, 'a plain peer on the list is served');
});

t.test('by default nobody skips authentication', async (t) => {
  const { logger, lines } = captureLogger('info');
  const route = await startRoute(t, {}, logger);
  t.notOk(lines().some((l) => /WITHOUT authentication/.test(String(l.msg))));
  const original = new FakeMsgServer(route.port, { name: 'original msg_server', plaintext: true });
  t.teardown(() => original.stop());
  original.link.start();
  await waitFor(() => lines().some((l) => l.msg === 'internal peer did not authenticate; disconnected without an answer'), 5000, 'refusal');
  t.notOk(original.link.isUp && original.link.connection?.isOpen && route.status().links.length > 0, 'the plain peer is not linked');
  t.equal(route.status().links.length, 0);
});

t.test('a peer that never starts the handshake is cut off', async (t) => {
  const { logger, lines } = captureLogger('info');
  const route = await startRoute(t, { tlsHandshakeTimeoutMs: 300 }, logger);
  const socket = await plainSocket(route.port);
  await untilClosed(socket);
  const line = lines().find((l) => l.msg === 'internal peer did not authenticate; disconnected without an answer');
  t.match(line?.reason, /no TLS handshake within 300 ms/);
});

t.test('connections in the handshake count against the connection limit', async (t) => {
  const { logger, lines } = captureLogger('info');
  const route = await startRoute(t, { maxMsgServers: 2, tlsHandshakeTimeoutMs: 5000 }, logger);
  const idle = [await plainSocket(route.port), await plainSocket(route.port)];
  t.teardown(() => idle.forEach((s) => s.destroy()));
  await waitFor(() => true);
  const third = await plainSocket(route.port);
  await untilClosed(third);
  await waitFor(() => lines().some((l) => l.msg === 'msg server connection refused'), 3000, 'refusal');
  t.match(lines().find((l) => l.msg === 'msg server connection refused')?.reason, /connection limit of 2/);
});

t.test('an authenticated msg server still gets everything', async (t) => {
  const route = await startRoute(t);
  const socket = await dialInternal(testIdentity('msg-server'), '127.0.0.1', route.port, 'route-server');
  const conn = new PduConnection(socket, { onPdu: () => {} });
  t.teardown(() => conn.destroy('test over'));
  const reply = await conn.request(IM.Buddy.IMUsersStatReq, { user_id: 1, user_id_list: [5] }, IM.Buddy.IMUsersStatRsp);
  t.same(reply.user_stat_list.map((s) => s.user_id), [5]);
});
