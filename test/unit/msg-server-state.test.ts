/**
 * The msg server's bounded state classes on their own (no ports, no storage):
 * client budgets, the heavy-read pool, recent kicks, the group-member cache.
 */
import t from 'tap';
import { Duplex } from 'node:stream';
import { CID, IM } from '../../pdu/commands';
import { clip, silentLogger } from '../../lib/log';
import { ClientBudget, COMMAND_COSTS, HeavyRequests } from '../../services/msg-server/client-budget';
import { ClientConn } from '../../services/msg-server/client-session';
import { GroupMemberCache } from '../../services/msg-server/group-member-cache';
import type { DbProxyLinks } from '../../services/msg-server/links/db-proxy-links';
import { RecentKicks } from '../../services/msg-server/recent-kicks';
import { REPEATS_UNTIL_MS, RelayJournal, RelayedDeliveries } from '../../services/msg-server/relay-journal';
import { encodePdu } from '../../pdu/encode';
import { commandIdOf } from '../../pdu/frame';

const { ClientType } = IM.BaseDefine;

function connection(): ClientConn {
  const conn = new ClientConn(new Duplex({ read() {}, write(_c, _e, done) { done(); } }), { onPdu: () => {} });
  t.teardown(() => conn.destroy('test over'));
  return conn;
}

t.test('the budget: a full bucket, costs per command, refill over time, disconnect when it keeps on', async (t) => {
  const budget = new ClientBudget({ perSecond: 100, burst: 120, maxRefusedPerSecond: 5, maxInFlight: 2, loginBanMs: 10_000 }, silentLogger());
  const conn = connection();
  budget.open(conn, 1_000_000);
  t.equal(COMMAND_COSTS.get(CID.BUDDY_LIST_ALL_USER_REQUEST), 50);
  t.ok(budget.admit(conn, CID.BUDDY_LIST_ALL_USER_REQUEST, 1_000_000));
  t.ok(budget.admit(conn, CID.BUDDY_LIST_ALL_USER_REQUEST, 1_000_000));
  t.notOk(budget.admit(conn, CID.BUDDY_LIST_ALL_USER_REQUEST, 1_000_000), '20 tokens left: a third all-user list is refused');
  t.ok(budget.admit(conn, CID.MSG_DATA, 1_000_000), 'a message (cost 1) still goes');
  t.ok(budget.admit(conn, CID.BUDDY_LIST_ALL_USER_REQUEST, 1_000_400), '400 ms later 40 more tokens (59): enough again');
  t.equal(budget.stats.budgetRefused, 1);
  for (let i = 0; i < 6; i++) budget.admit(conn, CID.BUDDY_LIST_ALL_USER_REQUEST, 1_000_400);
  t.notOk(conn.isOpen, 'more than 5 refusals in one second: disconnected');
  t.equal(budget.stats.budgetDisconnects, 1);
  t.match(conn.closeReason, /kept sending over its budget/);
});

t.test('the budget: a user disconnected for its budget cannot log in again here for loginBanMs', async (t) => {
  const budget = new ClientBudget({ perSecond: 100, burst: 100, maxRefusedPerSecond: 2, maxInFlight: 2, loginBanMs: 10_000 }, silentLogger());
  const conn = connection();
  conn.userId = 42;
  conn.loginAs = 'mallory';
  budget.open(conn, 0);
  for (let i = 0; i < 6; i++) budget.admit(conn, CID.BUDDY_LIST_ALL_USER_REQUEST, 0);
  t.notOk(conn.isOpen, 'disconnected');
  t.equal(budget.loginBannedFor(42, 1_000), 9_000, '9 s left after 1 s');
  t.equal(budget.loginNameBannedFor('mallory', 2_000), 8_000, 'and by the name she logged in with');
  t.equal(budget.loginNameBannedFor('Mallory', 2_000), 0, 'names match exactly, as IMUser.name does (utf8mb4_bin)');
  t.equal(budget.loginNameBannedFor('', 2_000), 0, 'no name, no ban');
  t.equal(budget.loginBannedFor(7, 1_000), 0, 'other users are not affected');
  t.equal(budget.loginBannedFor(42, 10_000), 0, 'over after 10 s');
  t.equal(budget.loginNameBannedFor('mallory', 10_000), 0, 'by name too');
  t.equal(budget.stats.loginsRefusedAfterDisconnect, 2);

  const lenient = new ClientBudget({ perSecond: 100, burst: 100, maxRefusedPerSecond: 2, maxInFlight: 2, loginBanMs: 0 }, silentLogger());
  const other = connection();
  other.userId = 43;
  lenient.open(other, 0);
  for (let i = 0; i < 6; i++) lenient.admit(other, CID.BUDDY_LIST_ALL_USER_REQUEST, 0);
  t.notOk(other.isOpen);
  t.equal(lenient.loginBannedFor(43, 1), 0, 'loginBanMs 0: no ban');
});

t.test('the budget: requests in flight', async (t) => {
  const budget = new ClientBudget({ perSecond: 100, burst: 100, maxRefusedPerSecond: 100, maxInFlight: 2, loginBanMs: 0 }, silentLogger());
  const conn = connection();
  t.ok(budget.begin(conn, CID.MSG_LIST_REQUEST, 0));
  t.ok(budget.begin(conn, CID.MSG_LIST_REQUEST, 0));
  t.notOk(budget.begin(conn, CID.MSG_LIST_REQUEST, 0), 'a third in flight is refused');
  budget.end(conn);
  t.ok(budget.begin(conn, CID.MSG_LIST_REQUEST, 0), 'room again once one finished');
  t.equal(budget.stats.inFlightRefused, 1);
});

t.test('heavy reads: a bounded pool with a bounded queue', async (t) => {
  const pool = new HeavyRequests(1, 1);
  let release: () => void = () => {};
  const first = pool.run(() => new Promise<string>((r) => (release = () => r('first'))));
  const second = pool.run(async () => 'second');
  await t.rejects(pool.run(async () => 'third'), { code: 'TT_ERR_HEAVY_QUEUE_FULL' });
  t.equal(pool.queued, 1);
  release();
  t.equal(await first, 'first');
  t.equal(await second, 'second', 'the queued one ran after the first');
  t.equal(pool.refused, 1);
});

t.test('recent kicks: a kick supersedes only older logins that were validating when it came', async (t) => {
  const kicks = new RecentKicks(1000);
  kicks.record(7, ClientType.CLIENT_TYPE_WINDOWS, 500, 10_000);
  t.ok(kicks.supersedes(7, ClientType.CLIENT_TYPE_MAC, 400, 9_000), 'an older PC login validating at the time: superseded');
  t.notOk(kicks.supersedes(7, ClientType.CLIENT_TYPE_WINDOWS, 600, 9_000), 'a newer login is not');
  t.notOk(kicks.supersedes(7, ClientType.CLIENT_TYPE_WINDOWS, 400, 10_001), 'a login that started after the kick is not');
  t.notOk(kicks.supersedes(7, ClientType.CLIENT_TYPE_ANDROID, 400, 9_000), 'the phone is another class');
  t.ok(kicks.supersedes(7, ClientType.CLIENT_TYPE_WINDOWS, 0, 9_000), 'unknown order: any kick since it started');
  kicks.prune(11_001);
  t.equal(kicks.size, 0, 'forgotten after keepMs');
  const bounded = new RecentKicks(60_000, 3);
  for (let user = 1; user <= 10; user++) bounded.record(user, ClientType.CLIENT_TYPE_WINDOWS, 1, 0);
  t.equal(bounded.size, 3, 'at most maxKeys users are remembered');
});

t.test('the group-member cache evicts the least recently used lists', async (t) => {
  const asked: number[] = [];
  const db = {
    request: async (_type: unknown, body: IM.Group.IIMGroupInfoListReq) => {
      const id = body.group_version_list?.[0].group_id as number;
      asked.push(id);
      return { user_id: 1, group_info_list: [{ group_id: id, version: 1, group_member_list: [1, id] }] };
    },
  } as unknown as DbProxyLinks;
  const cache = new GroupMemberCache(db, 60_000, 2);
  await cache.members(1, 1);
  await cache.members(2, 1);
  await cache.members(1, 1); // 1 is now the most recently used
  await cache.members(3, 1); // evicts 2
  t.equal(cache.size, 2);
  await cache.members(1, 1);
  await cache.members(2, 1);
  t.same(asked, [1, 2, 3, 2], 'group 1 stayed cached, group 2 was fetched again');
});

t.test('client strings are cut for logs', async (t) => {
  t.equal(clip('alice'), 'alice');
  t.equal(clip('a'.repeat(100), 10), 'aaaaaaaaaa…(100 chars)');
  t.equal(clip('line\nbreak'), 'line\\x0abreak');
});

t.test('the relay journal: what an outage may have lost is sent when a master is back, and again on a schedule', async (t) => {
  const journal = new RelayJournal({ lookbackMs: 1000, maxQueued: 2 });
  const msg = (id: number) => encodePdu(IM.Message.IMMsgData, { from_user_id: 1, to_session_id: 2, msg_id: id, create_time: 0, msg_type: 1, msg_data: Buffer.from('x') });
  const typing = encodePdu(IM.SwitchService.IMP2PCmdMsg, { from_user_id: 1, to_user_id: 2, cmd_msg_data: 'typing' });
  const oldKick = encodePdu(IM.Server.IMServerKickUser, { user_id: 1, client_type: 1, reason: 1 });
  const orderedKick = encodePdu(IM.Server.IMServerKickUser, { user_id: 1, client_type: 1, reason: 1, login_order: 5 });
  journal.sent(msg(1), 10_000); // long before the outage: safe
  journal.sent(msg(2), 19_500); // just before: may have died inside the route server
  journal.sent(oldKick, 19_600); // a kick without an order is never repeated
  journal.sent(orderedKick, 19_700);
  journal.masterDown(20_000);
  journal.prune(25_000); // nothing the next master needs is forgotten during the outage
  journal.hold(typing); // ephemeral: dropped
  journal.hold(msg(3));
  journal.hold(msg(4));
  journal.hold(msg(5)); // over maxQueued: the oldest waiting one goes
  t.equal(journal.stats.dropped, 1);
  const ids = (frames: Buffer[]) => frames.map((f) => (commandIdOf(f) === CID.MSG_DATA ? IM.Message.IMMsgData.decode(f.subarray(16)).msg_id : 'kick'));
  t.same(ids(journal.takeReplay(30_000)), [2, 'kick', 4, 5], 'the last second before the outage, then what waited');
  journal.sent(msg(6), 30_500); // sent after the master came back: repeated too
  t.same(journal.dueRepeat(31_000), [], 'not due yet');
  t.same(ids(journal.dueRepeat(32_000)), [2, 'kick', 4, 5, 6], 'the first repeat, with what was sent since');
  t.same(ids(journal.dueRepeat(35_000)), [2, 'kick', 4, 5, 6]);
  t.same(ids(journal.dueRepeat(42_000)), [2, 'kick', 4, 5, 6]);
  t.same(journal.dueRepeat(60_000), [], 'the schedule is over');
  t.same(journal.takeReplay(61_000), [], 'no outage, nothing waiting: nothing to send');
});

t.test('relayed deliveries: a repeat is skipped, also long after an outage', async (t) => {
  const seen = new RelayedDeliveries(1000, 100);
  t.ok(seen.firstTime(1, 7, 8, 42, 0));
  t.notOk(seen.firstTime(1, 7, 8, 42, 10), 'the same message again');
  t.ok(seen.firstTime(1, 7, 8, 43, 10), 'another msg id');
  t.ok(seen.firstTime(17, 7, 8, 42, 10), 'another type (a group message with the same numbers)');
  seen.routeLinkDown(500);
  seen.prune(5000);
  t.notOk(seen.firstTime(1, 7, 8, 42, 5000), 'kept during the outage');
  seen.routeLinksUp(6000);
  seen.prune(20_000);
  t.notOk(seen.firstTime(1, 7, 8, 42, 20_000), 'kept while repeats can still come after it');
  seen.prune(6000 + REPEATS_UNTIL_MS + 1);
  t.ok(seen.firstTime(1, 7, 8, 42, 6000 + REPEATS_UNTIL_MS + 1), 'forgotten in the end');
  t.equal(seen.duplicatesSkipped, 3);
});
