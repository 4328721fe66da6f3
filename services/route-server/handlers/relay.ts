/**
 * Traffic the route server only passes on: it never decodes these bodies, it
 * forwards the frame it received byte for byte (seed 004; behaviour.md §4.3).
 * Each msg server decides locally whether the PDU concerns one of its users.
 * A frame bigger than `maxRelayBytes` is dropped: what msg servers relay comes
 * from a client PDU (1 MiB at most) or a group's member list, and a bigger one
 * would be copied to every msg server, and by them to their clients.
 */
import { CID } from '../../../pdu/commands';
import { describePdu } from '../../../pdu/dispatch';
import type { Pdu } from '../../../pdu/frame';
import { LogThrottle } from '../../../lib/log-throttle';
import type { MsgServerLink } from '../msg-server-links';
import type { RouteDispatcher, RouteState } from './context';

/** Sent to every other msg server, never back to the one it came from (it has delivered locally already). */
export const RELAYED_TO_OTHERS = [
  CID.MSG_DATA,
  CID.SWITCH_P2P_CMD,
  CID.MSG_READ_NOTIFY,
  CID.OTHER_SERVER_KICK_USER,
  CID.GROUP_CHANGE_MEMBER_NOTIFY,
  CID.FILE_NOTIFY,
  CID.BUDDY_LIST_REMOVE_SESSION_NOTIFY,
] as const;

/** Sent to every msg server including the origin: the origin delivers it to its own users only when it comes back. */
export const RELAYED_TO_ALL = [CID.BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY] as const;

export function registerRelayHandlers(dispatcher: RouteDispatcher, { links, logger }: RouteState, maxRelayBytes: number): void {
  const throttle = new LogThrottle();
  const tooBig = (pdu: Pdu, origin: MsgServerLink): boolean => {
    if (pdu.frame.length <= maxRelayBytes) return false;
    throttle.run(`too-big:${origin.id}`, (suppressed) =>
      logger.warn(
        { conn: origin.id, peer: origin.remoteAddress, pdu: describePdu(pdu), bytes: pdu.frame.length, maxRelayBytes, similarNotLogged: suppressed },
        'PDU too big to relay; dropped',
      ),
    );
    return true;
  };
  for (const commandId of RELAYED_TO_OTHERS) {
    dispatcher.onRaw(commandId, (pdu, origin) => {
      if (!tooBig(pdu, origin)) links.sendToOthers(pdu.frame, origin);
    });
  }
  for (const commandId of RELAYED_TO_ALL) {
    dispatcher.onRaw(commandId, (pdu, origin) => {
      if (!tooBig(pdu, origin)) links.sendToAll(pdu.frame);
    });
  }
}
