/**
 * TeamTalk PDU framing: a 16-byte big-endian header followed by a protobuf body.
 *
 *   offset 0  uint32 length   (whole PDU, header included)
 *          4  uint16 version  (servers write 1; never checked on input)
 *          6  uint16 flag     (unused)
 *          8  uint16 service_id
 *         10  uint16 command_id
 *         12  uint16 seq_num
 *         14  uint16 reserved (unused)
 *
 * FrameDecoder is a pure parser: bytes in, frames out, no I/O.
 */
import { FrameError } from '../lib/errors';

export const HEADER_LENGTH = 16;

/**
 * Default cap on an inbound PDU. The largest thing a client legitimately sends is
 * an audio message (TeamTalk clients cap a recording at 60 s of Speex, ~60 KB), and
 * text is limited to 4 KB by the message tables; 1 MiB leaves a wide margin while
 * keeping what a hostile peer can make us buffer per connection bounded.
 * Server-to-server links that carry big replies (e.g. a whole company's user list)
 * configure a larger cap.
 */
export const DEFAULT_MAX_PDU_LENGTH = 1024 * 1024;

export interface PduHeader {
  version: number;
  flag: number;
  serviceId: number;
  commandId: number;
  seqNum: number;
  reserved: number;
}

export interface Pdu extends PduHeader {
  /** Protobuf body (may be a view into a larger read buffer: copy it if you keep it long). */
  body: Buffer;
  /** The whole PDU as received, header included: forward this to relay without re-encoding. */
  frame: Buffer;
}

/**
 * The header's `flag` field: the original writes 0 and never reads it. This
 * implementation uses it on db-proxy replies to say a request failed, so a reply
 * without a result_code field can still carry an error. Peers that ignore the
 * flag (the original msg_server) see an ordinary, empty reply.
 */
export const PduFlag = {
  NONE: 0,
  /** MySQL or Redis failed; nothing was written (or the write was rolled back). */
  STORAGE_ERROR: 1,
  /** The server's work queue is full; try again later. */
  BUSY: 2,
  /** The request was malformed or not allowed. */
  BAD_REQUEST: 3,
} as const;

export function describeFlag(flag: number): string {
  switch (flag) {
    case PduFlag.STORAGE_ERROR:
      return 'storage error';
    case PduFlag.BUSY:
      return 'server busy';
    case PduFlag.BAD_REQUEST:
      return 'bad request';
    default:
      return `error flag ${flag}`;
  }
}

export function encodeFrame(
  serviceId: number,
  commandId: number,
  seqNum: number,
  body: Uint8Array,
  version = 1,
  flag = 0,
  reserved = 0,
): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_LENGTH + body.length);
  frame.writeUInt32BE(HEADER_LENGTH + body.length, 0);
  frame.writeUInt16BE(version, 4);
  frame.writeUInt16BE(flag, 6);
  frame.writeUInt16BE(serviceId, 8);
  frame.writeUInt16BE(commandId, 10);
  frame.writeUInt16BE(seqNum & 0xffff, 12);
  frame.writeUInt16BE(reserved, 14);
  frame.set(body, HEADER_LENGTH);
  return frame;
}

/** The header starting at `offset` (the caller has checked that 16 bytes are there), with its length field. */
export function readHeader(buf: Buffer, offset: number): PduHeader & { length: number } {
  return {
    length: buf.readUInt32BE(offset),
    version: buf.readUInt16BE(offset + 4),
    flag: buf.readUInt16BE(offset + 6),
    serviceId: buf.readUInt16BE(offset + 8),
    commandId: buf.readUInt16BE(offset + 10),
    seqNum: buf.readUInt16BE(offset + 12),
    reserved: buf.readUInt16BE(offset + 14),
  };
}

/** Parses one complete frame starting at `offset`; the caller has checked the length. */
export function readFrame(buf: Buffer, offset: number, length: number): Pdu {
  const frame = buf.subarray(offset, offset + length);
  return {
    version: frame.readUInt16BE(4),
    flag: frame.readUInt16BE(6),
    serviceId: frame.readUInt16BE(8),
    commandId: frame.readUInt16BE(10),
    seqNum: frame.readUInt16BE(12),
    reserved: frame.readUInt16BE(14),
    body: frame.subarray(HEADER_LENGTH),
    frame,
  };
}

/** The command id of an encoded PDU, read from its header. */
export function commandIdOf(frame: Buffer): number {
  return frame.readUInt16BE(10);
}

/** The same PDU with another seq_num (copies: the original may be shared). */
export function withSeqNum(frame: Buffer, seqNum: number): Buffer {
  const copy = Buffer.from(frame);
  copy.writeUInt16BE(seqNum & 0xffff, 12);
  return copy;
}

/**
 * `limitKey` names the setting behind maxLength (a config key such as
 * "clientMaxPduBytes", or a flag), for the error's hint.
 */
export function checkLength(length: number, maxLength: number, limitKey = ''): FrameError | null {
  if (length < HEADER_LENGTH) {
    return new FrameError(
      'TT_ERR_PDU_LENGTH_TOO_SMALL',
      `PDU length ${length} is below the 16-byte header size: the peer is not speaking the TeamTalk protocol or the stream is out of sync`,
    );
  }
  if (length > maxLength) {
    return new FrameError(
      'TT_ERR_PDU_LENGTH_TOO_LARGE',
      `PDU length ${length} exceeds the limit of ${maxLength} bytes${limitKey ? ` (raise ${limitKey} if such PDUs are legitimate on this link)` : ''}`,
    );
  }
  return null;
}

/**
 * Streaming decoder: feed it whatever the socket delivered (partial PDUs, many
 * PDUs, single bytes) and it hands out complete frames in order. It never holds
 * more than one incomplete PDU, and never more than maxLength bytes of it.
 * After it reports an error it is poisoned: the stream is out of sync for good.
 */
export class FrameDecoder {
  private readonly maxLength: number;
  private readonly limitKey: string;
  private parts: Buffer[] | null = null;
  private partBytes = 0;
  /** Bytes needed before the buffered parts are worth joining. */
  private needed = HEADER_LENGTH;
  private failed: FrameError | null = null;

  /** `limitKey`: the setting behind maxLength, named in the too-large error. */
  constructor(maxLength = DEFAULT_MAX_PDU_LENGTH, limitKey = '') {
    this.maxLength = maxLength;
    this.limitKey = limitKey;
  }

  /** Bytes held for an incomplete PDU. */
  get bufferedBytes(): number {
    return this.partBytes;
  }

  /**
   * Consumes `chunk`, calling onFrame (with `thisArg`) for every complete PDU.
   * onFrame must not throw: catch inside it.
   * Returns null, or the framing error that ends this stream.
   */
  push<T>(chunk: Buffer, onFrame: (this: T, pdu: Pdu) => void, thisArg?: T): FrameError | null {
    if (this.failed) return this.failed;
    let buf = chunk;
    if (this.parts !== null) {
      this.parts.push(chunk);
      this.partBytes += chunk.length;
      if (this.partBytes < this.needed) return null;
      buf = Buffer.concat(this.parts, this.partBytes);
      this.parts = null;
      this.partBytes = 0;
    }
    let offset = 0;
    while (buf.length - offset >= HEADER_LENGTH) {
      const length = buf.readUInt32BE(offset);
      const error = checkLength(length, this.maxLength, this.limitKey);
      if (error) {
        this.failed = error;
        this.parts = null;
        this.partBytes = 0;
        return error;
      }
      if (buf.length - offset < length) break;
      onFrame.call(thisArg as T, readFrame(buf, offset, length));
      offset += length;
    }
    if (offset < buf.length) {
      // Copy the tail so a few leftover bytes do not pin a whole 64 KB read buffer.
      const rest = Buffer.from(buf.subarray(offset));
      this.parts = [rest];
      this.partBytes = rest.length;
      this.needed = rest.length >= HEADER_LENGTH ? rest.readUInt32BE(0) : HEADER_LENGTH;
    } else {
      this.needed = HEADER_LENGTH;
    }
    return null;
  }
}
