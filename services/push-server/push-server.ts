/**
 * push-server wiring: the port msg servers send pushes to (mutual TLS), the
 * 0x070f handler, and webhook delivery with its dead-letter file.
 */
import type { PduConnection } from '../../pdu/connection';
import { Dispatcher, loggingDispatchHooks } from '../../pdu/dispatch';
import { startInternalTls } from '../../lib/internal-tls';
import type { Logger } from '../../lib/log';
import type { RunningService } from '../../lib/service';
import { msgServerLinkLimits, msgServerPort } from '../../lib/ports';
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
  const server = msgServerPort({
    name: 'push-server',
    portName: 'push-server',
    tls,
    logger,
    dispatcher,
    maxConnections: config.maxMsgServers,
    connection: msgServerLinkLimits(config, 'maxPduBytes'),
  });
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
