/**
 * P2P commands (e.g. "typing..."): an opaque string relayed to the peer's
 * devices and the sender's other devices, here and through the route server.
 */
import { IM } from '../../../pdu/commands';
import type { Dispatcher } from '../../../pdu/dispatch';
import { encodePdu } from '../../../pdu/encode';

import type { ClientConn } from '../client-session';
import type { MsgServerContext } from '../context';

export function registerSwitchHandlers(d: Dispatcher<ClientConn>, ctx: MsgServerContext): void {
  d.on(IM.SwitchService.IMP2PCmdMsg, (msg, _pdu, conn) => {
    // The original relayed whatever from_user_id the client wrote; the sender is who logged in.
    msg.from_user_id = conn.userId;
    const frame = encodePdu(IM.SwitchService.IMP2PCmdMsg, msg);
    deliverP2P(ctx, msg, frame, conn);
    ctx.routes.relayFrame(frame);
  });
}

export function deliverP2P(ctx: MsgServerContext, msg: IM.SwitchService.IIMP2PCmdMsg, frame: Buffer, except: ClientConn | null): void {
  for (const c of ctx.users.connectionsOf([msg.from_user_id, msg.to_user_id])) {
    if (c !== except) c.sendFrame(frame);
  }
}
