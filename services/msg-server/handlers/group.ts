/**
 * Group family: list, info, create, member changes (notified to members here and
 * on other msg servers), shield, and fanning out group messages.
 */
import { IM } from '../../../pdu/commands';
import type { Dispatcher } from '../../../pdu/dispatch';
import { encodePdu } from '../../../pdu/encode';

import { errorMessage } from '../../../lib/errors';
import type { ClientConn } from '../client-session';
import type { MsgServerContext } from '../context';
import { forwardAsUser, forwardToDb } from './common';

const { GroupType } = IM.BaseDefine;

export function registerGroupHandlers(d: Dispatcher<ClientConn>, ctx: MsgServerContext): void {
  forwardAsUser(d, ctx, IM.Group.IMNormalGroupListReq, IM.Group.IMNormalGroupListRsp);
  forwardAsUser(d, ctx, IM.Group.IMGroupInfoListReq, IM.Group.IMGroupInfoListRsp, (req) => {
    req.group_version_list = req.group_version_list.slice(0, ctx.config.maxGroupsPerInfoRequest);
  });
  d.on(IM.Group.IMGroupCreateReq, (req, pdu, conn) => {
    req.user_id = conn.userId;
    if (req.group_type !== GroupType.GROUP_TYPE_TMP) {
      // Normal (fixed) groups are created by administrators, never by clients. The
      // original dropped such requests silently; the client gets a failure instead.
      conn.reply(pdu, IM.Group.IMGroupCreateRsp, { user_id: conn.userId, result_code: 1, group_name: req.group_name, user_id_list: [] });
      return;
    }
    forwardToDb(ctx, conn, pdu, IM.Group.IMGroupCreateReq, req, IM.Group.IMGroupCreateRsp);
  });
  d.on(IM.Group.IMGroupChangeMemberReq, (req, pdu, conn) => {
    req.user_id = conn.userId;
    forwardToDb(ctx, conn, pdu, IM.Group.IMGroupChangeMemberReq, req, IM.Group.IMGroupChangeMemberRsp, (rsp) => {
      if (rsp.result_code !== 0) return;
      ctx.groups.invalidate(rsp.group_id);
      const notify: IM.Group.IIMGroupChangeMemberNotify = {
        user_id: conn.userId,
        change_type: rsp.change_type,
        group_id: rsp.group_id,
        cur_user_id_list: rsp.cur_user_id_list,
        chg_user_id_list: rsp.chg_user_id_list,
      };
      const frame = encodePdu(IM.Group.IMGroupChangeMemberNotify, notify);
      ctx.routes.relayFrame(frame);
      notifyGroupChange(ctx, notify, frame, conn);
    });
  });
  forwardAsUser(d, ctx, IM.Group.IMGroupShieldReq, IM.Group.IMGroupShieldRsp);
}

/** Local delivery of a member-change notify: current and changed members, minus the requesting connection. */
export function notifyGroupChange(
  ctx: MsgServerContext,
  notify: IM.Group.IIMGroupChangeMemberNotify,
  frame: Buffer,
  except: ClientConn | null,
): void {
  ctx.groups.invalidate(notify.group_id);
  const ids = [...(notify.chg_user_id_list ?? []), ...(notify.cur_user_id_list ?? [])];
  for (const c of ctx.users.connectionsOf(ids)) {
    if (c !== except) c.sendFrame(frame);
  }
}

/**
 * Sends a stored group message to every local device of every member, except
 * the connection it came from (null when it came through the route server: then
 * the sender's own devices here get it too). Not tracked for acks, as in the original.
 */
export async function fanOutGroupMessage(
  ctx: MsgServerContext,
  msg: IM.Message.IMMsgData,
  frame: Buffer,
  from: ClientConn | null,
): Promise<void> {
  let members: number[] | null;
  try {
    members = await ctx.groups.members(msg.to_session_id, msg.from_user_id);
  } catch (err) {
    ctx.logger.warn({ groupId: msg.to_session_id, msgId: msg.msg_id, err: errorMessage(err) }, 'group members unavailable: message not fanned out here');
    return;
  }
  if (members === null || !members.includes(msg.from_user_id)) {
    ctx.logger.info({ groupId: msg.to_session_id, userId: msg.from_user_id }, 'group message from a non-member not delivered');
    return;
  }
  for (const c of ctx.users.connectionsOf(members)) {
    if (c !== from) c.sendFrame(frame);
  }
}
