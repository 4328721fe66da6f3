/**
 * Replaying a capture taken on another deployment: a capture recorded in front
 * of one real cluster (its own departments, profiles, groups, messages and
 * unread state, and a deliberately wrong password) is replayed with
 * --provision against a second cluster on another, empty database, through the
 * real CLI: clean in exact mode; the failed login stays failing under --as;
 * protocol mode accepts other profile values; without provisioning, unread
 * counts, recent sessions and history are reported as depending on earlier
 * state; a database with messages is refused without --force.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import type { RowDataPacket } from 'mysql2/promise';
import { join } from 'node:path';
import { IM } from '../../pdu/commands';
import { silentLogger } from '../../lib/log';
import { projectRoot } from '../../lib/paths';
import { LoginRefusedError, ImClient } from '../../tools/client/im-client';
import { CaptureFileWriter } from '../../tools/capture/file-writer';
import { parseCapture, type CaptureRecord, type ParsedCapture } from '../../tools/capture/format';
import { readCaptureFacts } from '../../tools/replay/capture-facts';
import { provisionTarget } from '../../tools/replay/provision';
import { replayCapture, type ReplayReport } from '../../tools/replay/replay';
import { formatReport } from '../../tools/replay/report';
import { TargetStorage } from '../../tools/replay/target-storage';
import { addDepartment, addUser, upsertUser, type UserProfile } from '../../scripts/db/accounts';
import { dbProxyConfig } from '../../services/db-proxy/config';
import { RedisKeys } from '../../services/db-proxy/redis-keys';
import { PASSWORD, startCluster, type TestCluster } from '../helpers/cluster';
import { freshDatabase } from '../helpers/storage';
import { waitFor } from '../helpers/wait';
import { runCli } from './run-cli';
import { startProxy, tempDir } from './session';

const { GroupType, SessionType } = IM.BaseDefine;

/** The target's storage, as the replay CLI finds it through MYSQL_URL / REDIS_URL and the cluster's Redis prefix. */
function storageEnv(cluster: TestCluster): NodeJS.ProcessEnv {
  return { MYSQL_URL: cluster.db.url, REDIS_URL: cluster.redis.url, TT_CLUSTER_REDIS_KEY_PREFIX: cluster.redis.prefix };
}

function openStorage(t: Test, cluster: TestCluster): Promise<TargetStorage> {
  const config = dbProxyConfig.load({
    env: {},
    overrides: { mysqlUrl: cluster.db.url, redisUrl: cluster.redis.url, redisKeyPrefix: cluster.redis.prefix },
  });
  return TargetStorage.open(config, silentLogger()).then((storage) => {
    t.teardown(() => storage.close());
    return storage;
  });
}

interface Original {
  cluster: TestCluster;
  ids: Record<'alice' | 'bob' | 'carol', number>;
  groupId: number;
}

/**
 * The deployment the capture comes from. Ids are pushed off those a fresh
 * database gives (a user, a department and a group made and dropped first), so
 * the replay must map every id.
 */
async function originalDeployment(t: Test): Promise<Original> {
  const cluster = await startCluster(t, { msgServers: 1 });
  const pool = cluster.db.pool;
  await addUser(pool, { name: 'zed', password: PASSWORD, departId: 1 });
  await cluster.query("DELETE FROM IMUser WHERE name = 'zed'");
  await addDepartment(pool, 'Scratch');
  await cluster.query("DELETE FROM IMDepart WHERE departName = 'Scratch'");
  const engineering = await addDepartment(pool, 'Engineering', 0, 2);
  const backend = await addDepartment(pool, '后端', engineering, 1);
  const profile = (name: string, p: Partial<UserProfile>): UserProfile => ({
    name,
    nick: name,
    sex: 0,
    departId: 1,
    email: '',
    phone: '',
    domain: name,
    avatar: '',
    signInfo: '',
    status: 0,
    ...p,
  });
  const alice = await upsertUser(
    pool,
    profile('alice', { nick: '爱丽丝', sex: 2, departId: engineering, email: 'alice@example.com', phone: '13800000001', domain: 'ailisi', avatar: 'http://img/a.png', signInfo: 'on call' }),
    PASSWORD,
  );
  const bob = await upsertUser(pool, profile('bob', { nick: 'Bob B.', sex: 1, departId: backend, email: 'bob@example.com', phone: '13800000002' }), PASSWORD);
  const carol = await upsertUser(pool, profile('carol', { nick: 'Carol', sex: 2, signInfo: '休假中' }), PASSWORD);
  const ids = { alice: alice.id, bob: bob.id, carol: carol.id };

  // Normal groups are made by administrators: through the db-proxy's own handler.
  const admin = await openStorage(t, cluster);
  const scratch = await admin.request(
    IM.Group.IMGroupCreateReq,
    { user_id: ids.carol, group_type: GroupType.GROUP_TYPE_NORMAL, group_name: 'scratch', group_avatar: '', member_id_list: [ids.carol] },
    IM.Group.IMGroupCreateRsp,
  );
  await cluster.query('DELETE FROM IMGroup WHERE id = ?', [scratch.body.group_id]);
  await cluster.redis.redis.del(cluster.redis.prefix + RedisKeys.groupMembers(scratch.body.group_id as number));
  const group = await admin.request(
    IM.Group.IMGroupCreateReq,
    {
      user_id: ids.alice,
      group_type: GroupType.GROUP_TYPE_NORMAL,
      group_name: 'Project X',
      group_avatar: 'http://img/x.png',
      member_id_list: [ids.alice, ids.bob, ids.carol],
    },
    IM.Group.IMGroupCreateRsp,
  );
  const groupId = group.body.group_id as number;

  // What happened before the capture: bob read alice's message, not carol's two; alice wrote to the group.
  const a = await cluster.loginAs('alice');
  const b = await cluster.loginAs('bob');
  const c = await cluster.loginAs('carol');
  const m1 = await a.sendText(ids.bob, 'm1: lunch?');
  await b.next(IM.Message.IMMsgData, (m) => m.msg_id === m1.msg_id);
  b.readAck(ids.alice, m1.msg_id);
  await c.sendText(ids.bob, 'c1: the report');
  await c.sendText(ids.bob, 'c2: are you there?');
  await a.sendText(groupId, 'g1: kick-off at 10', { group: true });
  for (const client of [a, b, c]) await client.logout();
  // The db-proxy's group-session sync gives bob and carol their group session (every 5 s).
  await waitFor(
    async () => (await cluster.query('SELECT userId FROM IMRecentSession WHERE peerId = ? AND type = ?', [groupId, SessionType.SESSION_TYPE_GROUP])).length === 3,
    15_000,
    'group sessions of every member',
  );
  await waitFor(async () => Number(await cluster.redis.redis.hget(cluster.redis.prefix + RedisKeys.unread(ids.bob), String(ids.carol))) === 2, 5000, 'unread');
  return { cluster, ids, groupId };
}

/**
 * The captured session, through the capture proxy, into a file: alice stays
 * online; bob first types a wrong password, then logs in, syncs users,
 * departments, groups, unread counts, recent sessions and history, reads
 * carol's messages and answers her; carol logs in, sees the answer and writes
 * to the group, which alice receives.
 */
async function capture(t: Test, original: Original): Promise<{ file: string; capture: ParsedCapture }> {
  const { cluster, ids, groupId } = original;
  const file = join(tempDir(t), 'original.jsonl');
  const writer = await CaptureFileWriter.open(file);
  const records: CaptureRecord[] = [];
  const proxy = await startProxy(t, cluster.msgServers[0].port, (r) => {
    records.push(r);
    writer.write(r);
  });
  const connect = () => ImClient.connect({ host: '127.0.0.1', port: proxy.address.port, heartbeatIntervalMs: 0 });
  // Alice's buddy list hears of each login and logout (route server -> PC clients).
  const statusOf = (userId: number, status: number) =>
    alice.next(IM.Buddy.IMUserStatNotify, (n) => n.user_stat.user_id === userId && n.user_stat.status === status);
  const { USER_STATUS_ONLINE, USER_STATUS_OFFLINE } = IM.BaseDefine.UserStatType;

  const alice = await connect();
  await alice.login('alice', PASSWORD);

  const wrong = await connect();
  await t.rejects(wrong.login('bob', 'not-the-password'), LoginRefusedError, 'the deliberate wrong password');
  await waitFor(() => records.some((r) => r.type === 'close' && r.conn === 2), 5000, 'the refused connection closed');

  const bob = await connect();
  await bob.login('bob', PASSWORD);
  await statusOf(ids.bob, USER_STATUS_ONLINE);
  await bob.allUsers(0);
  await bob.request(IM.Buddy.IMDepartmentReq, { user_id: bob.userId, latest_update_time: 0 }, IM.Buddy.IMDepartmentRsp);
  await bob.normalGroups();
  await bob.groupInfo([groupId]);
  const unread = await bob.unreadCounts();
  t.equal(unread.total_cnt, 3, 'bob had 2 unread from carol and 1 in the group');
  await bob.recentSessions(0);
  const history = await bob.history(ids.carol, { count: 10 });
  bob.readAck(ids.carol, history.msg_list[0].msg_id);
  await bob.sendText(ids.carol, 'reply: on my way');
  await bob.unreadCounts();
  await bob.logout();
  await statusOf(ids.bob, USER_STATUS_OFFLINE);

  const carol = await connect();
  await carol.login('carol', PASSWORD);
  await statusOf(ids.carol, USER_STATUS_ONLINE);
  await carol.unreadCounts();
  await carol.recentSessions(0);
  await carol.history(ids.bob, { count: 10 });
  await carol.sendText(groupId, 'g2: moved to 11', { group: true });
  await alice.next(IM.Message.IMMsgData, (m) => m.to_session_id === groupId);
  await carol.logout();
  await statusOf(ids.carol, USER_STATUS_OFFLINE);
  await alice.logout();

  await waitFor(() => records.filter((r) => r.type === 'close').length === 4, 5000, 'every recorded close');
  await proxy.close();
  await writer.close();
  return { file, capture: parseCapture(readFileSync(file)) };
}

function replayCli(target: TestCluster, file: string, args: string[]) {
  return runCli('tools/replay/cli.js', [file, '--server', `127.0.0.1:${target.msgServers[0].port}`, '--fast', ...args], storageEnv(target));
}

function parseReport(t: Test, stdout: string): ReplayReport {
  try {
    return JSON.parse(stdout) as ReplayReport;
  } catch {
    t.fail(`not a JSON report: ${stdout}`);
    throw new Error('no report');
  }
}

t.test('a capture from another deployment replays cleanly, in exact mode, against an empty cluster it provisioned', async (t) => {
  const original = await originalDeployment(t);
  const { file, capture: recorded } = await capture(t, original);
  const facts = readCaptureFacts(recorded.records, recorded.lines);
  t.same(
    facts.logins.map((l) => [l.userName, l.outcome]),
    [
      ['alice', 'succeeded'],
      ['bob', 'failed'],
      ['bob', 'succeeded'],
      ['carol', 'succeeded'],
    ],
    'recorded login outcomes',
  );

  const target = await startCluster(t, { msgServers: 1 });
  const junit = join(tempDir(t), 'replay.xml');
  const run = await replayCli(target, file, ['--provision', '--password', PASSWORD, '--compare', 'exact', '--report', 'junit', junit, '--json']);
  const report = parseReport(t, run.stdout);
  t.equal(run.code, 0, formatReport(report) + run.stderr);
  t.equal(report.compare, 'exact');
  t.equal(report.stopped, null);
  t.same(
    [report.totals.mismatched, report.totals.missing, report.totals.unexpected, report.totals.problems, report.totals.earlierState],
    [0, 0, 0, 0, 0],
  );
  t.ok(report.totals.matched >= 25, `${report.totals.matched} server PDUs matched`);
  t.match(run.stderr, /replay: provisioning database tt_test_\w+ on 127\.0\.0\.1:\d+, Redis key prefix "tt_test_\w+:"/);

  const provision = report.provision;
  t.ok(provision, 'the report says what was provisioned');
  if (!provision) return;
  t.match(provision, {
    users: { created: 3, existing: 0, placeholders: 0 },
    departments: { created: 2, existing: 1 },
    groups: { created: 1, existing: 0 },
    messages: 4,
    recreated: { history: true },
  });
  const { ids, groupId } = original;
  const live = new Map(provision.userIds);
  t.same(
    [...live.keys()].sort(),
    [ids.alice, ids.bob, ids.carol].sort(),
    'every recorded user has a live counterpart',
  );
  t.not(live.get(ids.alice), ids.alice, 'the ids differ between the deployments (so the replay mapped them)');
  t.same(provision.groupIds, [[groupId, 1]]);
  t.same(provision.recreated.unread.sort(), [ids.bob, ids.carol].sort());

  // The failed login failed again, and left no failure count behind (the later success cleared it).
  const bobFailures = await target.redis.redis.get(target.redis.prefix + RedisKeys.loginFailures('bob'));
  t.equal(bobFailures, null);
  const wrongLogin = report.connections[1];
  t.equal(wrongLogin.user, 'bob');
  t.equal(wrongLogin.matched, 1, 'the refused login reply matched the recorded refusal');

  // The target now holds the recorded profiles.
  const [row] = await target.query("SELECT nick, sex, email, phone, avatar, sign_info, domain FROM IMUser WHERE name = 'alice'");
  t.match(row, { nick: '爱丽丝', sex: 2, email: 'alice@example.com', phone: '13800000001', avatar: 'http://img/a.png', sign_info: 'on call', domain: 'ailisi' });

  // JUnit: one testcase per connection, all passing.
  const xml = readFileSync(junit, 'utf8');
  t.match(xml, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="teamtalk replay" tests="4" failures="0" errors="0" skipped="0"/);
  t.equal(xml.match(/<testcase /g)?.length, 4);
  t.match(xml, /<testcase classname="replay\.original" name="connection 2 \(bob\) from 127\.0\.0\.1:\d+" time="[\d.]+">/);
  t.match(xml, /<property name="compare" value="exact: every value not ignored must be equal"\/>/);
  t.notMatch(xml, /<failure|<error/);

  // The target now holds messages: provisioning again is refused, unless forced.
  const again = await runCli('tools/replay/cli.js', [file, '--provision-only', '--password', PASSWORD], storageEnv(target));
  t.equal(again.code, 3, again.stderr);
  t.match(again.stderr, /replay: refused: the target database already holds messages \(IMMessage_\d/);
  t.match(again.stderr, /give --force to provision anyway/);
  const forced = await runCli('tools/replay/cli.js', [file, '--provision-only', '--password', PASSWORD, '--force'], storageEnv(target));
  t.equal(forced.code, 0, forced.stderr);
  t.match(forced.stdout, /^provisioned in [\d.]+ s: 0 departments created, 3 already there; 0 users created, 3 already there; 0 groups created, 1 already there;/);
  t.match(forced.stdout, /provision note: the target already held messages/);
});

t.test('--as with a staging password: recorded successes log in as told, the recorded wrong password keeps failing', async (t) => {
  const original = await originalDeployment(t);
  const { file } = await capture(t, original);
  const target = await startCluster(t, { msgServers: 1 });
  const staging = 'staging-password';

  // The recorded logins used another password: caught before anything is provisioned or sent.
  const refused = await replayCli(target, file, ['--provision', '--password', staging]);
  t.equal(refused.code, 2);
  t.match(refused.stderr, /these recorded logins would fail against the provisioned accounts/);
  t.match(refused.stderr, /the login of alice \(capture line \d+\) was recorded with another password than --password: add --as alice=alice:<the --password value>/);
  t.match(refused.stderr, /the login of bob .* add --as bob=bob:/);
  t.equal((await target.query('SELECT id FROM IMUser')).length, 0, 'nothing provisioned');

  const as = ['alice', 'bob', 'carol'].flatMap((name) => ['--as', `${name}=${name}:${staging}`]);
  const run = await replayCli(target, file, ['--provision', '--password', staging, ...as, '--json']);
  const report = parseReport(t, run.stdout);
  t.equal(run.code, 0, formatReport(report) + run.stderr);
  const [, wrong, bob] = report.connections;
  t.same([wrong.user, wrong.matched, wrong.mismatched.length, wrong.problems], ['bob', 1, 0, []], 'still refused, as recorded');
  t.equal(bob.mismatched.length, 0, 'the recorded success logs in with the staging password');
  t.equal(report.stopped, null);
});

t.test('protocol mode: other profile values are fine, other result codes and list lengths are not', async (t) => {
  const original = await originalDeployment(t);
  const { capture: recorded } = await capture(t, original);
  const replay = async (change: (target: TestCluster) => Promise<unknown>, compare: 'exact' | 'protocol') => {
    const target = await startCluster(t, { msgServers: 1 });
    const storage = await openStorage(t, target);
    const provisioned = await provisionTarget(readCaptureFacts(recorded.records, recorded.lines), storage, { password: PASSWORD });
    await change(target);
    return replayCapture(recorded, { server: `127.0.0.1:${target.msgServers[0].port}`, fast: true, compare, provisioned });
  };
  // A deployment whose data differs: other nick names, e-mail and phone.
  const otherProfiles = (target: TestCluster) =>
    target.query("UPDATE IMUser SET nick = CONCAT('nick of ', name), email = CONCAT(name, '@staging.example'), phone = '10000000000'");

  const exact = await replay(otherProfiles, 'exact');
  t.notOk(exact.ok, 'exact mode reports the profile values');
  t.ok(
    exact.connections.some((c) => c.mismatched.some((m) => m.diffs.some((d) => d.path === 'user_info.user_nick_name'))),
    formatReport(exact),
  );

  const protocol = await replay(otherProfiles, 'protocol');
  t.ok(protocol.ok, formatReport(protocol));
  t.equal(protocol.compare, 'protocol');
  t.match(formatReport(protocol), /^compare: protocol \(result codes, enums, field presence and types, list lengths and order; not profile values\)$/m);

  // One more user in the directory: the all-user list has another length, in any mode.
  const longer = await replay((target) => addUser(target.db.pool, { name: 'dave', password: PASSWORD, departId: 1 }), 'protocol');
  t.notOk(longer.ok);
  const lengths = longer.connections.flatMap((c) => c.mismatched.flatMap((m) => m.diffs)).filter((d) => d.path === 'user_list.length');
  t.same(lengths, [{ path: 'user_list.length', expected: 3, actual: 4 }], formatReport(longer));
});

t.test('without provisioning, unread counts, recent sessions and history depend on earlier state', async (t) => {
  // Same accounts on both sides (same ids), state only on the original.
  const original = await startCluster(t, { msgServers: 1 });
  const [alice, bob] = await original.addUsers(['alice', 'bob']);
  const a = await original.loginAs('alice');
  await a.sendText(bob, 'before the capture');
  await a.logout();

  const records: CaptureRecord[] = [];
  const proxy = await startProxy(t, original.msgServers[0].port, (r) => records.push(r));
  const client = await ImClient.connect({ host: '127.0.0.1', port: proxy.address.port, heartbeatIntervalMs: 0 });
  await client.login('bob', PASSWORD);
  await client.unreadCounts();
  await client.recentSessions(0);
  await client.history(alice, { count: 5 });
  await client.logout();
  await waitFor(() => records.some((r) => r.type === 'close'), 5000, 'recorded close');
  await proxy.close();

  const target = await startCluster(t, { msgServers: 1 });
  await target.addUsers(['alice', 'bob']);
  const report = await replayCapture(records, { server: `127.0.0.1:${target.msgServers[0].port}`, fast: true });
  t.ok(report.ok, formatReport(report));
  t.same(
    report.connections[0].earlierState.map((m) => [m.expected.name, m.diffs[0].path]),
    [
      ['CID_MSG_UNREAD_CNT_RESPONSE', 'total_cnt'],
      ['CID_BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE', 'contact_session_list'],
      ['CID_MSG_LIST_RESPONSE', 'msg_list'],
    ],
  );
  t.equal(report.totals.earlierState, 3);
  t.match(formatReport(report), /EARLIER STATE CID_MSG_UNREAD_CNT_RESPONSE seq \d+: differs only where it shows state from before the capture:\n {4}total_cnt: expected 1, got 0/);

  // Provisioned, the same differences are real.
  const fresh = await startCluster(t, { msgServers: 1 });
  await fresh.addUsers(['alice', 'bob']);
  const storage = await openStorage(t, fresh);
  const facts = readCaptureFacts(records);
  const provisioned = await provisionTarget(facts, storage, { password: PASSWORD });
  // bob's profile is in the capture (his login reply), alice's is not: she gets a stand-in nobody can log in as.
  t.same(provisioned.users, { created: 0, existing: 1, placeholders: 1 }, 'the user already there was updated');
  t.match(provisioned.notes, [new RegExp(`user ${alice} appears in the capture .* without a profile: created as replay_user_${alice} \\(no one knows its password\\)`)]);
  const strict = await replayCapture(records, { server: `127.0.0.1:${fresh.msgServers[0].port}`, fast: true, provisioned });
  t.ok(strict.ok, formatReport(strict));
  t.equal(strict.totals.earlierState, 0);

  // A new, empty database with the Redis key prefix of the old one: its counters would leak into the replay.
  const newDatabase = await freshDatabase(t);
  const config = dbProxyConfig.load({ env: {}, overrides: { mysqlUrl: newDatabase.url, redisUrl: fresh.redis.url, redisKeyPrefix: fresh.redis.prefix } });
  const leftOver = await TargetStorage.open(config, silentLogger());
  t.teardown(() => leftOver.close());
  await t.rejects(provisionTarget(facts, leftOver, { password: PASSWORD }), {
    code: 'TT_ERR_PROVISION_REFUSED',
    message: /the target database holds no messages, but its Redis \(key prefix "tt_test_\w+:"\) holds msg-id counters \(tt_test_\w+:msg_id_\d+\)/,
  });
  t.equal((await newDatabase.pool.query<RowDataPacket[]>('SELECT id FROM IMUser'))[0].length, 0, 'refused before anything was written');
});

t.test("the issue's capture of the original C++ servers and TeamTalk's client replays against a fresh cluster it provisioned", async (t) => {
  // Recorded from the original msg_server (pcap import): login of user1 (password 123456), all users,
  // a message to user 2, unread counts, recent sessions. Its profiles and earlier unread state are
  // those of that deployment; user 2 appears only as an id.
  const file = join(projectRoot, 'test/fixtures/golden-session.capture.jsonl');
  const target = await startCluster(t, { msgServers: 1 });
  const run = await replayCli(target, file, ['--provision', '--password', '123456', '--json']);
  const report = parseReport(t, run.stdout);
  t.equal(report.totals.mismatched, 0, formatReport(report));
  t.same(
    [report.totals.matched, report.totals.missing, report.totals.earlierState, report.totals.problems],
    [5, 0, 0, 0],
    'login, status notify, message ack, unread counts and recent sessions all match',
  );
  // The recording ends before the original answered the all-user request; this server answers it.
  t.same(report.connections[0].unexpected.map((p) => p.name), ['CID_BUDDY_LIST_ALL_USER_RESPONSE']);
  t.match(report.provision, { users: { created: 1, placeholders: 1 }, messages: 0 });
  t.match(report.provision?.notes, [
    'department 1 appears in the capture without its name: created as "department 1 (not in the capture)"',
    /user 2 appears in the capture .* created as replay_user_2 \(no one knows its password\)/,
  ]);
});
