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
/** A user's login order is kept this long (longer than any session it has to order against). */
const LOGIN_ORDER_TTL_SEC = 7 * 86_400;

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
    const reply = answer(0, '成功', { ...userInfoOf(user), status: 0 });
    // Where this login stands among the user's logins (msg servers decide races of concurrent logins by it).
    (reply.body as IM.Server.IIMValidateRsp).login_order = Number(
      await ctx.redis.client.ttLoginOrder(1, RedisKeys.loginOrder(Number(user.id)), Date.now(), LOGIN_ORDER_TTL_SEC),
    );
    return reply;
  });

  serve(d, IM.Login.IMDeviceTokenReq, IM.Login.IMDeviceTokenRsp, async (req) => {
    const stored = await storeDeviceToken(ctx, req.user_id, req.device_token, req.client_type ?? 0);
    return stored ? ok({ user_id: req.user_id }) : refused({ user_id: req.user_id });
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
 * device_<token> = uid. One push token per user, one user per token: a replaced or cleared token leaves no key behind; a
 * token that moves to another user is taken from the previous owner, so their
 * pushes do not reach this phone. Tokens are length-capped and printable; an
 * all-digit token is refused because it would name another user's key.
 */
async function storeDeviceToken(ctx: DbProxyContext, userId: number, token: string, clientType: number): Promise<boolean> {
  if (token.length > ctx.config.maxDeviceTokenLength || !/^[\x21-\x7e]*$/.test(token) || /^\d+$/.test(token)) {
    ctx.logger.warn({ userId, length: token.length }, 'device token refused: too long, not printable, or all digits');
    return false;
  }
  ctx.redis.assertUp();
  const redis = ctx.redis.client;
  const userKey = RedisKeys.deviceOfUser(userId);
  const [previous, owner] = await Promise.all([redis.get(userKey), token === '' ? null : redis.get(RedisKeys.userOfDevice(token))]);
  const tx = redis.multi();
  if (previous) {
    const colon = previous.indexOf(':');
    const previousToken = colon >= 0 ? previous.slice(colon + 1) : previous;
    if (previousToken !== '' && previousToken !== token) tx.del(RedisKeys.userOfDevice(previousToken));
  }
  if (owner !== null && owner !== String(userId) && /^\d+$/.test(owner)) {
    const ownerKey = RedisKeys.deviceOfUser(Number(owner));
    const ownerValue = await redis.get(ownerKey);
    if (ownerValue !== null && ownerValue.slice(ownerValue.indexOf(':') + 1) === token) tx.del(ownerKey);
  }
  if (token === '') {
    tx.del(userKey);
  } else {
    const prefix = clientType === ClientType.CLIENT_TYPE_IOS ? 'ios:' : clientType === ClientType.CLIENT_TYPE_ANDROID ? 'android:' : '';
    tx.set(userKey, prefix + token);
    tx.set(RedisKeys.userOfDevice(token), String(userId));
  }
  const results = await tx.exec();
  for (const [err] of results ?? []) if (err) throw err;
  return true;
}
