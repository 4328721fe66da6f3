/**
 * The login server (behaviour.md §2): msg servers register over TCP and report
 * their load; clients ask over HTTP which msg server to use and get the
 * least-loaded one that has room. It owns nothing but that list, so any number
 * of login servers can run side by side (msg servers register with all).
 *
 * The original's legacy TCP client port (8008, CID_LOGIN_REQ_MSGSERVER) is not
 * offered: it never processed a packet in the original (§18 bug 1) and clients
 * use HTTP.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type express from 'express';
import { Dispatcher, loggingDispatchHooks } from '../../pdu/dispatch';
import { PduServer } from '../../pdu/server';
import { startAdminEndpoint } from '../../lib/admin-server';
import { internalPort, startInternalTls } from '../../lib/internal-tls';
import { listenOn } from '../../lib/listen';
import { logConnectionError, type Logger } from '../../lib/log';
import { webChatDir } from '../../lib/paths';
import { msgServerLinkLimits } from '../../lib/ports';
import type { LoginServerConfig } from './config';
import { registerRegistrationHandlers, type MsgServerLink, type MsgServerLinkState } from './handlers/registration';
import { adminRoutes } from './http/admin-api';
import { createClientApi } from './http/client-api';
import { LoopbackWarnings } from './loopback-warning';
import { LoginServerMetrics } from './metrics';
import { MsgServerRegistry, type MsgServerEntry } from './msg-server-registry';

/** A client that has not sent its whole request by then is cut off (the original: 60 s idle). */
const HTTP_REQUEST_TIMEOUT_MS = 15_000;

export interface RunningLoginServer {
  httpPort: number;
  msgServerPort: number;
  adminPort: number;
  /** https URL of the admin endpoint (metrics, /msg_servers, log level). */
  adminUrl: string;
  /** Registered msg servers (tests, status). */
  registry: MsgServerRegistry;
  stop(reason?: string): Promise<void>;
}

async function listenHttp(app: express.Express, host: string, port: number, maxConnections: number): Promise<http.Server> {
  const server = http.createServer(app);
  server.maxConnections = maxConnections;
  server.requestTimeout = HTTP_REQUEST_TIMEOUT_MS;
  server.headersTimeout = HTTP_REQUEST_TIMEOUT_MS;
  await listenOn(server, host, port);
  return server;
}

function closeHttp(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export async function startLoginServer(config: LoginServerConfig, logger: Logger): Promise<RunningLoginServer> {
  const startedAt = Date.now();
  const tls = startInternalTls('login-server', 'login-server', config, logger);
  const registry = new MsgServerRegistry();
  const links = new Map<number, MsgServerLink>();
  // A link that timed out is closing (its peer may take a moment to hang up):
  // from that moment on, no client is sent there.
  const usable = (entry: MsgServerEntry) => links.get(entry.linkId)?.isOpen === true;
  const metrics = new LoginServerMetrics(registry, usable);

  const dispatcher = new Dispatcher<MsgServerLink>(loggingDispatchHooks(logger, 'msg server'));
  registerRegistrationHandlers(dispatcher, registry, logger);

  const msgServers = new PduServer<MsgServerLinkState>(
    {
      onPdu: (link, pdu) => dispatcher.dispatch(pdu, link),
      onError: (link, err) => logConnectionError(logger, 'msg server', link, err),
      onClose: (link, reason) => {
        links.delete(link.id);
        const entry = registry.remove(link.id);
        logger.info(
          {
            conn: link.id,
            peer: link.remoteAddress,
            reason,
            hostName: entry?.hostName,
            usersRemoved: entry?.currentConnections ?? 0,
            msgServers: registry.size,
          },
          entry ? 'msg server disconnected; removed from the list' : 'unregistered msg-server link closed',
        );
      },
    },
    {
      name: 'login-server msg-server port',
      maxConnections: config.maxMsgServers,
      internal: internalPort(tls, ['msg-server'], logger, 'login-server msg-server port'),
      connection: { ...msgServerLinkLimits(config, 'msgServerMaxPduBytes'), traffic: metrics.metrics.traffic('msg-server') },
      onConnection: (link, peer) => {
        link.context = { connectedAt: Date.now() };
        links.set(link.id, link);
        logger.info({ conn: link.id, peer: link.remoteAddress, certificate: peer?.name ?? null }, 'msg server connected');
      },
      onReject: (peer, reason) => logger.warn({ peer, reason }, 'msg server connection refused'),
    },
  );

  const loopbackWarnings = new LoopbackWarnings(logger);
  const opened: Array<() => Promise<void>> = [];
  const closeAll = async (reason: string) => {
    await Promise.all(opened.map((close) => close()));
    logger.info({ reason }, 'login server stopped');
  };
  try {
    const msgBound = await msgServers.listen(config.msgServerHost, config.msgServerPort);
    opened.push(() => msgServers.close());
    const clientHttp = await listenHttp(
      createClientApi({ config, registry, usable, loopbackWarnings, webChatDir, logger, answered: (code) => metrics.answered(code) }),
      config.httpHost,
      config.httpPort,
      config.httpMaxConnections,
    );
    opened.push(() => closeHttp(clientHttp));
    const admin = await startAdminEndpoint({
      service: 'login-server',
      host: config.adminHost,
      port: config.adminPort,
      tls,
      logger,
      metrics: metrics.metrics,
      status: () => ({ msgServers: registry.size, users: registry.totalUsers }),
      routes: adminRoutes({ registry, usable, startedAt }),
    });
    opened.push(() => admin.close());

    const running: RunningLoginServer = {
      httpPort: (clientHttp.address() as AddressInfo).port,
      msgServerPort: msgBound.port,
      adminPort: admin.port,
      adminUrl: admin.url,
      registry,
      stop: (reason = 'login server stopping') => closeAll(reason),
    };
    logger.info(
      {
        http: `${config.httpHost}:${running.httpPort}`,
        msgServers: `${config.msgServerHost}:${running.msgServerPort}`,
        admin: admin.url,
      },
      'login server listening',
    );
    return running;
  } catch (err) {
    await closeAll('start-up failed');
    throw err;
  }
}
