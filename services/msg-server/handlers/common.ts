/**
 * Helpers shared by the client handlers: forwarding a client request to the
 * db-proxy and the reply back to that client, with the original's attach_data.
 */
import { IM, commandName, type BodyOf, type MessageClass, type MessageOf } from '../../../pdu/commands';
import { decodeAttach, encodeHandleAttach, splitAttachData } from '../../../pdu/attach';
import type { Dispatcher } from '../../../pdu/dispatch';
import type { Pdu } from '../../../pdu/frame';
import { RemoteError, errorMessage } from '../../../lib/errors';
import { HEAVY_COMMANDS } from '../client-budget';
import type { ClientConn } from '../client-session';
import type { MsgServerContext } from '../context';

export { IM };

/** The original's 12-byte "DB attach": lets an original db_proxy's reply be matched too. */
export function handleAttach(conn: ClientConn): Buffer {
  return encodeHandleAttach(conn.id);
}

/**
 * The second check on every reply routed back to a client: besides the seq
 * number it was matched by, it must carry the handle of the connection that
 * asked. A reply that does not is dropped and logged, never delivered to
 * whichever client happens to hold the handle.
 */
export function carriesHandle(ctx: MsgServerContext, conn: ClientConn, reply: { attach_data?: Uint8Array | null }, what: string): boolean {
  const attach = decodeAttach(reply.attach_data);
  if (attach !== null && attach.handle === conn.id >>> 0) return true;
  ctx.stats.misroutedReplies++;
  ctx.logger.error(
    { conn: conn.id, userId: conn.userId, cmd: what, handle: attach?.handle ?? null },
    'reply carries another connection\'s handle (or none): dropped',
  );
  return false;
}

/** Clients never see attach_data (it is server-internal). */
export function withoutAttach<T extends { attach_data?: Uint8Array | null }>(message: T): T {
  delete message.attach_data;
  return message;
}

/** Answers a client request with the client's own seq_num; dropped if the client is gone. */
export function answer<R extends MessageClass>(conn: ClientConn, request: Pdu, replyType: R, reply: BodyOf<R>): void {
  if (conn.isOpen) conn.reply(request, replyType, reply);
}

/**
 * Runs a db-proxy request on behalf of `conn`: counted against its requests in
 * flight, and expensive reads go through the msg server's shared gate
 * (HeavyRequests). Null when the connection already has too many in flight.
 */
function onBehalfOf<T>(ctx: MsgServerContext, conn: ClientConn, request: Pdu, ask: () => Promise<T>): Promise<T> | null {
  if (!ctx.budget.begin(conn, request.commandId, Date.now())) return null;
  return (HEAVY_COMMANDS.has(request.commandId) ? ctx.heavy.run(ask) : ask()).finally(() => ctx.budget.end(conn));
}

/**
 * Forwards a client request (already stamped with the client's user id) to a
 * db-proxy and the reply back to the client. `then` runs after a successful reply.
 */
export function forwardToDb<Q extends MessageClass, R extends MessageClass>(
  ctx: MsgServerContext,
  conn: ClientConn,
  request: Pdu,
  type: Q,
  body: BodyOf<Q> & { attach_data?: Uint8Array | null },
  replyType: R,
  then?: (reply: MessageOf<R>) => void,
): void {
  body.attach_data = handleAttach(conn);
  onBehalfOf(ctx, conn, request, () => ctx.db.request(type, body, replyType))?.then(
    (reply) => {
      const withAttach = reply as MessageOf<R> & { attach_data?: Uint8Array | null };
      if (!carriesHandle(ctx, conn, withAttach, commandName(request.commandId))) return;
      answer(conn, request, replyType, withoutAttach(withAttach) as BodyOf<R>);
      then?.(reply);
    },
    (err: unknown) => reportDbFailure(ctx, conn, request, replyType, err),
  );
}

/**
 * Registers a request the db-proxy answers as it is: the user id is set to the
 * logged-in user's (a client can only ask about itself), the reply goes back
 * with the client's seq_num. The reply is not decoded: only its attach_data is
 * taken out (and checked), the rest is sent on byte for byte, so a large list
 * (all users, a history page) costs the msg server a copy, not a decode and an
 * encode of every entry.
 */
export function forwardAsUser<Q extends MessageClass, R extends MessageClass>(
  d: Dispatcher<ClientConn>,
  ctx: MsgServerContext,
  type: Q,
  replyType: R,
  /** Trims what the request may ask for (list lengths, page sizes) to the configured limits. */
  limit?: (request: MessageOf<Q>) => void,
): void {
  d.on(type, (req, pdu, conn) => {
    (req as { user_id: number }).user_id = conn.userId;
    limit?.(req);
    const body = req as unknown as BodyOf<Q> & { attach_data?: Uint8Array | null };
    body.attach_data = handleAttach(conn);
    onBehalfOf(ctx, conn, pdu, () => ctx.db.requestEncoded(type, body, replyType))?.then(
      (reply) => {
        const { attach, rest, complete } = splitAttachData(reply.body);
        if (!complete) {
          ctx.logger.error({ conn: conn.id, userId: conn.userId, cmd: commandName(pdu.commandId) }, 'db-proxy reply does not parse: dropped');
          return;
        }
        if (!carriesHandle(ctx, conn, { attach_data: attach }, commandName(pdu.commandId))) return;
        if (conn.isOpen) conn.replyEncoded(pdu, replyType, rest);
      },
      (err: unknown) => reportDbFailure(ctx, conn, pdu, replyType, err),
    );
  });
}

/**
 * A db-proxy failure: logged; when the reply type has a result code the client
 * gets the failed reply (result_code != 0); other replies (plain lists) have no
 * way to say "error", so the client gets nothing rather than a misleading
 * empty list, and retries on its own schedule.
 */
export function reportDbFailure(ctx: MsgServerContext, conn: ClientConn, request: Pdu, replyType: MessageClass, err: unknown): void {
  ctx.logger.warn(
    { conn: conn.id, userId: conn.userId, cmd: commandName(request.commandId), err: errorMessage(err) },
    'db-proxy request failed',
  );
  if (err instanceof RemoteError && err.reply !== null && typeof err.reply === 'object' && 'result_code' in err.reply) {
    const reply = withoutAttach(err.reply as { attach_data?: Uint8Array | null });
    answer(conn, request, replyType, reply as BodyOf<typeof replyType>);
  }
}
