/**
 * Message commands: storing (0x0301, through the batching MessageStore), read
 * acks (0x0303, never answered), unread counts, history pages, the latest msg
 * id and messages by id. For a group the requester must be a member and sees
 * messages from their join time on.
 */
import { IM } from '../../../pdu/commands';
import type { Dispatcher } from '../../../pdu/dispatch';
import type { DbProxyContext } from '../context';
import { ok, refused, serve, serveWithoutReply, type DbRequest } from '../db-request';

const { SessionType } = IM.BaseDefine;

const isSessionType = (t: number) => t === SessionType.SESSION_TYPE_SINGLE || t === SessionType.SESSION_TYPE_GROUP;

export function registerMessageHandlers(d: Dispatcher<DbRequest>, ctx: DbProxyContext): void {
  serve(d, IM.Message.IMMsgData, IM.Message.IMMsgData, async (msg) => {
    const result = await ctx.store.store(msg);
    return {
      body: {
        from_user_id: msg.from_user_id,
        to_session_id: msg.to_session_id,
        msg_id: result.msgId,
        create_time: msg.create_time,
        msg_type: msg.msg_type,
        msg_data: msg.msg_data,
      },
      flag: result.flag,
    };
  });

  serveWithoutReply(d, IM.Message.IMMsgDataReadAck, async (ack) => {
    // Whole session read, whatever msg_id says (as the original).
    // Single: only the reader's own counter (HDEL creates nothing). Group: members only,
    // so read acks for arbitrary group ids cannot create keys.
    if (ack.session_type === SessionType.SESSION_TYPE_SINGLE) await ctx.unread.clearSingle(ack.user_id, ack.session_id);
    else if (ack.session_type === SessionType.SESSION_TYPE_GROUP) {
      if ((await ctx.members.joinTime(ack.session_id, ack.user_id)) !== null) await ctx.unread.markGroupRead([ack.user_id], ack.session_id);
    } else ctx.logger.warn({ userId: ack.user_id, sessionType: ack.session_type }, 'read ack with an unknown session type ignored');
  });

  serve(d, IM.Message.IMUnreadMsgCntReq, IM.Message.IMUnreadMsgCntRsp, async (req) => {
    const { total, list } = await ctx.unread.summaryOf(req.user_id);
    return ok({ user_id: req.user_id, total_cnt: total, unreadinfo_list: list });
  });

  serve(d, IM.Message.IMGetMsgListReq, IM.Message.IMGetMsgListRsp, async (req) => {
    const reply = {
      user_id: req.user_id,
      session_type: req.session_type,
      session_id: req.session_id,
      msg_id_begin: req.msg_id_begin,
    };
    if (!isSessionType(req.session_type)) return refused({ ...reply, session_type: SessionType.SESSION_TYPE_SINGLE, msg_list: [] });
    if (req.session_type === SessionType.SESSION_TYPE_SINGLE) {
      const relationId = await ctx.relations.find(req.user_id, req.session_id);
      const msg_list = relationId === null ? [] : await ctx.reader.pageOfRelation(relationId, req.msg_id_begin, req.msg_cnt);
      return ok({ ...reply, msg_list });
    }
    const joined = await ctx.members.joinTime(req.session_id, req.user_id);
    const msg_list = joined === null ? [] : await ctx.reader.pageOfGroup(req.session_id, req.msg_id_begin, req.msg_cnt, joined);
    return ok({ ...reply, msg_list });
  });

  serve(d, IM.Message.IMGetLatestMsgIdReq, IM.Message.IMGetLatestMsgIdRsp, async (req) => {
    const reply = { user_id: req.user_id, session_type: req.session_type, session_id: req.session_id };
    if (!isSessionType(req.session_type)) return refused({ ...reply, session_type: SessionType.SESSION_TYPE_SINGLE, latest_msg_id: 0 });
    let latest = 0;
    if (req.session_type === SessionType.SESSION_TYPE_SINGLE) {
      const relationId = await ctx.relations.find(req.user_id, req.session_id);
      if (relationId !== null) latest = await ctx.reader.latestIdOfRelation(relationId);
    } else if ((await ctx.members.joinTime(req.session_id, req.user_id)) !== null) {
      latest = await ctx.reader.latestIdOfGroup(req.session_id);
    }
    return ok({ ...reply, latest_msg_id: latest });
  });

  serve(d, IM.Message.IMGetMsgByIdReq, IM.Message.IMGetMsgByIdRsp, async (req) => {
    const reply = { user_id: req.user_id, session_type: req.session_type, session_id: req.session_id };
    if (!isSessionType(req.session_type)) return refused({ ...reply, session_type: SessionType.SESSION_TYPE_SINGLE, msg_list: [] });
    if (req.session_type === SessionType.SESSION_TYPE_SINGLE) {
      const relationId = await ctx.relations.find(req.user_id, req.session_id);
      const msg_list = relationId === null ? [] : await ctx.reader.byIdsOfRelation(relationId, req.msg_id_list);
      return ok({ ...reply, msg_list });
    }
    const joined = await ctx.members.joinTime(req.session_id, req.user_id);
    const msg_list = joined === null ? [] : await ctx.reader.byIdsOfGroup(req.session_id, req.msg_id_list, joined);
    return ok({ ...reply, msg_list });
  });
}
