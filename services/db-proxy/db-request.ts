/**
 * One request from a msg server, from decoding to its single reply, and the
 * helpers handler modules use to register on the dispatcher. A handler returns
 * the reply body (plus a flag for refused requests); attach_data is copied from
 * the request by serve(), seq_num by the connection. A handler that throws gets
 * the command's failed reply with PduFlag.STORAGE_ERROR (see db-proxy.ts).
 */
import type { BodyOf, MessageClass, MessageOf } from '../../pdu/commands';
import type { Dispatcher } from '../../pdu/dispatch';
import { encodeBody } from '../../pdu/encode';
import { PduFlag, type Pdu } from '../../pdu/frame';
import { attachOf, sendFailureReply } from './failure-replies';
import type { MsgServerConn } from './request-gate';

export interface Reply<B> {
  body: B;
  flag: number;
  /** Fields of the reply already encoded (a list shared by many replies), sent after `body`'s. */
  encodedFields?: Uint8Array;
}

/** The request was carried out; the body says how it went (result codes included). */
export function ok<B>(body: B): Reply<B> {
  return { body, flag: PduFlag.NONE };
}

/** As ok(), with some of the reply's fields already encoded (protobuf lets fields come in any order). */
export function okWithEncoded<B>(body: B, encodedFields: Uint8Array): Reply<B> {
  return { body, flag: PduFlag.NONE, encodedFields };
}

/** The request was refused as invalid or not allowed; the body is the failed reply. */
export function refused<B>(body: B): Reply<B> {
  return { body, flag: PduFlag.BAD_REQUEST };
}

export class DbRequest {
  /** The decoded body, once decoding succeeded (for the failed reply). */
  decoded: object | null = null;
  /** performance.now() when it arrived (metrics: request latency). */
  readonly startedAt = performance.now();
  /** The flag it was answered with (PduFlag; NONE for commands without a reply), once done. */
  flag: number = PduFlag.NONE;
  private done = false;

  constructor(
    readonly conn: MsgServerConn,
    readonly pdu: Pdu,
    private readonly onDone: (request: DbRequest) => void,
  ) {}

  answer<R extends MessageClass>(type: R, body: BodyOf<R>, flag: number, encodedFields?: Uint8Array): void {
    if (this.done) return;
    this.done = true;
    this.flag = flag;
    if (encodedFields === undefined) this.conn.reply(this.pdu, type, body, flag);
    else this.conn.replyEncoded(this.pdu, type, Buffer.concat([encodeBody(type, body), encodedFields]), flag);
    this.onDone(this);
  }

  /** The command's failed reply with `flag` (nothing for commands never answered). */
  fail(flag: number): void {
    if (this.done) return;
    this.done = true;
    this.flag = flag;
    sendFailureReply(this.conn, this.pdu, flag, this.decoded);
    this.onDone(this);
  }

  /** For commands without a reply: the work is over. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    this.onDone(this);
  }
}

export type Handler<Q extends MessageClass, R extends MessageClass> = (
  request: MessageOf<Q>,
  ctx: DbRequest,
) => Promise<Reply<BodyOf<R>>>;

/** Registers a command answered with `replyType`. */
export function serve<Q extends MessageClass, R extends MessageClass>(
  dispatcher: Dispatcher<DbRequest>,
  requestType: Q,
  replyType: R,
  handler: Handler<Q, R>,
): void {
  dispatcher.on(requestType, async (request, _pdu, ctx) => {
    ctx.decoded = request as object;
    const reply = await handler(request, ctx);
    const attach = attachOf(request as object);
    if (attach !== undefined) (reply.body as { attach_data?: Uint8Array }).attach_data = attach;
    ctx.answer(replyType, reply.body, reply.flag, reply.encodedFields);
  });
}

/** Registers a command the original never answers (read ack, offline file add/delete). */
export function serveWithoutReply<Q extends MessageClass>(
  dispatcher: Dispatcher<DbRequest>,
  requestType: Q,
  handler: (request: MessageOf<Q>, ctx: DbRequest) => Promise<void>,
): void {
  dispatcher.on(requestType, async (request, _pdu, ctx) => {
    ctx.decoded = request as object;
    await handler(request, ctx);
    ctx.finish();
  });
}
