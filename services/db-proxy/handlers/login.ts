/**
 * Login-service commands: validating a login (0x0703), and the per-user push
 * settings a client changes (device token 0x0108, push shield 0x010c/0x010e).
 */
import { timingSafeEqual } from 'node:crypto';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { IM } from '../../../pdu/commands';
import type { Dispatcher } from '../../../pdu/dispatch';
import { storedPassword } from '../../../lib/password';
import type { DbProxyContext } from '../context';
import { ok, refused, serve, type DbRequest } from '../db-request';
import { unixNow } from '../message-tables';
import { RedisKeys } from '../redis-keys';
import { USER_COLUMNS, userInfoOf } from '../user-info';

const { ClientType } = IM.BaseDefine;

/** IMUser.name is varchar(32): a longer name cannot exist. */
const MAX_LOGIN_NAME = 32;
/** IMLoginReq.password is an md5 hex digest. */
const MAX_PASSWORD = 64;

export function registerLoginHandlers(d: Dispatcher<DbRequest>, ctx: DbProxyContext): void {
  serve(d, IM.Server.IMValidateReq, IM.Server.IMValidateRsp, async (req) => {
    const name = req.user_name;
    const answer = (result_code: number, result_string: string, user_info?: IM.BaseDefine.IUserInfo) =>
      ok({ user_name: name, result_code, result_string, ...(user_info ? { user_info } : {}) });
    const wrong = () => answer(1, '用户名/密码错误');
    if (name === '' || [...name].length > MAX_LOGIN_NAME || req.password === '' || req.password.length > MAX_PASSWORD) {
      return wrong();
    }
    // Checked before the password, so a locked name learns nothing from further guesses.
    if (await ctx.loginFailures.isLocked(name)) return answer(6, '用户名/密码错误次数太多');
    // status = 0 only, as the original (bug 7, kept on purpose): IMUser.status is the
    // employment state and admins use it to disable accounts (3 = left the company).
    const rows = await ctx.mysql.query<RowDataPacket[]>(
      `SELECT ${USER_COLUMNS}, password, salt FROM IMUser WHERE name = ? AND status = 0`,
      [name],
    );
    const user = rows[0];
    if (user === undefined || !samePassword(storedPassword(req.password, String(user.salt)), String(user.password))) {
      await ctx.loginFailures.record(name);
      return wrong();
    }
    await ctx.loginFailures.clear(name);
    // The original forces status 0 in the login reply.
    return answer(0, '成功', { ...userInfoOf(user), status: 0 });
  });

  serve(d, IM.Login.IMDeviceTokenReq, IM.Login.IMDeviceTokenRsp, async (req) => {
    await storeDeviceToken(ctx, req.user_id, req.device_token, req.client_type ?? 0);
    return ok({ user_id: req.user_id });
  });

  serve(d, IM.Login.IMPushShieldReq, IM.Login.IMPushShieldRsp, async (req) => {
    if (req.shield_status !== 0 && req.shield_status !== 1) return refused({ user_id: req.user_id, result_code: 1 });
    const res = await ctx.mysql.query<ResultSetHeader>(
      'UPDATE IMUser SET push_shield_status = ?, updated = ? WHERE id = ?',
      [req.shield_status, unixNow(), req.user_id],
    );
    if (res.affectedRows === 0) return ok({ user_id: req.user_id, result_code: 1 });
    return ok({ user_id: req.user_id, result_code: 0, shield_status: req.shield_status });
  });

  serve(d, IM.Login.IMQueryPushShieldReq, IM.Login.IMQueryPushShieldRsp, async (req) => {
    const rows = await ctx.mysql.query<RowDataPacket[]>('SELECT push_shield_status FROM IMUser WHERE id = ?', [req.user_id]);
    if (rows.length === 0) return ok({ user_id: req.user_id, result_code: 1 });
    return ok({ user_id: req.user_id, result_code: 0, shield_status: Number(rows[0].push_shield_status) });
  });
}

function samePassword(computed: string, stored: string): boolean {
  const a = Buffer.from(computed);
  const b = Buffer.from(stored);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * As the original: device_<uid> = "ios:<token>" / "android:<token>" / bare token,
 * device_<token> = uid, and the token key of the user's previous device is
 * emptied so that device stops getting this user's pushes. An empty token (sent
 * at logout) empties device_<uid> and maps no token.
 */
async function storeDeviceToken(ctx: DbProxyContext, userId: number, token: string, clientType: number): Promise<void> {
  ctx.redis.assertUp();
  const redis = ctx.redis.client;
  const userKey = RedisKeys.deviceOfUser(userId);
  const previous = await redis.get(userKey);
  const tx = redis.multi();
  if (previous) {
    const colon = previous.indexOf(':');
    const previousToken = colon >= 0 ? previous.slice(colon + 1) : previous;
    if (previousToken !== '' && previousToken !== token) tx.set(RedisKeys.userOfDevice(previousToken), '');
  }
  if (token === '') {
    tx.set(userKey, '');
  } else {
    const prefix = clientType === ClientType.CLIENT_TYPE_IOS ? 'ios:' : clientType === ClientType.CLIENT_TYPE_ANDROID ? 'android:' : '';
    tx.set(userKey, prefix + token);
    tx.set(RedisKeys.userOfDevice(token), String(userId));
  }
  const results = await tx.exec();
  for (const [err] of results ?? []) if (err) throw err;
}
