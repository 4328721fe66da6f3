/**
 * Group commands (behaviour.md section 11). Membership lives in Redis
 * (group_member_<gid>); IMGroupMember mirrors it for the user's own group list.
 * Changes that write both run the Redis part inside the MySQL transaction,
 * before COMMIT, so a Redis failure rolls MySQL back; a COMMIT that fails
 * afterwards is compensated in Redis (best effort).
 *
 * Every request is answered, also where the original stays silent (missing
 * group, not a member): result_code 1 with PduFlag.BAD_REQUEST.
 *
 * Authorization: group info goes to members only (the original answered anyone,
 * and group ids are sequential); members added or created must be existing,
 * enabled users (others are left out).
 */
import type { RowDataPacket } from 'mysql2/promise';
import { IM } from '../../../pdu/commands';
import type { Dispatcher } from '../../../pdu/dispatch';
import type { DbProxyContext } from '../context';
import { ok, refused, serve, type DbRequest } from '../db-request';
import { GroupMembership } from '../group-membership';
import { unixNow } from '../message-tables';
import { CommitOutcomeUnknownError } from '../storage-errors';

const { GroupType, GroupModifyType, SessionType } = IM.BaseDefine;

/** IMGroup.name / avatar are varchar(256). */
const MAX_GROUP_TEXT = 256;
/** Members named in one create / change request. */
const MAX_MEMBERS_PER_REQUEST = 5000;
/** Groups asked for in one info request. */
const MAX_GROUPS_PER_REQUEST = 1000;

const characters = (s: string) => [...s].length;
const uniqueUserIds = (ids: readonly number[]) => [...new Set(ids.filter((id) => id > 0))];

export function registerGroupHandlers(d: Dispatcher<DbRequest>, ctx: DbProxyContext): void {
  serve(d, IM.Group.IMNormalGroupListReq, IM.Group.IMNormalGroupListRsp, async (req) => {
    // Only NORMAL groups: clients learn their temporary groups from recent sessions.
    const rows = await ctx.databases.main.read<RowDataPacket[]>(
      `SELECT g.id, g.version FROM IMGroupMember m JOIN IMGroup g ON g.id = m.groupId
        WHERE m.userId = ? AND m.status = 0 AND g.type = ? AND g.status = 0
        ORDER BY g.updated DESC, g.id DESC`,
      [req.user_id, GroupType.GROUP_TYPE_NORMAL],
    );
    return ok({
      user_id: req.user_id,
      group_version_list: rows.map((r) => ({ group_id: Number(r.id), version: Number(r.version) })),
    });
  });

  serve(d, IM.Group.IMGroupInfoListReq, IM.Group.IMGroupInfoListRsp, async (req) => {
    const asked = new Map<number, number>();
    for (const v of req.group_version_list.slice(0, MAX_GROUPS_PER_REQUEST)) asked.set(v.group_id, v.version);
    const ids = [...asked.keys()];
    const exists = await ctx.members.exist(ids);
    const existing = ids.filter((_, i) => exists[i]);
    if (existing.length === 0) return ok({ user_id: req.user_id, group_info_list: [] });
    const rows = await ctx.databases.main.read<RowDataPacket[]>(
      'SELECT id, name, avatar, creator, type, version FROM IMGroup WHERE id IN (?) ORDER BY updated DESC, id DESC',
      [existing],
    );
    const list: IM.BaseDefine.IGroupInfo[] = [];
    for (const row of rows) {
      const id = Number(row.id);
      if (Number(row.version) <= (asked.get(id) ?? 0)) continue; // the asker is up to date
      const members = await ctx.members.members(id);
      // Members only: others learn nothing, not even that the group exists.
      if (members === null || !members.has(req.user_id)) continue;
      list.push({
        group_id: id,
        version: Number(row.version),
        group_name: String(row.name),
        group_avatar: String(row.avatar),
        group_creator_id: Number(row.creator),
        group_type: Number(row.type),
        shield_status: 0,
        group_member_list: GroupMembership.sortedIds(members),
      });
    }
    return ok({ user_id: req.user_id, group_info_list: list });
  });

  serve(d, IM.Group.IMGroupCreateReq, IM.Group.IMGroupCreateRsp, async (req) => {
    const failed = { user_id: req.user_id, result_code: 1, group_name: req.group_name, user_id_list: [] };
    const type = req.group_type;
    if (type !== GroupType.GROUP_TYPE_NORMAL && type !== GroupType.GROUP_TYPE_TMP) return refused(failed);
    if (req.group_name === '' || characters(req.group_name) > MAX_GROUP_TEXT || characters(req.group_avatar) > MAX_GROUP_TEXT) {
      return refused(failed);
    }
    const listed = uniqueUserIds(req.member_id_list);
    if (listed.length === 0 || listed.length > MAX_MEMBERS_PER_REQUEST || req.user_id === 0) return refused(failed);
    const enabled = await ctx.users.enabled(listed);
    const requested = listed.filter((uid) => enabled.has(uid));
    if (requested.length === 0) return refused(failed);
    // The creator is always a member (the original relies on clients listing themselves, bug 11).
    const members = requested.includes(req.user_id) ? requested : [req.user_id, ...requested];
    const groupId = await createGroup(ctx, req.user_id, type, req.group_name, req.group_avatar, members);
    return ok({ user_id: req.user_id, result_code: 0, group_id: groupId, group_name: req.group_name, user_id_list: members });
  });

  serve(d, IM.Group.IMGroupChangeMemberReq, IM.Group.IMGroupChangeMemberRsp, async (req) => {
    const reply = { user_id: req.user_id, change_type: req.change_type, group_id: req.group_id };
    const failed = (cur: number[] = []) => refused({ ...reply, result_code: 1, cur_user_id_list: cur, chg_user_id_list: [] });
    if (req.change_type !== GroupModifyType.GROUP_MODIFY_TYPE_ADD && req.change_type !== GroupModifyType.GROUP_MODIFY_TYPE_DEL) {
      return refused({ ...reply, change_type: GroupModifyType.GROUP_MODIFY_TYPE_ADD, result_code: 1, cur_user_id_list: [], chg_user_id_list: [] });
    }
    const listed = uniqueUserIds(req.member_id_list);
    if (listed.length === 0 || listed.length > MAX_MEMBERS_PER_REQUEST) return failed();
    // Removing works for any member id; adding only for users who exist and are enabled.
    const enabled = req.change_type === GroupModifyType.GROUP_MODIFY_TYPE_ADD ? await ctx.users.enabled(listed) : null;
    const ids = enabled === null ? listed : listed.filter((uid) => enabled.has(uid));
    if (ids.length === 0) return failed();
    const outcome = await changeMembers(ctx, req.user_id, req.group_id, req.change_type, ids);
    if (outcome.kind === 'refused') return failed(outcome.current);
    return ok({ ...reply, result_code: 0, cur_user_id_list: outcome.current, chg_user_id_list: outcome.changed });
  });

  serve(d, IM.Group.IMGroupShieldReq, IM.Group.IMGroupShieldRsp, async (req) => {
    const reply = { user_id: req.user_id, group_id: req.group_id };
    if (req.shield_status !== 0 && req.shield_status !== 1) return refused({ ...reply, result_code: 1 });
    if ((await ctx.members.joinTime(req.group_id, req.user_id)) === null) return refused({ ...reply, result_code: 1 });
    await ctx.redis.client.hset(
      ctx.redis.keys.groupSettings(req.group_id),
      ctx.redis.keys.groupShieldField(req.user_id),
      String(req.shield_status),
    );
    return ok({ ...reply, result_code: 0 });
  });
}

async function createGroup(
  ctx: DbProxyContext,
  creator: number,
  type: number,
  name: string,
  avatar: string,
  members: number[],
): Promise<number> {
  const now = unixNow();
  let groupId = 0;
  try {
    await ctx.mysql.transaction(async (tx) => {
      const res = await tx.query<{ insertId: number }>(
        `INSERT INTO IMGroup (name, avatar, creator, type, userCnt, status, version, lastChated, created, updated)
         VALUES (?, ?, ?, ?, ?, 0, 1, 0, ?, ?)`,
        [name, avatar, creator, type, members.length, now, now],
      );
      groupId = res.insertId;
      await tx.query('DELETE FROM IMGroupMember WHERE groupId = ?', [groupId]);
      await tx.query('INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES ?', [
        members.map((uid) => [groupId, uid, 0, now, now]),
      ]);
      // One MULTI: the group's keys share its hash tag (one slot in a Redis Cluster).
      const membersKey = ctx.redis.keys.groupMembers(groupId);
      await ctx.redis.writeTogether([
        ['del', membersKey],
        ['hset', membersKey, ...members.flatMap((uid) => [String(uid), String(now)])],
        ['set', ctx.redis.keys.groupMsgId(groupId), '0'],
      ]);
    });
  } catch (err) {
    if (err instanceof CommitOutcomeUnknownError && groupId > 0) {
      await ctx.redis.client.del(ctx.redis.keys.groupMembers(groupId)).catch(() => 0);
    }
    throw err;
  }
  return groupId;
}

type ChangeOutcome = { kind: 'done'; current: number[]; changed: number[] } | { kind: 'refused'; current: number[] };

async function changeMembers(
  ctx: DbProxyContext,
  requester: number,
  groupId: number,
  changeType: number,
  ids: number[],
): Promise<ChangeOutcome> {
  const now = unixNow();
  const adding = changeType === GroupModifyType.GROUP_MODIFY_TYPE_ADD;
  let changed: number[] = [];
  let current: number[] = [];
  try {
    const outcome = await ctx.mysql.transaction(async (tx): Promise<ChangeOutcome> => {
      // The row lock serializes membership changes of one group across db-proxies.
      const rows = await tx.query<RowDataPacket[]>('SELECT creator, type FROM IMGroup WHERE id = ? FOR UPDATE', [groupId]);
      const members = await ctx.members.members(groupId);
      if (rows.length === 0 || members === null) return { kind: 'refused', current: [] };
      current = GroupMembership.sortedIds(members);
      const isCreator = Number(rows[0].creator) === requester;
      // As the original, only the creator changes a group, except that anyone may
      // add to a temporary group; unlike the original, that "anyone" must be a member.
      const allowed = isCreator || (adding && Number(rows[0].type) === GroupType.GROUP_TYPE_TMP && members.has(requester));
      if (!allowed) return { kind: 'refused', current };
      changed = adding ? ids.filter((uid) => !members.has(uid)) : ids.filter((uid) => members.has(uid));
      if (changed.length === 0) return { kind: 'done', current, changed };

      const membersKey = ctx.redis.keys.groupMembers(groupId);
      if (adding) {
        await tx.query(
          `INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES ?
           ON DUPLICATE KEY UPDATE status = 0, updated = VALUES(updated)`,
          [changed.map((uid) => [groupId, uid, 0, now, now])],
        );
        for (const uid of changed) members.set(uid, now);
      } else {
        await tx.query('UPDATE IMGroupMember SET status = 1, updated = ? WHERE groupId = ? AND userId IN (?)', [now, groupId, changed]);
        await tx.query('UPDATE IMRecentSession SET status = 1, updated = ? WHERE userId IN (?) AND peerId = ? AND type = ?', [
          now,
          changed,
          groupId,
          SessionType.SESSION_TYPE_GROUP,
        ]);
        for (const uid of changed) members.delete(uid);
      }
      await tx.query('UPDATE IMGroup SET version = version + 1, userCnt = ? WHERE id = ?', [members.size, groupId]);

      await ctx.redis.writeTogether([
        adding ? ['hset', membersKey, ...changed.flatMap((uid) => [String(uid), String(now)])] : ['hdel', membersKey, ...changed.map(String)],
      ]);
      // New members start with nothing unread; removed ones keep no stale count.
      await ctx.unread.markGroupRead(changed, groupId);
      current = GroupMembership.sortedIds(members);
      return { kind: 'done', current, changed };
    });
    if (!adding) for (const uid of changed) ctx.touches.forget(uid, groupId, SessionType.SESSION_TYPE_GROUP);
    return outcome;
  } catch (err) {
    if (err instanceof CommitOutcomeUnknownError && changed.length > 0) {
      ctx.logger.error({ groupId, changed }, 'group member change: COMMIT outcome unknown after Redis was updated; Redis membership may differ from IMGroupMember');
    }
    throw err;
  }
}
