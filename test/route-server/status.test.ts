/**
 * Online status through the route server over real TCP, with three fake msg
 * servers: incremental updates with multi-device counting, the users-status
 * answer (PC online -> ONLINE, mobile only -> OFFLINE, seq and attach echoed),
 * and the 0x0203 / 0x070e notifications exactly per behaviour.md §4.3.
 */
import t, { type Test } from 'tap';
import { CID, IM } from '../../pdu/commands';
import { encodeFrame } from '../../pdu/frame';
import { encodePduAttach } from '../../pdu/attach';
import { ANDROID, IOS, LEAVE, MAC, OFFLINE, ONLINE, WINDOWS, type FakeMsgServer } from './fake-msg-server';
import { connectFakes, settle, startRoute } from './route-fixture';

type Notes = { buddy: Array<[number, number]>; login: Array<[number, number]> };

/** What a fake got since the last clear: 0x0203 as [user, status], 0x070e as [user, login_status]. */
function notes(fake: FakeMsgServer): Notes {
  return {
    buddy: fake.decoded(IM.Buddy.IMUserStatNotify).map((n) => [n.user_stat.user_id, n.user_stat.status]),
    login: fake.decoded(IM.Server.IMServerPCLoginStatusNotify).map((n) => [n.user_id, n.login_status]),
  };
}

function clearAll(fakes: FakeMsgServer[]): void {
  for (const f of fakes) f.clear();
}

/** Every fake got exactly `expected` (notifications go to all links, the origin included). */
function expectEverywhere(t: Test, fakes: FakeMsgServer[], expected: Notes, what: string): void {
  for (const f of fakes) t.same(notes(f), expected, `${what}: ${f.link.name}`);
}

t.test('two devices of one type: online until the last one logs out', async (t) => {
  const route = await startRoute(t);
  const fakes = await connectFakes(t, route, 3);
  const [a, b] = fakes;

  a.status(1, ONLINE, WINDOWS);
  await settle(a, fakes);
  expectEverywhere(t, fakes, { buddy: [[1, ONLINE]], login: [[1, 1]] }, 'first PC login');
  t.same(await b.statusOf([1]), { 1: ONLINE });

  clearAll(fakes);
  a.status(1, ONLINE, WINDOWS);
  await settle(a, fakes);
  expectEverywhere(t, fakes, { buddy: [[1, ONLINE]], login: [[1, 1]] }, 'second PC login is announced too');
  t.same([...route.users.deviceCounts(1)], [[WINDOWS, 2]]);

  clearAll(fakes);
  a.status(1, OFFLINE, WINDOWS);
  await settle(a, fakes);
  expectEverywhere(t, fakes, { buddy: [], login: [] }, 'one of two PCs logs out: nothing to announce');
  t.same(await b.statusOf([1]), { 1: ONLINE });

  clearAll(fakes);
  a.status(1, OFFLINE, WINDOWS);
  await settle(a, fakes);
  expectEverywhere(t, fakes, { buddy: [[1, OFFLINE]], login: [] }, 'last device gone: offline, no login-status (no device left to tell)');
  t.same(await b.statusOf([1]), { 1: OFFLINE });
  t.equal(route.users.size, 0);
});

t.test('PC and mobile: mobile is never announced and reads as offline; the PC drives login-status', async (t) => {
  const route = await startRoute(t);
  const fakes = await connectFakes(t, route, 3);
  const [a, b, c] = fakes;

  a.status(2, ONLINE, ANDROID);
  await settle(a, fakes);
  expectEverywhere(t, fakes, { buddy: [], login: [] }, 'mobile login');
  t.same(await c.statusOf([2]), { 2: OFFLINE }, 'mobile only reads as OFFLINE');
  t.ok(route.users.devicesByLink(2).size === 1, 'but the route knows the device');

  b.status(2, ONLINE, MAC);
  await settle(b, fakes);
  expectEverywhere(t, fakes, { buddy: [[2, ONLINE]], login: [[2, 1]] }, 'PC login while the phone is on');
  t.same(await c.statusOf([2]), { 2: ONLINE });

  clearAll(fakes);
  a.status(2, ONLINE, IOS);
  await settle(a, fakes);
  expectEverywhere(t, fakes, { buddy: [], login: [[2, 1]] }, 'another mobile login re-states that a PC is on');

  clearAll(fakes);
  b.status(2, OFFLINE, MAC);
  await settle(b, fakes);
  expectEverywhere(t, fakes, { buddy: [[2, OFFLINE]], login: [[2, 0]] }, 'last PC logs out while phones stay');
  t.same(await c.statusOf([2]), { 2: OFFLINE });
  t.same(
    [...route.users.deviceCounts(2)].sort(),
    [
      [IOS, 1],
      [ANDROID, 1],
    ],
  );

  clearAll(fakes);
  a.status(2, OFFLINE, ANDROID);
  await settle(a, fakes);
  expectEverywhere(t, fakes, { buddy: [], login: [] }, 'mobile logout');
});

t.test('one user on two msg servers is offline only when both let go', async (t) => {
  const route = await startRoute(t);
  const fakes = await connectFakes(t, route, 3);
  const [a, b, c] = fakes;

  a.status(3, ONLINE, WINDOWS);
  b.status(3, ONLINE, WINDOWS);
  await settle(a, fakes);
  await settle(b, fakes);
  t.same(
    [...route.users.devicesByLink(3).values()].map((types) => [...types]),
    [[[WINDOWS, 1]], [[WINDOWS, 1]]],
    'one device on each link',
  );

  clearAll(fakes);
  c.status(3, OFFLINE, WINDOWS);
  await settle(c, fakes);
  t.same(await a.statusOf([3]), { 3: ONLINE }, 'an offline from a msg server that never had the user changes nothing');

  a.status(3, OFFLINE, WINDOWS);
  await settle(a, fakes);
  t.same(await c.statusOf([3]), { 3: ONLINE }, 'still on B');

  clearAll(fakes);
  b.status(3, OFFLINE, WINDOWS);
  await settle(b, fakes);
  expectEverywhere(t, fakes, { buddy: [[3, OFFLINE]], login: [] }, 'last device gone');
  t.same(await c.statusOf([3]), { 3: OFFLINE });
});

t.test('LEAVE counts as present and is announced as LEAVE', async (t) => {
  const route = await startRoute(t);
  const fakes = await connectFakes(t, route, 2);
  const [a, b] = fakes;
  a.status(4, LEAVE, MAC);
  await settle(a, fakes);
  expectEverywhere(t, fakes, { buddy: [[4, LEAVE]], login: [[4, 1]] }, 'PC in LEAVE');
  t.same(await b.statusOf([4]), { 4: ONLINE }, 'the status answer is only ONLINE or OFFLINE');
});

t.test('users-status answer: per requested id, to the asking link only, seq and attach_data echoed', async (t) => {
  const route = await startRoute(t);
  const fakes = await connectFakes(t, route, 3);
  const [a, b, c] = fakes;
  a.status(5, ONLINE, WINDOWS);
  b.status(6, ONLINE, ANDROID);
  await settle(a, fakes);
  await settle(b, fakes);
  clearAll(fakes);

  const attach = encodePduAttach(4, 0, Buffer.from('push body'));
  const request = IM.Buddy.IMUsersStatReq.encode({ user_id: 99, user_id_list: [6, 5, 404, 5], attach_data: attach }).finish();
  c.sendFrame(encodeFrame(0x0002, CID.BUDDY_LIST_USERS_STATUS_REQUEST, 4242, request));
  await c.waitForCount(CID.BUDDY_LIST_USERS_STATUS_RESPONSE, 1);
  const [replyPdu] = c.of(CID.BUDDY_LIST_USERS_STATUS_RESPONSE);
  t.equal(replyPdu.seqNum, 4242, 'seq_num echoed');
  t.equal(replyPdu.serviceId, 0x0002, 'buddy-list service id');
  const reply = IM.Buddy.IMUsersStatRsp.decode(replyPdu.body);
  t.equal(reply.user_id, 99);
  t.same(
    reply.user_stat_list.map((s) => [s.user_id, s.status]),
    [
      [6, OFFLINE],
      [5, ONLINE],
      [404, OFFLINE],
      [5, ONLINE],
    ],
    'in request order; mobile-only and unknown users are OFFLINE',
  );
  t.same(Buffer.from(reply.attach_data), attach, 'attach_data echoed byte for byte');

  const bare = IM.Buddy.IMUsersStatReq.encode({ user_id: 1, user_id_list: [5] }).finish();
  c.sendFrame(encodeFrame(0x0002, CID.BUDDY_LIST_USERS_STATUS_REQUEST, 7, bare));
  await c.waitForCount(CID.BUDDY_LIST_USERS_STATUS_RESPONSE, 2);
  const second = IM.Buddy.IMUsersStatRsp.decode(c.of(CID.BUDDY_LIST_USERS_STATUS_RESPONSE)[1].body);
  t.notOk(Object.prototype.hasOwnProperty.call(second, 'attach_data'), 'no attach_data in, none out');

  await settle(c, fakes);
  t.equal(a.of(CID.BUDDY_LIST_USERS_STATUS_RESPONSE).length, 0, 'other links get no reply');
  t.equal(b.of(CID.BUDDY_LIST_USERS_STATUS_RESPONSE).length, 0);
});
