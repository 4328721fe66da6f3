/**
 * Message family: sending (store -> ack -> deliver here and through the route
 * server), delivery receipts, read acks, and the history/unread queries.
 */
import { randomBytes } from 'node:crypto';
import { IM } from '../../../pdu/commands';
import type { Dispatcher } from '../../../pdu/dispatch';
import { encodePdu } from '../../../pdu/encode';
import { PduFlag, type Pdu } from '../../../pdu/frame';
import { RemoteError, errorMessage } from '../../../lib/errors';
import type { ClientConn } from '../client-session';
import { unixNow, type MsgServerContext } from '../context';
import { carriesHandle, forwardAsUser, handleAttach } from './common';
import { fanOutGroupMessage } from './group';
import { pushToOfflineRecipients } from '../push-notifications';

const { MsgType, SessionType } = IM.BaseDefine;

export function isGroupMessage(msgType: number): boolean {
  return msgType === MsgType.MSG_TYPE_GROUP_TEXT || msgType === MsgType.MSG_TYPE_GROUP_AUDIO;
}

function isKnownMessageType(msgType: number): boolean {
  return msgType === MsgType.MSG_TYPE_SINGLE_TEXT || msgType === MsgType.MSG_TYPE_SINGLE_AUDIO || isGroupMessage(msgType);
}

export function registerMessageHandlers(d: Dispatcher<ClientConn>, ctx: MsgServerContext): void {
  d.on(IM.Message.IMMsgData, (msg, pdu, conn) => sendMessage(ctx, conn, msg, pdu));
  d.on(IM.Message.IMMsgDataAck, (ack, _pdu, conn) => {
    // A receipt from the receiving device; group receipts are ignored as in the original.
    if (ack.session_type === SessionType.SESSION_TYPE_SINGLE) ctx.deliveries.ack(conn, ack.msg_id, ack.session_id);
  });
  d.on(IM.Message.IMMsgDataReadAck, (ack, _pdu, conn) => readAck(ctx, conn, ack));
  d.on(IM.Message.IMClientTimeReq, (_req, pdu, conn) => {
    conn.reply(pdu, IM.Message.IMClientTimeRsp, { server_time: unixNow() });
  });
  forwardAsUser(d, ctx, IM.Message.IMUnreadMsgCntReq, IM.Message.IMUnreadMsgCntRsp);
  const maxPage = ctx.config.maxMessagesPerPage;
  forwardAsUser(d, ctx, IM.Message.IMGetMsgListReq, IM.Message.IMGetMsgListRsp, (req) => {
    req.msg_cnt = Math.min(req.msg_cnt, maxPage);
  });
  forwardAsUser(d, ctx, IM.Message.IMGetLatestMsgIdReq, IM.Message.IMGetLatestMsgIdRsp);
  forwardAsUser(d, ctx, IM.Message.IMGetMsgByIdReq, IM.Message.IMGetMsgByIdRsp, (req) => {
    req.msg_id_list = req.msg_id_list.slice(0, maxPage);
  });
}

/** This process's store tokens: a random prefix per start, then a counter. */
const tokenPrefix = randomBytes(8).toString('hex');
let tokenCounter = 0;

function nextStoreToken(): string {
  return `${tokenPrefix}-${(++tokenCounter).toString(36)}`;
}

/** Flood control as the original: at most floodLimitPerSecond messages per connection per one-second window. */
function overFloodLimit(ctx: MsgServerContext, conn: ClientConn): boolean {
  if (conn.floodWindow !== ctx.floodWindow) {
    conn.floodWindow = ctx.floodWindow;
    conn.sentInWindow = 0;
    conn.droppedInWindow = 0;
  }
  if (conn.sentInWindow < ctx.config.floodLimitPerSecond) {
    conn.sentInWindow++;
    return false;
  }
  // Every drop is counted; the first of a window is logged at once and the rest
  // are summed into one line when the window ends (see logFloodSummaries).
  ctx.stats.floodDropped++;
  if (conn.droppedInWindow++ === 0) {
    ctx.logger.warn(
      { conn: conn.id, userId: conn.userId, limit: ctx.config.floodLimitPerSecond },
      'message dropped: more than the per-second limit',
    );
    ctx.floodedConnections.add(conn);
  }
  return true;
}

async function sendMessage(ctx: MsgServerContext, conn: ClientConn, msg: IM.Message.IMMsgData, pdu: Pdu): Promise<void> {
  const drop = (why: string) => ctx.logger.info({ conn: conn.id, userId: conn.userId, to: msg.to_session_id, why }, 'message dropped');
  if (overFloodLimit(ctx, conn)) return;
  if (msg.msg_data.length === 0) return drop('empty message');
  if (!isKnownMessageType(msg.msg_type)) return drop(`unknown msg_type ${msg.msg_type}`);
  const group = isGroupMessage(msg.msg_type);
  if (!group && msg.to_session_id === conn.userId) return drop('message to oneself');

  msg.from_user_id = conn.userId;
  msg.create_time = unixNow();
  msg.attach_data = handleAttach(conn);
  // The same token on every attempt of this store (a client cannot choose it).
  msg.store_token = nextStoreToken();
  if (!ctx.budget.begin(conn, pdu.commandId, Date.now())) return;
  let stored: IM.Message.IMMsgData;
  try {
    stored = await ctx.db.request(IM.Message.IMMsgData, msg, IM.Message.IMMsgData);
  } catch (err) {
    ctx.stats.messagesFailed++;
    if (err instanceof RemoteError && err.flag === PduFlag.BAD_REQUEST) {
      // Not allowed (no such receiver, not a group member, ...): refused for good, nothing was stored.
      ctx.logger.info({ conn: conn.id, userId: conn.userId, to: msg.to_session_id }, 'db-proxy refused the message; no ack sent');
    } else {
      ctx.logger.warn({ conn: conn.id, userId: conn.userId, to: msg.to_session_id, err: errorMessage(err) }, 'message not stored; no ack sent');
    }
    return;
  } finally {
    ctx.budget.end(conn);
  }
  if (!carriesHandle(ctx, conn, stored, 'IMMsgData')) {
    ctx.stats.messagesFailed++;
    return;
  }
  if (stored.msg_id === 0) {
    ctx.stats.messagesFailed++;
    ctx.logger.warn({ conn: conn.id, userId: conn.userId, to: msg.to_session_id }, 'db-proxy refused the message; no ack sent');
    return;
  }
  ctx.stats.messagesStored++;
  // One frame for everyone: seq 0 and no attach_data (the original leaked the
  // sender's seq and attach through the route server).
  delete (stored as { attach_data?: Uint8Array | null }).attach_data;
  delete (stored as { store_token?: string | null }).store_token;
  const frame = encodePdu(IM.Message.IMMsgData, stored);
  // Relayed before the sender's ack is written: a msg server that dies after the
  // ack has already handed the relay to the route link (its kernel sends it on).
  ctx.routes.relayFrame(frame);
  // Stored: the sender's ack carries its own seq_num.
  if (conn.isOpen) {
    conn.reply(pdu, IM.Message.IMMsgDataAck, {
      user_id: conn.userId,
      session_id: stored.to_session_id,
      msg_id: stored.msg_id,
      session_type: group ? SessionType.SESSION_TYPE_GROUP : SessionType.SESSION_TYPE_SINGLE,
    });
  }
  if (group) {
    await fanOutGroupMessage(ctx, stored, frame, conn);
  } else {
    deliverSingleMessage(ctx, stored, frame, conn);
  }
  if (ctx.push.available) void pushForMessage(ctx, stored, conn);
}

/** Phones of recipients without a connected device hear of it (push-notifications.ts). */
async function pushForMessage(ctx: MsgServerContext, msg: IM.Message.IMMsgData, sender: ClientConn): Promise<void> {
  let recipients: readonly number[] = [msg.to_session_id];
  if (isGroupMessage(msg.msg_type)) {
    const members = await ctx.groups.members(msg.to_session_id, msg.from_user_id).catch(() => null);
    if (members === null) return;
    recipients = members;
  }
  await pushToOfflineRecipients(ctx, msg, sender, recipients);
}

/**
 * Delivers a stored single-chat message to every local device of the receiver
 * and to the sender's other devices (multi-device sync), each tracked until acked.
 */
export function deliverSingleMessage(ctx: MsgServerContext, msg: IM.Message.IMMsgData, frame: Buffer, except: ClientConn | null): void {
  const now = Date.now();
  for (const userId of [msg.to_session_id, msg.from_user_id]) {
    const user = ctx.users.get(userId);
    if (user === undefined) continue;
    for (const c of user.connections) {
      if (c !== except) ctx.deliveries.deliver(c, msg.msg_id, msg.from_user_id, frame, now);
    }
  }
}

function readAck(ctx: MsgServerContext, conn: ClientConn, ack: IM.Message.IMMsgDataReadAck): void {
  ack.user_id = conn.userId;
  ctx.db.send(IM.Message.IMMsgDataReadAck, ack);
  if (ack.session_type === SessionType.SESSION_TYPE_SINGLE) ctx.deliveries.ackUpTo(conn, ack.msg_id, ack.session_id);
  const notify: IM.Message.IIMMsgDataReadNotify = {
    user_id: conn.userId,
    session_id: ack.session_id,
    msg_id: ack.msg_id,
    session_type: ack.session_type,
  };
  // The reader's other devices learn the session is read (the sender is not told, as in the original).
  const frame = encodePdu(IM.Message.IMMsgDataReadNotify, notify);
  for (const c of conn.user?.connections ?? []) {
    if (c !== conn) c.sendFrame(frame);
  }
  ctx.routes.relayFrame(frame);
}
