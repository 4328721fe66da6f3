/**
 * What every msg-server link to another server shares: timing, the connection
 * limits of a server link, and mutual TLS with the cluster's certificates.
 */
import type { InternalTls, ServiceRole } from '../../../lib/internal-tls';
import type { LinkOptions, ReconnectingLink } from '../../../pdu/link';
import type { MsgServerConfig } from '../config';
import type { PduTraffic } from '../../../pdu/traffic';

export interface ServerLinkOptions {
  heartbeatIntervalMs: number;
  timeoutMs: number;
  requestTimeoutMs: number;
  /** linkMaxPduBytes, linkMaxWriteQueueBytes. */
  maxPduBytes: number;
  maxWriteQueueBytes: number;
  /** This msg server's identity for internal links. */
  tls: InternalTls;
  /** Where a link to a server of `role` counts its PDUs (metrics). */
  traffic?(role: ServiceRole): PduTraffic;
}

/** One link as the admin endpoint and the metrics report it. */
export interface LinkState {
  link: string;
  peer: string;
  up: boolean;
  /** Connections made so far. */
  connects: number;
}

export function linkState(link: ReconnectingLink): LinkState {
  return { link: link.name, peer: link.address, up: link.isUp, connects: link.connects };
}

const LINK_LIMIT_KEYS = Object.freeze({ maxPduLength: 'linkMaxPduBytes' satisfies keyof MsgServerConfig, maxWriteQueueBytes: 'linkMaxWriteQueueBytes' satisfies keyof MsgServerConfig });

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
      maxPduLength: o.maxPduBytes,
      maxWriteQueueBytes: o.maxWriteQueueBytes,
      limitKeys: LINK_LIMIT_KEYS,
      traffic: o.traffic?.(role) ?? null,
    },
  };
}
