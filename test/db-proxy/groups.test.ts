/**
 * Groups: create (the creator is a member), info with members and version,
 * the normal-group list, member changes (version bump, permissions), shield,
 * group messages (membership, unread arithmetic, lastChated), history from the
 * join time, and members' recent sessions kept up by the background sync.
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { RemoteError } from '../../lib/errors';
import { waitFor } from '../helpers/wait';
import { harness, type Harness } from './harness';

const { GroupType, GroupModifyType, MsgType, SessionType } = IM.BaseDefine;
const GROUP = SessionType.SESSION_TYPE_GROUP;

function create(h: Harness, creator: number, members: number[], type = GroupType.GROUP_TYPE_TMP, name = 'team') {
  return h.request(
    IM.Group.IMGroupCreateReq,
    { user_id: creator, group_type: type, group_name: name, group_avatar: 'http://img/g.png', member_id_list: members },
    IM.Group.IMGroupCreateRsp,
  );
}

function change(h: Harness, requester: number, gid: number, type: IM.BaseDefine.GroupModifyType, ids: number[]) {
  return h.request(
    IM.Group.IMGroupChangeMemberReq,
    { user_id: requester, change_type: type, group_id: gid, member_id_list: ids },
    IM.Group.IMGroupChangeMemberRsp,
  );
}

function sendGroup(h: Harness, from: number, gid: number, text: string) {
  return h.send(from, gid, text, MsgType.MSG_TYPE_GROUP_TEXT);
}

async function unreadOf(h: Harness, user: number): Promise<Map<number, number>> {
  const rsp = await h.request(IM.Message.IMUnreadMsgCntReq, { user_id: user }, IM.Message.IMUnreadMsgCntRsp);
  return new Map(rsp.unreadinfo_list.filter((u) => u.session_type === GROUP).map((u) => [u.session_id, u.unread_cnt]));
}

const refusedWith = (e: unknown) => (e instanceof RemoteError ? e.reply : null);

t.test('create: creator added once, rows and Redis written; info and list', async (t) => {
  const h = await harness(t);
  const [a, b, c] = await h.addUsers('ann', 'ben', 'cid');
  const created = await create(h, a, [b, c, b]);
  t.match(created, { user_id: a, result_code: 0, group_name: 'team' });
  const gid = created.group_id!;
  t.same([...created.user_id_list].sort(), [a, b, c].sort(), 'the creator is a member even if not listed');
  const again = await create(h, a, [a, b]);
  t.same([...again.user_id_list].sort(), [a, b].sort(), 'a creator who lists themselves is not added twice');

  t.match((await h.rows('SELECT name, avatar, creator, type, userCnt, status, version, lastChated FROM IMGroup WHERE id = ?', [gid]))[0], {
    name: 'team',
    avatar: 'http://img/g.png',
    creator: a,
    type: GroupType.GROUP_TYPE_TMP,
    userCnt: 3,
    status: 0,
    version: 1,
    lastChated: 0,
  });
  t.same(
    (await h.rows('SELECT userId, status FROM IMGroupMember WHERE groupId = ? ORDER BY userId', [gid])).map((r) => [r.userId, r.status]),
    [a, b, c].sort((x, y) => x - y).map((u) => [u, 0]),
  );
  t.same(Object.keys(await h.redis.redis.hgetall(h.key(`group_member_${gid}`))).map(Number).sort(), [a, b, c].sort());
  t.equal(await h.redis.redis.get(h.key(`group_msg_id_${gid}`)), '0');

  const info = await h.request(IM.Group.IMGroupInfoListReq, { user_id: b, group_version_list: [{ group_id: gid, version: 0 }, { group_id: 424242, version: 0 }] }, IM.Group.IMGroupInfoListRsp);
  t.equal(info.group_info_list.length, 1, 'groups without members in Redis are left out');
  t.same(IM.BaseDefine.GroupInfo.toObject(info.group_info_list[0] as IM.BaseDefine.GroupInfo), {
    group_id: gid,
    version: 1,
    group_name: 'team',
    group_avatar: 'http://img/g.png',
    group_creator_id: a,
    group_type: GroupType.GROUP_TYPE_TMP,
    shield_status: 0,
    group_member_list: [a, b, c].sort((x, y) => x - y),
  });
  const upToDate = await h.request(IM.Group.IMGroupInfoListReq, { user_id: b, group_version_list: [{ group_id: gid, version: 1 }] }, IM.Group.IMGroupInfoListRsp);
  t.same(upToDate.group_info_list, [], 'nothing when the asker has the current version');

  const normal = await create(h, c, [a, c], GroupType.GROUP_TYPE_NORMAL, 'company');
  const list = await h.request(IM.Group.IMNormalGroupListReq, { user_id: a }, IM.Group.IMNormalGroupListRsp);
  t.same(list.group_version_list.map((g) => [g.group_id, g.version]), [[normal.group_id, 1]], 'only normal groups are listed');

  for (const [what, req] of [
    ['empty name', create(h, a, [b], GroupType.GROUP_TYPE_TMP, '')],
    ['no members', create(h, a, [])],
    ['bad type', create(h, a, [b], 7 as IM.BaseDefine.GroupType)],
  ] as const) {
    const reply = refusedWith(await req.catch((e: unknown) => e));
    t.match(reply, { result_code: 1 }, `${what}: refused`);
  }
});

t.test('change members: add and remove, version bump, creator rules, cur/chg lists', async (t) => {
  const h = await harness(t);
  const [a, b, c, d, e] = await h.addUsers('ann', 'ben', 'cid', 'dot', 'eve');
  const gid = (await create(h, a, [a, b])).group_id!;

  const added = await change(h, b, gid, GroupModifyType.GROUP_MODIFY_TYPE_ADD, [c, b, d]);
  t.match(added, { user_id: b, change_type: GroupModifyType.GROUP_MODIFY_TYPE_ADD, result_code: 0, group_id: gid });
  t.same(added.chg_user_id_list, [c, d], 'a member may add to a temporary group; existing members are not "changed"');
  t.same(added.cur_user_id_list, [a, b, c, d].sort((x, y) => x - y));
  t.match((await h.rows('SELECT version, userCnt FROM IMGroup WHERE id = ?', [gid]))[0], { version: 2, userCnt: 4 });

  const notCreator = refusedWith(await change(h, b, gid, GroupModifyType.GROUP_MODIFY_TYPE_DEL, [c]).catch((x: unknown) => x));
  t.match(notCreator, { result_code: 1 }, 'only the creator removes members');
  const outsider = refusedWith(await change(h, e, gid, GroupModifyType.GROUP_MODIFY_TYPE_ADD, [e]).catch((x: unknown) => x));
  t.match(outsider, { result_code: 1 }, 'a non-member cannot add (themselves) to a group');
  const missing = refusedWith(await change(h, a, 987654, GroupModifyType.GROUP_MODIFY_TYPE_ADD, [e]).catch((x: unknown) => x));
  t.match(missing, { result_code: 1, group_id: 987654 }, 'a missing group is answered too');

  await sendGroup(h, c, gid, 'hello from cid');
  await waitFor(async () => (await h.rows('SELECT id FROM IMRecentSession WHERE userId = ? AND peerId = ?', [c, gid])).length === 1, 3000, 'session');
  const removed = await change(h, a, gid, GroupModifyType.GROUP_MODIFY_TYPE_DEL, [c, e]);
  t.same(removed.chg_user_id_list, [c], 'only members can be removed');
  t.same(removed.cur_user_id_list, [a, b, d].sort((x, y) => x - y));
  t.match((await h.rows('SELECT version, userCnt FROM IMGroup WHERE id = ?', [gid]))[0], { version: 3, userCnt: 3 });
  t.same(await h.rows('SELECT status FROM IMGroupMember WHERE groupId = ? AND userId = ?', [gid, c]), [{ status: 1 }]);
  t.equal(await h.redis.redis.hget(h.key(`group_member_${gid}`), String(c)), null);
  t.same(await h.rows('SELECT status FROM IMRecentSession WHERE userId = ? AND peerId = ? AND type = 2', [c, gid]), [{ status: 1 }], "the removed member's session is gone");

  const back = await change(h, a, gid, GroupModifyType.GROUP_MODIFY_TYPE_ADD, [c]);
  t.same(back.chg_user_id_list, [c]);
  t.same(await h.rows('SELECT status FROM IMGroupMember WHERE groupId = ? AND userId = ?', [gid, c]), [{ status: 0 }], 'row reactivated');
  t.equal((await h.rows('SELECT id FROM IMGroupMember WHERE groupId = ?', [gid])).length, 4, 'not duplicated');
});

t.test('group messages: members only, unread arithmetic, lastChated, read ack, join time', async (t) => {
  const h = await harness(t);
  const [a, b, c, x] = await h.addUsers('ann', 'ben', 'cid', 'xan');
  const gid = (await create(h, a, [b])).group_id!;

  const outsider = await sendGroup(h, x, gid, 'let me in').catch((e: unknown) => e);
  t.ok(outsider instanceof RemoteError && (outsider.reply as IM.Message.IMMsgData).msg_id === 0, 'non-member: msg_id 0');
  const noGroup = await sendGroup(h, a, 555555, 'void').catch((e: unknown) => e);
  t.ok(noGroup instanceof RemoteError && (noGroup.reply as IM.Message.IMMsgData).msg_id === 0, 'missing group: msg_id 0');

  t.equal((await sendGroup(h, a, gid, 'g1')).msg_id, 1);
  t.equal((await sendGroup(h, a, gid, 'g2')).msg_id, 2);
  t.equal((await sendGroup(h, b, gid, 'g3')).msg_id, 3);
  const rows = await h.rows(`SELECT groupId, userId, msgId, content, type FROM IMGroupMessage_${gid % 8} ORDER BY msgId`);
  t.same(rows.map((r) => [r.groupId, r.userId, r.msgId, r.content, r.type]), [
    [gid, a, 1, 'g1', 17],
    [gid, a, 2, 'g2', 17],
    [gid, b, 3, 'g3', 17],
  ]);
  t.equal(await h.redis.redis.hget(h.key(`${gid}_im_group_msg`), 'count'), '3');
  t.equal(await h.redis.redis.hget(h.key(`${a}_${gid}_im_user_group`), 'count'), '2', "sender's copy taken at their last message");
  t.equal(await h.redis.redis.hget(h.key(`${b}_${gid}_im_user_group`), 'count'), '3');
  t.ok(Number((await h.rows('SELECT lastChated FROM IMGroup WHERE id = ?', [gid]))[0].lastChated) > 0, 'lastChated set');

  t.same(await unreadOf(h, a), new Map([[gid, 1]]), "ann has not read ben's message");
  t.same(await unreadOf(h, b), new Map(), 'ben has read everything up to his own message');
  const bUnread = await h.request(IM.Message.IMUnreadMsgCntReq, { user_id: a }, IM.Message.IMUnreadMsgCntRsp);
  t.match(bUnread.unreadinfo_list[0], { session_id: gid, session_type: GROUP, latest_msg_id: 3, latest_msg_from_user_id: b });

  h.conn.send(IM.Message.IMMsgDataReadAck, { user_id: a, session_id: gid, msg_id: 3, session_type: GROUP });
  t.same(await unreadOf(h, a), new Map(), 'read ack copies the group count');

  // Make the history so far older than the group's present: ann and ben joined before it, cid joins now.
  await h.db.pool.query(`UPDATE IMGroupMessage_${gid % 8} SET created = created - 100 WHERE groupId = ?`, [gid]);
  for (const member of [a, b]) {
    const joined = Number(await h.redis.redis.hget(h.key(`group_member_${gid}`), String(member)));
    await h.redis.redis.hset(h.key(`group_member_${gid}`), String(member), String(joined - 200));
  }
  await change(h, a, gid, GroupModifyType.GROUP_MODIFY_TYPE_ADD, [c]);
  t.same(await unreadOf(h, c), new Map(), 'a new member starts with nothing unread');
  await sendGroup(h, a, gid, 'welcome');
  t.same(await unreadOf(h, c), new Map([[gid, 1]]));
  t.same(await unreadOf(h, b), new Map([[gid, 1]]));

  const history = await h.request(
    IM.Message.IMGetMsgListReq,
    { user_id: c, session_type: GROUP, session_id: gid, msg_id_begin: 0, msg_cnt: 10 },
    IM.Message.IMGetMsgListRsp,
  );
  t.same(history.msg_list.map((m) => m.msg_id), [4], 'a member sees history from their join time on');
  const full = await h.request(
    IM.Message.IMGetMsgListReq,
    { user_id: b, session_type: GROUP, session_id: gid, msg_id_begin: 3, msg_cnt: 2 },
    IM.Message.IMGetMsgListRsp,
  );
  t.same(full.msg_list.map((m) => [m.msg_id, m.from_session_id]), [[3, b], [2, a]]);
  const foreign = await h.request(
    IM.Message.IMGetMsgListReq,
    { user_id: x, session_type: GROUP, session_id: gid, msg_id_begin: 0, msg_cnt: 10 },
    IM.Message.IMGetMsgListRsp,
  );
  t.same(foreign.msg_list, [], 'non-members read nothing');
  const latest = await h.request(IM.Message.IMGetLatestMsgIdReq, { user_id: b, session_type: GROUP, session_id: gid }, IM.Message.IMGetLatestMsgIdRsp);
  t.equal(latest.latest_msg_id, 4);
  const byId = await h.request(IM.Message.IMGetMsgByIdReq, { user_id: c, session_type: GROUP, session_id: gid, msg_id_list: [1, 4] }, IM.Message.IMGetMsgByIdRsp);
  t.same(byId.msg_list.map((m) => m.msg_id), [4], 'by id also respects the join time');
});

t.test("members' recent sessions follow group activity (background sync)", async (t) => {
  const h = await harness(t);
  const [a, b, c] = await h.addUsers('ann', 'ben', 'cid');
  const gid = (await create(h, a, [b, c])).group_id!;
  await sendGroup(h, a, gid, 'hi all');
  t.same(
    (await h.rows('SELECT userId FROM IMRecentSession WHERE peerId = ? AND type = 2', [gid])).map((r) => Number(r.userId)),
    [a],
    "the store writes the sender's session at once",
  );
  await waitFor(
    async () => (await h.rows('SELECT id FROM IMRecentSession WHERE peerId = ? AND type = 2 AND status = 0', [gid])).length === 3,
    5000,
    'the sync to create the members\' sessions',
  );
  const recent = await h.request(IM.Buddy.IMRecentContactSessionReq, { user_id: c, latest_update_time: 0 }, IM.Buddy.IMRecentContactSessionRsp);
  t.match(recent.contact_session_list, [{ session_id: gid, session_type: GROUP, latest_msg_id: 1, latest_msg_from_user_id: a }]);
  t.equal(Buffer.from(recent.contact_session_list[0].latest_msg_data).toString(), 'hi all');
});

t.test('shield a group, and the shield lookup of the push pipeline', async (t) => {
  const h = await harness(t);
  const [a, b, x] = await h.addUsers('ann', 'ben', 'xan');
  const gid = (await create(h, a, [b])).group_id!;
  const shield = await h.request(IM.Group.IMGroupShieldReq, { user_id: b, group_id: gid, shield_status: 1 }, IM.Group.IMGroupShieldRsp);
  t.match(shield, { user_id: b, group_id: gid, result_code: 0 });
  t.equal(await h.redis.redis.hget(h.key(`group_set_${gid}`), `${b}_1`), '1');
  const outsider = refusedWith(
    await h.request(IM.Group.IMGroupShieldReq, { user_id: x, group_id: gid, shield_status: 1 }, IM.Group.IMGroupShieldRsp).catch((e: unknown) => e),
  );
  t.match(outsider, { result_code: 1 }, 'only members');
  const lookup = await h.request(IM.Server.IMGroupGetShieldReq, { group_id: gid, user_id: [a, b], attach_data: Buffer.from('msg') }, IM.Server.IMGroupGetShieldRsp);
  t.same(
    lookup.shield_status_list.map((s) => [s.user_id, s.group_id, s.shield_status]),
    [
      [a, gid, 0],
      [b, gid, 1],
    ],
  );
  t.equal(Buffer.from(lookup.attach_data).toString(), 'msg');
});

t.test('group audio message round trip', async (t) => {
  const h = await harness(t);
  const [a, b] = await h.addUsers('ann', 'ben');
  const gid = (await create(h, a, [b])).group_id!;
  const payload = Buffer.concat([Buffer.from([0, 0, 0, 4]), Buffer.from('voice-bytes')]);
  t.equal((await h.send(a, gid, payload, MsgType.MSG_TYPE_GROUP_AUDIO)).msg_id, 1);
  t.match((await h.rows('SELECT toId, size, duration FROM IMAudio'))[0], { toId: gid, size: 11, duration: 4 });
  const list = await h.request(
    IM.Message.IMGetMsgListReq,
    { user_id: b, session_type: GROUP, session_id: gid, msg_id_begin: 0, msg_cnt: 1 },
    IM.Message.IMGetMsgListRsp,
  );
  t.same(Buffer.from(list.msg_list[0].msg_data), payload);
});
