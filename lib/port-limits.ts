/**
 * The connection limits of the two kinds of port that several services open,
 * taken from the config keys those services name alike (so an error that hits
 * a limit names the key to raise).
 */
import type { ConnectionOptions } from '../pdu/connection';

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
