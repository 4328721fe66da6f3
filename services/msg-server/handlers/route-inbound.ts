/**
 * What route servers send us: traffic relayed from other msg servers and the
 * status notifications the route server generates. Each is delivered to the
 * local connections concerned (behaviour.md §4.4).
 */
import { CID, IM } from '../../../pdu/commands';
import type { PduConnection } from '../../../pdu/connection';
import { Dispatcher, loggingDispatchHooks } from '../../../pdu/dispatch';
import { encodePdu } from '../../../pdu/encode';
import { withSeqNum, type Pdu } from '../../../pdu/frame';
import { errorMessage } from '../../../lib/errors';
import { isMobileClient, isPcClient } from '../client-session';
import type { MsgServerContext } from '../context';
import { fanOutGroupMessage, notifyGroupChange } from './group';
import { kickFromElsewhere } from './login';
import { deliverSingleMessage, isGroupMessage } from './message';
import { deliverP2P } from './switch';

const { UserStatType } = IM.BaseDefine;

/** A PDU to hand to clients as is: seq 0 (pushes never carry a request's seq). */
function asPush(pdu: Pdu): Buffer {
  return pdu.seqNum === 0 ? pdu.frame : withSeqNum(pdu.frame, 0);
}

export function createRouteDispatcher(ctx: MsgServerContext): Dispatcher<PduConnection> {
  const d = new Dispatcher<PduConnection>(loggingDispatchHooks(ctx.logger, 'route server'));

  d.on(IM.Server.IMServerKickUser, (kick) => kickFromElsewhere(ctx, kick));

  d.onRaw(CID.BUDDY_LIST_STATUS_NOTIFY, (pdu) => {
    // Buddy status goes to PC clients only (mobile clients poll), as the original.
    const frame = asPush(pdu);
    for (const user of ctx.users.users()) {
      for (const c of user.connections) if (isPcClient(c.clientType)) c.sendFrame(frame);
    }
  });

  d.on(IM.Message.IMMsgDataReadNotify, (notify, pdu) => {
    const frame = asPush(pdu);
    for (const c of ctx.users.get(notify.user_id)?.connections ?? []) c.sendFrame(frame);
  });

  d.on(IM.Message.IMMsgData, (msg, pdu) => {
    // Sent again after a route-server outage, and delivered here the first time: skip.
    if (!ctx.relayed.firstTime(msg.msg_type, msg.from_user_id, msg.to_session_id, msg.msg_id, Date.now())) return;
    let frame = asPush(pdu);
    if (Object.prototype.hasOwnProperty.call(msg, 'attach_data')) {
      // An original msg_server relays the message with its sender's attach_data inside: clients must not see it.
      delete (msg as { attach_data?: Uint8Array | null }).attach_data;
      frame = encodePdu(IM.Message.IMMsgData, msg);
    }
    if (isGroupMessage(msg.msg_type)) {
      fanOutGroupMessage(ctx, msg, frame, null).catch((err: unknown) =>
        ctx.logger.error({ err: errorMessage(err) }, 'group fan-out failed'),
      );
    } else {
      deliverSingleMessage(ctx, msg, frame, null);
    }
  });

  d.on(IM.SwitchService.IMP2PCmdMsg, (msg, pdu) => deliverP2P(ctx, msg, asPush(pdu), null));

  d.on(IM.Server.IMServerPCLoginStatusNotify, (notify) => {
    const user = ctx.users.get(notify.user_id);
    if (user === undefined) return;
    user.pcOnlineSomewhere = notify.login_status === 1;
    const status = user.pcOnlineSomewhere ? UserStatType.USER_STATUS_ONLINE : UserStatType.USER_STATUS_OFFLINE;
    for (const c of user.connections) {
      if (isMobileClient(c.clientType)) {
        c.send(IM.Buddy.IMPCLoginStatusNotify, { user_id: notify.user_id, login_stat: status });
      }
    }
  });

  d.on(IM.Buddy.IMRemoveSessionNotify, (notify, pdu) => {
    const frame = asPush(pdu);
    for (const c of ctx.users.get(notify.user_id)?.connections ?? []) c.sendFrame(frame);
  });

  d.onRaw(CID.BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY, (pdu) => {
    // Everyone connected here hears about it, PC and mobile (the original fell
    // through into the group-notify handler and delivered nothing).
    const frame = asPush(pdu);
    for (const user of ctx.users.users()) {
      for (const c of user.connections) c.sendFrame(frame);
    }
  });

  d.on(IM.Group.IMGroupChangeMemberNotify, (notify, pdu) => notifyGroupChange(ctx, notify, asPush(pdu), null));

  d.on(IM.File.IMFileNotify, (notify, pdu) => {
    const frame = asPush(pdu);
    for (const c of ctx.users.get(notify.to_user_id)?.connections ?? []) c.sendFrame(frame);
  });

  return d;
}
