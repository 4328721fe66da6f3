/**
 * Reply isolation: a db-proxy reply reaches only the client that asked. A reply
 * held up past the msg server's timeout is dropped when it finally comes (its
 * seq number was not given to anyone else meanwhile), and a reply that carries
 * another connection's handle is dropped too.
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { PduServer } from '../../pdu/server';
import { decodeAttach, encodeHandleAttach } from '../../pdu/attach';
import type { Pdu } from '../../pdu/frame';
import type { PduConnection } from '../../pdu/connection';
import { startCluster } from '../helpers/cluster';
import { testIdentity } from '../helpers/tls';
import { waitFor } from '../helpers/wait';
import { TcpCutter } from '../db-proxy/harness';

const { SessionType } = IM.BaseDefine;

t.test('a db-proxy reply that comes after the timeout reaches nobody', async (t) => {
  const cluster = await startCluster(t, { msgServers: 0, captureLogs: true });
  const relay = await TcpCutter.in(t, `tcp://127.0.0.1:${cluster.dbProxy.port}`);
  const server = await cluster.addMsgServer({ dbProxies: [{ host: '127.0.0.1', port: relay.port }], dbConnectionsPerProxy: 1, requestTimeoutMs: 800 });
  const [aliceId, bobId, carolId] = await cluster.addUsers(['alice', 'bob', 'carol']);
  const alice = await cluster.loginAs('alice', 0, { requestTimeoutMs: 2500 });
  const bob = await cluster.loginAs('bob', 0);
  await alice.sendText(bobId, 'only for alice and bob');
  const dbLink = server.context.db.pick() as PduConnection;

  // Alice asks; the answer is held up until the msg server has given up on it.
  relay.hold('replies');
  const aliceAsked = alice.history(bobId).then(
    () => 'answered',
    () => 'no answer',
  );
  await cluster.logLine((l) => l.msg === 'db-proxy request failed' && l.userId === aliceId && /no reply within/.test(String(l.err)), 'alice\'s request to time out');
  // Bob asks now, on the same db-proxy connection, and the held bytes flow again.
  const bobAsks = bob.history(carolId);
  relay.release('replies');
  const bobGot = await bobAsks;
  t.equal(bobGot.user_id, bobId, 'bob gets his own answer');
  t.same(bobGot.msg_list, [], "bob sees nothing of alice's conversation");
  await waitFor(() => dbLink.lateReplies === 1, 3000, 'the late reply to be dropped');
  t.equal(await aliceAsked, 'no answer', 'alice never gets the late reply either (her client gave up)');
  t.equal(server.context.stats.misroutedReplies, 0);
});

t.test('a reply carrying another connection\'s handle is dropped', async (t) => {
  // A db-proxy that validates logins but answers history with a foreign handle.
  let userId = 100;
  const fake = new PduServer(
    {
      onPdu(conn, pdu: Pdu) {
        if (pdu.commandId === 0x0703) {
          const req = IM.Server.IMValidateReq.decode(pdu.body);
          const id = userId++;
          conn.reply(pdu, IM.Server.IMValidateRsp, {
            user_name: req.user_name,
            result_code: 0,
            user_info: {
              user_id: id,
              user_gender: 1,
              user_nick_name: req.user_name,
              avatar_url: '',
              department_id: 1,
              email: '',
              user_real_name: req.user_name,
              user_tel: '',
              user_domain: '',
              status: 0,
            },
            attach_data: req.attach_data,
          });
        } else if (pdu.commandId === 0x0309) {
          const req = IM.Message.IMGetMsgListReq.decode(pdu.body);
          const handle = decodeAttach(req.attach_data)?.handle ?? 0;
          conn.reply(pdu, IM.Message.IMGetMsgListRsp, {
            user_id: req.user_id,
            session_type: SessionType.SESSION_TYPE_SINGLE,
            session_id: req.session_id,
            msg_id_begin: 0,
            msg_list: [],
            attach_data: encodeHandleAttach(handle + 1),
          });
        }
      },
    },
    { name: 'fake db-proxy', internal: { tls: testIdentity('db-proxy'), allowedRoles: ['msg-server'], onAuthFailure: () => {} } },
  );
  const { port } = await fake.listen('127.0.0.1', 0);
  t.teardown(() => fake.close());
  const cluster = await startCluster(t, { msgServers: 0, captureLogs: true });
  const server = await cluster.addMsgServer({ dbProxies: [{ host: '127.0.0.1', port }] });
  const client = await cluster.connect(0, { requestTimeoutMs: 1500 });
  await client.login('eve', 'whatever');
  const answer = client.history(5).then(
    () => 'answered',
    () => 'no answer',
  );
  const line = await cluster.logLine((l) => l.msg === "reply carries another connection's handle (or none): dropped", 'the dropped reply');
  t.equal(line.userId, client.userId);
  t.equal(server.context.stats.misroutedReplies, 1);
  t.equal(await answer, 'no answer');
});
