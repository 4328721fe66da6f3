/**
 * A whole PDU from a message class and a body: the class gives the service and
 * command ids (commands.ts), the body is encoded with it, the header framed.
 */
import { commandOf, type BodyOf, type MessageClass } from './commands';
import { encodeFrame } from './frame';

/** The protobuf bytes of `body` encoded as `type`. */
export function encodeBody<T extends MessageClass>(type: T, body: BodyOf<T>): Uint8Array {
  return (type as unknown as { encode(m: unknown): { finish(): Uint8Array } }).encode(body).finish();
}

/** Header + body, ready to write or to hand to many connections (pushes use seq 0). */
export function encodePdu<T extends MessageClass>(type: T, body: BodyOf<T>, seqNum = 0, flag = 0): Buffer {
  const info = commandOf(type);
  return encodeFrame(info.serviceId, info.commandId, seqNum, encodeBody(type, body), 1, flag);
}
