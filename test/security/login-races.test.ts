/**
 * Login and kick races: two logins of one user and client class at the same
 * moment on two msg servers end with exactly one session (the later one by the
 * login order the db-proxy assigns), however their kicks cross; and a kick that
 * arrives while its target is still being validated is not lost.
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { startCluster } from '../helpers/cluster';
import { waitFor } from '../helpers/wait';
import type { ImClient } from '../../tools/client/im-client';

const { KickReasonType, ClientType } = IM.BaseDefine;

/**
 * These tests are about order, not speed: on a loaded CI machine a login or a
 * store can take seconds, so clients and msg servers wait long for replies
 * instead of turning slowness into a failure that says nothing about the race.
 */
const PATIENT = { requestTimeoutMs: 60_000 };
/** Waits end as soon as their condition holds; this only bounds a real failure. */
const WAIT_MS = 30_000;

/** Waits until every kick sent so far between the two msg servers has been handled (a round trip through the route server). */
async function settle(a: ImClient, b: ImClient): Promise<void> {
  const there = await a.sendText(b.userId, 'barrier');
  await b.next(IM.Message.IMMsgData, (m) => m.msg_id === there.msg_id, WAIT_MS);
  const back = await b.sendText(a.userId, 'barrier');
  await a.next(IM.Message.IMMsgData, (m) => m.msg_id === back.msg_id, WAIT_MS);
}

t.test('concurrent logins of one user on two msg servers leave exactly one session, many times over', async (t) => {
  const cluster = await startCluster(t, { msg: PATIENT });
  await cluster.addUsers(['alice', 'witness0', 'witness1']);
  const witnesses = [await cluster.loginAs('witness0', 0, PATIENT), await cluster.loginAs('witness1', 1, PATIENT)];
  const ROUNDS = 25;
  const orders: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const clients = [await cluster.connect(0, PATIENT), await cluster.connect(1, PATIENT)];
    const outcomes = await Promise.all(clients.map((c) => c.login('alice', 'secret-pass').then(() => 'in', (err: Error) => err.message)));
    t.same(outcomes, ['in', 'in'], `round ${round}: both logins were answered`);
    // Until one of them has been kicked...
    await waitFor(() => clients.some((c) => !c.isOpen), WAIT_MS, `round ${round}: a kick`);
    // ...and every kick in flight has been handled on both sides.
    await settle(witnesses[0], witnesses[1]);
    const open = clients.filter((c) => c.isOpen);
    t.equal(open.length, 1, `round ${round}: exactly one session left`);
    const loser = clients.find((c) => !c.isOpen) as ImClient;
    const kick = loser.received(IM.Login.IMKickUser)[0];
    t.equal(kick?.kick_reason, KickReasonType.KICK_REASON_DUPLICATE_USER, `round ${round}: the other one was told why`);
    const winnerServer = clients.indexOf(open[0]);
    const winner = [...cluster.msgServers[winnerServer].context.users.get(cluster.id('alice'))?.connections ?? []];
    t.equal(winner.length, 1, `round ${round}: the msg server holds one alice connection`);
    const loserConn = [...cluster.msgServers[1 - winnerServer].context.users.get(cluster.id('alice'))?.connections ?? []];
    t.equal(loserConn.length, 0, `round ${round}: the other msg server holds none`);
    orders.push(winner[0].loginOrder);
    open[0].close();
    await waitFor(() => cluster.msgServers[winnerServer].context.users.get(cluster.id('alice')) === undefined, WAIT_MS, 'alice gone');
  }
  t.ok(orders.every((o, i) => i === 0 || o > orders[i - 1]), 'login orders only grow');
});

t.test('the later login wins also on the same msg server', async (t) => {
  const cluster = await startCluster(t, { msg: PATIENT });
  await cluster.addUsers(['alice']);
  const first = await cluster.loginAs('alice', 0, PATIENT);
  const second = await cluster.loginAs('alice', 0, PATIENT);
  await waitFor(() => !first.isOpen, WAIT_MS, 'the first session to end');
  t.ok(second.isOpen);
  t.equal(first.received(IM.Login.IMKickUser)[0]?.kick_reason, KickReasonType.KICK_REASON_DUPLICATE_USER);
});

t.test('a kick that arrives while its target is still validating is not lost', async (t) => {
  const cluster = await startCluster(t, { msg: PATIENT });
  await cluster.addUsers(['alice', 'witness0', 'witness1']);
  const witnesses = [await cluster.loginAs('witness0', 0, PATIENT), await cluster.loginAs('witness1', 1, PATIENT)];
  const server0 = cluster.msgServers[0].context;
  // A login on msg server 0 whose validation is slow: its db-proxy answer is held back
  // until a newer login on msg server 1 has completed and its kick has reached server 0.
  const db = server0.db;
  const original = db.request.bind(db);
  let releaseValidation: () => void = () => {};
  const held = new Promise<void>((resolve) => (releaseValidation = resolve));
  let validating = false;
  db.request = ((type: unknown, body: { user_name?: string }, replyType: unknown) => {
    const reply = original(type as never, body as never, replyType as never);
    if (type !== IM.Server.IMValidateReq || body.user_name !== 'alice') return reply;
    validating = true;
    return reply.then(async (r: unknown) => (await held, r));
  }) as typeof db.request;
  const slow = await cluster.connect(0, PATIENT);
  const slowLogin = slow.login('alice', 'secret-pass');
  await waitFor(() => validating, WAIT_MS, 'the slow login to be validating');
  db.request = original;
  const fast = await cluster.loginAs('alice', 1, PATIENT);
  const aliceId = cluster.id('alice');
  await waitFor(() => server0.kicks.supersedes(aliceId, ClientType.CLIENT_TYPE_WINDOWS, 0, 0), WAIT_MS, 'the kick from server 1 to reach server 0');
  t.equal(server0.users.get(aliceId), undefined, 'alice is not online on server 0 yet: the kick found nobody');
  releaseValidation();
  await slowLogin;
  await waitFor(() => !slow.isOpen, WAIT_MS, 'the older login to end');
  t.equal(slow.received(IM.Login.IMKickUser)[0]?.kick_reason, KickReasonType.KICK_REASON_DUPLICATE_USER);
  await settle(witnesses[0], witnesses[1]);
  t.ok(fast.isOpen, 'the newer login keeps its session');
  t.equal(server0.users.get(aliceId), undefined);
});

t.test('a phone still kicks the PC, and a PC and a phone coexist', async (t) => {
  const cluster = await startCluster(t, { msg: PATIENT });
  await cluster.addUsers(['alice']);
  const pc = await cluster.loginAs('alice', 0, PATIENT);
  const phone = await cluster.loginAs('alice', 1, { ...PATIENT, clientType: ClientType.CLIENT_TYPE_ANDROID });
  t.ok(pc.isOpen && phone.isOpen, 'one session per class: PC and phone together');
  await phone.request(IM.Login.IMKickPCClientReq, { user_id: phone.userId }, IM.Login.IMKickPCClientRsp);
  await waitFor(() => !pc.isOpen, WAIT_MS, 'the PC to be kicked');
  t.equal(pc.received(IM.Login.IMKickUser)[0]?.kick_reason, KickReasonType.KICK_REASON_MOBILE_KICK);
  t.ok(phone.isOpen);
});
