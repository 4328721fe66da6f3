/**
 * Dispatcher: the thin table from command id to handler. Handlers get the
 * decoded message (typed by its protobuf class), the raw PDU (for seq_num and
 * forwarding) and the service's context for the connection.
 */
import { commandName, commandOf, type MessageClass, type MessageOf } from './commands';
import type { Pdu } from './frame';

export type MessageHandler<T, Ctx> = (message: T, pdu: Pdu, ctx: Ctx) => void | Promise<void>;
export type RawHandler<Ctx> = (pdu: Pdu, ctx: Ctx) => void | Promise<void>;

export interface DispatchHooks<Ctx> {
  /** No handler for this command on this link. */
  unknown(pdu: Pdu, ctx: Ctx): void;
  /** The body did not decode (bad bytes or a missing required field). */
  malformed(pdu: Pdu, ctx: Ctx, error: Error): void;
  /** The handler threw or its promise rejected. */
  failed(pdu: Pdu, ctx: Ctx, error: Error): void;
}

interface Route<Ctx> {
  type: MessageClass | null;
  handler: (message: unknown, pdu: Pdu, ctx: Ctx) => void | Promise<void>;
}

export class Dispatcher<Ctx> {
  private readonly routes = new Map<number, Route<Ctx>>();

  constructor(private readonly hooks: DispatchHooks<Ctx>) {}

  /** Handle a command whose body is decoded as `type`. */
  on<T extends MessageClass>(type: T, handler: MessageHandler<MessageOf<T>, Ctx>): this {
    this.routes.set(commandOf(type).commandId, { type, handler: handler as Route<Ctx>['handler'] });
    return this;
  }

  /** Handle a command without decoding its body (relays). */
  onRaw(commandId: number, handler: RawHandler<Ctx>): this {
    this.routes.set(commandId, { type: null, handler: (_m, pdu, ctx) => handler(pdu, ctx) });
    return this;
  }

  handles(commandId: number): boolean {
    return this.routes.has(commandId);
  }

  dispatch(pdu: Pdu, ctx: Ctx): void {
    const route = this.routes.get(pdu.commandId);
    if (route === undefined) {
      this.hooks.unknown(pdu, ctx);
      return;
    }
    let message: unknown = null;
    if (route.type !== null) {
      try {
        message = route.type.decode(pdu.body);
      } catch (err) {
        this.hooks.malformed(pdu, ctx, err instanceof Error ? err : new Error(String(err)));
        return;
      }
    }
    try {
      const result = route.handler(message, pdu, ctx);
      if (result !== undefined && typeof (result as Promise<void>).catch === 'function') {
        (result as Promise<void>).catch((err: unknown) =>
          this.hooks.failed(pdu, ctx, err instanceof Error ? err : new Error(String(err))),
        );
      }
    } catch (err) {
      this.hooks.failed(pdu, ctx, err instanceof Error ? err : new Error(String(err)));
    }
  }
}

/** For log lines: "CID_MSG_DATA (0x0301) seq 7". */
export function describePdu(pdu: Pdu): string {
  return `${commandName(pdu.commandId)} (0x${pdu.commandId.toString(16).padStart(4, '0')}) seq ${pdu.seqNum}`;
}

export interface DispatchLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * The usual hooks: unknown commands and undecodable bodies are the peer's
 * problem (a warning, the PDU is dropped, the connection stays up); a handler
 * that throws is ours (an error). `fields` adds e.g. the user id to each line.
 */
export function loggingDispatchHooks<Ctx extends { id: number; remoteAddress: string }>(
  logger: DispatchLogger,
  peerKind: string,
  fields: (ctx: Ctx) => object = () => ({}),
): DispatchHooks<Ctx> {
  const base = (pdu: Pdu, ctx: Ctx) => ({ conn: ctx.id, peer: ctx.remoteAddress, ...fields(ctx), pdu: describePdu(pdu) });
  return {
    unknown: (pdu, ctx) =>
      logger.warn({ ...base(pdu, ctx), commandId: `0x${pdu.commandId.toString(16).padStart(4, '0')}` }, `unknown command from ${peerKind}; dropped`),
    malformed: (pdu, ctx, err) => logger.warn({ ...base(pdu, ctx), err: err.message }, `malformed PDU body from ${peerKind}; dropped`),
    failed: (pdu, ctx, err) => logger.error({ ...base(pdu, ctx), err }, `handler for a PDU from ${peerKind} failed`),
  };
}
