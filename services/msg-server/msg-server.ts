/**
 * msg-server wiring: the client port, links to login servers, route servers and
 * db-proxies, the handler tables, and the once-a-second housekeeping.
 */
import { CID } from '../../pdu/commands';
import type { PduConnection } from '../../pdu/connection';
import { Dispatcher, describePdu, loggingDispatchHooks } from '../../pdu/dispatch';
import type { Pdu } from '../../pdu/frame';
import { PduServer } from '../../pdu/server';
import { ConfigError } from '../../lib/errors';
import { startAdminEndpoint, type RunningAdminEndpoint } from '../../lib/admin-server';
import { startInternalTls } from '../../lib/internal-tls';
import { logConnectionError, type Logger } from '../../lib/log';
import type { RunningService } from '../../lib/service';
import { clientPortLimits } from '../../lib/ports';
import { ClientBudget, HeavyRequests } from './client-budget';
import { ClientConn, Phase } from './client-session';
import type { MsgServerConfig } from './config';
import { msgServerAdminRoutes, msgServerStatus } from './admin';
import type { MsgServerContext, MsgServerStats } from './context';
import { DeliveryTracker } from './deliveries';
import { startWebSocketListener, type WebSocketListener } from './websocket-listener';
import { Drain } from './drain';
import { GroupMemberCache } from './group-member-cache';
import { registerBuddyHandlers } from './handlers/buddy';
import { registerFileHandlers } from './handlers/file';
import { registerGroupHandlers } from './handlers/group';
import { acceptClient, clientClosed, registerLoginHandlers } from './handlers/login';
import { registerMessageHandlers } from './handlers/message';
import { createRouteDispatcher } from './handlers/route-inbound';
import { registerSwitchHandlers } from './handlers/switch';
import { DbProxyLinks } from './links/db-proxy-links';
import { FileServerLinks } from './links/file-server-links';
import { PushServerLinks } from './links/push-server-links';
import { LoginLinks } from './links/login-links';
import { RouteLinks } from './links/route-links';
import { MsgServerMetrics } from './metrics';
import { OnlineUsers } from './online-users';
import { RecentKicks } from './recent-kicks';
import { REPEATS_UNTIL_MS, RelayJournal, RelayedDeliveries } from './relay-journal';

export interface RunningMsgServer extends RunningService {
  port: number;
  /** The WebSocket port and the URL browsers are given (0 and '' when wsListenPort is 0). */
  wsPort: number;
  wsUrl: string;
  /** https URL of the admin endpoint (metrics, status, users, kick, drain, log level). */
  adminUrl: string;
  context: MsgServerContext;
  drain: Drain;
  /** Resolves once a drain is complete; the caller then stops the server (runService does). */
  done: Promise<string>;
}

export async function startMsgServer(config: MsgServerConfig, logger: Logger): Promise<RunningMsgServer> {
  if (Buffer.byteLength(config.aesKey, 'latin1') !== 32) throw new ConfigError('msg-server config: key "aesKey" must be exactly 32 characters');
  const metrics = new MsgServerMetrics();
  const tls = startInternalTls('msg-server', 'msg-server', config, logger);
  const linkOptions = {
    heartbeatIntervalMs: config.linkHeartbeatIntervalMs,
    timeoutMs: config.linkTimeoutMs,
    requestTimeoutMs: config.requestTimeoutMs,
    maxPduBytes: config.linkMaxPduBytes,
    maxWriteQueueBytes: config.linkMaxWriteQueueBytes,
    tls,
    traffic: (role: string) => metrics.metrics.traffic(role),
  };
  const users = new OnlineUsers();
  const db = new DbProxyLinks(config.dbProxies, config.dbConnectionsPerProxy, linkOptions, logger, config.dbRetryMs, (commandId, seconds) =>
    metrics.dbRequestDone(commandId, seconds),
  );
  const stats: MsgServerStats = { logins: 0, loginFailures: 0, messagesStored: 0, messagesFailed: 0, floodDropped: 0, refusedBeforeLogin: 0, misroutedReplies: 0 };
  let routeDispatcher: Dispatcher<PduConnection> | null = null;
  // Long enough to recognise every repeat a sender makes of a short outage it alone saw.
  const relayed = new RelayedDeliveries(config.relayReplayLookbackMs + REPEATS_UNTIL_MS, config.relayedDeliveriesMax);
  const routes = new RouteLinks(
    config.routeServers,
    linkOptions,
    {
      snapshot: () =>
        [...users.users()].flatMap((u) =>
          u.connections.map((c) => ({ user_id: u.userId, status: c.onlineStatus, client_type: c.clientType })),
        ),
      onPdu: (pdu, from) => routeDispatcher?.dispatch(pdu, from),
      onLinkDown: () => relayed.routeLinkDown(Date.now()),
      onAllLinksUp: () => relayed.routeLinksUp(Date.now()),
    },
    logger,
    new RelayJournal({ lookbackMs: config.relayReplayLookbackMs, maxQueued: config.relayQueueMaxFrames }),
  );
  // Every accepted connection is a ClientConn (connectionClass below).
  const server = new PduServer(
    {
      onPdu: (conn, pdu) => onClientPdu(conn as ClientConn, pdu),
      onHeartbeat: (conn) => ctx.budget.admit(conn as ClientConn, CID.OTHER_HEARTBEAT, Date.now()),
      onClose: (conn, reason) => clientClosed(ctx, conn as ClientConn, reason),
      onError: (conn, err) => logConnectionError(logger, 'client', conn, err),
    },
    {
      name: 'msg-server client port',
      connectionClass: ClientConn,
      maxConnections: config.maxConnections,
      connection: { ...clientPortLimits(config), traffic: metrics.metrics.traffic('client') },
      onConnection: (conn) => acceptClient(ctx, conn as ClientConn),
      onReject: (peer, reason) => logger.warn({ peer, reason }, 'client connection refused'),
    },
  );
  // The port clients can really reach (known once listening: port 0 picks one).
  let boundPort = config.listenPort;
  let webSocket: WebSocketListener | null = null;
  // Told to the login servers once the admin endpoint listens (before they are contacted).
  let adminUrl = '';
  let drain: Drain | null = null;
  const logins = new LoginLinks(
    config.loginServers,
    linkOptions,
    {
      ip1: config.publicIp1,
      ip2: config.publicIp2 || config.publicIp1,
      port: () => boundPort,
      wsUrl: () => webSocket?.url ?? '',
      maxConnections: () => (drain?.draining ? 0 : config.maxConnections),
      hostName: config.hostName,
      currentConnections: () => users.onlineConnections,
      adminUrl: () => adminUrl,
    },
    logger,
  );
  const ctx: MsgServerContext = {
    config,
    logger,
    users,
    db,
    routes,
    logins,
    files: new FileServerLinks(config.fileServers, linkOptions, logger),
    push: new PushServerLinks(config.pushServers, linkOptions, logger),
    deliveries: new DeliveryTracker(
      { ackTimeoutMs: config.deliveryAckTimeoutMs, retries: config.deliveryRetries, maxPerConnection: config.maxPendingDeliveries },
      logger,
    ),
    groups: new GroupMemberCache(db, config.groupMembersCacheMs, config.groupMembersCacheEntries),
    kicks: new RecentKicks(config.loginTimeoutMs + config.requestTimeoutMs),
    relayed,
    stats,
    budget: new ClientBudget(
      {
        perSecond: config.clientBudgetPerSecond,
        burst: config.clientBudgetBurst,
        maxRefusedPerSecond: config.clientBudgetMaxRefusedPerSecond,
        maxInFlight: config.clientMaxRequestsInFlight,
        loginBanMs: config.clientBudgetLoginBanMs,
      },
      logger,
    ),
    heavy: new HeavyRequests(config.maxHeavyRequestsInFlight, config.maxHeavyRequestsQueued),
    loginResults: new Map(),
    loginDeadlineReason: `not logged in within ${config.loginTimeoutMs} ms`,
    floodWindow: 0,
    floodedConnections: new Set(),
  };
  routeDispatcher = createRouteDispatcher(ctx);
  const draining = new Drain(server as PduServer<unknown>, logins, { batchSize: config.drainBatchSize, intervalMs: config.drainIntervalMs }, logger);
  drain = draining;
  metrics.watch(ctx, { connections: () => server.connections as Set<unknown> as Set<ClientConn>, draining: () => draining.draining });

  const clientDispatcher = new Dispatcher<ClientConn>(loggingDispatchHooks(logger, 'client', (conn) => ({ userId: conn.userId })));
  registerLoginHandlers(clientDispatcher, ctx);
  registerMessageHandlers(clientDispatcher, ctx);
  registerBuddyHandlers(clientDispatcher, ctx);
  registerGroupHandlers(clientDispatcher, ctx);
  registerFileHandlers(clientDispatcher, ctx);
  registerSwitchHandlers(clientDispatcher, ctx);

  function onClientPdu(conn: ClientConn, pdu: Pdu): void {
    if (!ctx.budget.admit(conn, pdu.commandId, Date.now())) return;
    if (conn.phase !== Phase.Online && pdu.commandId !== CID.LOGIN_REQ_USERLOGIN) {
      if (conn.phase === Phase.Closing) return; // kicked or logging out: nothing more is served
      // The original served requests before login as user 0; nothing is served before login here.
      stats.refusedBeforeLogin++;
      logger.warn({ conn: conn.id, pdu: describePdu(pdu), peer: conn.remoteAddress }, 'command before login: connection closed');
      conn.phase = Phase.Closing;
      conn.close(`${describePdu(pdu)} before login`);
      return;
    }
    clientDispatcher.dispatch(pdu, conn);
  }

  // Once a second: flood windows, delivery resends, flood summaries.
  const tick = setInterval(() => {
    for (const conn of ctx.floodedConnections) {
      if (conn.droppedInWindow > 1) {
        logger.warn({ conn: conn.id, userId: conn.userId, dropped: conn.droppedInWindow }, 'messages dropped by flood control in the last second');
      }
    }
    ctx.floodedConnections.clear();
    ctx.floodWindow++;
    const now = Date.now();
    ctx.deliveries.check(now);
    ctx.kicks.prune(now);
    routes.journal.prune(now);
    routes.repeatDue(now);
    relayed.prune(now);
  }, 1000);
  tick.unref();
  const statsTimer =
    config.statsIntervalMs > 0
      ? setInterval(
          () =>
            logger.info(
              {
                users: users.userCount,
                connections: server.connections.size,
                ...stats,
                ...ctx.deliveries.stats,
                ...ctx.budget.stats,
                heavyRefused: ctx.heavy.refused,
                ...routes.journal.stats,
                repeatsSkipped: relayed.duplicatesSkipped,
              },
              'msg-server statistics',
            ),
          config.statsIntervalMs,
        )
      : null;
  statsTimer?.unref();

  let stopped = false;
  const { port } = await server.listen(config.listenHost, config.listenPort);
  boundPort = port;
  if (config.wsListenPort > 0) {
    webSocket = await startWebSocketListener(config, server, logger).catch(async (err: unknown) => {
      await server.close('the WebSocket port could not be opened');
      throw err;
    });
  }
  let admin: RunningAdminEndpoint;
  try {
    admin = await startAdminEndpoint({
      service: 'msg-server',
      host: config.adminHost,
      port: config.adminPort,
      tls,
      logger,
      metrics: metrics.metrics,
      status: () => msgServerStatus({ ctx, server: server as PduServer<unknown>, drain: draining, port: () => boundPort }),
      routes: msgServerAdminRoutes({ ctx, server: server as PduServer<unknown>, drain: draining, port: () => boundPort }),
    });
  } catch (err) {
    clearInterval(tick);
    if (statsTimer) clearInterval(statsTimer);
    await server.close('start-up failed');
    throw err;
  }
  // A wildcard bind address is sent as is: the login server puts in the address our link comes from.
  adminUrl = `https://${config.adminHost.includes(':') ? `[${config.adminHost}]` : config.adminHost}:${admin.port}`;
  db.start();
  routes.start();
  ctx.files.start();
  ctx.push.start();
  // Advertised to clients (through the login servers) only once it can log them
  // in: with a db-proxy and a route server connected.
  void Promise.all([db.whenAvailable(), routes.whenAvailable()]).then(() => {
    if (stopped) return;
    logger.info('db-proxy and route server connected: registering with the login servers');
    logins.start();
  });
  logger.info(
    {
      port,
      host: config.listenHost,
      publicIp: config.publicIp1,
      dbProxies: config.dbProxies.length,
      routeServers: config.routeServers.length,
      fileServers: config.fileServers.length,
      pushServers: config.pushServers.length,
    },
    'msg-server listening',
  );

  return {
    port,
    wsPort: webSocket?.port ?? 0,
    wsUrl: webSocket?.url ?? '',
    adminUrl: admin.url,
    context: ctx,
    drain: draining,
    done: draining.finished,
    async stop(reason = 'msg server stopping') {
      stopped = true;
      clearInterval(tick);
      if (statsTimer) clearInterval(statsTimer);
      draining.stop();
      const webSocketClosed = webSocket?.stop(reason);
      await server.close(reason);
      await webSocketClosed;
      await admin.close();
      logins.stop();
      routes.stop();
      ctx.files.stop();
      ctx.push.stop();
      db.stop();
      logger.info({ reason }, 'msg-server stopped');
    },
  };
}
