/**
 * PduServer: accepts TCP connections (or any Duplex through handle()) and wraps
 * each in a PduConnection, with a connection cap that is logged, not silent.
 *
 * An internal port (option `internal`) first authenticates every peer with
 * mutual TLS (lib/internal-tls.ts): no PDU is read from a peer before its
 * certificate has been checked, and one that fails gets no answer, is
 * disconnected and reported once through onAuthFailure.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { InternalTls, PeerIdentity, ServiceRole } from '../lib/internal-tls';
import { listenOn } from '../lib/listen';
import { PduConnection, type ConnectionHandler, type ConnectionOptions } from './connection';
import type { Pdu } from './frame';

export interface InternalPortOptions {
  tls: InternalTls;
  /** Certificate roles that may connect to this port. */
  allowedRoles: readonly ServiceRole[];
  /** A peer did not authenticate (wrong or no certificate, not TLS, too slow): it has been disconnected. */
  onAuthFailure(peer: string, reason: string): void;
}

export interface PduServerOptions<C> {
  /** Name for logs, e.g. "msg-server client port". */
  name: string;
  connection?: Partial<ConnectionOptions>;
  /** Connections beyond this (authenticating ones included) are closed at once (and reported through onReject). */
  maxConnections?: number;
  /** Set for server-to-server ports: peers authenticate with the cluster's certificates first. */
  internal?: InternalPortOptions;
  /**
   * A subclass of PduConnection to create for each accepted socket, when a
   * service keeps its per-connection state on the connection itself.
   */
  connectionClass?: new (socket: Duplex, handler: ConnectionHandler<C>, options?: Partial<ConnectionOptions>) => PduConnection<C>;
  /** A new connection was accepted (set its context, timeouts...); `peer` is who authenticated, null on client ports and plaintext peers. */
  onConnection?(conn: PduConnection<C>, peer: PeerIdentity | null): void;
  /** A connection was refused at accept time. */
  onReject?(remoteAddress: string, reason: string): void;
}

export class PduServer<C = unknown> {
  readonly connections = new Set<PduConnection<C>>();
  private readonly server: net.Server;
  private readonly tracking: ConnectionHandler<C>;
  /** Sockets in their TLS handshake: they count against maxConnections. */
  private readonly authenticating = new Set<net.Socket>();
  private closing = false;

  constructor(
    private readonly handler: ConnectionHandler<C>,
    private readonly options: PduServerOptions<C>,
  ) {
    this.tracking = {
      onPdu: (conn, pdu: Pdu) => this.handler.onPdu(conn, pdu),
      onClose: (conn, reason) => {
        this.connections.delete(conn);
        this.handler.onClose?.(conn, reason);
      },
      onError: (conn, error) => this.handler.onError?.(conn, error),
    };
    if (this.handler.onHeartbeat) this.tracking.onHeartbeat = (conn) => this.handler.onHeartbeat?.(conn) ?? true;
    this.server = net.createServer({ noDelay: true }, (socket) => this.onSocket(socket));
  }

  /** Starts listening; port 0 picks a free port. Resolves with the bound address. */
  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const address = await listenOn(this.server, host, port);
    return { host: address.address, port: address.port };
  }

  get listening(): boolean {
    return this.server.listening;
  }

  /** Serves one already-connected, already-trusted stream (in-process use: tests with an in-memory duplex pair). */
  handle(socket: Duplex): PduConnection<C> | null {
    if (!this.hasRoom(socket)) return null;
    return this.open(socket, null);
  }

  private onSocket(socket: net.Socket): void {
    if (!this.hasRoom(socket)) return;
    const internal = this.options.internal;
    if (internal === undefined || internal.tls.isPlaintextPeer(socket.remoteAddress)) {
      this.open(socket, null);
      return;
    }
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.authenticating.add(socket);
    internal.tls.accept(socket, internal.allowedRoles).then(
      ({ stream, peer: identity }) => {
        this.authenticating.delete(socket);
        if (this.closing) {
          stream.destroy();
          return;
        }
        this.open(stream, identity);
      },
      (err: Error) => {
        this.authenticating.delete(socket);
        if (!this.closing) internal.onAuthFailure(peer, err.message);
      },
    );
  }

  private hasRoom(socket: Duplex): boolean {
    const max = this.options.maxConnections ?? Infinity;
    if (!this.closing && this.connections.size + this.authenticating.size < max) return true;
    const peer = (socket as net.Socket).remoteAddress ?? 'local';
    socket.destroy();
    this.options.onReject?.(peer, this.closing ? `${this.options.name}: shutting down` : `${this.options.name}: connection limit of ${max} reached`);
    return false;
  }

  private open(socket: Duplex, peer: PeerIdentity | null): PduConnection<C> {
    const Connection = this.options.connectionClass ?? PduConnection;
    const conn = new Connection(socket, this.tracking, this.options.connection) as PduConnection<C>;
    this.connections.add(conn);
    this.options.onConnection?.(conn, peer);
    return conn;
  }

  /**
   * Stops accepting new connections; the open ones carry on (a draining msg
   * server closes them itself). Connecting clients are refused by the OS.
   */
  stopAccepting(): void {
    if (this.server.listening) this.server.close();
  }

  /** Stops accepting and closes every connection (destroying them: this is a shutdown). */
  close(reason = 'server shutting down'): Promise<void> {
    this.closing = true;
    for (const socket of this.authenticating) socket.destroy();
    for (const conn of this.connections) conn.destroy(reason);
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }
}
