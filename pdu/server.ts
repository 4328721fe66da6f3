/**
 * PduServer: accepts TCP connections (or any Duplex through handle()) and wraps
 * each in a PduConnection, with a connection cap that is logged, not silent.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { PduConnection, type ConnectionHandler, type ConnectionOptions } from './connection';
import type { Pdu } from './frame';

export interface PduServerOptions<C> {
  /** Name for logs, e.g. "msg-server client port". */
  name: string;
  connection?: Partial<ConnectionOptions>;
  /** Connections beyond this are closed at once (and reported through onReject). */
  maxConnections?: number;
  /**
   * A subclass of PduConnection to create for each accepted socket, when a
   * service keeps its per-connection state on the connection itself.
   */
  connectionClass?: new (socket: Duplex, handler: ConnectionHandler<C>, options?: Partial<ConnectionOptions>) => PduConnection<C>;
  /** A new connection was accepted (set its context, timeouts...). */
  onConnection?(conn: PduConnection<C>): void;
  /** A connection was refused at accept time. */
  onReject?(remoteAddress: string, reason: string): void;
}

export class PduServer<C = unknown> {
  readonly connections = new Set<PduConnection<C>>();
  private readonly server: net.Server;
  private readonly tracking: ConnectionHandler<C>;

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
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  /** Starts listening; port 0 picks a free port. Resolves with the bound address. */
  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host, port, exclusive: true }, () => {
        this.server.off('error', onError);
        const address = this.server.address() as net.AddressInfo;
        resolve({ host: address.address, port: address.port });
      });
    });
  }

  get listening(): boolean {
    return this.server.listening;
  }

  /** Serves one already-connected stream (tests use an in-memory duplex pair). */
  handle(socket: Duplex): PduConnection<C> | null {
    return this.accept(socket);
  }

  private accept(socket: Duplex): PduConnection<C> | null {
    const max = this.options.maxConnections ?? Infinity;
    if (this.connections.size >= max) {
      const peer = (socket as net.Socket).remoteAddress ?? 'local';
      socket.destroy();
      this.options.onReject?.(peer, `${this.options.name}: connection limit of ${max} reached`);
      return null;
    }
    const Connection = this.options.connectionClass ?? PduConnection;
    const conn = new Connection(socket, this.tracking, this.options.connection) as PduConnection<C>;
    this.connections.add(conn);
    this.options.onConnection?.(conn);
    return conn;
  }

  /** Stops accepting and closes every connection (destroying them: this is a shutdown). */
  close(reason = 'server shutting down'): Promise<void> {
    for (const conn of this.connections) conn.destroy(reason);
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }
}
