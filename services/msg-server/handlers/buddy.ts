/**
 * Buddy-list family: recent sessions, people and departments (from the
 * db-proxy), online status (from the route server), avatar and signature changes.
 */
import { IM } from '../../../pdu/commands';
import { encodeHandleAttach } from '../../../pdu/attach';
import type { Dispatcher } from '../../../pdu/dispatch';
import { encodePdu } from '../../../pdu/encode';

import { errorMessage } from '../../../lib/errors';
import type { ClientConn } from '../client-session';
import type { MsgServerContext } from '../context';
import { carriesHandle, forwardAsUser, forwardToDb, withoutAttach } from './common';

const { SessionType } = IM.BaseDefine;

export function registerBuddyHandlers(d: Dispatcher<ClientConn>, ctx: MsgServerContext): void {
  forwardAsUser(d, ctx, IM.Buddy.IMRecentContactSessionReq, IM.Buddy.IMRecentContactSessionRsp);
  forwardAsUser(d, ctx, IM.Buddy.IMUsersInfoReq, IM.Buddy.IMUsersInfoRsp, (req) => {
    req.user_id_list = req.user_id_list.slice(0, ctx.config.maxUsersPerInfoRequest);
  });
  forwardAsUser(d, ctx, IM.Buddy.IMAllUserReq, IM.Buddy.IMAllUserRsp);
  forwardAsUser(d, ctx, IM.Buddy.IMDepartmentReq, IM.Buddy.IMDepartmentRsp);
  d.on(IM.Buddy.IMRemoveSessionReq, (req, pdu, conn) => removeSession(ctx, conn, req, pdu));
  d.on(IM.Buddy.IMUsersStatReq, (req, pdu, conn) => usersStatus(ctx, conn, req, pdu));
  d.on(IM.Buddy.IMChangeAvatarReq, (req, pdu, conn) => {
    req.user_id = conn.userId;
    forwardToDb(ctx, conn, pdu, IM.Buddy.IMChangeAvatarReq, req, IM.Buddy.IMChangeAvatarRsp, (rsp) => {
      // The user's other devices learn of the change too.
      for (const c of conn.user?.connections ?? []) {
        if (c !== conn) c.send(IM.Buddy.IMChangeAvatarRsp, withoutAttach(rsp));
      }
    });
  });
  d.on(IM.Buddy.IMChangeSignInfoReq, (req, pdu, conn) => {
    req.user_id = conn.userId;
    forwardToDb(ctx, conn, pdu, IM.Buddy.IMChangeSignInfoReq, req, IM.Buddy.IMChangeSignInfoRsp, (rsp) => {
      if (rsp.result_code !== 0) return;
      // The route server sends this back to every msg server, this one included,
      // and each delivers it to all its clients (see route-inbound).
      ctx.routes.relay(IM.Buddy.IMSignInfoChangedNotify, { changed_user_id: conn.userId, sign_info: req.sign_info });
    });
  });
}

function removeSession(ctx: MsgServerContext, conn: ClientConn, req: IM.Buddy.IMRemoveSessionReq, pdu: Parameters<typeof forwardToDb>[2]): void {
  req.user_id = conn.userId;
  if (req.session_type === SessionType.SESSION_TYPE_SINGLE) {
    // The user's other devices drop the session too, at once (as the original, before the db answers).
    const notify = { user_id: conn.userId, session_type: req.session_type, session_id: req.session_id };
    const frame = encodePdu(IM.Buddy.IMRemoveSessionNotify, notify);
    for (const c of conn.user?.connections ?? []) {
      if (c !== conn) c.sendFrame(frame);
    }
    ctx.routes.relayFrame(frame);
  }
  forwardToDb(ctx, conn, pdu, IM.Buddy.IMRemoveSessionReq, req, IM.Buddy.IMRemoveSessionRsp);
}

function usersStatus(ctx: MsgServerContext, conn: ClientConn, req: IM.Buddy.IMUsersStatReq, pdu: Parameters<typeof forwardToDb>[2]): void {
  req.user_id = conn.userId;
  req.user_id_list = req.user_id_list.slice(0, ctx.config.maxUsersPerStatusQuery);
  req.attach_data = encodePduAttachForStatus(conn.id);
  if (!ctx.budget.begin(conn, pdu.commandId, Date.now())) return;
  ctx.routes.request(IM.Buddy.IMUsersStatReq, req, IM.Buddy.IMUsersStatRsp).finally(() => ctx.budget.end(conn)).then(
    (rsp) => {
      if (conn.isOpen && carriesHandle(ctx, conn, rsp, 'IMUsersStatRsp')) conn.reply(pdu, IM.Buddy.IMUsersStatRsp, withoutAttach(rsp));
    },
    (err: unknown) => {
      ctx.logger.warn({ conn: conn.id, userId: conn.userId, err: errorMessage(err) }, 'users-status query failed at the route server');
    },
  );
}

/** The original sends the 16-byte "PDU attach" form with an empty body for status queries. */
function encodePduAttachForStatus(handle: number): Buffer {
  const attach = Buffer.alloc(16);
  encodeHandleAttach(handle).copy(attach);
  return attach;
}
