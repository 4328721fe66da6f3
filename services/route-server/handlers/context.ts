/** What the route server's command handlers share. */
import type { Dispatcher } from '../../../pdu/dispatch';
import type { Logger } from '../../../lib/log';
import type { MsgServerLink, MsgServerLinks } from '../msg-server-links';
import type { OnlineUserMap } from '../online-user-map';
import type { StatusNotifier } from '../status-notifications';

export interface RouteState {
  users: OnlineUserMap;
  links: MsgServerLinks;
  notifier: StatusNotifier;
  logger: Logger;
}

/** Handlers get the msg-server link the PDU came from as their context. */
export type RouteDispatcher = Dispatcher<MsgServerLink>;
