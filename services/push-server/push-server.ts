/**
 * push-server wiring: the port msg servers send pushes to (mutual TLS), the
 * 0x070f handler, and webhook delivery with its dead-letter file.
 */
import type { PduConnection } from '../../pdu/connection';
import { Dispatcher, loggingDispatchHooks } from '../../pdu/dispatch';
import { PduServer } from '../../pdu/server';
import { internalPort, startInternalTls } from '../../lib/internal-tls';
import { logConnectionError, type Logger } from '../../lib/log';
import type { RunningService } from '../../lib/service';
import { msgServerLinkLimits } from '../../lib/port-limits';
import { checkPushServerConfig, type PushServerConfig } from './config';
import { registerPushHandlers } from './handlers/push';
import { WebhookDelivery } from './webhook-delivery';

export interface RunningPushServer extends RunningService {
  port: number;
  delivery: WebhookDelivery;
}

export async function startPushServer(config: PushServerConfig, logger: Logger): Promise<RunningPushServer> {
  checkPushServerConfig(config);
  const tls = startInternalTls('push-server', 'push-server', config, logger);
  const delivery = new WebhookDelivery(
    {
      url: config.webhookUrl,
      secret: config.webhookSecret,
      timeoutMs: config.webhookTimeoutMs,
      retries: config.webhookRetries,
      backoffMs: config.webhookBackoffMs,
      maxBackoffMs: config.webhookMaxBackoffMs,
      concurrency: config.webhookConcurrency,
      maxQueued: config.maxQueuedPushes,
      deadLetterFile: config.deadLetterFile,
      deadLetterMaxBytes: config.deadLetterMaxBytes,
    },
    logger,
  );
  await delivery.open();
  const dispatcher = new Dispatcher<PduConnection>(loggingDispatchHooks(logger, 'msg server'));
  registerPushHandlers(dispatcher, config, delivery);
  const server = new PduServer(
    {
      onPdu: (conn, pdu) => dispatcher.dispatch(pdu, conn),
      onClose: (conn, reason) => logger.info({ conn: conn.id, peer: conn.remoteAddress, reason }, 'msg server disconnected'),
      onError: (conn, err) => logConnectionError(logger, 'msg server', conn, err),
    },
    {
      name: 'push-server',
      maxConnections: config.maxMsgServers,
      internal: internalPort(tls, ['msg-server'], logger, 'push-server'),
      connection: msgServerLinkLimits(config, 'maxPduBytes'),
      onConnection: (conn, peer) => logger.info({ conn: conn.id, peer: conn.remoteAddress, certificate: peer?.name ?? null }, 'msg server connected'),
      onReject: (peer, reason) => logger.warn({ peer, reason }, 'msg server connection refused'),
    },
  );
  const { port } = await server.listen(config.listenHost, config.listenPort);
  if (config.webhookUrl === '') logger.warn({ deadLetterFile: config.deadLetterFile }, 'no webhookUrl: every notification goes to the dead-letter file');
  logger.info({ port, host: config.listenHost, webhook: config.webhookUrl === '' ? null : new URL(config.webhookUrl).origin }, 'push-server listening');
  return {
    port,
    delivery,
    async stop(reason = 'push server stopping') {
      await server.close(reason);
      await delivery.stop();
      logger.info({ reason, ...delivery.stats }, 'push-server stopped');
    },
  };
}
