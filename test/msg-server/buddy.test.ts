/**
 * Buddy list, sessions, signatures, P2P commands and the other client requests, end to end.
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { startCluster } from '../helpers/cluster';
import { sleep } from '../helpers/wait';

const { ClientType, SessionType } = IM.BaseDefine;

t.test('users, user info, departments', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 });
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0);
  const all = await alice.allUsers(0);
  t.same(all.user_list.map((u) => u.user_real_name).sort(), ['alice', 'bob']);
  t.ok(all.latest_update_time > 0);
  const info = await alice.request(IM.Buddy.IMUsersInfoReq, { user_id: aliceId, user_id_list: [bobId] }, IM.Buddy.IMUsersInfoRsp);
  t.match(info.user_info_list, [{ user_id: bobId, user_nick_name: 'BOB' }]);
  const departs = await alice.request(IM.Buddy.IMDepartmentReq, { user_id: aliceId, latest_update_time: 0 }, IM.Buddy.IMDepartmentRsp);
  t.ok(departs.dept_list.some((d) => d.dept_name === 'Test department'));
});

t.test('recent sessions, and removing one tells the user\'s other device on another server', async (t) => {
  const cluster = await startCluster(t);
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0);
  const alicePhone = await cluster.loginAs('alice', 1, { clientType: ClientType.CLIENT_TYPE_ANDROID });
  await alice.sendText(bobId, 'hello');
  const sessions = await alice.recentSessions(0);
  t.match(sessions.contact_session_list, [{ session_id: bobId, session_type: SessionType.SESSION_TYPE_SINGLE, latest_msg_id: 1 }]);
  const removed = await alice.request(
    IM.Buddy.IMRemoveSessionReq,
    { user_id: aliceId, session_type: SessionType.SESSION_TYPE_SINGLE, session_id: bobId },
    IM.Buddy.IMRemoveSessionRsp,
  );
  t.equal(removed.result_code, 0);
  const notify = await alicePhone.next(IM.Buddy.IMRemoveSessionNotify);
  t.same({ user_id: notify.user_id, session_id: notify.session_id }, { user_id: aliceId, session_id: bobId });
  t.same((await alicePhone.recentSessions(0)).contact_session_list, [], 'the session is gone');
});

t.test('a signature change reaches every connected client, the changer included', async (t) => {
  const cluster = await startCluster(t);
  const [aliceId] = await cluster.addUsers(['alice', 'bob', 'carol']);
  const alice = await cluster.loginAs('alice', 0);
  const bob = await cluster.loginAs('bob', 0);
  const carolPhone = await cluster.loginAs('carol', 1, { clientType: ClientType.CLIENT_TYPE_IOS });
  const rsp = await alice.request(IM.Buddy.IMChangeSignInfoReq, { user_id: aliceId, sign_info: 'out fishing' }, IM.Buddy.IMChangeSignInfoRsp);
  t.equal(rsp.result_code, 0);
  for (const client of [alice, bob, carolPhone]) {
    const n = await client.next(IM.Buddy.IMSignInfoChangedNotify);
    t.same({ id: n.changed_user_id, sign: n.sign_info }, { id: aliceId, sign: 'out fishing' });
  }
  const info = await bob.request(IM.Buddy.IMUsersInfoReq, { user_id: bob.userId, user_id_list: [aliceId] }, IM.Buddy.IMUsersInfoRsp);
  t.equal(info.user_info_list[0].sign_info, 'out fishing');
  const tooLong = await alice.request(IM.Buddy.IMChangeSignInfoReq, { user_id: aliceId, sign_info: 'x'.repeat(200) }, IM.Buddy.IMChangeSignInfoRsp);
  t.equal(tooLong.result_code, 1, 'over 128 bytes is refused');
});

t.test('P2P commands reach the peer on another server, with the real sender id', async (t) => {
  const cluster = await startCluster(t);
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob', 'mallory']);
  const alice = await cluster.loginAs('alice', 0);
  const bob = await cluster.loginAs('bob', 1);
  alice.send(IM.SwitchService.IMP2PCmdMsg, { from_user_id: 999, to_user_id: bobId, cmd_msg_data: '{"type":"typing"}' });
  const got = await bob.next(IM.SwitchService.IMP2PCmdMsg);
  t.same({ from: got.from_user_id, data: got.cmd_msg_data }, { from: aliceId, data: '{"type":"typing"}' });
});

t.test('time, avatar, push shield, file request without a file server', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 });
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0);
  const time = await alice.request(IM.Message.IMClientTimeReq, {}, IM.Message.IMClientTimeRsp);
  t.ok(Math.abs(time.server_time - Date.now() / 1000) < 60);

  const avatar = await alice.request(IM.Buddy.IMChangeAvatarReq, { user_id: aliceId, avatar_url: 'http://img/a.png' }, IM.Buddy.IMChangeAvatarRsp);
  t.equal(avatar.result_code, 0, 'answered (the original never answered)');

  const shield = await alice.request(IM.Login.IMPushShieldReq, { user_id: aliceId, shield_status: 1 }, IM.Login.IMPushShieldRsp);
  t.equal(shield.result_code, 0);
  const query = await alice.request(IM.Login.IMQueryPushShieldReq, { user_id: aliceId }, IM.Login.IMQueryPushShieldRsp);
  t.equal(query.shield_status, 1);

  const file = await alice.request(
    IM.File.IMFileReq,
    { from_user_id: aliceId, to_user_id: bobId, file_name: 'a.txt', file_size: 10, trans_mode: IM.BaseDefine.TransferFileType.FILE_TYPE_ONLINE },
    IM.File.IMFileRsp,
  );
  t.equal(file.result_code, 1, 'no file server: refused clearly');
  const offline = await alice.request(IM.File.IMFileHasOfflineReq, { user_id: aliceId }, IM.File.IMFileHasOfflineRsp);
  t.same(offline.offline_file_list, []);
  await sleep(10);
});
