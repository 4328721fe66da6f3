/**
 * What the ports several services open share: the connection limits of client
 * ports and of msg-server ports, taken from the config keys those services name
 * alike (so an error that hits a limit names the key to raise), and the whole
 * port of a service that only answers msg servers' PDUs.
 */
import type { ConnectionOptions, PduConnection } from '../pdu/connection';
import type { Dispatcher } from '../pdu/dispatch';
import { PduServer } from '../pdu/server';
import { internalPort, type InternalTls } from './internal-tls';
import { logConnectionError, type Logger } from './log';

/** A port clients connect to (msg server, file server): clientMaxPduBytes, clientMaxWriteQueueBytes; client heartbeats echoed. */
export function clientPortLimits(config: { clientMaxPduBytes: number; clientMaxWriteQueueBytes: number }): Partial<ConnectionOptions> {
  return {
    maxPduLength: config.clientMaxPduBytes,
    maxWriteQueueBytes: config.clientMaxWriteQueueBytes,
    limitKeys: { maxPduLength: 'clientMaxPduBytes', maxWriteQueueBytes: 'clientMaxWriteQueueBytes' },
    echoHeartbeats: true,
  };
}

/**
 * A port msg servers link to that only answers them (login, file and push
 * server): our heartbeats, the link timeout, and the PDU size limit set by
 * `maxPduKey`; the write queue keeps its fixed limit.
 */
export function msgServerLinkLimits<K extends string>(config: Record<K, number> & { heartbeatIntervalMs: number; linkTimeoutMs: number }, maxPduKey: K): Partial<ConnectionOptions> {
  return {
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    idleTimeoutMs: config.linkTimeoutMs,
    maxPduLength: config[maxPduKey],
    limitKeys: { maxPduLength: maxPduKey, maxWriteQueueBytes: '' },
  };
}

/**
 * A port only msg servers connect to (msg-server certificates), each PDU going
 * to `dispatcher`, with a log line when a msg server connects, is refused or
 * goes (file server's internal port, push server). `portName` names the port
 * in the lines about peers that did not authenticate.
 */
export function msgServerPort(o: {
  name: string;
  portName: string;
  tls: InternalTls;
  logger: Logger;
  dispatcher: Dispatcher<PduConnection>;
  maxConnections: number;
  connection: Partial<ConnectionOptions>;
}): PduServer {
  const { logger } = o;
  return new PduServer(
    {
      onPdu: (conn, pdu) => o.dispatcher.dispatch(pdu, conn),
      onClose: (conn, reason) => logger.info({ conn: conn.id, peer: conn.remoteAddress, reason }, 'msg server disconnected'),
      onError: (conn, err) => logConnectionError(logger, 'msg server', conn, err),
    },
    {
      name: o.name,
      maxConnections: o.maxConnections,
      internal: internalPort(o.tls, ['msg-server'], logger, o.portName),
      connection: o.connection,
      onConnection: (conn, peer) => logger.info({ conn: conn.id, peer: conn.remoteAddress, certificate: peer?.name ?? null }, 'msg server connected'),
      onReject: (peer, reason) => logger.warn({ peer, reason }, 'msg server connection refused'),
    },
  );
}
