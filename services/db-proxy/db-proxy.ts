/**
 * db-proxy: the storage service. msg servers connect over TCP and send
 * TeamTalk PDUs; this is the only process that touches MySQL/MariaDB and
 * Redis. This file is the wiring: storage gateways, state classes, the
 * dispatch table, the bounded request gate, the TCP server, and stop().
 */
import { IM, commandName } from '../../pdu/commands';
import { Dispatcher, describePdu } from '../../pdu/dispatch';
import { PduFlag, type Pdu } from '../../pdu/frame';
import { PduServer } from '../../pdu/server';
import { startAdminEndpoint, type RunningAdminEndpoint } from '../../lib/admin-server';
import { internalPort, startInternalTls } from '../../lib/internal-tls';
import { logConnectionError, type Logger } from '../../lib/log';
import { checkDbProxyConfig, type DbProxyConfig } from './config';
import { DbRequest } from './db-request';
import { AudioFiles } from './audio-files';
import { MAX_AUDIO_BYTES } from './message-content';
import { acceptedCommandIds, expectsReply, sendFailureReply, tryDecode } from './failure-replies';
import { GroupSessionSync } from './group-session-sync';
import { registerHandlers } from './handlers';
import { LogThrottle } from '../../lib/log-throttle';
import type { DatabaseServers } from './database-servers';
import type { MessageStoreStats } from './message-store';
import { DbProxyMetrics } from './metrics';
import type { RedisGateway } from './redis-gateway';
import { openStorage } from './storage-context';
import { RequestGate, type LinkState, type MsgServerConn } from './request-gate';
import { StorageUnavailableError, isStorageError } from './storage-errors';

export interface RunningDbProxy {
  host: string;
  port: number;
  /** What the message store has done with retried stores (tests, statistics). */
  storeStats: MessageStoreStats;
  /** The database servers, their replicas and where each message table is (status, tests). */
  databases: DatabaseServers;
  redis: RedisGateway;
  /** https URL of the admin endpoint (metrics, status, log level). */
  adminUrl: string;
  /** Tells msg servers to stop sending (0x0702), finishes the work in flight, closes. */
  stop(reason?: string): Promise<void>;
}

/** How long stop() waits for requests in flight, as the original (exits 4 s after SIGTERM). */
const DRAIN_MS = 4000;

export async function startDbProxy(config: DbProxyConfig, logger: Logger): Promise<RunningDbProxy> {
  checkDbProxyConfig(config);
  const tls = startInternalTls('db-proxy', 'db-proxy', config, logger);
  const audioFiles = config.msfsUrl === '' ? null : new AudioFiles(tls, config.msfsUrl, config.msfsTimeoutMs, MAX_AUDIO_BYTES);
  // Filled in below, once the storage, the request gate and the server exist.
  let metrics: DbProxyMetrics | null = null;
  const ctx = await openStorage(config, logger, {
    audioFiles,
    onBatch: (messages, seconds, stored) => metrics?.batchDone(messages, seconds, stored),
    onStep: (step, seconds) => metrics?.batchStep(step, seconds),
  });
  const { mysql, redis } = ctx;
  let inFlight = () => 0;
  let connections = () => 0;
  metrics = new DbProxyMetrics({ mysql, redis, inFlight: () => inFlight(), connections: () => connections() });

  const throttle = new LogThrottle();
  const dispatcher = new Dispatcher<DbRequest>({
    unknown(pdu, req) {
      throttle.run(`unknown:${pdu.commandId}`, (suppressed) =>
        logger.error(
          { conn: req.conn.id, cmd: `0x${pdu.commandId.toString(16).padStart(4, '0')}`, similarNotLogged: suppressed },
          `unknown command ${describePdu(pdu)} dropped; the connection stays up`,
        ),
      );
      req.finish();
    },
    malformed(pdu, req, err) {
      throttle.run(`malformed:${pdu.commandId}`, (suppressed) =>
        logger.warn(
          { conn: req.conn.id, err: err.message, similarNotLogged: suppressed },
          `malformed body of ${describePdu(pdu)}: answered as a bad request`,
        ),
      );
      req.fail(PduFlag.BAD_REQUEST);
    },
    failed(pdu, req, err) {
      if (!isStorageError(err)) {
        logger.error({ conn: req.conn.id, err }, `handler of ${describePdu(pdu)} failed unexpectedly`);
      } else if (!(err instanceof StorageUnavailableError)) {
        throttle.run(`failed:${pdu.commandId}:${(err as { code?: string }).code ?? ''}`, (suppressed) =>
          logger.warn(
            { conn: req.conn.id, err: (err as Error).message, similarNotLogged: suppressed },
            `${commandName(pdu.commandId)} failed on a storage error`,
          ),
        );
      }
      req.fail(PduFlag.STORAGE_ERROR);
    },
  });
  metrics.watchStore(ctx.store, ctx.allUsers, ctx.reader);
  registerHandlers(dispatcher, ctx);
  for (const cid of acceptedCommandIds()) {
    if (!dispatcher.handles(cid)) throw new Error(`db-proxy: no handler for ${commandName(cid)}`);
  }

  const gate = new RequestGate(config.maxQueuedRequests, config.maxQueuedPerConnection);
  const finished = (req: DbRequest) => {
    gate.leave(req.conn);
    metrics.requestDone(req);
  };
  inFlight = () => gate.inFlight;
  const answerBusy = (conn: MsgServerConn, pdu: Pdu) => {
    metrics.busy(pdu.commandId);
    throttle.run('busy', (suppressed) =>
      logger.warn(
        { conn: conn.id, inFlight: gate.inFlight, connInFlight: conn.context?.inFlight, similarNotLogged: suppressed },
        `request queue full: ${describePdu(pdu)} ${expectsReply(pdu.commandId) ? 'answered BUSY' : 'dropped'}`,
      ),
    );
    sendFailureReply(conn, pdu, PduFlag.BUSY, tryDecode(pdu));
  };

  let stopping = false;
  const server = new PduServer<LinkState>(
    {
      onPdu(conn, pdu) {
        if (!gate.tryEnter(conn)) return answerBusy(conn, pdu);
        dispatcher.dispatch(pdu, new DbRequest(conn, pdu, finished));
      },
      onClose(conn, reason) {
        logger.info({ conn: conn.id, peer: conn.remoteAddress, reason }, 'msg server disconnected');
      },
      onError: (conn, err) => logConnectionError(logger, 'msg server', conn, err),
    },
    {
      name: 'db-proxy',
      maxConnections: config.maxConnections,
      internal: internalPort(tls, ['msg-server'], logger, 'db-proxy'),
      connection: {
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        idleTimeoutMs: config.linkTimeoutMs,
        maxPduLength: config.maxRequestPduBytes,
        maxWriteQueueBytes: config.maxWriteQueueBytes,
        pauseReadingAboveBytes: config.pauseReadingAboveBytes,
        limitKeys: { maxPduLength: 'maxRequestPduBytes' satisfies keyof DbProxyConfig, maxWriteQueueBytes: 'maxWriteQueueBytes' satisfies keyof DbProxyConfig },
        traffic: metrics.metrics.traffic('msg-server'),
      },
      onConnection(conn, peer) {
        conn.context = { inFlight: 0 };
        if (stopping) {
          conn.destroy('db-proxy is stopping');
          return;
        }
        logger.info({ conn: conn.id, peer: conn.remoteAddress, certificate: peer?.name ?? null }, 'msg server connected');
      },
      onReject(peer, reason) {
        logger.warn({ peer }, reason);
      },
    },
  );

  connections = () => server.connections.size;

  const sync = new GroupSessionSync(mysql, redis, config.groupSessionSyncIntervalMs, logger);
  let address: { host: string; port: number };
  let admin: RunningAdminEndpoint;
  try {
    address = await server.listen(config.listenHost, config.listenPort);
    admin = await startAdminEndpoint({
      service: 'db-proxy',
      host: config.adminHost,
      port: config.adminPort,
      tls,
      logger,
      metrics: metrics.metrics,
      status: async () => ({
        mysql: mysql.isUp ? 'up' : 'down',
        redis: redis.isUp ? 'up' : 'down',
        databases: ctx.databases.status(),
        msgServerConnections: server.connections.size,
        inFlight: gate.inFlight,
        storeLatency: await metrics.storeLatency(),
      }),
    });
  } catch (err) {
    await server.close('start-up failed');
    await Promise.all([ctx.databases.close(), redis.close()]);
    throw err;
  }
  sync.start();
  logger.info({ host: address.host, port: address.port }, 'db-proxy listening for msg servers');

  let stopped: Promise<void> | null = null;
  const stop = (reason = 'db-proxy stopping'): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      logger.info({ reason, connections: server.connections.size }, 'db-proxy stopping: telling msg servers to stop sending');
      for (const conn of server.connections) conn.send(IM.Server.IMStopReceivePacket, { result: 0 });
      await sync.stop();
      if (!(await gate.drained(DRAIN_MS))) {
        logger.warn({ inFlight: gate.inFlight }, 'requests still in flight after the drain period; closing anyway');
      }
      for (const conn of server.connections) conn.close(reason);
      await waitUntil(() => server.connections.size === 0, 1000);
      await server.close(reason);
      await admin.close();
      await Promise.all([ctx.databases.close(), redis.close()]);
      logger.info('db-proxy stopped');
    })();
    return stopped;
  };
  return { host: address.host, port: address.port, storeStats: ctx.store.stats, databases: ctx.databases, redis: ctx.redis, adminUrl: admin.url, stop };
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
}
