/**
 * What every msg-server handler works with. One instance per msg server.
 */
import type { Logger } from '../../lib/log';
import type { ClientConn } from './client-session';
import type { MsgServerConfig } from './config';
import type { DeliveryTracker } from './deliveries';
import type { GroupMembers } from './group-members';
import type { DbProxyLinks } from './links/db-proxy-links';
import type { FileServerLinks } from './links/file-server-links';
import type { PushServerLinks } from './links/push-server-links';
import type { LoginLinks } from './links/login-links';
import type { RouteLinks } from './links/route-links';
import type { OnlineUsers } from './online-users';

export interface MsgServerStats {
  logins: number;
  loginFailures: number;
  messagesStored: number;
  messagesFailed: number;
  floodDropped: number;
  refusedBeforeLogin: number;
}

export interface MsgServerContext {
  readonly config: MsgServerConfig;
  readonly logger: Logger;
  readonly users: OnlineUsers;
  readonly db: DbProxyLinks;
  readonly routes: RouteLinks;
  readonly logins: LoginLinks;
  readonly files: FileServerLinks;
  readonly push: PushServerLinks;
  readonly deliveries: DeliveryTracker;
  readonly groups: GroupMembers;
  readonly stats: MsgServerStats;
  /** Why a connection that never logged in is closed (one shared string). */
  readonly loginDeadlineReason: string;
  /** The current one-second window number (flood control). */
  floodWindow: number;
  /** Connections that dropped messages in the current window (summarised when it ends). */
  readonly floodedConnections: Set<ClientConn>;
}

export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}
