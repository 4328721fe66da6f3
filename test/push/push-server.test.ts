/**
 * The push server on its own, with a fake msg server: what 0x0710 answers per
 * token (phones only, usable tokens only), and the queue bound (more than
 * maxQueuedPushes waiting: dead-lettered at once).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { IM } from '../../pdu/commands';
import { PduConnection } from '../../pdu/connection';
import { dialInternal } from '../../lib/internal-tls';
import { createLogger } from '../../lib/log';
import { pushServerConfig, type PushServerConfig } from '../../services/push-server/config';
import { startPushServer } from '../../services/push-server/push-server';
import { testIdentity, tlsSettings } from '../helpers/tls';
import { waitFor } from '../helpers/wait';

const { ClientType } = IM.BaseDefine;

async function pushServer(t: Test, overrides: Partial<PushServerConfig>) {
  const dir = await mkdtemp(join(tmpdir(), 'tt-push-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const deadLetterFile = join(dir, 'dead.jsonl');
  const server = await startPushServer(
    pushServerConfig.load({ env: {}, overrides: { listenPort: 0, deadLetterFile, ...tlsSettings('push-server'), ...overrides } }),
    createLogger('push-server', process.env.TT_TEST_LOG ?? 'silent'),
  );
  t.teardown(() => server.stop());
  const conn = new PduConnection(await dialInternal(testIdentity('msg-server'), '127.0.0.1', server.port, 'push-server'), { onPdu: () => {} });
  t.teardown(() => conn.destroy('test over'));
  return { server, conn, deadLetterFile };
}

type Token = IM.BaseDefine.IUserTokenInfo;
const token = (user_id: number, user_type: number, value: string): Token => ({ user_id, user_type, token: value, push_count: 1, push_type: 1 });

t.test('0x0710: 0 for usable phone tokens, 1 for others', async (t) => {
  // A webhook that accepts connections and never answers: nothing is delivered during the test.
  const silent = net.createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => silent.close());
  const { conn } = await pushServer(t, { webhookUrl: `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}/`, maxTokenLength: 64 });
  const rsp = await conn.request(
    IM.Server.IMPushToUserReq,
    {
      flash: 'hello',
      data: '{"from_id":1,"msg_type":1}',
      user_token_list: [
        token(1, ClientType.CLIENT_TYPE_IOS, 'a'.repeat(64)),
        token(2, ClientType.CLIENT_TYPE_ANDROID, 'fcm-token'),
        token(3, ClientType.CLIENT_TYPE_WINDOWS, 'pc-token'),
        token(4, ClientType.CLIENT_TYPE_ANDROID, 'x'.repeat(65)),
        token(5, ClientType.CLIENT_TYPE_ANDROID, ''),
        token(6, ClientType.CLIENT_TYPE_ANDROID, 'bad token'),
      ],
    },
    IM.Server.IMPushToUserRsp,
  );
  t.same(
    rsp.push_result_list.map((r) => r.result_code),
    [0, 0, 1, 1, 1, 1],
    'iOS and Android tokens are taken; a PC client, a token over maxTokenLength, an empty one and one with a space are not',
  );
});

t.test('more than maxQueuedPushes waiting: dead-lettered at once with reason "queue full"', async (t) => {
  const silent = net.createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => silent.close());
  const { conn, deadLetterFile, server } = await pushServer(t, {
    webhookUrl: `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}/`,
    maxQueuedPushes: 1,
    webhookTimeoutMs: 30_000,
  });
  conn.send(IM.Server.IMPushToUserReq, {
    flash: 'hi',
    data: '{}',
    user_token_list: [token(1, ClientType.CLIENT_TYPE_ANDROID, 't1'), token(2, ClientType.CLIENT_TYPE_ANDROID, 't2'), token(3, ClientType.CLIENT_TYPE_ANDROID, 't3')],
  });
  await waitFor(async () => (await readFile(deadLetterFile, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean).length === 2, 5000, 'two dead letters');
  const lines = (await readFile(deadLetterFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { reason: string; notification: { user_id: number } });
  t.same(lines.map((l) => [l.notification.user_id, l.reason]), [[2, 'queue full (1)'], [3, 'queue full (1)']]);
  t.equal(server.delivery.pending, 1, 'one waits for the (silent) webhook');
});
