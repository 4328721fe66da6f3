/**
 * Directory and profile commands: users and departments changed since a time,
 * users by id, signature, avatar, push shield, device tokens (and the push
 * lookup built on them), offline files.
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { RemoteError } from '../../lib/errors';
import { addDepartment } from '../../scripts/db/accounts';
import { waitFor } from '../helpers/wait';
import { harness } from './harness';

const { ClientType, DepartmentStatusType } = IM.BaseDefine;

t.test('all users: T = 0 lists everyone but status 3; T > 0 every user updated at or after T', async (t) => {
  const h = await harness(t);
  const [a, b, c] = await h.addUsers('ann', 'ben', 'cid');
  await h.db.pool.query('UPDATE IMUser SET updated = 1000 WHERE id = ?', [a]);
  await h.db.pool.query('UPDATE IMUser SET updated = 2000 WHERE id = ?', [b]);
  await h.db.pool.query('UPDATE IMUser SET updated = 3000, status = 3 WHERE id = ?', [c]);
  const all = (since: number) => h.request(IM.Buddy.IMAllUserReq, { user_id: a, latest_update_time: since }, IM.Buddy.IMAllUserRsp);

  const first = await all(0);
  t.same(first.user_list.map((u) => u.user_id), [a, b], 'people who left (status 3) are not in a first sync');
  t.equal(first.latest_update_time, 2000, 'the newest update among the returned users');
  const delta = await all(2000);
  t.same(delta.user_list.map((u) => [u.user_id, u.status]), [[b, 0], [c, 3]], 'updated >= T, leavers included so clients hide them');
  t.equal(delta.latest_update_time, 3000);
  const nothing = await all(5000);
  t.same(nothing.user_list, []);
  t.equal(nothing.latest_update_time, 5000, 'T echoed when nothing changed');
});

t.test('all users, first sync: one list shared for allUsersSnapshotMs; changes through the db-proxy show at once', async (t) => {
  const h = await harness(t, { allUsersSnapshotMs: 60_000 });
  const [a, b] = await h.addUsers('ann', 'ben');
  const first = () => h.request(IM.Buddy.IMAllUserReq, { user_id: a, latest_update_time: 0 }, IM.Buddy.IMAllUserRsp);
  const before = await first();
  t.same(before.user_list.map((u) => u.user_id), [a, b]);
  t.equal(before.user_id, a, 'the reply names the asking user');

  // A user added behind the db-proxy's back (the accounts tool) is not in the shared list yet...
  const [c] = await h.addUsers('cid');
  const again = await Promise.all([first(), h.request(IM.Buddy.IMAllUserReq, { user_id: b, latest_update_time: 0 }, IM.Buddy.IMAllUserRsp)]);
  t.same(again.map((r) => r.user_list.map((u) => u.user_id)), [[a, b], [a, b]], 'within allUsersSnapshotMs: the shared list');
  t.same(again.map((r) => r.user_id), [a, b], 'each reply still names its own user');
  // ...but a client's next incremental sync from the list's latest_update_time finds it.
  const delta = await h.request(IM.Buddy.IMAllUserReq, { user_id: a, latest_update_time: before.latest_update_time }, IM.Buddy.IMAllUserRsp);
  t.ok(delta.user_list.some((u) => u.user_id === c), 'the incremental sync is read fresh');

  // A change made through the db-proxy drops the shared list.
  await h.request(IM.Buddy.IMChangeSignInfoReq, { user_id: b, sign_info: 'new sign' }, IM.Buddy.IMChangeSignInfoRsp);
  const after = await first();
  t.same(after.user_list.map((u) => u.user_id), [a, b, c], 'read again after the change');
  t.equal(after.user_list.find((u) => u.user_id === b)?.sign_info, 'new sign');
  await h.request(IM.Buddy.IMChangeAvatarReq, { user_id: a, avatar_url: 'http://img/a.png' }, IM.Buddy.IMChangeAvatarRsp);
  t.equal((await first()).user_list.find((u) => u.user_id === a)?.avatar_url, 'http://img/a.png');
});

t.test('all users, first sync with allUsersSnapshotMs 0: read for every request', async (t) => {
  const h = await harness(t, { allUsersSnapshotMs: 0 });
  const [a] = await h.addUsers('ann');
  const first = () => h.request(IM.Buddy.IMAllUserReq, { user_id: a, latest_update_time: 0 }, IM.Buddy.IMAllUserRsp);
  t.equal((await first()).user_list.length, 1);
  await h.addUsers('ben');
  t.equal((await first()).user_list.length, 2);
});

t.test('users by id, signature and avatar changes (bug 5: avatar answered)', async (t) => {
  const h = await harness(t);
  const [a, b] = await h.addUsers('ann', 'ben');
  const info = await h.request(IM.Buddy.IMUsersInfoReq, { user_id: a, user_id_list: [b, a, 999999, b] }, IM.Buddy.IMUsersInfoRsp);
  t.same(info.user_info_list.map((u) => u.user_id), [a, b], 'unknown ids left out, duplicates once');
  t.match(info.user_info_list[1], { user_real_name: 'ben', user_nick_name: 'ben', status: 0 });

  const sign = await h.request(IM.Buddy.IMChangeSignInfoReq, { user_id: a, sign_info: '签名 hello' }, IM.Buddy.IMChangeSignInfoRsp);
  t.match(sign, { user_id: a, result_code: 0, sign_info: '签名 hello' });
  t.same(await h.rows('SELECT sign_info FROM IMUser WHERE id = ?', [a]), [{ sign_info: '签名 hello' }]);
  const tooLong = await h
    .request(IM.Buddy.IMChangeSignInfoReq, { user_id: a, sign_info: '字'.repeat(43) }, IM.Buddy.IMChangeSignInfoRsp)
    .catch((e: unknown) => e);
  t.ok(tooLong instanceof RemoteError && (tooLong.reply as IM.Buddy.IMChangeSignInfoRsp).result_code === 1, '129 bytes are too many');
  t.same(await h.rows('SELECT sign_info FROM IMUser WHERE id = ?', [a]), [{ sign_info: '签名 hello' }], 'unchanged');

  const avatar = await h.request(IM.Buddy.IMChangeAvatarReq, { user_id: b, avatar_url: 'http://img/b.png' }, IM.Buddy.IMChangeAvatarRsp);
  t.match(avatar, { user_id: b, result_code: 0 });
  t.same(await h.rows('SELECT avatar FROM IMUser WHERE id = ?', [b]), [{ avatar: 'http://img/b.png' }]);
  const ghost = await h.request(IM.Buddy.IMChangeAvatarReq, { user_id: 999999, avatar_url: 'x' }, IM.Buddy.IMChangeAvatarRsp);
  t.equal(ghost.result_code, 1, 'no such user');
});

t.test('departments changed since a time', async (t) => {
  const h = await harness(t);
  const sales = await addDepartment(h.db.pool, 'Sales', 0, 5);
  const gone = await addDepartment(h.db.pool, 'Gone', sales);
  await h.db.pool.query('UPDATE IMDepart SET updated = 1000');
  await h.db.pool.query('UPDATE IMDepart SET updated = 2000, status = 1 WHERE id = ?', [gone]);
  const depts = (since: number) => h.request(IM.Buddy.IMDepartmentReq, { user_id: 1, latest_update_time: since }, IM.Buddy.IMDepartmentRsp);
  const all = await depts(0);
  t.equal(all.latest_update_time, 2000);
  t.same(
    all.dept_list.find((d) => d.dept_id === sales),
    { dept_id: sales, priority: 5, dept_name: 'Sales', parent_dept_id: 0, dept_status: DepartmentStatusType.DEPT_STATUS_OK },
  );
  const delta = await depts(1000);
  t.same(delta.dept_list.map((d) => [d.dept_id, d.dept_status]), [[gone, DepartmentStatusType.DEPT_STATUS_DELETE]], 'updated > T, deleted included');
});

t.test('push shield set and query', async (t) => {
  const h = await harness(t);
  const [a] = await h.addUsers('ann');
  const query = () => h.request(IM.Login.IMQueryPushShieldReq, { user_id: a }, IM.Login.IMQueryPushShieldRsp);
  t.match(await query(), { user_id: a, result_code: 0, shield_status: 0 });
  t.match(await h.request(IM.Login.IMPushShieldReq, { user_id: a, shield_status: 1 }, IM.Login.IMPushShieldRsp), {
    user_id: a,
    result_code: 0,
    shield_status: 1,
  });
  t.match(await query(), { result_code: 0, shield_status: 1 });
  t.equal((await h.request(IM.Login.IMQueryPushShieldReq, { user_id: 999999 }, IM.Login.IMQueryPushShieldRsp)).result_code, 1);
});

t.test('device tokens: stored per client type; the push lookup returns them with unread totals', async (t) => {
  const h = await harness(t);
  const [a, b, c, d] = await h.addUsers('ann', 'ben', 'cid', 'dot');
  const setToken = (user: number, token: string, type: IM.BaseDefine.ClientType) =>
    h.request(IM.Login.IMDeviceTokenReq, { user_id: user, device_token: token, client_type: type }, IM.Login.IMDeviceTokenRsp);
  t.equal((await setToken(a, 'tok-a', ClientType.CLIENT_TYPE_IOS)).user_id, a, 'answered with 0x0109 as the original');
  await setToken(b, 'tok-b', ClientType.CLIENT_TYPE_ANDROID);
  await setToken(c, 'tok-c', ClientType.CLIENT_TYPE_WINDOWS);
  t.equal(await h.redis.redis.get(h.key(`device_${a}`)), 'ios:tok-a');
  t.equal(await h.redis.redis.get(h.key(`device_${b}`)), 'android:tok-b');
  t.equal(await h.redis.redis.get(h.key(`device_${c}`)), 'tok-c');
  t.equal(await h.redis.redis.get(h.key('device_tok-a')), String(a));

  await setToken(a, 'tok-a2', ClientType.CLIENT_TYPE_IOS);
  t.equal(await h.redis.redis.get(h.key('device_tok-a')), null, 'the old device no longer maps to the user, and leaves no key behind');
  t.equal(await h.redis.redis.get(h.key('device_tok-a2')), String(a));

  await h.send(d, a, 'one');
  await h.send(d, a, 'two');
  await h.send(d, b, 'three');
  const attach = IM.Message.IMMsgData.encode({
    from_user_id: d,
    to_session_id: a,
    msg_id: 2,
    create_time: 1,
    msg_type: 1,
    msg_data: Buffer.from('two'),
  }).finish();
  const tokens = await h.request(IM.Server.IMGetDeviceTokenReq, { user_id: [a, b, c, d], attach_data: attach }, IM.Server.IMGetDeviceTokenRsp);
  t.same(Buffer.from(tokens.attach_data), Buffer.from(attach), 'the message to push comes back');
  t.same(
    tokens.user_token_info.map((u) => IM.BaseDefine.UserTokenInfo.toObject(u as IM.BaseDefine.UserTokenInfo)),
    [
      { user_id: a, user_type: ClientType.CLIENT_TYPE_IOS, token: 'tok-a2', push_count: 2, push_type: 1 },
      { user_id: b, user_type: ClientType.CLIENT_TYPE_ANDROID, token: 'tok-b', push_count: 1, push_type: 1 },
    ],
    'only iOS/Android tokens; badge = total unread',
  );

  await setToken(b, '', ClientType.CLIENT_TYPE_ANDROID);
  t.equal(await h.redis.redis.get(h.key(`device_${b}`)), null, 'logout removes the token');
  t.equal(await h.redis.redis.get(h.key('device_tok-b')), null, 'and the token no longer names the user');
  const after = await h.request(IM.Server.IMGetDeviceTokenReq, { user_id: [b] }, IM.Server.IMGetDeviceTokenRsp);
  t.same(after.user_token_info, []);
});

t.test('device tokens: bounded, printable, one owner each', async (t) => {
  const h = await harness(t, { maxDeviceTokenLength: 64 });
  const [a, b] = await h.addUsers('ann', 'ben');
  const setToken = (user: number, token: string) =>
    h.conn.request(IM.Login.IMDeviceTokenReq, { user_id: user, device_token: token, client_type: ClientType.CLIENT_TYPE_IOS }, IM.Login.IMDeviceTokenRsp);
  await t.rejects(setToken(a, 'x'.repeat(65)), { code: 'TT_ERR_REMOTE', message: /bad request/ }, 'a token over maxDeviceTokenLength is refused');
  await t.rejects(setToken(a, 'has space'), { code: 'TT_ERR_REMOTE', message: /bad request/ }, 'a token with whitespace is refused');
  await t.rejects(setToken(a, String(b)), { code: 'TT_ERR_REMOTE', message: /bad request/ }, "an all-digit token would name another user's key: refused");
  t.equal(await h.redis.redis.get(h.key(`device_${b}`)), null, "ben's key is untouched");
  t.equal(await h.redis.redis.get(h.key(`device_${a}`)), null, 'nothing was stored for ann');

  await setToken(a, 'shared-phone');
  await setToken(b, 'shared-phone');
  t.equal(await h.redis.redis.get(h.key('device_shared-phone')), String(b), 'the phone now belongs to ben');
  t.equal(await h.redis.redis.get(h.key(`device_${a}`)), null, "ann's pushes no longer go to ben's phone");
  t.equal(await h.redis.redis.get(h.key(`device_${b}`)), 'ios:shared-phone');
});

t.test('offline files: add, list for the receiver, delete (add and delete are not answered)', async (t) => {
  const h = await harness(t);
  const [a, b] = await h.addUsers('ann', 'ben');
  h.conn.send(IM.File.IMFileAddOfflineReq, { from_user_id: a, to_user_id: b, task_id: 'task-1', file_name: 'report.pdf', file_size: 1234 });
  h.conn.send(IM.File.IMFileAddOfflineReq, { from_user_id: a, to_user_id: b, task_id: 'task-2', file_name: 'photo.jpg', file_size: 99 });
  await waitFor(async () => (await h.rows('SELECT id FROM IMTransmitFile')).length === 2, 3000, 'two rows');
  const list = await h.request(IM.File.IMFileHasOfflineReq, { user_id: b }, IM.File.IMFileHasOfflineRsp);
  t.same(
    list.offline_file_list.map((f) => IM.BaseDefine.OfflineFileInfo.toObject(f as IM.BaseDefine.OfflineFileInfo)),
    [
      { from_user_id: a, task_id: 'task-1', file_name: 'report.pdf', file_size: 1234 },
      { from_user_id: a, task_id: 'task-2', file_name: 'photo.jpg', file_size: 99 },
    ],
  );
  t.same(list.ip_addr_list, []);
  h.conn.send(IM.File.IMFileDelOfflineReq, { from_user_id: a, to_user_id: b, task_id: 'task-1' });
  await waitFor(async () => (await h.rows('SELECT id FROM IMTransmitFile')).length === 1, 3000, 'one row left');
  const left = await h.request(IM.File.IMFileHasOfflineReq, { user_id: b }, IM.File.IMFileHasOfflineRsp);
  t.same(left.offline_file_list.map((f) => f.task_id), ['task-2']);
  t.equal(h.conn.pushes.length, 0, 'add/delete produced no replies');

  // Rows older than offlineFileTtlSec (their files are gone from the file servers) are neither listed nor kept.
  await h.rows('UPDATE IMTransmitFile SET created = ? WHERE taskId = ?', [Math.floor(Date.now() / 1000) - 8 * 86_400, 'task-2']);
  const expired = await h.request(IM.File.IMFileHasOfflineReq, { user_id: b }, IM.File.IMFileHasOfflineRsp);
  t.same(expired.offline_file_list, [], 'an expired offline file is not listed');
  t.same(await h.rows('SELECT id FROM IMTransmitFile'), [], 'and its row is deleted');
});
