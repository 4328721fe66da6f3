/**
 * TeamTalk PDUs in the browser: the 16-byte big-endian header (pdu/frame.ts
 * describes it) and protobuf bodies, by the classes generated from the
 * project's own .proto files (vendor/im.js). Message types are named as in the
 * .proto packages, e.g. "IM.Message.IMMsgData"; the command table (the servers'
 * own, commands.js) says which command id each travels under.
 */
import type { IM } from '../../../pdu/generated/im';
import { COMMANDS, type CommandEntry } from './commands.js';

export type { IM };

export const HEADER_LENGTH = 16;

/** The message types this client sends or reads, with their decoded shapes. */
export interface Messages {
  'IM.Other.IMHeartBeat': IM.Other.IIMHeartBeat;
  'IM.Login.IMLoginReq': IM.Login.IIMLoginReq;
  'IM.Login.IMLoginRes': IM.Login.IMLoginRes;
  'IM.Login.IMLogoutReq': IM.Login.IIMLogoutReq;
  'IM.Login.IMLogoutRsp': IM.Login.IMLogoutRsp;
  'IM.Login.IMKickUser': IM.Login.IMKickUser;
  'IM.Buddy.IMRecentContactSessionReq': IM.Buddy.IIMRecentContactSessionReq;
  'IM.Buddy.IMRecentContactSessionRsp': IM.Buddy.IMRecentContactSessionRsp;
  'IM.Buddy.IMAllUserReq': IM.Buddy.IIMAllUserReq;
  'IM.Buddy.IMAllUserRsp': IM.Buddy.IMAllUserRsp;
  'IM.Buddy.IMUsersStatReq': IM.Buddy.IIMUsersStatReq;
  'IM.Buddy.IMUsersStatRsp': IM.Buddy.IMUsersStatRsp;
  'IM.Buddy.IMUserStatNotify': IM.Buddy.IMUserStatNotify;
  'IM.Buddy.IMRemoveSessionNotify': IM.Buddy.IMRemoveSessionNotify;
  'IM.Message.IMMsgData': IM.Message.IMMsgData;
  'IM.Message.IMMsgDataAck': IM.Message.IMMsgDataAck;
  'IM.Message.IMMsgDataReadAck': IM.Message.IIMMsgDataReadAck;
  'IM.Message.IMMsgDataReadNotify': IM.Message.IMMsgDataReadNotify;
  'IM.Message.IMUnreadMsgCntReq': IM.Message.IIMUnreadMsgCntReq;
  'IM.Message.IMUnreadMsgCntRsp': IM.Message.IMUnreadMsgCntRsp;
  'IM.Message.IMGetMsgListReq': IM.Message.IIMGetMsgListReq;
  'IM.Message.IMGetMsgListRsp': IM.Message.IMGetMsgListRsp;
  'IM.Group.IMNormalGroupListReq': IM.Group.IIMNormalGroupListReq;
  'IM.Group.IMNormalGroupListRsp': IM.Group.IMNormalGroupListRsp;
  'IM.Group.IMGroupInfoListReq': IM.Group.IIMGroupInfoListReq;
  'IM.Group.IMGroupInfoListRsp': IM.Group.IMGroupInfoListRsp;
  'IM.Group.IMGroupCreateReq': IM.Group.IIMGroupCreateReq;
  'IM.Group.IMGroupCreateRsp': IM.Group.IMGroupCreateRsp;
  'IM.Group.IMGroupChangeMemberNotify': IM.Group.IMGroupChangeMemberNotify;
}

export type MessageName = keyof Messages;

/** What encodePdu takes: the message's fields, each optional (protobufjs fills defaults; required ones are checked by the server). */
export type BodyOf<N extends MessageName> = { [K in Exclude<keyof Messages[N], 'toJSON'>]?: Messages[N][K] | null };

export interface DecodedPdu {
  commandId: number;
  seqNum: number;
  /** Non-zero on a failed reply (pdu/frame.ts PduFlag). */
  flag: number;
  /** Fully qualified type, or '' for a command this client does not know. */
  type: string;
  /** The decoded body (unset fields read as their defaults), or null for a command this client does not know. */
  message: Record<string, unknown> | null;
}

/** Well-known command ids (pdu/commands.ts CID). */
export const CID = {
  HEARTBEAT: 0x0701,
  KICK_USER: 0x0107,
  STATUS_NOTIFY: 0x0203,
  REMOVE_SESSION_NOTIFY: 0x020f,
  MSG_DATA: 0x0301,
  MSG_READ_NOTIFY: 0x0304,
  GROUP_CHANGE_MEMBER_NOTIFY: 0x040b,
} as const;

const byType = new Map<string, CommandEntry>(COMMANDS.map((c) => [c.type, c]));
const byId = new Map<number, CommandEntry>(COMMANDS.map((c) => [c.commandId, c]));
const types = new Map<string, ProtobufType | undefined>();

/** The generated class for "IM.Message.IMMsgData"; undefined for types not generated for the browser (server links). */
function typeOf(name: string): ProtobufType | undefined {
  if (!types.has(name)) {
    let node: unknown = protobuf.roots.default;
    for (const part of name.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
    types.set(name, node as ProtobufType | undefined);
  }
  return types.get(name);
}

export function commandIdOf(name: MessageName): number {
  const entry = byType.get(name);
  if (entry === undefined) throw new Error(`${name} is not a PDU body`);
  return entry.commandId;
}

/** One whole PDU: header + protobuf body. */
export function encodePdu<N extends MessageName>(name: N, body: BodyOf<N>, seqNum: number): Uint8Array {
  const entry = byType.get(name);
  const type = typeOf(name);
  if (entry === undefined || type === undefined) throw new Error(`${name} is not a PDU body`);
  const payload = type.encode(body).finish();
  const pdu = new Uint8Array(HEADER_LENGTH + payload.length);
  const view = new DataView(pdu.buffer);
  view.setUint32(0, pdu.length);
  view.setUint16(4, 1); // version
  view.setUint16(6, 0); // flag
  view.setUint16(8, entry.serviceId);
  view.setUint16(10, entry.commandId);
  view.setUint16(12, seqNum & 0xffff);
  view.setUint16(14, 0);
  pdu.set(payload, HEADER_LENGTH);
  return pdu;
}

/** Parses one PDU (a whole WebSocket message). Throws on a malformed header or body. */
export function decodePdu(bytes: Uint8Array): DecodedPdu {
  if (bytes.length < HEADER_LENGTH) throw new Error(`message of ${bytes.length} bytes is shorter than a PDU header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(0);
  if (length !== bytes.length) throw new Error(`message of ${bytes.length} bytes holds a PDU of ${length}`);
  const commandId = view.getUint16(10);
  const entry = byId.get(commandId);
  const body = bytes.subarray(HEADER_LENGTH);
  const type = entry !== undefined ? typeOf(entry.type) : undefined;
  return {
    commandId,
    seqNum: view.getUint16(12),
    flag: view.getUint16(6),
    type: type !== undefined ? (entry?.type ?? '') : '',
    message: type !== undefined ? (type.decode(body) as Record<string, unknown>) : null,
  };
}

/** bytes fields come back as Uint8Array (an unset one as the class's empty default). */
export function bytesOf(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return Uint8Array.from(value as number[]);
  return new Uint8Array(0);
}
