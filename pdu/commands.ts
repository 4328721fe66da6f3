/**
 * The command table: (service_id, command_id) -> protobuf message type -> name.
 * Every service dispatches and logs through this one table (wire.md section 3).
 * Command ids are globally unique, so servers route on command_id alone, as the
 * original does; service_id is still written on every outgoing PDU because
 * clients dispatch on it.
 */
import type { Reader, Writer, IConversionOptions } from 'protobufjs/minimal';
import { IM } from './generated/im';

export { IM };

export const ServiceId = {
  LOGIN: 0x0001,
  BUDDY_LIST: 0x0002,
  MSG: 0x0003,
  GROUP: 0x0004,
  FILE: 0x0005,
  SWITCH_SERVICE: 0x0006,
  OTHER: 0x0007,
  INTERNAL: 0x0008,
} as const;

/** Command ids by name, without the CID_ prefix: CID.MSG_DATA === 0x0301. */
export const CID = {
  LOGIN_REQ_MSGSERVER: 0x0101,
  LOGIN_RES_MSGSERVER: 0x0102,
  LOGIN_REQ_USERLOGIN: 0x0103,
  LOGIN_RES_USERLOGIN: 0x0104,
  LOGIN_REQ_LOGINOUT: 0x0105,
  LOGIN_RES_LOGINOUT: 0x0106,
  LOGIN_KICK_USER: 0x0107,
  LOGIN_REQ_DEVICETOKEN: 0x0108,
  LOGIN_RES_DEVICETOKEN: 0x0109,
  LOGIN_REQ_KICKPCCLIENT: 0x010a,
  LOGIN_RES_KICKPCCLIENT: 0x010b,
  LOGIN_REQ_PUSH_SHIELD: 0x010c,
  LOGIN_RES_PUSH_SHIELD: 0x010d,
  LOGIN_REQ_QUERY_PUSH_SHIELD: 0x010e,
  LOGIN_RES_QUERY_PUSH_SHIELD: 0x010f,
  BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST: 0x0201,
  BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE: 0x0202,
  BUDDY_LIST_STATUS_NOTIFY: 0x0203,
  BUDDY_LIST_USER_INFO_REQUEST: 0x0204,
  BUDDY_LIST_USER_INFO_RESPONSE: 0x0205,
  BUDDY_LIST_REMOVE_SESSION_REQ: 0x0206,
  BUDDY_LIST_REMOVE_SESSION_RES: 0x0207,
  BUDDY_LIST_ALL_USER_REQUEST: 0x0208,
  BUDDY_LIST_ALL_USER_RESPONSE: 0x0209,
  BUDDY_LIST_USERS_STATUS_REQUEST: 0x020a,
  BUDDY_LIST_USERS_STATUS_RESPONSE: 0x020b,
  BUDDY_LIST_CHANGE_AVATAR_REQUEST: 0x020c,
  BUDDY_LIST_CHANGE_AVATAR_RESPONSE: 0x020d,
  BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY: 0x020e,
  BUDDY_LIST_REMOVE_SESSION_NOTIFY: 0x020f,
  BUDDY_LIST_DEPARTMENT_REQUEST: 0x0210,
  BUDDY_LIST_DEPARTMENT_RESPONSE: 0x0211,
  BUDDY_LIST_AVATAR_CHANGED_NOTIFY: 0x0212,
  BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST: 0x0213,
  BUDDY_LIST_CHANGE_SIGN_INFO_RESPONSE: 0x0214,
  BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY: 0x0215,
  MSG_DATA: 0x0301,
  MSG_DATA_ACK: 0x0302,
  MSG_READ_ACK: 0x0303,
  MSG_READ_NOTIFY: 0x0304,
  MSG_TIME_REQUEST: 0x0305,
  MSG_TIME_RESPONSE: 0x0306,
  MSG_UNREAD_CNT_REQUEST: 0x0307,
  MSG_UNREAD_CNT_RESPONSE: 0x0308,
  MSG_LIST_REQUEST: 0x0309,
  MSG_LIST_RESPONSE: 0x030a,
  MSG_GET_LATEST_MSG_ID_REQ: 0x030b,
  MSG_GET_LATEST_MSG_ID_RSP: 0x030c,
  MSG_GET_BY_MSG_ID_REQ: 0x030d,
  MSG_GET_BY_MSG_ID_RES: 0x030e,
  GROUP_NORMAL_LIST_REQUEST: 0x0401,
  GROUP_NORMAL_LIST_RESPONSE: 0x0402,
  GROUP_INFO_REQUEST: 0x0403,
  GROUP_INFO_RESPONSE: 0x0404,
  GROUP_CREATE_REQUEST: 0x0405,
  GROUP_CREATE_RESPONSE: 0x0406,
  GROUP_CHANGE_MEMBER_REQUEST: 0x0407,
  GROUP_CHANGE_MEMBER_RESPONSE: 0x0408,
  GROUP_SHIELD_GROUP_REQUEST: 0x0409,
  GROUP_SHIELD_GROUP_RESPONSE: 0x040a,
  GROUP_CHANGE_MEMBER_NOTIFY: 0x040b,
  FILE_LOGIN_REQ: 0x0501,
  FILE_LOGIN_RES: 0x0502,
  FILE_STATE: 0x0503,
  FILE_PULL_DATA_REQ: 0x0504,
  FILE_PULL_DATA_RSP: 0x0505,
  FILE_REQUEST: 0x0506,
  FILE_RESPONSE: 0x0507,
  FILE_NOTIFY: 0x0508,
  FILE_HAS_OFFLINE_REQ: 0x0509,
  FILE_HAS_OFFLINE_RES: 0x050a,
  FILE_ADD_OFFLINE_REQ: 0x050b,
  FILE_DEL_OFFLINE_REQ: 0x050c,
  SWITCH_P2P_CMD: 0x0601,
  OTHER_HEARTBEAT: 0x0701,
  OTHER_STOP_RECV_PACKET: 0x0702,
  OTHER_VALIDATE_REQ: 0x0703,
  OTHER_VALIDATE_RSP: 0x0704,
  OTHER_GET_DEVICE_TOKEN_REQ: 0x0705,
  OTHER_GET_DEVICE_TOKEN_RSP: 0x0706,
  OTHER_ROLE_SET: 0x0707,
  OTHER_ONLINE_USER_INFO: 0x0708,
  OTHER_MSG_SERV_INFO: 0x0709,
  OTHER_USER_STATUS_UPDATE: 0x070a,
  OTHER_USER_CNT_UPDATE: 0x070b,
  OTHER_SERVER_KICK_USER: 0x070d,
  OTHER_LOGIN_STATUS_NOTIFY: 0x070e,
  OTHER_PUSH_TO_USER_REQ: 0x070f,
  OTHER_PUSH_TO_USER_RSP: 0x0710,
  OTHER_GET_SHIELD_REQ: 0x0711,
  OTHER_GET_SHIELD_RSP: 0x0712,
  OTHER_FILE_TRANSFER_REQ: 0x0731,
  OTHER_FILE_TRANSFER_RSP: 0x0732,
  OTHER_FILE_SERVER_IP_REQ: 0x0733,
  OTHER_FILE_SERVER_IP_RSP: 0x0734,
} as const;

/** What every generated protobuf class offers (static methods). */
export interface MessageClass<T = object> {
  encode(message: never, writer?: Writer): Writer;
  decode(reader: Reader | Uint8Array, length?: number): T;
  fromObject(object: { [k: string]: unknown }): T;
  toObject(message: T, options?: IConversionOptions): { [k: string]: unknown };
}

/** The plain-object shape a message class encodes (required fields are required). */
export type BodyOf<C> = C extends { encode(message: infer I, writer?: Writer): Writer } ? I : never;
/** The decoded message type of a class. */
export type MessageOf<C> = C extends { decode(reader: Reader | Uint8Array, length?: number): infer T } ? T : never;

export interface CommandInfo {
  serviceId: number;
  commandId: number;
  /** Wire name, e.g. CID_MSG_DATA. */
  name: string;
  type: MessageClass;
}

function cmd(serviceId: number, commandId: number, name: string, type: unknown): CommandInfo {
  return { serviceId, commandId, name, type: type as MessageClass };
}

export const COMMANDS: readonly CommandInfo[] = [
cmd(ServiceId.LOGIN, 0x0101, 'CID_LOGIN_REQ_MSGSERVER', IM.Login.IMMsgServReq),
  cmd(ServiceId.LOGIN, 0x0102, 'CID_LOGIN_RES_MSGSERVER', IM.Login.IMMsgServRsp),
  cmd(ServiceId.LOGIN, 0x0103, 'CID_LOGIN_REQ_USERLOGIN', IM.Login.IMLoginReq),
  cmd(ServiceId.LOGIN, 0x0104, 'CID_LOGIN_RES_USERLOGIN', IM.Login.IMLoginRes),
  cmd(ServiceId.LOGIN, 0x0105, 'CID_LOGIN_REQ_LOGINOUT', IM.Login.IMLogoutReq),
  cmd(ServiceId.LOGIN, 0x0106, 'CID_LOGIN_RES_LOGINOUT', IM.Login.IMLogoutRsp),
  cmd(ServiceId.LOGIN, 0x0107, 'CID_LOGIN_KICK_USER', IM.Login.IMKickUser),
  cmd(ServiceId.LOGIN, 0x0108, 'CID_LOGIN_REQ_DEVICETOKEN', IM.Login.IMDeviceTokenReq),
  cmd(ServiceId.LOGIN, 0x0109, 'CID_LOGIN_RES_DEVICETOKEN', IM.Login.IMDeviceTokenRsp),
  cmd(ServiceId.LOGIN, 0x010a, 'CID_LOGIN_REQ_KICKPCCLIENT', IM.Login.IMKickPCClientReq),
  cmd(ServiceId.LOGIN, 0x010b, 'CID_LOGIN_RES_KICKPCCLIENT', IM.Login.IMKickPCClientRsp),
  cmd(ServiceId.LOGIN, 0x010c, 'CID_LOGIN_REQ_PUSH_SHIELD', IM.Login.IMPushShieldReq),
  cmd(ServiceId.LOGIN, 0x010d, 'CID_LOGIN_RES_PUSH_SHIELD', IM.Login.IMPushShieldRsp),
  cmd(ServiceId.LOGIN, 0x010e, 'CID_LOGIN_REQ_QUERY_PUSH_SHIELD', IM.Login.IMQueryPushShieldReq),
  cmd(ServiceId.LOGIN, 0x010f, 'CID_LOGIN_RES_QUERY_PUSH_SHIELD', IM.Login.IMQueryPushShieldRsp),
  cmd(ServiceId.BUDDY_LIST, 0x0201, 'CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST', IM.Buddy.IMRecentContactSessionReq),
  cmd(ServiceId.BUDDY_LIST, 0x0202, 'CID_BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE', IM.Buddy.IMRecentContactSessionRsp),
  cmd(ServiceId.BUDDY_LIST, 0x0203, 'CID_BUDDY_LIST_STATUS_NOTIFY', IM.Buddy.IMUserStatNotify),
  cmd(ServiceId.BUDDY_LIST, 0x0204, 'CID_BUDDY_LIST_USER_INFO_REQUEST', IM.Buddy.IMUsersInfoReq),
  cmd(ServiceId.BUDDY_LIST, 0x0205, 'CID_BUDDY_LIST_USER_INFO_RESPONSE', IM.Buddy.IMUsersInfoRsp),
  cmd(ServiceId.BUDDY_LIST, 0x0206, 'CID_BUDDY_LIST_REMOVE_SESSION_REQ', IM.Buddy.IMRemoveSessionReq),
  cmd(ServiceId.BUDDY_LIST, 0x0207, 'CID_BUDDY_LIST_REMOVE_SESSION_RES', IM.Buddy.IMRemoveSessionRsp),
  cmd(ServiceId.BUDDY_LIST, 0x0208, 'CID_BUDDY_LIST_ALL_USER_REQUEST', IM.Buddy.IMAllUserReq),
  cmd(ServiceId.BUDDY_LIST, 0x0209, 'CID_BUDDY_LIST_ALL_USER_RESPONSE', IM.Buddy.IMAllUserRsp),
  cmd(ServiceId.BUDDY_LIST, 0x020a, 'CID_BUDDY_LIST_USERS_STATUS_REQUEST', IM.Buddy.IMUsersStatReq),
  cmd(ServiceId.BUDDY_LIST, 0x020b, 'CID_BUDDY_LIST_USERS_STATUS_RESPONSE', IM.Buddy.IMUsersStatRsp),
  cmd(ServiceId.BUDDY_LIST, 0x020c, 'CID_BUDDY_LIST_CHANGE_AVATAR_REQUEST', IM.Buddy.IMChangeAvatarReq),
  cmd(ServiceId.BUDDY_LIST, 0x020d, 'CID_BUDDY_LIST_CHANGE_AVATAR_RESPONSE', IM.Buddy.IMChangeAvatarRsp),
  cmd(ServiceId.BUDDY_LIST, 0x020e, 'CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY', IM.Buddy.IMPCLoginStatusNotify),
  cmd(ServiceId.BUDDY_LIST, 0x020f, 'CID_BUDDY_LIST_REMOVE_SESSION_NOTIFY', IM.Buddy.IMRemoveSessionNotify),
  cmd(ServiceId.BUDDY_LIST, 0x0210, 'CID_BUDDY_LIST_DEPARTMENT_REQUEST', IM.Buddy.IMDepartmentReq),
  cmd(ServiceId.BUDDY_LIST, 0x0211, 'CID_BUDDY_LIST_DEPARTMENT_RESPONSE', IM.Buddy.IMDepartmentRsp),
  cmd(ServiceId.BUDDY_LIST, 0x0212, 'CID_BUDDY_LIST_AVATAR_CHANGED_NOTIFY', IM.Buddy.IMAvatarChangedNotify),
  cmd(ServiceId.BUDDY_LIST, 0x0213, 'CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST', IM.Buddy.IMChangeSignInfoReq),
  cmd(ServiceId.BUDDY_LIST, 0x0214, 'CID_BUDDY_LIST_CHANGE_SIGN_INFO_RESPONSE', IM.Buddy.IMChangeSignInfoRsp),
  cmd(ServiceId.BUDDY_LIST, 0x0215, 'CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY', IM.Buddy.IMSignInfoChangedNotify),
  cmd(ServiceId.MSG, 0x0301, 'CID_MSG_DATA', IM.Message.IMMsgData),
  cmd(ServiceId.MSG, 0x0302, 'CID_MSG_DATA_ACK', IM.Message.IMMsgDataAck),
  cmd(ServiceId.MSG, 0x0303, 'CID_MSG_READ_ACK', IM.Message.IMMsgDataReadAck),
  cmd(ServiceId.MSG, 0x0304, 'CID_MSG_READ_NOTIFY', IM.Message.IMMsgDataReadNotify),
  cmd(ServiceId.MSG, 0x0305, 'CID_MSG_TIME_REQUEST', IM.Message.IMClientTimeReq),
  cmd(ServiceId.MSG, 0x0306, 'CID_MSG_TIME_RESPONSE', IM.Message.IMClientTimeRsp),
  cmd(ServiceId.MSG, 0x0307, 'CID_MSG_UNREAD_CNT_REQUEST', IM.Message.IMUnreadMsgCntReq),
  cmd(ServiceId.MSG, 0x0308, 'CID_MSG_UNREAD_CNT_RESPONSE', IM.Message.IMUnreadMsgCntRsp),
  cmd(ServiceId.MSG, 0x0309, 'CID_MSG_LIST_REQUEST', IM.Message.IMGetMsgListReq),
  cmd(ServiceId.MSG, 0x030a, 'CID_MSG_LIST_RESPONSE', IM.Message.IMGetMsgListRsp),
  cmd(ServiceId.MSG, 0x030b, 'CID_MSG_GET_LATEST_MSG_ID_REQ', IM.Message.IMGetLatestMsgIdReq),
  cmd(ServiceId.MSG, 0x030c, 'CID_MSG_GET_LATEST_MSG_ID_RSP', IM.Message.IMGetLatestMsgIdRsp),
  cmd(ServiceId.MSG, 0x030d, 'CID_MSG_GET_BY_MSG_ID_REQ', IM.Message.IMGetMsgByIdReq),
  cmd(ServiceId.MSG, 0x030e, 'CID_MSG_GET_BY_MSG_ID_RES', IM.Message.IMGetMsgByIdRsp),
  cmd(ServiceId.GROUP, 0x0401, 'CID_GROUP_NORMAL_LIST_REQUEST', IM.Group.IMNormalGroupListReq),
  cmd(ServiceId.GROUP, 0x0402, 'CID_GROUP_NORMAL_LIST_RESPONSE', IM.Group.IMNormalGroupListRsp),
  cmd(ServiceId.GROUP, 0x0403, 'CID_GROUP_INFO_REQUEST', IM.Group.IMGroupInfoListReq),
  cmd(ServiceId.GROUP, 0x0404, 'CID_GROUP_INFO_RESPONSE', IM.Group.IMGroupInfoListRsp),
  cmd(ServiceId.GROUP, 0x0405, 'CID_GROUP_CREATE_REQUEST', IM.Group.IMGroupCreateReq),
  cmd(ServiceId.GROUP, 0x0406, 'CID_GROUP_CREATE_RESPONSE', IM.Group.IMGroupCreateRsp),
  cmd(ServiceId.GROUP, 0x0407, 'CID_GROUP_CHANGE_MEMBER_REQUEST', IM.Group.IMGroupChangeMemberReq),
  cmd(ServiceId.GROUP, 0x0408, 'CID_GROUP_CHANGE_MEMBER_RESPONSE', IM.Group.IMGroupChangeMemberRsp),
  cmd(ServiceId.GROUP, 0x0409, 'CID_GROUP_SHIELD_GROUP_REQUEST', IM.Group.IMGroupShieldReq),
  cmd(ServiceId.GROUP, 0x040a, 'CID_GROUP_SHIELD_GROUP_RESPONSE', IM.Group.IMGroupShieldRsp),
  cmd(ServiceId.GROUP, 0x040b, 'CID_GROUP_CHANGE_MEMBER_NOTIFY', IM.Group.IMGroupChangeMemberNotify),
  cmd(ServiceId.FILE, 0x0501, 'CID_FILE_LOGIN_REQ', IM.File.IMFileLoginReq),
  cmd(ServiceId.FILE, 0x0502, 'CID_FILE_LOGIN_RES', IM.File.IMFileLoginRsp),
  cmd(ServiceId.FILE, 0x0503, 'CID_FILE_STATE', IM.File.IMFileState),
  cmd(ServiceId.FILE, 0x0504, 'CID_FILE_PULL_DATA_REQ', IM.File.IMFilePullDataReq),
  cmd(ServiceId.FILE, 0x0505, 'CID_FILE_PULL_DATA_RSP', IM.File.IMFilePullDataRsp),
  cmd(ServiceId.FILE, 0x0506, 'CID_FILE_REQUEST', IM.File.IMFileReq),
  cmd(ServiceId.FILE, 0x0507, 'CID_FILE_RESPONSE', IM.File.IMFileRsp),
  cmd(ServiceId.FILE, 0x0508, 'CID_FILE_NOTIFY', IM.File.IMFileNotify),
  cmd(ServiceId.FILE, 0x0509, 'CID_FILE_HAS_OFFLINE_REQ', IM.File.IMFileHasOfflineReq),
  cmd(ServiceId.FILE, 0x050a, 'CID_FILE_HAS_OFFLINE_RES', IM.File.IMFileHasOfflineRsp),
  cmd(ServiceId.FILE, 0x050b, 'CID_FILE_ADD_OFFLINE_REQ', IM.File.IMFileAddOfflineReq),
  cmd(ServiceId.FILE, 0x050c, 'CID_FILE_DEL_OFFLINE_REQ', IM.File.IMFileDelOfflineReq),
  cmd(ServiceId.SWITCH_SERVICE, 0x0601, 'CID_SWITCH_P2P_CMD', IM.SwitchService.IMP2PCmdMsg),
  cmd(ServiceId.OTHER, 0x0701, 'CID_OTHER_HEARTBEAT', IM.Other.IMHeartBeat),
  cmd(ServiceId.OTHER, 0x0702, 'CID_OTHER_STOP_RECV_PACKET', IM.Server.IMStopReceivePacket),
  cmd(ServiceId.OTHER, 0x0703, 'CID_OTHER_VALIDATE_REQ', IM.Server.IMValidateReq),
  cmd(ServiceId.OTHER, 0x0704, 'CID_OTHER_VALIDATE_RSP', IM.Server.IMValidateRsp),
  cmd(ServiceId.OTHER, 0x0705, 'CID_OTHER_GET_DEVICE_TOKEN_REQ', IM.Server.IMGetDeviceTokenReq),
  cmd(ServiceId.OTHER, 0x0706, 'CID_OTHER_GET_DEVICE_TOKEN_RSP', IM.Server.IMGetDeviceTokenRsp),
  cmd(ServiceId.OTHER, 0x0707, 'CID_OTHER_ROLE_SET', IM.Server.IMRoleSet),
  cmd(ServiceId.OTHER, 0x0708, 'CID_OTHER_ONLINE_USER_INFO', IM.Server.IMOnlineUserInfo),
  cmd(ServiceId.OTHER, 0x0709, 'CID_OTHER_MSG_SERV_INFO', IM.Server.IMMsgServInfo),
  cmd(ServiceId.OTHER, 0x070a, 'CID_OTHER_USER_STATUS_UPDATE', IM.Server.IMUserStatusUpdate),
  cmd(ServiceId.OTHER, 0x070b, 'CID_OTHER_USER_CNT_UPDATE', IM.Server.IMUserCntUpdate),
  cmd(ServiceId.OTHER, 0x070d, 'CID_OTHER_SERVER_KICK_USER', IM.Server.IMServerKickUser),
  cmd(ServiceId.OTHER, 0x070e, 'CID_OTHER_LOGIN_STATUS_NOTIFY', IM.Server.IMServerPCLoginStatusNotify),
  cmd(ServiceId.OTHER, 0x070f, 'CID_OTHER_PUSH_TO_USER_REQ', IM.Server.IMPushToUserReq),
  cmd(ServiceId.OTHER, 0x0710, 'CID_OTHER_PUSH_TO_USER_RSP', IM.Server.IMPushToUserRsp),
  cmd(ServiceId.OTHER, 0x0711, 'CID_OTHER_GET_SHIELD_REQ', IM.Server.IMGroupGetShieldReq),
  cmd(ServiceId.OTHER, 0x0712, 'CID_OTHER_GET_SHIELD_RSP', IM.Server.IMGroupGetShieldRsp),
  cmd(ServiceId.OTHER, 0x0731, 'CID_OTHER_FILE_TRANSFER_REQ', IM.Server.IMFileTransferReq),
  cmd(ServiceId.OTHER, 0x0732, 'CID_OTHER_FILE_TRANSFER_RSP', IM.Server.IMFileTransferRsp),
  cmd(ServiceId.OTHER, 0x0733, 'CID_OTHER_FILE_SERVER_IP_REQ', IM.Server.IMFileServerIPReq),
  cmd(ServiceId.OTHER, 0x0734, 'CID_OTHER_FILE_SERVER_IP_RSP', IM.Server.IMFileServerIPRsp),
];

const byId = new Map<number, CommandInfo>(COMMANDS.map((c) => [c.commandId, c]));
const byType = new Map<unknown, CommandInfo>(COMMANDS.map((c) => [c.type, c]));

export function commandById(commandId: number): CommandInfo | undefined {
  return byId.get(commandId);
}

/** The command a message class travels under; throws for a class that is not a PDU body. */
export function commandOf(type: unknown): CommandInfo {
  const info = byType.get(type);
  if (!info) throw new Error('not a PDU message type (nested protobuf types have no command id)');
  return info;
}

/** For logs: "CID_MSG_DATA" or "unknown(0x0799)". */
export function commandName(commandId: number): string {
  return byId.get(commandId)?.name ?? `unknown(0x${commandId.toString(16).padStart(4, '0')})`;
}
