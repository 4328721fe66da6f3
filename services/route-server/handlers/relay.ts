/**
 * Traffic the route server only passes on: it never decodes these bodies, it
 * forwards the frame it received byte for byte (seed 004; behaviour.md §4.3).
 * Each msg server decides locally whether the PDU concerns one of its users.
 */
import { CID } from '../../../pdu/commands';
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

export function registerRelayHandlers(dispatcher: RouteDispatcher, { links }: RouteState): void {
  for (const commandId of RELAYED_TO_OTHERS) {
    dispatcher.onRaw(commandId, (pdu, origin) => links.sendToOthers(pdu.frame, origin));
  }
  for (const commandId of RELAYED_TO_ALL) {
    dispatcher.onRaw(commandId, (pdu) => links.sendToAll(pdu.frame));
  }
}
