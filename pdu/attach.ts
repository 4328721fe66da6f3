/**
 * TeamTalk attach_data (field 20 of most requests): how a msg server finds the
 * client connection a db-proxy or route reply belongs to. Peers copy it back
 * verbatim. Two layouts, big-endian uint32s (wire.md section 2):
 *   "DB attach"  12 bytes: type, handle, service_type(0)
 *   "PDU attach" 16+N bytes: type, handle, service_type(0), N, then N bytes of a protobuf body
 */

import { Reader } from 'protobufjs/minimal';

export const AttachType = {
  /** Reply to the connection `handle`. */
  HANDLE: 1,
  PDU: 2,
  /** Group fan-out: handle of the sender connection + the IMMsgData body. */
  HANDLE_AND_PDU: 3,
  /** Users-status query made to decide a push: the IMPushToUserReq body. */
  PDU_FOR_PUSH: 4,
  /** Users-status query made before an online file transfer: the IMFileTransferReq body. */
  HANDLE_AND_PDU_FOR_FILE: 5,
} as const;

export interface Attach {
  type: number;
  handle: number;
  /** Embedded body of the 16+N layout (empty for the 12-byte layout). */
  body: Buffer;
}

export function encodeHandleAttach(handle: number, type: number = AttachType.HANDLE): Buffer {
  const buf = Buffer.alloc(12);
  buf.writeUInt32BE(type, 0);
  buf.writeUInt32BE(handle >>> 0, 4);
  return buf;
}

export function encodePduAttach(type: number, handle: number, body: Uint8Array): Buffer {
  const buf = Buffer.alloc(16 + body.length);
  buf.writeUInt32BE(type, 0);
  buf.writeUInt32BE(handle >>> 0, 4);
  buf.writeUInt32BE(body.length, 12);
  buf.set(body, 16);
  return buf;
}

/** Null when the bytes are not one of the two layouts (e.g. a foreign or absent attach). */
export function decodeAttach(data: Uint8Array | null | undefined): Attach | null {
  if (!data || data.length < 8) return null;
  const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
  const type = buf.readUInt32BE(0);
  const handle = buf.readUInt32BE(4);
  if (buf.length >= 16) {
    const n = buf.readUInt32BE(12);
    if (16 + n <= buf.length) return { type, handle, body: buf.subarray(16, 16 + n) };
  }
  return { type, handle, body: Buffer.alloc(0) };
}

/** Field number of attach_data in every TeamTalk message that has one. */
export const ATTACH_DATA_FIELD = 20;

export interface SplitBody {
  /** The attach_data bytes (the last occurrence wins, as in protobuf), or undefined. */
  attach: Uint8Array | undefined;
  /** The body without any attach_data field: the other fields' bytes, untouched. */
  rest: Uint8Array;
  /** False when the bytes end inside a field (truncated or garbage); `attach` is what came before. */
  complete: boolean;
}

/**
 * Takes attach_data out of an encoded body without decoding the rest: a reply
 * forwarded to a client as it came (a whole-company user list is 100 KB per
 * thousand users) costs a scan of its top-level fields instead of a decode and
 * an encode of every entry.
 */
export function splitAttachData(body: Uint8Array): SplitBody {
  let attach: Uint8Array | undefined;
  const kept: Uint8Array[] = [];
  let keptFrom = 0;
  const reader = Reader.create(body);
  try {
    while (reader.pos < reader.len) {
      const fieldStart = reader.pos;
      const tag = reader.uint32();
      if (tag >>> 3 === ATTACH_DATA_FIELD && (tag & 7) === 2) {
        attach = reader.bytes();
        if (fieldStart > keptFrom) kept.push(body.subarray(keptFrom, fieldStart));
        keptFrom = reader.pos;
      } else {
        reader.skipType(tag & 7);
      }
    }
  } catch {
    return { attach, rest: body, complete: false };
  }
  if (keptFrom === 0) return { attach, rest: body, complete: true };
  if (keptFrom < body.length) kept.push(body.subarray(keptFrom));
  return { attach, rest: kept.length === 1 ? kept[0] : Buffer.concat(kept), complete: true };
}
