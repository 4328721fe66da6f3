/**
 * Pushes end to end: a phone user who registered a device token and then lost
 * the connection gets exactly one webhook call for a message; online users,
 * users without a token and users with push shield on get none; a failing
 * webhook is retried with backoff and then dead-lettered; a group message
 * pushes to its offline member once.
 */
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import net from 'node:net';
import t from 'tap';
import { IM } from '../../pdu/commands';
import { encodePdu } from '../../pdu/encode';
import { dialInternal } from '../../lib/internal-tls';
import { testIdentity } from '../helpers/tls';
import { startCluster, type TestCluster } from '../helpers/cluster';
import { sleep, waitFor } from '../helpers/wait';
import { startWebhook } from './webhook-receiver';

const { ClientType } = IM.BaseDefine;
/** Long enough for a second, unwanted call to show up. */
const QUIET_MS = 800;

/** Logs `name` in on a phone, stores its device token, then drops the connection without logging out (logout clears the token). */
async function phoneGoesAway(cluster: TestCluster, name: string, token: string, clientType: number = ClientType.CLIENT_TYPE_ANDROID): Promise<void> {
  const phone = await cluster.loginAs(name, 0, { clientType });
  await phone.request(IM.Login.IMDeviceTokenReq, { user_id: phone.userId, device_token: token }, IM.Login.IMDeviceTokenRsp);
  await waitFor(async () => (await cluster.redis.redis.get(`${cluster.redis.prefix}device_${phone.userId}`)) !== null, 3000, 'token stored');
  phone.close();
  await waitFor(() => cluster.msgServers.every((s) => s.context.users.get(phone.userId) === undefined), 3000, 'phone gone');
}

t.test('a message to an offline phone user: exactly one webhook call with the notification', async (t) => {
  const webhook = await startWebhook(t);
  const cluster = await startCluster(t, { pushServer: { webhookUrl: webhook.url, webhookSecret: 'hook-secret' }, msgServers: 2 });
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  await phoneGoesAway(cluster, 'bob', 'fcm-token-bob-1');
  const alice = await cluster.loginAs('alice', 1);
  const ack = await alice.sendText(bobId, 'hello bob, are you there?');
  await waitFor(() => webhook.calls.length >= 1, 5000, 'the webhook call');
  await sleep(QUIET_MS);
  t.equal(webhook.calls.length, 1, 'exactly one call');
  const call = webhook.calls[0];
  t.match(call.body, {
    user_id: bobId,
    client_type: 'android',
    token: 'fcm-token-bob-1',
    title: 'TeamTalk',
    unread_count: 1,
    push_type: 'alert',
    data: { from_id: aliceId, msg_type: 1 },
  });
  t.equal(call.body.body, 'ALICE:hello bob, are you there?', 'the original\'s "<nick>:<text>", cut at 37 bytes');
  t.equal(call.headers['x-teamtalk-push-id'], call.body.id);
  t.equal(call.headers['x-teamtalk-signature'], `sha256=${createHmac('sha256', 'hook-secret').update(call.raw).digest('hex')}`, 'signed with webhookSecret');
  t.ok(ack.msg_id > 0);
});

t.test('no push to a user who is online, has no token, or shielded pushes', async (t) => {
  const webhook = await startWebhook(t);
  const cluster = await startCluster(t, { pushServer: { webhookUrl: webhook.url }, dbProxy: { pushShieldHours: '0-24' } });
  const [, bobId, carolId, daveId] = await cluster.addUsers(['alice', 'bob', 'carol', 'dave']);
  // bob: token, but online on a PC (another msg server than the sender's).
  await phoneGoesAway(cluster, 'bob', 'tok-bob');
  const bobPc = await cluster.loginAs('bob', 1);
  // carol: offline, never had a token.
  // dave: offline phone with a token, push shield on.
  const dave = await cluster.loginAs('dave', 0, { clientType: ClientType.CLIENT_TYPE_IOS });
  const shield = await dave.request(IM.Login.IMPushShieldReq, { user_id: dave.userId, shield_status: 1 }, IM.Login.IMPushShieldRsp);
  t.equal(shield.result_code, 0);
  dave.close();
  await phoneGoesAway(cluster, 'dave', 'a'.repeat(64), ClientType.CLIENT_TYPE_IOS);
  const alice = await cluster.loginAs('alice', 0);
  await alice.sendText(bobId, 'to bob');
  await bobPc.next(IM.Message.IMMsgData);
  await alice.sendText(carolId, 'to carol');
  await alice.sendText(daveId, 'to dave');
  await sleep(QUIET_MS * 2);
  t.equal(webhook.calls.length, 0, 'no webhook call at all');

  // A phone connected to the sender's msg server is online too.
  await phoneGoesAway(cluster, 'carol', 'tok-carol');
  const carolPhone = await cluster.loginAs('carol', 0, { clientType: ClientType.CLIENT_TYPE_ANDROID });
  await alice.sendText(carolId, 'to carol again');
  await carolPhone.next(IM.Message.IMMsgData);
  await sleep(QUIET_MS);
  t.equal(webhook.calls.length, 0, 'none for a connected phone either');
});

t.test('a failing webhook: retried with backoff, delivered once; one that keeps failing is dead-lettered', async (t) => {
  const webhook = await startWebhook(t);
  const cluster = await startCluster(t, { pushServer: { webhookUrl: webhook.url, webhookRetries: 2, webhookBackoffMs: 20, webhookMaxBackoffMs: 50 } });
  const [, bobId] = await cluster.addUsers(['alice', 'bob']);
  await phoneGoesAway(cluster, 'bob', 'tok-bob');
  const alice = await cluster.loginAs('alice', 0);

  webhook.script.push(500, 503);
  await alice.sendText(bobId, 'first');
  await waitFor(() => webhook.calls.length >= 3, 5000, 'three attempts');
  await sleep(QUIET_MS);
  t.equal(webhook.calls.length, 3, 'two failures, then the success; nothing after');
  t.equal(new Set(webhook.calls.map((c) => c.body.id)).size, 1, 'the same notification each time (receivers dedupe by id)');

  webhook.script.push(500, 500, 500);
  await alice.sendText(bobId, 'second');
  const deadLetters = join(cluster.dataDir, 'dead-letter.jsonl');
  await waitFor(async () => (await readFile(deadLetters, 'utf8').catch(() => '')).length > 0, 5000, 'the dead letter');
  await sleep(QUIET_MS);
  t.equal(webhook.calls.length, 6, '1 call + 2 retries, then given up');
  const lines = (await readFile(deadLetters, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { reason: string; attempts: number; notification: { user_id: number; body: string } });
  t.equal(lines.length, 1);
  t.match(lines[0], { reason: 'webhook answered HTTP 500', attempts: 3, notification: { user_id: bobId, body: 'ALICE:second' } });

  webhook.script.push(400);
  await alice.sendText(bobId, 'third');
  await waitFor(async () => (await readFile(deadLetters, 'utf8')).trim().split('\n').length === 2, 5000, 'second dead letter');
  const last = JSON.parse((await readFile(deadLetters, 'utf8')).trim().split('\n')[1]) as { reason: string; attempts: number };
  t.match(last, { reason: 'webhook answered HTTP 400', attempts: 1 }, 'a 4xx is not retried');
});

t.test('a group message pushes once to its offline member (from the sender\'s msg server only)', async (t) => {
  const webhook = await startWebhook(t);
  const cluster = await startCluster(t, { pushServer: { webhookUrl: webhook.url } });
  const [aliceId, bobId, carolId] = await cluster.addUsers(['alice', 'bob', 'carol']);
  await phoneGoesAway(cluster, 'bob', 'tok-bob');
  const alice = await cluster.loginAs('alice', 0);
  const carol = await cluster.loginAs('carol', 1);
  const group = await alice.createGroup('trip', [aliceId, bobId, carolId]);
  t.equal(group.result_code, 0);
  await alice.sendText(group.group_id, 'we leave at 8', { group: true });
  await carol.next(IM.Message.IMMsgData);
  await waitFor(() => webhook.calls.length >= 1, 5000, 'the webhook call');
  await sleep(QUIET_MS);
  t.equal(webhook.calls.length, 1, 'one call: bob; not carol (online), not alice (the sender), not once per msg server');
  t.match(webhook.calls[0].body, { user_id: bobId, data: { from_id: aliceId, msg_type: 17, group_id: group.group_id }, body: 'ALICE:we leave at 8' });
});

t.test('the push server port takes only msg-server certificates', async (t) => {
  const cluster = await startCluster(t, { pushServer: true, msgServers: 1 });
  const port = cluster.pushServer!.port;
  const frame = encodePdu(IM.Server.IMPushToUserReq, { flash: 'spam', data: '{}', user_token_list: [{ user_id: 1, user_type: 18, token: 'x', push_count: 1, push_type: 1 }] }, 1);
  for (const [what, open] of [
    ['a db-proxy certificate', () => dialInternal(testIdentity('db-proxy'), '127.0.0.1', port, 'push-server')],
    ['plain TCP', () => new Promise<net.Socket>((resolve) => { const s = net.connect(port, '127.0.0.1', () => resolve(s)); })],
  ] as const) {
    const socket = await open().catch(() => null);
    if (socket === null) {
      t.pass(`${what}: refused during the handshake`);
      continue;
    }
    const got: Buffer[] = [];
    socket.on('data', (d: Buffer) => got.push(d));
    socket.on('error', () => {});
    socket.write(frame);
    await new Promise((r) => socket.once('close', r));
    t.equal(Buffer.concat(got).length, 0, `${what}: no answer`);
  }
  t.equal(cluster.pushServer!.delivery.stats.accepted, 0, 'nothing was queued');
});
