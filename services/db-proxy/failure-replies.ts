/**
 * For every command a msg server sends us: the reply command the original
 * db_proxy answers with, and that reply's "failed" body (as the original fills
 * it on failure: msg_id 0, result_code 1, or the required fields with empty
 * lists). Used when a request cannot be carried out: storage down, queue full,
 * body not decodable. The header flag (PduFlag) says which; the body keeps
 * peers that ignore the flag (the original msg_server) on the failure path too.
 * Commands the original never answers map to null.
 */
import { splitAttachData } from '../../pdu/attach';
import { IM, commandOf, type BodyOf, type MessageClass, type MessageOf } from '../../pdu/commands';
import type { Pdu } from '../../pdu/frame';
import type { MsgServerConn } from './request-gate';

const { SessionType, MsgType, GroupModifyType } = IM.BaseDefine;

interface ReplySpec {
  reply: MessageClass | null;
  /** `request` is null when the body could not be decoded. */
  failure(request: unknown): object;
}

const specs = new Map<MessageClass, ReplySpec>();

function answeredWith<Q extends MessageClass, R extends MessageClass>(
  request: Q,
  reply: R,
  failure: (request: MessageOf<Q> | null) => BodyOf<R>,
): void {
  specs.set(request, { reply, failure: failure as (request: unknown) => object });
}

function unanswered(request: MessageClass): void {
  specs.set(request, { reply: null, failure: () => ({}) });
}

const sessionType = (t: number | undefined) => t || SessionType.SESSION_TYPE_SINGLE;

answeredWith(IM.Server.IMValidateReq, IM.Server.IMValidateRsp, (q) => ({
  user_name: q?.user_name ?? '',
  result_code: 2,
  result_string: '服务端内部错误',
}));
answeredWith(IM.Login.IMPushShieldReq, IM.Login.IMPushShieldRsp, (q) => ({ user_id: q?.user_id ?? 0, result_code: 1 }));
answeredWith(IM.Login.IMQueryPushShieldReq, IM.Login.IMQueryPushShieldRsp, (q) => ({
  user_id: q?.user_id ?? 0,
  result_code: 1,
}));
answeredWith(IM.Login.IMDeviceTokenReq, IM.Login.IMDeviceTokenRsp, (q) => ({ user_id: q?.user_id ?? 0 }));
answeredWith(IM.Buddy.IMRecentContactSessionReq, IM.Buddy.IMRecentContactSessionRsp, (q) => ({
  user_id: q?.user_id ?? 0,
  contact_session_list: [],
}));
answeredWith(IM.Buddy.IMRemoveSessionReq, IM.Buddy.IMRemoveSessionRsp, (q) => ({
  user_id: q?.user_id ?? 0,
  result_code: 1,
  session_type: sessionType(q?.session_type),
  session_id: q?.session_id ?? 0,
}));
answeredWith(IM.Buddy.IMUsersInfoReq, IM.Buddy.IMUsersInfoRsp, (q) => ({ user_id: q?.user_id ?? 0, user_info_list: [] }));
answeredWith(IM.Buddy.IMAllUserReq, IM.Buddy.IMAllUserRsp, (q) => ({
  user_id: q?.user_id ?? 0,
  latest_update_time: q?.latest_update_time ?? 0,
  user_list: [],
}));
answeredWith(IM.Buddy.IMDepartmentReq, IM.Buddy.IMDepartmentRsp, (q) => ({
  user_id: q?.user_id ?? 0,
  latest_update_time: q?.latest_update_time ?? 0,
  dept_list: [],
}));
answeredWith(IM.Buddy.IMChangeSignInfoReq, IM.Buddy.IMChangeSignInfoRsp, (q) => ({ user_id: q?.user_id ?? 0, result_code: 1 }));
answeredWith(IM.Buddy.IMChangeAvatarReq, IM.Buddy.IMChangeAvatarRsp, (q) => ({ user_id: q?.user_id ?? 0, result_code: 1 }));
answeredWith(IM.Message.IMMsgData, IM.Message.IMMsgData, (q) => ({
  from_user_id: q?.from_user_id ?? 0,
  to_session_id: q?.to_session_id ?? 0,
  msg_id: 0,
  create_time: q?.create_time ?? 0,
  msg_type: q?.msg_type || MsgType.MSG_TYPE_SINGLE_TEXT,
  msg_data: q?.msg_data ?? new Uint8Array(0),
}));
unanswered(IM.Message.IMMsgDataReadAck);
answeredWith(IM.Message.IMUnreadMsgCntReq, IM.Message.IMUnreadMsgCntRsp, (q) => ({
  user_id: q?.user_id ?? 0,
  total_cnt: 0,
  unreadinfo_list: [],
}));
answeredWith(IM.Message.IMGetMsgListReq, IM.Message.IMGetMsgListRsp, (q) => ({
  user_id: q?.user_id ?? 0,
  session_type: sessionType(q?.session_type),
  session_id: q?.session_id ?? 0,
  msg_id_begin: q?.msg_id_begin ?? 0,
  msg_list: [],
}));
answeredWith(IM.Message.IMGetMsgByIdReq, IM.Message.IMGetMsgByIdRsp, (q) => ({
  user_id: q?.user_id ?? 0,
  session_type: sessionType(q?.session_type),
  session_id: q?.session_id ?? 0,
  msg_list: [],
}));
answeredWith(IM.Message.IMGetLatestMsgIdReq, IM.Message.IMGetLatestMsgIdRsp, (q) => ({
  user_id: q?.user_id ?? 0,
  session_type: sessionType(q?.session_type),
  session_id: q?.session_id ?? 0,
  latest_msg_id: 0,
}));
answeredWith(IM.Server.IMGetDeviceTokenReq, IM.Server.IMGetDeviceTokenRsp, () => ({ user_token_info: [] }));
answeredWith(IM.Server.IMGroupGetShieldReq, IM.Server.IMGroupGetShieldRsp, (q) => ({
  group_id: q?.group_id ?? 0,
  shield_status_list: [],
}));
answeredWith(IM.Group.IMNormalGroupListReq, IM.Group.IMNormalGroupListRsp, (q) => ({
  user_id: q?.user_id ?? 0,
  group_version_list: [],
}));
answeredWith(IM.Group.IMGroupInfoListReq, IM.Group.IMGroupInfoListRsp, (q) => ({
  user_id: q?.user_id ?? 0,
  group_info_list: [],
}));
answeredWith(IM.Group.IMGroupCreateReq, IM.Group.IMGroupCreateRsp, (q) => ({
  user_id: q?.user_id ?? 0,
  result_code: 1,
  group_name: q?.group_name ?? '',
  user_id_list: [],
}));
answeredWith(IM.Group.IMGroupChangeMemberReq, IM.Group.IMGroupChangeMemberRsp, (q) => ({
  user_id: q?.user_id ?? 0,
  change_type: q?.change_type || GroupModifyType.GROUP_MODIFY_TYPE_ADD,
  result_code: 1,
  group_id: q?.group_id ?? 0,
  cur_user_id_list: [],
  chg_user_id_list: [],
}));
answeredWith(IM.Group.IMGroupShieldReq, IM.Group.IMGroupShieldRsp, (q) => ({
  user_id: q?.user_id ?? 0,
  group_id: q?.group_id ?? 0,
  result_code: 1,
}));
answeredWith(IM.File.IMFileHasOfflineReq, IM.File.IMFileHasOfflineRsp, (q) => ({
  user_id: q?.user_id ?? 0,
  offline_file_list: [],
  ip_addr_list: [],
}));
unanswered(IM.File.IMFileAddOfflineReq);
unanswered(IM.File.IMFileDelOfflineReq);

const byCommandId = new Map<number, ReplySpec & { request: MessageClass }>();
for (const [request, spec] of specs) byCommandId.set(commandOf(request).commandId, { ...spec, request });

/** The commands this service accepts (wire.md section 3, db_proxy row). */
export function acceptedCommandIds(): number[] {
  return [...byCommandId.keys()];
}

/** Whether the original answers this command at all. */
export function expectsReply(commandId: number): boolean {
  return byCommandId.get(commandId)?.reply != null;
}

/**
 * attach_data of a request, read straight from the protobuf bytes, so even a
 * body that does not decode (e.g. a required field missing) gets its
 * correlation bytes echoed and the msg server can route the error reply.
 */
export function rawAttachData(body: Uint8Array): Uint8Array | undefined {
  // Truncated or garbage bytes: whatever was found before the damage.
  return splitAttachData(body).attach;
}

/** attach_data of a decoded request, if the request carried one. */
export function attachOf(request: object | null): Uint8Array | undefined {
  if (request === null || !Object.prototype.hasOwnProperty.call(request, 'attach_data')) return undefined;
  const value = (request as { attach_data?: Uint8Array | null }).attach_data;
  return value ?? undefined;
}

/**
 * Sends the failed reply for `pdu` (nothing for commands the original never
 * answers). `decoded` is the request body when it could be decoded.
 */
export function sendFailureReply(conn: MsgServerConn, pdu: Pdu, flag: number, decoded: object | null): boolean {
  const spec = byCommandId.get(pdu.commandId);
  if (!spec || spec.reply === null) return false;
  const body = spec.failure(decoded) as { attach_data?: Uint8Array };
  const attach = decoded !== null ? attachOf(decoded) : rawAttachData(pdu.body);
  if (attach !== undefined) body.attach_data = attach;
  return conn.reply(pdu, spec.reply, body as never, flag);
}

/** Decodes `pdu` for a failure reply; null when it does not decode. */
export function tryDecode(pdu: Pdu): object | null {
  const spec = byCommandId.get(pdu.commandId);
  if (!spec) return null;
  try {
    return spec.request.decode(pdu.body) as object;
  } catch {
    return null;
  }
}
