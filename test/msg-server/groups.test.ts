/**
 * Groups end to end: create, info, member changes notified across msg servers,
 * and group messages fanned out to every member's devices on every server.
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { decryptMessageText } from '../../lib/message-crypto';
import { startCluster, type TestCluster } from '../helpers/cluster';
import type { Test } from 'tap';
import { sleep, waitFor } from '../helpers/wait';
import type { ImClient } from '../../tools/client/im-client';

const { GroupType, GroupModifyType, ClientType, SessionType } = IM.BaseDefine;

async function createGroup(owner: ImClient, name: string, members: number[]) {
  return owner.request(
    IM.Group.IMGroupCreateReq,
    { user_id: owner.userId, group_type: GroupType.GROUP_TYPE_TMP, group_name: name, group_avatar: '', member_id_list: members },
    IM.Group.IMGroupCreateRsp,
  );
}

async function members(client: ImClient, groupId: number): Promise<number[]> {
  const info = await client.request(
    IM.Group.IMGroupInfoListReq,
    { user_id: client.userId, group_version_list: [{ group_id: groupId, version: 0 }] },
    IM.Group.IMGroupInfoListRsp,
  );
  return [...(info.group_info_list[0]?.group_member_list ?? [])].sort((a, b) => a - b);
}

async function setup(t: Test) {
  const cluster: TestCluster = await startCluster(t);
  const [aliceId, bobId, carolId, daveId] = await cluster.addUsers(['alice', 'bob', 'carol', 'dave']);
  const alice = await cluster.loginAs('alice', 0);
  const alicePhone = await cluster.loginAs('alice', 1, { clientType: ClientType.CLIENT_TYPE_ANDROID });
  const bob = await cluster.loginAs('bob', 0);
  const carol = await cluster.loginAs('carol', 1);
  const dave = await cluster.loginAs('dave', 1);
  return { cluster, aliceId, bobId, carolId, daveId, alice, alicePhone, bob, carol, dave };
}

t.test('create a group, send to it: every member device on both servers gets it, the sender\'s connection does not', async (t) => {
  const { aliceId, bobId, carolId, alice, alicePhone, bob, carol, dave } = await setup(t);
  const created = await createGroup(alice, 'project', [bobId, carolId]);
  t.equal(created.result_code, 0);
  t.ok(created.group_id > 0);
  t.same(await members(alice, created.group_id), [aliceId, bobId, carolId].sort((a, b) => a - b), 'the creator is a member');

  const ids: number[] = [];
  for (const word of ['first', 'second']) {
    const ack = await alice.sendText(created.group_id, word, { group: true });
    t.match(ack, { user_id: aliceId, session_id: created.group_id, session_type: SessionType.SESSION_TYPE_GROUP });
    ids.push(ack.msg_id);
    for (const member of [bob, carol, alicePhone]) {
      const got = await member.next(IM.Message.IMMsgData, (m) => m.msg_id === ack.msg_id && m.to_session_id === created.group_id);
      t.equal(decryptMessageText(got.msg_data)?.toString(), word);
      t.equal(got.from_user_id, aliceId);
    }
  }
  t.same(ids, [1, 2], 'group msg ids count per group');
  await sleep(200);
  t.equal(alice.received(IM.Message.IMMsgData).length, 0, 'the sending connection gets no copy');
  t.equal(dave.received(IM.Message.IMMsgData).length, 0, 'non-members get nothing');

  const history = await carol.history(created.group_id, { group: true });
  t.same(history.msg_list.map((m) => m.msg_id), [2, 1]);
});

t.test('clients cannot create normal (fixed) groups', async (t) => {
  const { alice, bobId } = await setup(t);
  const rsp = await alice.request(
    IM.Group.IMGroupCreateReq,
    { user_id: alice.userId, group_type: GroupType.GROUP_TYPE_NORMAL, group_name: 'official', group_avatar: '', member_id_list: [bobId] },
    IM.Group.IMGroupCreateRsp,
  );
  t.equal(rsp.result_code, 1);
});

t.test('member changes are notified across servers and change who receives messages', async (t) => {
  const { aliceId, bobId, carolId, daveId, alice, bob, carol, dave } = await setup(t);
  const { group_id } = await createGroup(alice, 'team', [bobId, carolId]);

  const added = await alice.request(
    IM.Group.IMGroupChangeMemberReq,
    { user_id: aliceId, change_type: GroupModifyType.GROUP_MODIFY_TYPE_ADD, group_id, member_id_list: [daveId] },
    IM.Group.IMGroupChangeMemberRsp,
  );
  t.equal(added.result_code, 0);
  t.same([...added.chg_user_id_list], [daveId]);
  t.same([...added.cur_user_id_list].sort((a, b) => a - b), [aliceId, bobId, carolId, daveId].sort((a, b) => a - b));
  for (const member of [bob, carol, dave]) {
    const n = await member.next(IM.Group.IMGroupChangeMemberNotify, (x) => x.group_id === group_id);
    t.equal(n.change_type, GroupModifyType.GROUP_MODIFY_TYPE_ADD);
    t.same([...n.chg_user_id_list], [daveId]);
  }
  const hello = await alice.sendText(group_id, 'welcome dave', { group: true });
  await dave.next(IM.Message.IMMsgData, (m) => m.msg_id === hello.msg_id);

  const removed = await alice.request(
    IM.Group.IMGroupChangeMemberReq,
    { user_id: aliceId, change_type: GroupModifyType.GROUP_MODIFY_TYPE_DEL, group_id, member_id_list: [bobId] },
    IM.Group.IMGroupChangeMemberRsp,
  );
  t.equal(removed.result_code, 0);
  await bob.next(IM.Group.IMGroupChangeMemberNotify, (x) => x.change_type === GroupModifyType.GROUP_MODIFY_TYPE_DEL);
  const after = await alice.sendText(group_id, 'bye bob', { group: true });
  await carol.next(IM.Message.IMMsgData, (m) => m.msg_id === after.msg_id);
  await sleep(200);
  t.notOk(bob.received(IM.Message.IMMsgData).some((m) => m.msg_id === after.msg_id), 'a removed member no longer receives');

  const denied = await bob.request(
    IM.Group.IMGroupChangeMemberReq,
    { user_id: bobId, change_type: GroupModifyType.GROUP_MODIFY_TYPE_DEL, group_id, member_id_list: [carolId] },
    IM.Group.IMGroupChangeMemberRsp,
  );
  t.equal(denied.result_code, 1, 'only the creator may remove members');
});

t.test('a non-member cannot post to a group', async (t) => {
  const { bobId, alice, dave, carol } = await setup(t);
  const { group_id } = await createGroup(alice, 'closed', [bobId]);
  dave.conn.requestTimeoutMs = 800;
  await t.rejects(dave.sendText(group_id, 'let me in', { group: true }), { code: 'TT_ERR_REQUEST_TIMEOUT' });
  await sleep(100);
  t.equal(carol.received(IM.Message.IMMsgData).length, 0);
});

t.test('group unread counts and read acks', async (t) => {
  const { bobId, carolId, alice, carol } = await setup(t);
  const { group_id } = await createGroup(alice, 'busy', [bobId, carolId]);
  for (let i = 0; i < 3; i++) await alice.sendText(group_id, `n${i}`, { group: true });
  const unread = await carol.unreadCounts();
  t.match(unread.unreadinfo_list.find((u) => u.session_id === group_id), { session_type: SessionType.SESSION_TYPE_GROUP, unread_cnt: 3, latest_msg_id: 3 });
  carol.readAck(group_id, 3, true);
  await waitFor(async () => !(await carol.unreadCounts()).unreadinfo_list.some((u) => u.session_id === group_id), 3000, 'group unread cleared');
  const aliceUnread = await alice.unreadCounts();
  t.notOk(aliceUnread.unreadinfo_list.some((u) => u.session_id === group_id), 'the sender has no unread for own messages');
});

t.test('shield a group', async (t) => {
  const { bobId, alice, bob } = await setup(t);
  const { group_id } = await createGroup(alice, 'noisy', [bobId]);
  const rsp = await bob.request(IM.Group.IMGroupShieldReq, { user_id: bobId, group_id, shield_status: 1 }, IM.Group.IMGroupShieldRsp);
  t.same({ result_code: rsp.result_code, group_id: rsp.group_id }, { result_code: 0, group_id });
});
