/**
 * What every msg-server handler works with. One instance per msg server.
 */
import type { Logger } from '../../lib/log';
import type { ClientBudget, HeavyRequests } from './client-budget';
import type { ClientConn } from './client-session';
import type { MsgServerConfig } from './config';
import type { DeliveryTracker } from './deliveries';
import type { GroupMemberCache } from './group-member-cache';
import type { DbProxyLinks } from './links/db-proxy-links';
import type { FileServerLinks } from './links/file-server-links';
import type { PushServerLinks } from './links/push-server-links';
import type { LoginLinks } from './links/login-links';
import type { RouteLinks } from './links/route-links';
import type { OnlineUsers } from './online-users';
import type { RecentKicks } from './recent-kicks';
import type { RelayedDeliveries } from './relay-journal';

export interface MsgServerStats {
  logins: number;
  loginFailures: number;
  messagesStored: number;
  messagesFailed: number;
  floodDropped: number;
  refusedBeforeLogin: number;
  /** db-proxy / route replies that did not carry the asking connection's handle (dropped). */
  misroutedReplies: number;
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
  readonly groups: GroupMemberCache;
  /** Kicks from other msg servers heard recently (for logins still validating). */
  readonly kicks: RecentKicks;
  /** Messages from other msg servers already delivered here (repeats after a route outage are skipped). */
  readonly relayed: RelayedDeliveries;
  readonly stats: MsgServerStats;
  /** Per-connection command budgets and in-flight caps. */
  readonly budget: ClientBudget;
  /** The shared pool for expensive reads. */
  readonly heavy: HeavyRequests;
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
