/**
 * The msg server's connections to its db-proxies: several per db-proxy, requests
 * spread round-robin over the ones that are up, failing over when one is down.
 * A db-proxy that announces it is stopping (CID_OTHER_STOP_RECV_PACKET) gets no
 * new requests until its connection is back.
 */
import { CID, commandOf, type BodyOf, type MessageClass, type MessageOf } from '../../../pdu/commands';
import type { PduConnection } from '../../../pdu/connection';
import type { Pdu } from '../../../pdu/frame';
import { ReconnectingLink } from '../../../pdu/link';
import type { HostPort } from '../../../lib/config';
import { LinkUnavailableError } from '../../../lib/errors';
import { Waiters } from '../../../lib/waiters';
import type { Logger } from '../../../lib/log';
import { linkState, serverLink, type LinkState, type ServerLinkOptions } from './link-options';


export class DbProxyLinks {
  private readonly links: ReconnectingLink[] = [];
  /** Connections whose db-proxy said it stops taking work. */
  private readonly draining = new WeakSet<PduConnection>();
  private next = 0;
  private readonly upWaiters = new Waiters();

  constructor(
    endpoints: HostPort[],
    connectionsPerProxy: number,
    options: ServerLinkOptions,
    private readonly logger: Logger,
    /** Told how long every request took (metrics); `ok` is false when it failed or timed out. */
    private readonly onRequestDone?: (commandId: number, seconds: number, ok: boolean) => void,
  ) {
    for (const ep of endpoints) {
      for (let i = 0; i < connectionsPerProxy; i++) {
        this.links.push(
          new ReconnectingLink(
            { ...serverLink(options, `db-proxy#${i + 1}`, ep.host, ep.port, 'db-proxy'), logger },
            { onPdu: (conn, pdu) => this.onPdu(conn, pdu), onUp: () => this.upWaiters.release() },
          ),
        );
      }
    }
  }

  start(): void {
    for (const link of this.links) link.start();
  }

  stop(): void {
    for (const link of this.links) link.stop('msg server stopping');
  }

  /** Whether any db-proxy connection can take a request now. */
  get available(): boolean {
    return this.pick() !== null;
  }

  /** Resolves once some db-proxy connection can take requests. */
  whenAvailable(): Promise<void> {
    return this.available ? Promise.resolve() : this.upWaiters.wait();
  }

  /** The next usable connection, round robin. */
  pick(): PduConnection | null {
    const n = this.links.length;
    for (let i = 0; i < n; i++) {
      const link = this.links[(this.next + i) % n];
      const conn = link.connection;
      if (conn !== null && conn.isOpen && !this.draining.has(conn)) {
        this.next = (this.next + i + 1) % n;
        return conn;
      }
    }
    return null;
  }

  request<Q extends MessageClass, R extends MessageClass>(type: Q, body: BodyOf<Q>, replyType: R): Promise<MessageOf<R>> {
    const conn = this.pick();
    if (conn === null) return Promise.reject(noDbProxy());
    const done = this.onRequestDone;
    if (done === undefined) return conn.request(type, body, replyType);
    const started = performance.now();
    const commandId = commandOf(type).commandId;
    return conn.request(type, body, replyType).then(
      (reply) => {
        done(commandId, (performance.now() - started) / 1000, true);
        return reply;
      },
      (err: unknown) => {
        done(commandId, (performance.now() - started) / 1000, false);
        throw err;
      },
    );
  }

  states(): LinkState[] {
    return this.links.map(linkState);
  }

  /** For requests the db-proxy does not answer (read ack, offline file add/delete, device token). */
  send<Q extends MessageClass>(type: Q, body: BodyOf<Q>): boolean {
    const conn = this.pick();
    return conn !== null && conn.send(type, body);
  }

  private onPdu(conn: PduConnection, pdu: Pdu): void {
    if (pdu.commandId === CID.OTHER_STOP_RECV_PACKET) {
      this.draining.add(conn);
      this.logger.info({ conn: conn.id, peer: conn.remoteAddress }, 'db-proxy is stopping: no new requests on this connection');
      return;
    }
    // Replies are matched to requests by the connection; anything else (e.g. the
    // device-token reply the original sends) needs no action.
    this.logger.debug({ conn: conn.id, cmd: pdu.commandId }, 'unsolicited PDU from db-proxy ignored');
  }
}

export function noDbProxy(): LinkUnavailableError {
  return new LinkUnavailableError('TT_ERR_NO_DB_PROXY', 'no db-proxy connection is available (all down or stopping)');
}
