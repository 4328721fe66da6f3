/**
 * ReconnectingLink: the client side of a server-to-server link. It connects,
 * tells its owner when the link is up (so registration / snapshots are sent
 * again on every new connection), and reconnects after any close with
 * exponential backoff and jitter until stopped.
 */
import net from 'node:net';
import type { InternalTls, ServiceRole } from '../lib/internal-tls';
import { PduConnection, type ConnectionHandler, type ConnectionOptions } from './connection';
import type { Pdu } from './frame';
import { LinkUnavailableError } from '../lib/errors';

export interface LinkLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface LinkOptions {
  /** For logs, e.g. "route-server". */
  name: string;
  host: string;
  port: number;
  connection?: Partial<ConnectionOptions>;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  connectTimeoutMs?: number;
  logger?: LinkLogger;
  /**
   * Mutual TLS with the cluster's certificates: the server must present one of
   * role `expectRole` (unless its host is one of tls.plaintextPeers).
   */
  tls?: { tls: InternalTls; expectRole: ServiceRole };
}

export interface LinkHandler {
  /** A new connection is up: send whatever the peer needs to know about us. */
  onUp?(conn: PduConnection, link: ReconnectingLink): void;
  onPdu(conn: PduConnection, pdu: Pdu, link: ReconnectingLink): void;
  /** The connection went away; a reconnect is already scheduled unless stopped. */
  onDown?(link: ReconnectingLink, reason: string): void;
  onError?(conn: PduConnection, error: Error, link: ReconnectingLink): void;
}

/** A connection that lasted this long counts as a success: the next reconnect starts from the shortest backoff. */
const STABLE_LINK_MS = 3_000;

export class ReconnectingLink implements ConnectionHandler {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  connection: PduConnection | null = null;
  /** Connections made so far (1 after the first success). */
  connects = 0;

  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly connectTimeoutMs: number;
  private failures = 0;
  /** When the current connection came up: a link that drops right away (e.g. the server refused our certificate) keeps backing off. */
  private upAt = 0;
  private stopped = true;
  private socket: net.Socket | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private waiters: Array<(conn: PduConnection) => void> = [];

  constructor(
    private readonly options: LinkOptions,
    private readonly handler: LinkHandler,
  ) {
    this.name = options.name;
    this.host = options.host;
    this.port = options.port;
    this.initialBackoffMs = options.initialBackoffMs ?? 250;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  get isUp(): boolean {
    return this.connection !== null && this.connection.isOpen;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** Stops reconnecting and closes the current connection. */
  stop(reason = 'link stopped'): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.socket?.destroy();
    this.socket = null;
    this.connection?.destroy(reason);
  }

  /** Resolves with the connection once the link is up (rejects after timeoutMs). */
  waitUntilUp(timeoutMs = 10_000): Promise<PduConnection> {
    if (this.isUp) return Promise.resolve(this.connection as PduConnection);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new LinkUnavailableError('TT_ERR_LINK_DOWN', `${this.name} ${this.address}: not connected after ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (conn: PduConnection) => {
        clearTimeout(timer);
        resolve(conn);
      };
      this.waiters.push(waiter);
    });
  }

  /** Whether this link authenticates with TLS (false: plain TCP to a plaintext peer, or no TLS configured). */
  get secure(): boolean {
    const tls = this.options.tls;
    return tls !== undefined && !tls.tls.isPlaintextPeer(this.host);
  }

  private connect(): void {
    if (this.stopped) return;
    const tls = this.options.tls;
    const secure = this.secure;
    const socket = secure && tls ? tls.tls.connect(this.host, this.port, tls.expectRole) : net.connect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    this.socket = socket;
    socket.setTimeout(this.connectTimeoutMs);
    const upEvent = secure ? 'secureConnect' : 'connect';
    const onTimeout = () => fail(`connect timeout after ${this.connectTimeoutMs} ms`);
    const onError = (err: NodeJS.ErrnoException) => fail(describeConnectError(err));
    // Only our own listeners are removed: a TLS socket has internal ones.
    const detach = () => {
      socket.off('timeout', onTimeout);
      socket.off('error', onError);
      socket.off(upEvent, onUp);
    };
    const fail = (reason: string) => {
      detach();
      socket.on('error', () => {});
      socket.destroy();
      if (this.socket === socket) this.socket = null;
      this.scheduleReconnect(reason);
    };
    // Over TLS the link is up once the server is authenticated, not at the TCP connect.
    const onUp = () => {
      detach();
      socket.setTimeout(0);
      this.socket = null;
      if (this.stopped) {
        socket.destroy();
        return;
      }
      this.upAt = Date.now();
      this.connects++;
      const conn = new PduConnection(socket, this, this.options.connection);
      this.connection = conn;
      this.options.logger?.info({ link: this.name, peer: this.address, conn: conn.id }, 'link up');
      try {
        this.handler.onUp?.(conn, this);
      } catch (err) {
        this.onError(conn, err instanceof Error ? err : new Error(String(err)));
      }
      const waiters = this.waiters;
      this.waiters = [];
      for (const waiter of waiters) waiter(conn);
    };
    socket.once('timeout', onTimeout);
    socket.once('error', onError);
    socket.once(upEvent, onUp);
  }

  private scheduleReconnect(reason: string): void {
    if (this.stopped) return;
    const ceiling = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.min(this.failures, 20));
    // Equal jitter: never less than half the step, so a flapping peer is not hammered.
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    const log = { link: this.name, peer: this.address, reason, retryInMs: delay, failures: this.failures + 1 };
    if (this.failures === 0) this.options.logger?.warn(log, 'link unavailable, reconnecting');
    else this.options.logger?.debug(log, 'reconnect attempt failed');
    this.failures++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
    this.retryTimer.unref?.();
  }

  // ConnectionHandler for the current connection
  onPdu(conn: PduConnection, pdu: Pdu): void {
    this.handler.onPdu(conn, pdu, this);
  }

  onError(conn: PduConnection, error: Error): void {
    this.handler.onError?.(conn, error, this);
  }

  onClose(conn: PduConnection, reason: string): void {
    if (this.connection === conn) this.connection = null;
    this.options.logger?.warn({ link: this.name, peer: this.address, conn: conn.id, reason }, 'link down');
    if (Date.now() - this.upAt >= STABLE_LINK_MS) this.failures = 0;
    try {
      this.handler.onDown?.(this, reason);
    } finally {
      this.scheduleReconnect(reason);
    }
  }
}

/** System errors by their code (ECONNREFUSED); TLS and authentication failures by their message, which says what was wrong. */
function describeConnectError(err: NodeJS.ErrnoException): string {
  return err.code !== undefined && /^E[A-Z]+$/.test(err.code) ? err.code : err.message;
}
