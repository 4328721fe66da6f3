/**
 * What every msg-server handler works with. One instance per msg server.
 */
import type { Logger } from '../../lib/log';
import type { ClientConn } from './client-session';
import type { MsgServerConfig } from './config';
import type { DeliveryTracker } from './deliveries';
import type { GroupMembers } from './group-members';
import type { DbProxyLinks } from './links/db-proxy-links';
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
  readonly deliveries: DeliveryTracker;
  readonly groups: GroupMembers;
  readonly stats: MsgServerStats;
  /** Login answers by result code and client type, keyed "code:clientType" (metrics; see countLogin). */
  readonly loginResults: Map<string, number>;
  /** Why a connection that never logged in is closed (one shared string). */
  readonly loginDeadlineReason: string;
  /** The current one-second window number (flood control). */
  floodWindow: number;
  /** Connections that dropped messages in the current window (summarised when it ends). */
  readonly floodedConnections: Set<ClientConn>;
}

/** Counts one login answer (result code 0 = logged in) for the metrics. */
export function countLogin(ctx: MsgServerContext, resultCode: number, clientType: number): void {
  const key = `${resultCode}:${clientType}`;
  ctx.loginResults.set(key, (ctx.loginResults.get(key) ?? 0) + 1);
}

export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}
