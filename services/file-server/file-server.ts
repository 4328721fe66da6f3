/**
 * file-server wiring: the client port (FileClientConn per connection, login
 * deadline, idle timeout, PDU budget), the internal port for msg servers
 * (mutual TLS), and the sweep that expires tasks and offline files.
 */
import type { IM } from '../../pdu/commands';
import type { PduConnection } from '../../pdu/connection';
import { Dispatcher, loggingDispatchHooks } from '../../pdu/dispatch';
import { PduServer } from '../../pdu/server';
import { startInternalTls } from '../../lib/internal-tls';
import { logConnectionError, type Logger } from '../../lib/log';
import type { RunningService } from '../../lib/service';
import { clientPortLimits, msgServerLinkLimits, msgServerPort } from '../../lib/ports';
import { checkFileServerConfig, type FileServerConfig } from './config';
import type { FileServerContext } from './context';
import { clientClosed, expireTask, registerClientHandlers } from './handlers/client';
import { registerMsgServerHandlers } from './handlers/msg-server';
import { OfflineFiles } from './offline-files';
import { FileClientConn, TaskRegistry } from './transfer-tasks';

export interface RunningFileServer extends RunningService {
  clientPort: number;
  internalPort: number;
  context: FileServerContext;
}

export async function startFileServer(config: FileServerConfig, logger: Logger): Promise<RunningFileServer> {
  checkFileServerConfig(config);
  const tls = startInternalTls('file-server', 'file-server', config, logger);
  const offline = new OfflineFiles(config.offlineDir, config.offlineFileTtlSec, config.maxOfflineBytes);
  await offline.open();
  let clientPort = config.clientListenPort;
  const ctx: FileServerContext = {
    config,
    logger,
    tasks: new TaskRegistry(config.maxTasks, config.maxTasksPerUser),
    offline,
    stats: { tasksCreated: 0, tasksRefused: 0, onlineDone: 0, uploadsDone: 0, downloadsDone: 0, relayedBytes: 0, expiredTasks: 0, expiredFiles: 0 },
    addresses: (): IM.BaseDefine.IIpAddr[] => config.publicIps.map((ip) => ({ ip, port: config.publicPort || clientPort })),
  };

  const clientDispatcher = new Dispatcher<FileClientConn>(
    loggingDispatchHooks(logger, 'file client', (c) => ({ userId: c.userId, task: c.taskId || undefined })),
  );
  registerClientHandlers(clientDispatcher, ctx);
  let window = 0;
  const clients = new PduServer<unknown>(
    {
      onPdu(conn, pdu) {
        const c = conn as FileClientConn;
        if (c.window !== window) {
          c.window = window;
          c.pdusInWindow = 0;
        }
        if (++c.pdusInWindow > config.clientMaxPdusPerSecond) {
          logger.warn({ conn: c.id, userId: c.userId, peer: c.remoteAddress, limit: config.clientMaxPdusPerSecond }, 'file client over its PDU budget: closed');
          c.destroy('over the per-second PDU budget');
          return;
        }
        clientDispatcher.dispatch(pdu, c);
      },
      onClose: (conn, reason) => clientClosed(ctx, conn as FileClientConn, reason),
      onError: (conn, err) => logConnectionError(logger, 'file client', conn, err),
    },
    {
      name: 'file-server client port',
      connectionClass: FileClientConn,
      maxConnections: config.maxClientConnections,
      connection: { ...clientPortLimits(config), idleTimeoutMs: config.clientIdleTimeoutMs },
      onConnection(conn) {
        conn.deadline = Date.now() + config.clientLoginTimeoutMs;
        conn.deadlineReason = `no file login within ${config.clientLoginTimeoutMs} ms`;
      },
      onReject: (peer, reason) => logger.warn({ peer, reason }, 'file client connection refused'),
    },
  );

  const msgDispatcher = new Dispatcher<PduConnection>(loggingDispatchHooks(logger, 'msg server'));
  registerMsgServerHandlers(msgDispatcher, ctx);
  const internal = msgServerPort({
    name: 'file-server internal port',
    portName: 'file-server internal',
    tls,
    logger,
    dispatcher: msgDispatcher,
    maxConnections: config.maxMsgServers,
    connection: msgServerLinkLimits(config, 'msgServerMaxPduBytes'),
  });

  const budgetTimer = setInterval(() => window++, 1000);
  budgetTimer.unref();
  let sweeping = false;
  const sweepTimer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    for (const task of ctx.tasks.stale(Date.now() - config.taskTimeoutMs)) expireTask(ctx, task);
    void offline
      .sweep()
      .then((removed) => {
        ctx.stats.expiredFiles += removed;
        if (removed > 0) logger.info({ removed, offlineBytes: offline.used }, 'expired offline files deleted');
      })
      .catch((err: unknown) => logger.error({ err }, 'offline file sweep failed'))
      .finally(() => (sweeping = false));
  }, config.sweepIntervalMs);
  sweepTimer.unref();

  const bound = await clients.listen(config.clientListenHost, config.clientListenPort);
  clientPort = bound.port;
  const internalBound = await internal.listen(config.internalListenHost, config.internalListenPort);
  logger.info(
    { clientPort, internalPort: internalBound.port, publicIps: config.publicIps, offlineDir: config.offlineDir, offlineBytes: offline.used },
    'file-server listening',
  );
  return {
    clientPort,
    internalPort: internalBound.port,
    context: ctx,
    async stop(reason = 'file server stopping') {
      clearInterval(budgetTimer);
      clearInterval(sweepTimer);
      for (const task of [...ctx.tasks.all()]) {
        if (task.upload !== null) await offline.abortUpload(task.upload);
        task.upload = null;
      }
      await clients.close(reason);
      await internal.close(reason);
      logger.info({ reason, ...ctx.stats }, 'file-server stopped');
    },
  };
}
