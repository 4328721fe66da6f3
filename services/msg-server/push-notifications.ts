/**
 * Pushes to phones for a stored message (behaviour.md §10, files.md §4.3):
 * recipients with no device on this msg server are asked about at the route
 * server (0x020a, attach type 4), then those with no PC client anywhere at the
 * db-proxy (0x0705: stored device tokens, unread total as badge, push shield
 * applied); the ones with a token get one 0x070f to the push server. (The
 * original asked the db-proxy first; the route server first spares the db-proxy
 * a request for every message to an online user.) Only the msg server the message
 * was sent to pushes (the original pushed group messages once per msg server).
 * Group members who shielded the group (0x0711) are skipped.
 *
 * Differences from the original, on purpose: a recipient with a device on this
 * msg server, or a PC client online anywhere, gets no push at all (the original
 * sent "silent" badge pushes to connected users too); the alert is cut at a
 * character boundary (the original cut 37 bytes into the middle of a character).
 */
import { IM } from '../../pdu/commands';
import { AttachType, encodePduAttach } from '../../pdu/attach';
import { encodeBody } from '../../pdu/encode';
import { errorMessage } from '../../lib/errors';
import { decryptMessageText } from '../../lib/message-crypto';
import type { ClientConn } from './client-session';
import type { MsgServerContext } from './context';

const { MsgType, UserStatType } = IM.BaseDefine;

const IMAGE_PREFIX = '&$#@~^@[{:';
const IMAGE_SUFFIX = ':}]&$~@#@';
const GENERIC_TEXT = '您收到了一条消息';
/** The original's alert length: 37 bytes, then "...". */
const ALERT_BYTES = 37;
/** Bounds one push request (a big group's offline members). */
const MAX_RECIPIENTS = 2_000;

/** The alert text of a push for `msg` from `sender` (null: the text cannot be decrypted, no push). */
export function pushText(msg: IM.Message.IIMMsgData, senderNick: string, aesKey: string): string | null {
  if (msg.msg_type === MsgType.MSG_TYPE_SINGLE_AUDIO) return cut(`${senderNick}给您发送了一条语音消息`);
  if (msg.msg_type === MsgType.MSG_TYPE_GROUP_AUDIO) return cut(`${senderNick}在群聊中发送了一条语音消息`);
  const plain = decryptMessageText(msg.msg_data ?? new Uint8Array(), aesKey);
  if (plain === null) return null;
  const text = plain.toString('utf8');
  const start = text.indexOf(IMAGE_PREFIX);
  if (start >= 0 && text.indexOf(IMAGE_SUFFIX, start + IMAGE_PREFIX.length) >= 0) return GENERIC_TEXT;
  return cut(`${senderNick}:${text}`);
}

/** At most 37 bytes of UTF-8, whole characters only, then "..." when something was cut. */
export function cut(text: string): string {
  if (Buffer.byteLength(text, 'utf8') <= ALERT_BYTES) return text;
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > ALERT_BYTES) break;
    out += ch;
    bytes += n;
  }
  return `${out}...`;
}

function isGroup(msgType: number): boolean {
  return msgType === MsgType.MSG_TYPE_GROUP_TEXT || msgType === MsgType.MSG_TYPE_GROUP_AUDIO;
}

/**
 * Runs the pipeline for a message stored by `sender` (a connection here).
 * `recipients`: the receiver, or the group's members. Never throws: a push is
 * best effort, the message is stored and delivered regardless.
 */
export async function pushToOfflineRecipients(ctx: MsgServerContext, msg: IM.Message.IMMsgData, sender: ClientConn, recipients: readonly number[]): Promise<void> {
  if (!ctx.push.available) return;
  const group = isGroup(msg.msg_type);
  let candidates = [...new Set(recipients)].filter((id) => id !== msg.from_user_id && ctx.users.get(id) === undefined).slice(0, MAX_RECIPIENTS);
  if (candidates.length === 0) return;
  const body = encodeBody(IM.Message.IMMsgData, msg);
  try {
    const data: Record<string, number> = { from_id: msg.from_user_id, msg_type: msg.msg_type };
    if (group) data.group_id = msg.to_session_id;
    // The text is written only for recipients who get a push (it costs a decryption).
    const push: IM.Server.IIMPushToUserReq = { flash: '', data: JSON.stringify(data), user_token_list: [] };
    // The route server first: it is in memory, and most recipients are online (no db-proxy request then).
    const status = await ctx.routes.request(
      IM.Buddy.IMUsersStatReq,
      {
        user_id: msg.from_user_id,
        user_id_list: candidates,
        attach_data: encodePduAttach(AttachType.PDU_FOR_PUSH, 0, encodeBody(IM.Server.IMPushToUserReq, push as IM.Server.IMPushToUserReq)),
      },
      IM.Buddy.IMUsersStatRsp,
    );
    const online = new Set(status.user_stat_list.filter((s) => s.status === UserStatType.USER_STATUS_ONLINE).map((s) => s.user_id));
    candidates = candidates.filter((id) => !online.has(id));
    if (candidates.length === 0) return;
    if (group) {
      const shields = await ctx.db.request(
        IM.Server.IMGroupGetShieldReq,
        { group_id: msg.to_session_id, user_id: candidates, attach_data: body },
        IM.Server.IMGroupGetShieldRsp,
      );
      const shielded = new Set(shields.shield_status_list.filter((s) => s.shield_status === 1).map((s) => s.user_id));
      candidates = candidates.filter((id) => !shielded.has(id));
      if (candidates.length === 0) return;
    }
    const tokens = await ctx.db.request(IM.Server.IMGetDeviceTokenReq, { user_id: candidates, attach_data: body }, IM.Server.IMGetDeviceTokenRsp);
    // A recipient may have logged in here meanwhile.
    const offline = tokens.user_token_info.filter((t) => ctx.users.get(t.user_id) === undefined);
    if (offline.length === 0) return;
    const flash = pushText(msg, sender.nickName || sender.loginName, ctx.config.aesKey);
    if (flash === null) return;
    push.flash = flash;
    push.user_token_list = offline.map((t) => ({ user_id: t.user_id, user_type: t.user_type, token: t.token, push_count: t.push_count, push_type: 1 }));
    if (ctx.push.send(push as IM.Server.IMPushToUserReq)) {
      ctx.logger.info({ from: msg.from_user_id, msgId: msg.msg_id, users: offline.map((t) => t.user_id) }, 'push sent to the push server');
    }
  } catch (err) {
    ctx.logger.warn({ from: msg.from_user_id, msgId: msg.msg_id, err: errorMessage(err) }, 'push not sent');
  }
}
