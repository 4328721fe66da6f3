/**
 * The route server: msg servers connect to it; it keeps the global map of who
 * is online on which msg server, announces status changes to every msg server,
 * answers users-status queries, and relays cross-server traffic (seed 004,
 * behaviour.md §4). It never connects out and holds nothing on disk: a
 * restarted route server is rebuilt from the snapshots msg servers send when
 * they reconnect.
 *
 * Several route servers may run side by side; each is independent and every
 * msg server connects to all of them.
 */
import { Dispatcher, loggingDispatchHooks } from '../../pdu/dispatch';
import { PduServer } from '../../pdu/server';
import { startAdminEndpoint, type RunningAdminEndpoint } from '../../lib/admin-server';
import { internalPort, startInternalTls } from '../../lib/internal-tls';
import { logConnectionError, type Logger } from '../../lib/log';
import type { RouteServerConfig } from './config';
import type { RouteState } from './handlers/context';
import { registerRelayHandlers } from './handlers/relay';
import { registerRoleHandlers } from './handlers/role';
import { registerUserStatusHandlers } from './handlers/user-status';
import { registerUsersStatusQueryHandlers } from './handlers/users-status-query';
import { routeServerMetrics } from './metrics';
import { MsgServerLinks, type LinkSummary, type MsgServerLink, type MsgServerLinkState } from './msg-server-links';
import { OnlineUserMap, type OnlineUsersView } from './online-user-map';
import { StatusNotifier } from './status-notifications';

export interface RouteServerStatus {
  users: number;
  links: LinkSummary[];
}

export interface RunningRouteServer {
  host: string;
  port: number;
  /** https URL of the admin endpoint (metrics, status, log level). */
  adminUrl: string;
  /** The online map, read-only (status pages and tests). */
  users: OnlineUsersView;
  /** Connected msg servers with their role and load. */
  status(): RouteServerStatus;
  stop(reason?: string): Promise<void>;
}

export async function startRouteServer(config: RouteServerConfig, logger: Logger): Promise<RunningRouteServer> {
  const tls = startInternalTls('route-server', 'route-server', config, logger);
  const users = new OnlineUserMap();
  const links = new MsgServerLinks();
  const state: RouteState = { users, links, notifier: new StatusNotifier(users, links), logger };
  const metrics = routeServerMetrics(users, links);
  let stopping = false;

  const dispatcher = new Dispatcher<MsgServerLink>(loggingDispatchHooks(logger, 'msg server'));
  registerUserStatusHandlers(dispatcher, state);
  registerUsersStatusQueryHandlers(dispatcher, state, config.maxStatusQueryIds);
  registerRoleHandlers(dispatcher, state);
  registerRelayHandlers(dispatcher, state, config.maxRelayPduBytes);

  const server = new PduServer<MsgServerLinkState>(
    {
      onPdu: (link, pdu) => dispatcher.dispatch(pdu, link),
      onError: (link, err) => logConnectionError(logger, 'msg server', link, err),
      onClose: (link, reason) => {
        links.remove(link);
        const changes = users.removeLink(link.id);
        const announced = stopping ? 0 : state.notifier.presenceChanged(changes);
        logger.info(
          { conn: link.id, peer: link.remoteAddress, reason, usersRemoved: changes.length, statusChanges: announced, master: link.context?.master ?? null },
          'msg server disconnected',
        );
      },
    },
    {
      name: 'route-server msg-server port',
      maxConnections: config.maxMsgServers,
      internal: internalPort(tls, ['msg-server'], logger, 'route-server msg-server port'),
      connection: {
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        idleTimeoutMs: config.linkTimeoutMs,
        maxPduLength: config.maxPduBytes,
        maxWriteQueueBytes: config.maxWriteQueueBytes,
        limitKeys: { maxPduLength: 'maxPduBytes' satisfies keyof RouteServerConfig, maxWriteQueueBytes: 'maxWriteQueueBytes' satisfies keyof RouteServerConfig },
        traffic: metrics.traffic('msg-server'),
      },
      onConnection: (link, peer) => {
        links.add(link);
        logger.info({ conn: link.id, peer: link.remoteAddress, certificate: peer?.name ?? null, links: links.size }, 'msg server connected');
      },
      onReject: (peer, reason) => logger.warn({ peer, reason }, 'msg server connection refused'),
    },
  );

  const bound = await server.listen(config.listenHost, config.listenPort);
  logger.info({ host: bound.host, port: bound.port }, 'route server listening');
  const status = (): RouteServerStatus => ({
      users: users.size,
      links: links.all().map((link) => ({
        conn: link.id,
        peer: link.remoteAddress,
        connectedAt: new Date(link.context?.connectedAt ?? 0).toISOString(),
        master: link.context?.master ?? null,
        users: users.usersOnLink(link.id),
        snapshots: link.context?.snapshots ?? 0,
        queuedBytes: link.queuedBytes,
      })),
  });
  let admin: RunningAdminEndpoint;
  try {
    admin = await startAdminEndpoint({ service: 'route-server', host: config.adminHost, port: config.adminPort, tls, logger, metrics, status });
  } catch (err) {
    await server.close('start-up failed');
    throw err;
  }

  return {
    host: bound.host,
    port: bound.port,
    adminUrl: admin.url,
    users,
    status,
    async stop(reason = 'route server stopping') {
      stopping = true;
      await server.close(reason);
      await admin.close();
      logger.info({ reason }, 'route server stopped');
    },
  };
}
