/**
 * The pure rules behind replaying a capture from another deployment: protocol
 * comparison and ordering rules, which fields are protocol values, department
 * id rewriting, what a capture shows about the state before it started (login
 * outcomes, unread counts less the capture's own messages, update times), the
 * earlier-state split, and the JUnit report.
 */
import t from 'tap';
import { CID, IM, type BodyOf, type MessageClass } from '../../pdu/commands';
import { encodePdu } from '../../pdu/encode';
import { readFrame } from '../../pdu/frame';
import { pduRecord, type CaptureRecord } from '../../tools/capture/format';
import { readCaptureFacts } from '../../tools/replay/capture-facts';
import { DEFAULT_IGNORED_FIELDS, IgnoreList, diffValues } from '../../tools/replay/compare';
import { splitEarlierState } from '../../tools/replay/earlier-state';
import { formatJunit } from '../../tools/replay/junit';
import { protocolValuePaths, protocolValueTest } from '../../tools/replay/protocol-fields';
import type { ConnectionReport, ReplayReport } from '../../tools/replay/replay';
import { IdMaps, learnIds, mapIds } from '../../tools/replay/rewrite';

const { SessionType, MsgType, ResultType } = IM.BaseDefine;
const ignore = new IgnoreList(DEFAULT_IGNORED_FIELDS);

t.test('protocol mode compares result codes, enums, presence, types and lengths, not values', async (t) => {
  const login = (nick: string, result: string, extra: Record<string, unknown> = {}) => ({
    header: { seq: 1 },
    result_code: result,
    online_status: 'USER_STATUS_ONLINE',
    user_info: { user_id: 3, user_nick_name: nick, status: 0, ...extra },
  });
  const protocol = { mode: 'protocol' as const, isProtocolValue: protocolValueTest(CID.LOGIN_RES_USERLOGIN) };
  t.same(diffValues(login('Alice', 'REFUSE_REASON_NONE'), login('Someone else', 'REFUSE_REASON_NONE'), ignore, protocol), [], 'profile values may differ');
  t.same(diffValues(login('Alice', 'REFUSE_REASON_NONE'), login('Someone else', 'REFUSE_REASON_NONE'), ignore).length, 1, 'exact mode: they may not');
  t.same(diffValues(login('A', 'REFUSE_REASON_NONE'), login('A', 'REFUSE_REASON_DB_VALIDATE_FAILED'), ignore, protocol), [
    { path: 'result_code', expected: 'REFUSE_REASON_NONE', actual: 'REFUSE_REASON_DB_VALIDATE_FAILED' },
  ]);
  t.same(diffValues(login('A', 'X'), login('A', 'X', { sign_info: 'hi' }), ignore, protocol), [
    { path: 'user_info.sign_info', expected: undefined, actual: 'hi' },
  ], 'a field present on one side only');
  t.same(diffValues(login('A', 'X'), login('A', 'X', { user_nick_name: 7 }), ignore, protocol), [
    { path: 'user_info.user_nick_name', expected: 'A', actual: 7 },
  ], 'another type');
  t.same(diffValues({ header: { seq: 1 } }, { header: { seq: 2 } }, ignore, protocol), [{ path: 'header.seq', expected: 1, actual: 2 }], 'the header is protocol');

  const users = (n: number) => ({ user_list: Array.from({ length: n }, (_, i) => ({ user_id: i, user_nick_name: `u${i}` })) });
  const allUsers = { mode: 'protocol' as const, isProtocolValue: protocolValueTest(CID.BUDDY_LIST_ALL_USER_RESPONSE) };
  t.same(diffValues(users(2), { user_list: [{ user_id: 9, user_nick_name: 'x' }, { user_id: 8, user_nick_name: 'y' }] }, ignore, allUsers), []);
  t.same(diffValues(users(2), users(3), ignore, allUsers), [{ path: 'user_list.length', expected: 2, actual: 3 }]);

  const stats = { mode: 'protocol' as const, isProtocolValue: protocolValueTest(CID.BUDDY_LIST_USERS_STATUS_RESPONSE) };
  t.equal(
    diffValues({ user_stat_list: [{ user_id: 1, status: 'USER_STATUS_ONLINE' }] }, { user_stat_list: [{ user_id: 2, status: 'USER_STATUS_OFFLINE' }] }, ignore, stats).length,
    1,
    'an enum inside a list is compared, the id beside it is not',
  );
});

t.test('protocol values come from the .proto schema', async (t) => {
  const login = protocolValuePaths(CID.LOGIN_RES_USERLOGIN);
  t.ok(login.has('result_code') && login.has('online_status'), 'result code and enum fields');
  t.notOk(login.has('user_info.status'), 'UserInfo.status is a number, data');
  t.notOk(login.has('user_info.user_nick_name'));
  t.ok(protocolValuePaths(CID.BUDDY_LIST_USERS_STATUS_RESPONSE).has('user_stat_list.status'), 'UserStat.status is an enum');
  t.ok(protocolValuePaths(CID.MSG_UNREAD_CNT_RESPONSE).has('unreadinfo_list.session_type'));
  t.ok(protocolValuePaths(CID.GROUP_CREATE_RESPONSE).has('result_code'), 'a uint32 result_code too');
});

t.test('ordering rules hold in both modes, whatever is ignored', async (t) => {
  const sessions = (...times: number[]) => ({ contact_session_list: times.map((updated_time, i) => ({ session_id: i, updated_time, latest_msg_data: 'x' })) });
  for (const mode of ['exact', 'protocol'] as const) {
    const options = { mode, isProtocolValue: () => false };
    t.same(diffValues(sessions(30, 20, 10), sessions(9, 8, 8), ignore, options), [], `${mode}: other times, same order`);
    t.same(diffValues(sessions(30, 20, 10), sessions(8, 9, 7), ignore, options), [
      { path: 'contact_session_list', expected: 'ordered most recently updated first (updated_time descending)', actual: 'updated_time [8,9,7]' },
    ], `${mode}: out of order`);
  }
  t.same(diffValues(sessions(10, 20), sessions(1, 2), ignore), [], 'a recording that does not follow the rule sets none');
  const history = (...ids: number[]) => ({ msg_list: ids.map((msg_id) => ({ msg_id, msg_data: 'x' })) });
  t.equal(diffValues(history(5, 4), history(4, 5), ignore).length, 1, 'history newest first');
});

t.test('department ids pair up by name and are rewritten', async (t) => {
  const maps = new IdMaps();
  const learned = learnIds(
    CID.BUDDY_LIST_DEPARTMENT_RESPONSE,
    { dept_list: [{ dept_id: 3, dept_name: 'Engineering' }, { dept_id: 4, dept_name: 'Team' }, { dept_id: 5, dept_name: 'Team' }] },
    { dept_list: [{ dept_id: 2, dept_name: 'Engineering' }, { dept_id: 7, dept_name: 'Team' }] },
    maps,
  );
  t.same(learned, ['department id 3 -> 2 (Engineering)'], 'a name used twice pairs nothing');
  t.same(mapIds({ user_info: { department_id: 3 }, dept_list: [{ dept_id: 3, parent_dept_id: 3 }] }, maps), {
    user_info: { department_id: 2 },
    dept_list: [{ dept_id: 2, parent_dept_id: 2 }],
  });
});

/** A hand-built capture: records as the proxy would emit them. */
class CaptureBuilder {
  readonly records: CaptureRecord[] = [];
  private t = 0;
  open(conn: number): this {
    this.records.push({ type: 'open', conn, time: new Date(0).toISOString(), t: this.t++, client: `10.0.0.${conn}:5000`, server: '10.0.0.100:8000' });
    return this;
  }
  pdu<T extends MessageClass>(conn: number, dir: 'c2s' | 's2c', type: T, body: BodyOf<T>, seq = 0): this {
    const frame = encodePdu(type, body, seq);
    this.records.push(pduRecord(conn, dir, readFrame(frame, 0, frame.length), 0, this.t++));
    return this;
  }
  login(conn: number, name: string, userId: number, seq = 1): this {
    this.open(conn);
    this.pdu(conn, 'c2s', IM.Login.IMLoginReq, { user_name: name, password: 'd1', online_status: 1, client_type: 1, client_version: 'x' }, seq);
    const user_info = { user_id: userId, user_gender: 0, user_nick_name: name, avatar_url: '', department_id: 1, email: '', user_real_name: name, user_tel: '', user_domain: name, status: 0 };
    return this.pdu(conn, 's2c', IM.Login.IMLoginRes, { server_time: 1, result_code: ResultType.REFUSE_REASON_NONE, user_info }, seq);
  }
}

const unreadInfo = (session_id: number, session_type: number, unread_cnt: number, latest_msg_id: number, from: number) => ({
  session_id,
  session_type,
  unread_cnt,
  latest_msg_id,
  latest_msg_data: Buffer.from(`m${latest_msg_id}`),
  latest_msg_type: session_type === SessionType.SESSION_TYPE_GROUP ? MsgType.MSG_TYPE_GROUP_TEXT : MsgType.MSG_TYPE_SINGLE_TEXT,
  latest_msg_from_user_id: from,
});

t.test('what a capture shows about the state before it', async (t) => {
  const BOB = 7;
  const CAROL = 9;
  const DAVE = 11;
  const GROUP = 30;
  const c = new CaptureBuilder();
  c.login(1, 'bob', BOB).login(2, 'carol', CAROL);
  // carol writes to bob during the capture: msg 5 of their conversation.
  c.pdu(2, 'c2s', IM.Message.IMMsgData, { from_user_id: CAROL, to_session_id: BOB, msg_id: 0, create_time: 0, msg_type: MsgType.MSG_TYPE_SINGLE_TEXT, msg_data: Buffer.from('m5') }, 2);
  c.pdu(2, 's2c', IM.Message.IMMsgDataAck, { user_id: CAROL, session_id: BOB, msg_id: 5, session_type: SessionType.SESSION_TYPE_SINGLE }, 2);
  // bob then sees 3 from carol (one of them that message) and 2 in a group.
  c.pdu(1, 'c2s', IM.Message.IMUnreadMsgCntReq, { user_id: BOB }, 2);
  c.pdu(1, 's2c', IM.Message.IMUnreadMsgCntRsp, { user_id: BOB, total_cnt: 5, unreadinfo_list: [unreadInfo(CAROL, 1, 3, 5, CAROL), unreadInfo(GROUP, 2, 2, 8, 1)] }, 2);
  // dave reads carol's session, yet is shown 1 unread from her: that does not add up.
  c.login(3, 'dave', DAVE);
  c.pdu(3, 'c2s', IM.Message.IMMsgDataReadAck, { user_id: DAVE, session_id: CAROL, msg_id: 2, session_type: SessionType.SESSION_TYPE_SINGLE });
  c.pdu(3, 'c2s', IM.Message.IMUnreadMsgCntReq, { user_id: DAVE }, 2);
  c.pdu(3, 's2c', IM.Message.IMUnreadMsgCntRsp, { user_id: DAVE, total_cnt: 1, unreadinfo_list: [unreadInfo(CAROL, 1, 1, 2, CAROL)] }, 2);
  // A directory sync since T=100 lists bob only; a full one lists both.
  c.pdu(1, 'c2s', IM.Buddy.IMAllUserReq, { user_id: BOB, latest_update_time: 100 }, 3);
  const info = (user_id: number, name: string) => ({ user_id, user_gender: 0, user_nick_name: name, avatar_url: '', department_id: 1, email: '', user_real_name: name, user_tel: '', user_domain: name, status: 0 });
  c.pdu(1, 's2c', IM.Buddy.IMAllUserRsp, { user_id: BOB, latest_update_time: 150, user_list: [info(BOB, 'bob')] }, 3);
  c.pdu(1, 'c2s', IM.Buddy.IMAllUserReq, { user_id: BOB, latest_update_time: 0 }, 4);
  c.pdu(1, 's2c', IM.Buddy.IMAllUserRsp, { user_id: BOB, latest_update_time: 150, user_list: [info(BOB, 'bob'), info(CAROL, 'carol'), { ...info(DAVE, 'dave'), status: 3 }] }, 4);
  // bob adds dave to a group, then looks at it: before the capture, dave was not in it.
  c.pdu(1, 'c2s', IM.Group.IMGroupChangeMemberReq, { user_id: BOB, change_type: 1, group_id: 40, member_id_list: [DAVE] }, 5);
  c.pdu(1, 's2c', IM.Group.IMGroupChangeMemberRsp, { user_id: BOB, change_type: 1, result_code: 0, group_id: 40, cur_user_id_list: [BOB, DAVE], chg_user_id_list: [DAVE] }, 5);
  c.pdu(1, 'c2s', IM.Group.IMGroupInfoListReq, { user_id: BOB, group_version_list: [{ group_id: 40, version: 0 }] }, 6);
  const groupInfo = { group_id: 40, version: 3, group_name: 'g', group_avatar: '', group_creator_id: BOB, group_type: 2, shield_status: 0, group_member_list: [BOB, DAVE] };
  c.pdu(1, 's2c', IM.Group.IMGroupInfoListRsp, { user_id: BOB, group_info_list: [groupInfo] }, 6);
  // eve's login fails.
  c.open(4).pdu(4, 'c2s', IM.Login.IMLoginReq, { user_name: 'eve', password: 'd2', online_status: 1, client_type: 1, client_version: 'x' }, 1);
  c.pdu(4, 's2c', IM.Login.IMLoginRes, { server_time: 1, result_code: ResultType.REFUSE_REASON_DB_VALIDATE_FAILED, result_string: 'no' }, 1);

  const facts = readCaptureFacts(c.records);
  t.same(
    facts.logins.map((l) => [l.userName, l.outcome, l.userId]),
    [
      ['bob', 'succeeded', BOB],
      ['carol', 'succeeded', CAROL],
      ['dave', 'succeeded', DAVE],
      ['eve', 'failed', undefined],
    ],
  );
  t.same(facts.unread, [
    {
      userId: BOB,
      sessions: [
        { sessionId: CAROL, sessionType: 1, count: 2 },
        { sessionId: GROUP, sessionType: 2, count: 2 },
      ],
      certain: true,
    },
    { userId: DAVE, sessions: [{ sessionId: CAROL, sessionType: 1, count: 0 }], certain: false },
  ], "bob's count less the message the capture sent; dave's after his read cannot be right");
  t.same(facts.firstCaptureMsgId, new Map([[`single:${BOB}:${CAROL}`, 5]]));
  t.same(
    facts.messages.map((m) => [m.group, m.fromId, m.toId, m.msgId, m.summaryOnly]),
    [
      [false, CAROL, DAVE, 2, true],
      [true, 1, GROUP, 8, true],
    ],
    "the capture's own message 5 is not one to provision",
  );
  t.same(facts.userUpdated, new Map([[BOB, 100], [CAROL, 99], [DAVE, 99]]), 'listed since T: updated >= T; not listed: before T');
  t.equal(facts.users.get(DAVE)?.status, 3, 'the list knows dave left; his login reply said 0');
  t.same([...facts.usersWithoutProfile], [1], 'the group sender has no profile');
  t.match(facts.groups.get(40), { members: [BOB], version: 2 }, 'the group as it was before the capture added dave');
});

t.test('earlier-state differences are split off unless that state was recreated', async (t) => {
  const diffs = [
    { path: 'total_cnt', expected: 2, actual: 0 },
    { path: 'unreadinfo_list[0].unread_cnt', expected: 2, actual: 0 },
    { path: 'user_id', expected: 1, actual: 2 },
  ];
  t.same(splitEarlierState(CID.MSG_UNREAD_CNT_RESPONSE, diffs, 7, null), { real: [diffs[2]], earlier: diffs.slice(0, 2) });
  t.same(splitEarlierState(CID.MSG_UNREAD_CNT_RESPONSE, diffs, 7, { unread: [7], recent: [], history: false }), { real: diffs, earlier: [] });
  t.same(splitEarlierState(CID.MSG_UNREAD_CNT_RESPONSE, diffs, 8, { unread: [7], recent: [], history: true }).earlier.length, 2, 'another user');
  t.same(splitEarlierState(CID.LOGIN_RES_USERLOGIN, diffs, 7, null), { real: diffs, earlier: [] }, 'other replies are always compared');
});

function connectionReport(conn: number, over: Partial<ConnectionReport>): ConnectionReport {
  return {
    conn,
    client: `127.0.0.1:${5000 + conn}`,
    user: '',
    server: '127.0.0.1:8000',
    sent: 1,
    matched: 1,
    mismatched: [],
    earlierState: [],
    missing: [],
    unexpected: [],
    notReplayed: 0,
    durationMs: 1500,
    problems: [],
    notes: [],
    ...over,
  };
}

t.test('JUnit: one testcase per connection, outcomes, escaping', async (t) => {
  const report: ReplayReport = {
    ok: false,
    compare: 'protocol',
    stopped: { conn: 3, reason: 'the login of carol failed' },
    connections: [
      connectionReport(1, { user: 'alice', earlierState: [{ expected: { name: 'CID_MSG_UNREAD_CNT_RESPONSE', command: 0x308, seq: 2 }, diffs: [{ path: 'total_cnt', expected: 1, actual: 0 }] }] }),
      connectionReport(2, {
        user: 'bob',
        mismatched: [{ expected: { name: 'CID_LOGIN_RES_USERLOGIN', command: 0x104, seq: 1, line: 4 }, diffs: [{ path: 'user_info.user_nick_name', expected: 'a<b>&"c"\u0001', actual: 'x' }] }],
      }),
      connectionReport(3, { user: 'carol', notReplayed: 2 }),
      connectionReport(4, { notReplayed: 3, matched: 0 }),
      connectionReport(5, { problems: ['cannot connect to 127.0.0.1:1: ECONNREFUSED'], matched: 0 }),
    ],
    totals: { matched: 3, mismatched: 1, earlierState: 1, missing: 0, unexpected: 0, problems: 1, notReplayed: 5 },
    userIds: [],
    groupIds: [],
    departmentIds: [],
    ignored: ['msg_id'],
    durationMs: 4200,
  };
  const xml = formatJunit(report, '/tmp/prod capture.jsonl');
  t.match(xml, /<testsuites name="teamtalk replay" tests="5" failures="2" errors="1" skipped="1" time="4\.200">/);
  t.match(xml, /<testsuite name="replay of prod capture\.jsonl" tests="5"/);
  t.match(xml, /<property name="compare" value="protocol: result codes/);
  t.match(xml, /<property name="stopped" value="connection 3: the login of carol failed"\/>/);
  const cases = xml.split('<testcase ').slice(1);
  t.equal(cases.length, 5);
  t.match(cases[0], /^classname="replay\.prod_capture" name="connection 1 \(alice\) from 127\.0\.0\.1:5001" time="1\.500">\n {6}<system-out>[^<]*EARLIER STATE CID_MSG_UNREAD_CNT_RESPONSE/);
  t.match(cases[1], /<failure message="1 mismatched, 0 missing, 0 unexpected" type="replay\.mismatch">/);
  t.match(cases[1], /expected &quot;a&lt;b&gt;&amp;\\&quot;c\\&quot;\\u0001&quot;, got &quot;x&quot;/, 'escaped, and the control character shown as JSON');
  t.match(cases[2], /<failure message="replay stopped: the login of carol failed"/);
  t.match(cases[3], /<skipped message="the replay stopped before this connection was replayed"\/>/);
  t.match(cases[4], /<error message="cannot connect to 127\.0\.0\.1:1: ECONNREFUSED" type="replay\.problem">/);
  t.notMatch(xml, /[\u0000-\u0008]/, 'no character XML cannot hold');
});
