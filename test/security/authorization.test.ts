/**
 * Authorization on every client command, tried the way a hostile logged-in
 * client would (README "Security: who may do what"): each test asks for
 * something it may not have and checks it got nothing, and that nothing was
 * written on its behalf.
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { encryptMessageText } from '../../lib/message-crypto';
import { setUserStatus, UserStatus } from '../../scripts/db/accounts';
import { startCluster, type TestCluster } from '../helpers/cluster';
import type { ImClient } from '../../tools/client/im-client';

const { GroupType, SessionType, MsgType, ClientType } = IM.BaseDefine;

async function groupOf(owner: ImClient, name: string, members: number[]): Promise<number> {
  const rsp = await owner.request(
    IM.Group.IMGroupCreateReq,
    { user_id: owner.userId, group_type: GroupType.GROUP_TYPE_TMP, group_name: name, group_avatar: '', member_id_list: members },
    IM.Group.IMGroupCreateRsp,
  );
  return rsp.group_id;
}

/** Sends a message without waiting for an ack, then waits for the msg server to log that the db-proxy refused it. */
async function sendRefused(cluster: TestCluster, from: ImClient, to: number, msgType: number, what: string): Promise<void> {
  const before = cluster.logs.length;
  let acked = false;
  from.conn
    .request(
      IM.Message.IMMsgData,
      { from_user_id: from.userId, to_session_id: to, msg_id: 0, create_time: 0, msg_type: msgType, msg_data: encryptMessageText(what) },
      IM.Message.IMMsgDataAck,
    )
    .then(
      () => (acked = true),
      () => undefined,
    );
  await cluster.logLine((l) => cluster.logs.indexOf(l) >= before && l.msg === 'db-proxy refused the message; no ack sent' && l.to === to, `refusal of "${what}"`);
  t.notOk(acked, `"${what}" was not acknowledged`);
}

t.test('who may do what', async (t) => {
  const cluster = await startCluster(t, { captureLogs: true });
  const [aliceId, bobId, carolId, malloryId, gonerId] = await cluster.addUsers(['alice', 'bob', 'carol', 'mallory', 'goner']);
  const alice = await cluster.loginAs('alice', 0);
  const bob = await cluster.loginAs('bob', 1);
  const mallory = await cluster.loginAs('mallory', 1);
  const privateGroup = await groupOf(alice, 'private', [bobId, carolId]);
  const inGroup = await alice.sendText(privateGroup, 'members only', { group: true });
  await alice.sendText(bobId, 'between alice and bob');
  const countRows = async (sql: string, params: unknown[]) => Number((await cluster.query<{ n: number }>(sql, params))[0].n);

  await t.test('group info: members only', async (t) => {
    const asked = { user_id: malloryId, group_version_list: [{ group_id: privateGroup, version: 0 }] };
    const outsider = await mallory.request(IM.Group.IMGroupInfoListReq, asked, IM.Group.IMGroupInfoListRsp);
    t.same(outsider.group_info_list, [], 'a non-member learns nothing about the group, not even its name');
    // Sequential ids: walking them gives an outsider nothing either.
    const walk = await mallory.request(
      IM.Group.IMGroupInfoListReq,
      { user_id: malloryId, group_version_list: Array.from({ length: 20 }, (_, i) => ({ group_id: i + 1, version: 0 })) },
      IM.Group.IMGroupInfoListRsp,
    );
    t.same(walk.group_info_list, []);
    const member = await bob.request(IM.Group.IMGroupInfoListReq, { ...asked, user_id: bobId }, IM.Group.IMGroupInfoListRsp);
    t.equal(member.group_info_list[0]?.group_name, 'private', 'a member gets it');
  });

  await t.test('group history, message by id, latest id: members only', async (t) => {
    const history = await mallory.request(
      IM.Message.IMGetMsgListReq,
      { user_id: malloryId, session_type: SessionType.SESSION_TYPE_GROUP, session_id: privateGroup, msg_id_begin: 0, msg_cnt: 20 },
      IM.Message.IMGetMsgListRsp,
    );
    t.same(history.msg_list, []);
    const byId = await mallory.request(
      IM.Message.IMGetMsgByIdReq,
      { user_id: malloryId, session_type: SessionType.SESSION_TYPE_GROUP, session_id: privateGroup, msg_id_list: [inGroup.msg_id] },
      IM.Message.IMGetMsgByIdRsp,
    );
    t.same(byId.msg_list, []);
    const latest = await mallory.request(
      IM.Message.IMGetLatestMsgIdReq,
      { user_id: malloryId, session_type: SessionType.SESSION_TYPE_GROUP, session_id: privateGroup },
      IM.Message.IMGetLatestMsgIdRsp,
    );
    t.equal(latest.latest_msg_id, 0);
  });

  await t.test("single history: only one's own conversations, whatever user_id the request names", async (t) => {
    const forged = await mallory.request(
      IM.Message.IMGetMsgListReq,
      { user_id: aliceId, session_type: SessionType.SESSION_TYPE_SINGLE, session_id: bobId, msg_id_begin: 0, msg_cnt: 20 },
      IM.Message.IMGetMsgListRsp,
    );
    t.equal(forged.user_id, malloryId, 'answered as mallory');
    t.same(forged.msg_list, [], "mallory and bob never talked: alice's conversation is not returned");
    const byId = await mallory.request(
      IM.Message.IMGetMsgByIdReq,
      { user_id: aliceId, session_type: SessionType.SESSION_TYPE_SINGLE, session_id: bobId, msg_id_list: [1, 2, 3] },
      IM.Message.IMGetMsgByIdRsp,
    );
    t.same(byId.msg_list, []);
    const unread = await mallory.request(IM.Message.IMUnreadMsgCntReq, { user_id: bobId }, IM.Message.IMUnreadMsgCntRsp);
    t.equal(unread.user_id, malloryId, "unread counts are one's own");
    t.equal(unread.total_cnt, 0);
  });

  await t.test('read acks: a group read ack from a non-member writes nothing', async (t) => {
    mallory.readAck(privateGroup, 1, true);
    mallory.readAck(999_999, 1, true);
    // A request after the acks on the same connection: by its answer both acks were handled.
    await mallory.unreadCounts();
    const keys = await cluster.redis.redis.keys(`${cluster.redis.prefix}${malloryId}_*`);
    t.same(keys, [], 'no Redis key was created for mallory');
  });

  await t.test('messages: only to existing, enabled users and to groups the sender is in', async (t) => {
    await sendRefused(cluster, mallory, 4_000_000, MsgType.MSG_TYPE_SINGLE_TEXT, 'to nobody');
    await setUserStatus(cluster.db.pool, 'goner', UserStatus.DISABLED);
    await sendRefused(cluster, mallory, gonerId, MsgType.MSG_TYPE_SINGLE_TEXT, 'to a disabled account');
    await sendRefused(cluster, mallory, privateGroup, MsgType.MSG_TYPE_GROUP_TEXT, 'into a group mallory is not in');
    t.equal(await countRows('SELECT COUNT(*) AS n FROM IMRelationShip WHERE smallId = ? OR bigId = ?', [malloryId, malloryId]), 0, 'no relation row');
    t.equal(await countRows('SELECT COUNT(*) AS n FROM IMRecentSession WHERE userId = ? OR peerId = ?', [malloryId, malloryId]), 0, 'no session row');
    t.equal(await cluster.redis.redis.exists(`${cluster.redis.prefix}unread_4000000`, `${cluster.redis.prefix}unread_${gonerId}`), 0, 'no unread hash');
    const ack = await mallory.sendText(bobId, 'an ordinary message still goes');
    t.ok(ack.msg_id > 0);
  });

  await t.test('groups: members must be existing, enabled users; only the creator removes', async (t) => {
    const group = await groupOf(mallory, 'mine', [bobId, 5_000_000, gonerId]);
    const info = await mallory.request(
      IM.Group.IMGroupInfoListReq,
      { user_id: malloryId, group_version_list: [{ group_id: group, version: 0 }] },
      IM.Group.IMGroupInfoListRsp,
    );
    t.same([...(info.group_info_list[0]?.group_member_list ?? [])].sort((a, b) => a - b), [bobId, malloryId].sort((a, b) => a - b), 'unknown and disabled ids are left out');
    const add = await mallory.request(
      IM.Group.IMGroupChangeMemberReq,
      { user_id: malloryId, change_type: IM.BaseDefine.GroupModifyType.GROUP_MODIFY_TYPE_ADD, group_id: group, member_id_list: [6_000_000] },
      IM.Group.IMGroupChangeMemberRsp,
    );
    t.not(add.result_code, 0, 'adding only unknown ids fails');
    const remove = await bob.request(
      IM.Group.IMGroupChangeMemberReq,
      { user_id: bobId, change_type: IM.BaseDefine.GroupModifyType.GROUP_MODIFY_TYPE_DEL, group_id: privateGroup, member_id_list: [carolId] },
      IM.Group.IMGroupChangeMemberRsp,
    );
    t.not(remove.result_code, 0, 'a member who is not the creator cannot remove others');
    t.equal(await countRows('SELECT COUNT(*) AS n FROM IMGroupMember WHERE userId IN (?)', [[5_000_000, 6_000_000]]), 0, 'no member rows for unknown ids');
  });

  await t.test('P2P commands and sign info carry the real sender', async (t) => {
    mallory.send(IM.SwitchService.IMP2PCmdMsg, { from_user_id: aliceId, to_user_id: bobId, cmd_msg_data: 'typing' });
    const got = await bob.next(IM.SwitchService.IMP2PCmdMsg, (m) => m.cmd_msg_data === 'typing');
    t.equal(got.from_user_id, malloryId, 'mallory cannot speak as alice');
    const sign = await mallory.request(IM.Buddy.IMChangeSignInfoReq, { user_id: aliceId, sign_info: 'pwned' }, IM.Buddy.IMChangeSignInfoRsp);
    t.equal(sign.user_id, malloryId);
    const [row] = await cluster.query<{ sign_info: string }>('SELECT sign_info FROM IMUser WHERE id = ?', [aliceId]);
    t.not(row.sign_info, 'pwned', "alice's signature is unchanged");
  });

  await t.test('offline files: only to existing users; only the two parties delete', async (t) => {
    mallory.send(IM.File.IMFileAddOfflineReq, { from_user_id: malloryId, to_user_id: 7_000_000, task_id: 'task-1', file_name: 'x', file_size: 1 });
    mallory.send(IM.File.IMFileAddOfflineReq, { from_user_id: malloryId, to_user_id: bobId, task_id: 'task-2', file_name: 'y', file_size: 1 });
    await cluster.logLine((l) => l.msg === 'offline file refused: the receiver is not an enabled user', 'refused offline file');
    const has = await bob.request(IM.File.IMFileHasOfflineReq, { user_id: bobId }, IM.File.IMFileHasOfflineRsp);
    t.same(has.offline_file_list.map((f) => f.task_id), ['task-2']);
    mallory.send(IM.File.IMFileDelOfflineReq, { from_user_id: aliceId, to_user_id: bobId, task_id: 'task-2' });
    const still = await bob.request(IM.File.IMFileHasOfflineReq, { user_id: bobId }, IM.File.IMFileHasOfflineRsp);
    t.equal(still.offline_file_list.length, 1, "a third party cannot delete someone else's transfer");
    t.equal(await countRows('SELECT COUNT(*) AS n FROM IMTransmitFile WHERE toId = ?', [7_000_000]), 0);
  });

  await t.test('a PC cannot kick the phone, and only a phone stores a push token', async (t) => {
    const phone = await cluster.loginAs('carol', 0, { clientType: ClientType.CLIENT_TYPE_ANDROID });
    const pc = await cluster.loginAs('carol', 1);
    pc.send(IM.Login.IMKickPCClientReq, { user_id: carolId });
    pc.send(IM.Login.IMDeviceTokenReq, { user_id: carolId, device_token: 'pc-token', client_type: ClientType.CLIENT_TYPE_WINDOWS });
    await pc.unreadCounts();
    t.ok(phone.isOpen && pc.isOpen, 'nobody was kicked');
    t.equal(await cluster.redis.redis.get(`${cluster.redis.prefix}device_${carolId}`), null, 'no token from a PC');
  });
});
