/**
 * Buddy-list commands: recent sessions, removing one, the company directory
 * (users and departments changed since a time, users by id) and the two
 * profile fields a user changes (signature, avatar).
 */
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { IM } from '../../../pdu/commands';
import type { Dispatcher } from '../../../pdu/dispatch';
import type { DbProxyContext } from '../context';
import { ok, okWithEncoded, refused, serve, type DbRequest } from '../db-request';
import { unixNow } from '../message-tables';
import { Relations } from '../relations';
import { USER_COLUMNS, userInfoOf } from '../user-info';

const { SessionType } = IM.BaseDefine;

/** As the original: the 100 most recent sessions. */
const MAX_RECENT_SESSIONS = 100;
/** Users asked for by id in one request. */
const MAX_USERS_BY_ID = 10_000;
/** IMUser.sign_info is varchar(128); the original counts bytes. */
const MAX_SIGN_INFO_BYTES = 128;
/** IMUser.avatar is varchar(255). */
const MAX_AVATAR_CHARACTERS = 255;

export function registerBuddyHandlers(d: Dispatcher<DbRequest>, ctx: DbProxyContext): void {
  serve(d, IM.Buddy.IMRecentContactSessionReq, IM.Buddy.IMRecentContactSessionRsp, async (req) => {
    const userId = req.user_id;
    const rows = await ctx.databases.main.read<RowDataPacket[]>(
      `SELECT peerId, type, updated FROM IMRecentSession
        WHERE userId = ? AND status = 0 AND updated > ? ORDER BY updated DESC, id DESC LIMIT ${MAX_RECENT_SESSIONS}`,
      [userId, req.latest_update_time],
    );
    const singles = rows.filter((r) => Number(r.type) === SessionType.SESSION_TYPE_SINGLE);
    const groups = rows.filter((r) => Number(r.type) === SessionType.SESSION_TYPE_GROUP);
    const relations = await ctx.relations.findMany(singles.map((r) => [userId, Number(r.peerId)]));
    const [latestSingle, latestGroup] = await Promise.all([
      ctx.reader.latestOfRelations([...relations.values()]),
      ctx.reader.latestOfGroups(groups.map((r) => Number(r.peerId))),
    ]);
    const list: IM.BaseDefine.IContactSessionInfo[] = [];
    for (const row of rows) {
      const peerId = Number(row.peerId);
      const type = Number(row.type);
      let latest;
      if (type === SessionType.SESSION_TYPE_SINGLE) {
        const relationId = relations.get(Relations.key(userId, peerId));
        latest = relationId === undefined ? undefined : latestSingle.get(relationId);
      } else if (type === SessionType.SESSION_TYPE_GROUP) {
        latest = latestGroup.get(peerId);
      }
      if (latest === undefined) continue; // sessions without messages are not listed
      list.push({
        session_id: peerId,
        session_type: type,
        session_status: IM.BaseDefine.SessionStatusType.SESSION_STATUS_OK,
        updated_time: Number(row.updated),
        latest_msg_id: latest.msgId,
        latest_msg_data: latest.data,
        latest_msg_type: latest.type,
        // As the original: single sessions name the peer, group sessions the real sender.
        latest_msg_from_user_id: type === SessionType.SESSION_TYPE_SINGLE ? peerId : latest.fromId,
      });
    }
    return ok({ user_id: userId, contact_session_list: list });
  });

  serve(d, IM.Buddy.IMRemoveSessionReq, IM.Buddy.IMRemoveSessionRsp, async (req) => {
    const answer = { user_id: req.user_id, session_type: req.session_type, session_id: req.session_id };
    const type = req.session_type;
    if (type !== SessionType.SESSION_TYPE_SINGLE && type !== SessionType.SESSION_TYPE_GROUP) {
      return refused({ ...answer, session_type: SessionType.SESSION_TYPE_SINGLE, result_code: 1 });
    }
    const res = await ctx.mysql.query<ResultSetHeader>(
      'UPDATE IMRecentSession SET status = 1, updated = ? WHERE userId = ? AND peerId = ? AND type = ? AND status = 0',
      [unixNow(), req.user_id, req.session_id, type],
    );
    ctx.touches.forget(req.user_id, req.session_id, type);
    if (type === SessionType.SESSION_TYPE_SINGLE) await ctx.unread.clearSingle(req.user_id, req.session_id);
    else await ctx.unread.markGroupRead([req.user_id], req.session_id);
    return ok({ ...answer, result_code: res.affectedRows > 0 ? 0 : 1 });
  });

  serve(d, IM.Buddy.IMUsersInfoReq, IM.Buddy.IMUsersInfoRsp, async (req) => {
    const ids = [...new Set(req.user_id_list)].slice(0, MAX_USERS_BY_ID);
    if (ids.length === 0) return ok({ user_id: req.user_id, user_info_list: [] });
    const rows = await ctx.databases.main.read<RowDataPacket[]>(`SELECT ${USER_COLUMNS} FROM IMUser WHERE id IN (?) ORDER BY id`, [ids]);
    return ok({ user_id: req.user_id, user_info_list: rows.map(userInfoOf) });
  });

  // Bug 8 fixed by asking MySQL every time ("query by T only"): a first sync (T = 0)
  // gets everyone not marked as gone (status 3); a later one everything updated at or
  // after T, gone users included so clients can hide them.
  // The first sync's list is the same for everyone: a shared snapshot (AllUsersSnapshot).
  serve(d, IM.Buddy.IMAllUserReq, IM.Buddy.IMAllUserRsp, async (req) => {
    const since = req.latest_update_time;
    if (since === 0) {
      const snapshot = await ctx.allUsers.get();
      return okWithEncoded({ user_id: req.user_id, latest_update_time: snapshot.latest, user_list: [] }, snapshot.encodedList);
    }
    const rows = await ctx.databases.main.read<RowDataPacket[]>(`SELECT ${USER_COLUMNS} FROM IMUser WHERE updated >= ? ORDER BY id`, [since]);
    const latest = rows.reduce((max, r) => Math.max(max, Number(r.updated)), since);
    return ok({ user_id: req.user_id, latest_update_time: latest, user_list: rows.map(userInfoOf) });
  });

  serve(d, IM.Buddy.IMDepartmentReq, IM.Buddy.IMDepartmentRsp, async (req) => {
    const since = req.latest_update_time;
    const rows = await ctx.databases.main.read<RowDataPacket[]>(
      'SELECT id, departName, priority, parentId, status, updated FROM IMDepart WHERE updated > ? ORDER BY id',
      [since],
    );
    const latest = rows.reduce((max, r) => Math.max(max, Number(r.updated)), since);
    return ok({
      user_id: req.user_id,
      latest_update_time: latest,
      dept_list: rows.map((r) => ({
        dept_id: Number(r.id),
        priority: Number(r.priority),
        dept_name: String(r.departName),
        parent_dept_id: Number(r.parentId),
        dept_status:
          Number(r.status) === 0
            ? IM.BaseDefine.DepartmentStatusType.DEPT_STATUS_OK
            : IM.BaseDefine.DepartmentStatusType.DEPT_STATUS_DELETE,
      })),
    });
  });

  serve(d, IM.Buddy.IMChangeSignInfoReq, IM.Buddy.IMChangeSignInfoRsp, async (req) => {
    if (Buffer.byteLength(req.sign_info, 'utf8') > MAX_SIGN_INFO_BYTES) return refused({ user_id: req.user_id, result_code: 1 });
    const res = await ctx.mysql.query<ResultSetHeader>('UPDATE IMUser SET sign_info = ?, updated = ? WHERE id = ?', [
      req.sign_info,
      unixNow(),
      req.user_id,
    ]);
    ctx.allUsers.invalidate();
    if (res.affectedRows === 0) return ok({ user_id: req.user_id, result_code: 1 });
    return ok({ user_id: req.user_id, result_code: 0, sign_info: req.sign_info });
  });

  // Bug 5 fixed: the original forwards this to a db_proxy that never answers.
  serve(d, IM.Buddy.IMChangeAvatarReq, IM.Buddy.IMChangeAvatarRsp, async (req) => {
    if ([...req.avatar_url].length > MAX_AVATAR_CHARACTERS) return refused({ user_id: req.user_id, result_code: 1 });
    const res = await ctx.mysql.query<ResultSetHeader>('UPDATE IMUser SET avatar = ?, updated = ? WHERE id = ?', [
      req.avatar_url,
      unixNow(),
      req.user_id,
    ]);
    ctx.allUsers.invalidate();
    return ok({ user_id: req.user_id, result_code: res.affectedRows > 0 ? 0 : 1 });
  });
}
