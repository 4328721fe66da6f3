/**
 * Login validation (CID_OTHER_VALIDATE_REQ): the TeamTalk password rule, the
 * user info returned, wrong passwords, and the lock-out after repeated failures.
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { encodeHandleAttach } from '../../pdu/attach';
import { clientPasswordDigest } from '../../lib/password';
import { PASSWORD, harness } from './harness';

const validate = (h: Awaited<ReturnType<typeof harness>>, name: string, plain: string) =>
  h.request(IM.Server.IMValidateReq, { user_name: name, password: clientPasswordDigest(plain), attach_data: encodeHandleAttach(3) }, IM.Server.IMValidateRsp);

t.test('a right password returns the user (status forced to 0), attach echoed', async (t) => {
  const h = await harness(t);
  const [id] = await h.addUsers('alice');
  await h.db.pool.query("UPDATE IMUser SET sign_info = 'hi', phone = '123', sex = 2 WHERE id = ?", [id]);
  const rsp = await validate(h, 'alice', PASSWORD);
  t.match(rsp, { user_name: 'alice', result_code: 0, result_string: '成功' });
  t.same(rsp.user_info && IM.BaseDefine.UserInfo.toObject(rsp.user_info as IM.BaseDefine.UserInfo), {
    user_id: id,
    user_gender: 2,
    user_nick_name: 'alice',
    avatar_url: '',
    department_id: (await h.rows('SELECT departId FROM IMUser WHERE id = ?', [id]))[0].departId,
    email: '',
    user_real_name: 'alice',
    user_tel: '123',
    user_domain: 'alice',
    status: 0,
    sign_info: 'hi',
  });
  t.same(Buffer.from(rsp.attach_data), encodeHandleAttach(3));
});

t.test('wrong password, unknown name and a disabled account are refused with 1', async (t) => {
  const h = await harness(t);
  const [id] = await h.addUsers('bob');
  t.match(await validate(h, 'bob', 'nope'), { result_code: 1, result_string: '用户名/密码错误' });
  t.match(await validate(h, 'nobody', PASSWORD), { result_code: 1 });
  t.match(await validate(h, 'BOB', PASSWORD), { result_code: 1 }, 'names are case-sensitive');
  t.notOk((await validate(h, 'bob', 'nope')).user_info, 'no user info on failure');
  await h.db.pool.query('UPDATE IMUser SET status = 3 WHERE id = ?', [id]);
  t.match(await validate(h, 'bob', PASSWORD), { result_code: 1 }, 'status != 0 cannot log in (kept from the original)');
});

t.test('more than loginMaxFailures wrong passwords lock the name (6), even for the right password', async (t) => {
  const h = await harness(t, { loginMaxFailures: 3, loginFailureWindowSec: 600 });
  await h.addUsers('carol', 'dave');
  for (let i = 1; i <= 4; i++) t.equal((await validate(h, 'carol', `wrong${i}`)).result_code, 1, `failure ${i} checked`);
  t.equal(await h.redis.redis.get(h.key('login_fail_carol')), '4');
  const ttl = await h.redis.redis.ttl(h.key('login_fail_carol'));
  t.ok(ttl > 590 && ttl <= 600, 'the window runs from the first failure');
  t.match(await validate(h, 'carol', PASSWORD), { result_code: 6, result_string: '用户名/密码错误次数太多' });
  t.match(await validate(h, 'carol', 'wrong'), { result_code: 6 });
  t.equal(await h.redis.redis.get(h.key('login_fail_carol')), '4', 'refused attempts are not counted');
  t.equal((await validate(h, 'dave', PASSWORD)).result_code, 0, 'other names are not affected');

  await h.redis.redis.del(h.key('login_fail_carol'));
  t.equal((await validate(h, 'carol', PASSWORD)).result_code, 0, 'usable again when the window is over');
});

t.test('a successful login clears the failure count', async (t) => {
  const h = await harness(t, { loginMaxFailures: 3 });
  await h.addUsers('erin');
  await validate(h, 'erin', 'x');
  await validate(h, 'erin', 'y');
  t.equal(await h.redis.redis.get(h.key('login_fail_erin')), '2');
  t.equal((await validate(h, 'erin', PASSWORD)).result_code, 0);
  t.equal(await h.redis.redis.exists(h.key('login_fail_erin')), 0);
});
