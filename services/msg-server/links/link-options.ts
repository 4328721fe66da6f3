/**
 * What every msg-server link to another server shares: timing, the connection
 * limits of a server link, and mutual TLS with the cluster's certificates.
 */
import type { InternalTls, ServiceRole } from '../../../lib/internal-tls';
import type { LinkOptions } from '../../../pdu/link';

export interface ServerLinkOptions {
  heartbeatIntervalMs: number;
  timeoutMs: number;
  requestTimeoutMs: number;
  /** This msg server's identity for internal links. */
  tls: InternalTls;
}

/** Server-to-server replies can be big (a whole company's user list): allow 64 MiB. */
export const SERVER_LINK_MAX_PDU = 64 * 1024 * 1024;

/** The ReconnectingLink options of a link to `host:port`, whose server must hold a certificate of `role`. */
export function serverLink(o: ServerLinkOptions, name: string, host: string, port: number, role: ServiceRole): LinkOptions {
  return {
    name,
    host,
    port,
    tls: { tls: o.tls, expectRole: role },
    connection: {
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      idleTimeoutMs: o.timeoutMs,
      requestTimeoutMs: o.requestTimeoutMs,
      maxPduLength: SERVER_LINK_MAX_PDU,
      maxWriteQueueBytes: 256 * 1024 * 1024,
    },
  };
}
