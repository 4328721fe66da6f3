/**
 * What a msg server asks before pushing a message to phones: the members who
 * shielded a group (0x0711) and the device tokens with badge counts (0x0705).
 * Both echo attach_data, which here carries the message being pushed.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { IM } from '../../../pdu/commands';
import type { Dispatcher } from '../../../pdu/dispatch';
import type { DbProxyContext } from '../context';
import { ok, serve, type DbRequest } from '../db-request';
import { shieldHours } from '../config';
import { RedisKeys } from '../redis-keys';

const { ClientType } = IM.BaseDefine;

/** Bounds one request's fan-out (a group message asks for all members at once). */
const MAX_USERS_PER_REQUEST = 20_000;

export function registerPushHandlers(d: Dispatcher<DbRequest>, ctx: DbProxyContext): void {
  serve(d, IM.Server.IMGroupGetShieldReq, IM.Server.IMGroupGetShieldRsp, async (req) => {
    const userIds = [...new Set(req.user_id)].slice(0, MAX_USERS_PER_REQUEST);
    if (userIds.length === 0) return ok({ group_id: req.group_id, shield_status_list: [] });
    ctx.redis.assertUp();
    const values = await ctx.redis.client.hmget(
      RedisKeys.groupSettings(req.group_id),
      ...userIds.map((uid) => RedisKeys.groupShieldField(uid)),
    );
    return ok({
      group_id: req.group_id,
      shield_status_list: userIds.map((user_id, i) => ({
        user_id,
        group_id: req.group_id,
        shield_status: Number(values[i] ?? 0) === 1 ? 1 : 0,
      })),
    });
  });

  serve(d, IM.Server.IMGetDeviceTokenReq, IM.Server.IMGetDeviceTokenRsp, async (req) => {
    const userIds = [...new Set(req.user_id)].slice(0, MAX_USERS_PER_REQUEST);
    if (userIds.length === 0) return ok({ user_token_info: [] });
    ctx.redis.assertUp();
    const stored = await ctx.redis.client.mget(...userIds.map((uid) => RedisKeys.deviceOfUser(uid)));
    const devices: Array<{ userId: number; type: number; token: string }> = [];
    userIds.forEach((userId, i) => {
      const value = stored[i] ?? '';
      if (value.startsWith('ios:') && value.length > 4) devices.push({ userId, type: ClientType.CLIENT_TYPE_IOS, token: value.slice(4) });
      else if (value.startsWith('android:') && value.length > 8) {
        devices.push({ userId, type: ClientType.CLIENT_TYPE_ANDROID, token: value.slice(8) });
      }
    });
    if (devices.length === 0) return ok({ user_token_info: [] });

    // Users with push shield on get no push during pushShieldHours (the original: iOS only, 22:00-07:59;
    // here every phone, since Android pushes now go out through the push server too).
    let shielded = new Set<number>();
    if (inShieldHours(ctx.config.pushShieldHours, new Date().getHours())) {
      const rows = await ctx.mysql.query<RowDataPacket[]>(
        'SELECT id FROM IMUser WHERE id IN (?) AND push_shield_status = 1',
        [devices.map((dv) => dv.userId)],
      );
      shielded = new Set(rows.map((r) => Number(r.id)));
    }
    const pushable = devices.filter((dv) => !shielded.has(dv.userId));
    const totals = await ctx.unread.totalsOf(pushable.map((dv) => dv.userId));
    return ok({
      user_token_info: pushable.map((dv) => ({
        user_id: dv.userId,
        user_type: dv.type,
        token: dv.token,
        push_count: totals.get(dv.userId) ?? 0,
        push_type: 1,
      })),
    });
  });
}

function inShieldHours(spec: string, hour: number): boolean {
  const hours = shieldHours(spec);
  if (hours === null) return false;
  const [start, end] = hours;
  return start < end ? hour >= start && hour < end : hour >= start || hour < end;
}
