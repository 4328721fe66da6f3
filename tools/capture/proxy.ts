/**
 * The capture proxy: a transparent TCP relay between TeamTalk clients and a msg
 * server that records every PDU of every connection (format.ts).
 *
 * Forwarding never waits for the recorder: each chunk read from one side is
 * written to the other side as is, first; a copy then goes to the recorder. So
 * the proxy neither delays nor alters traffic, and a stream it cannot frame (a
 * bad length field) is still relayed until one of the peers closes it. Half
 * closes are passed on, so a client's FIN reaches the server as a FIN.
 */
import type { HostPort } from '../../lib/host-port';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../lib/log';
import { listenOn } from '../../lib/listen';
import { CaptureRecorder, DEFAULT_CAPTURE_MAX_PDU_LENGTH } from './recorder';
import type { CaptureRecord, CloseBy } from './format';


export interface CaptureProxyOptions {
  /** Where clients connect; host defaults to 127.0.0.1 (a recorder of logins should not face the network by accident). */
  listen: { host?: string; port: number };
  /** The msg server. */
  target: HostPort;
  /** Receives every record, header first. */
  onRecord(record: CaptureRecord): void;
  maxPduLength?: number;
  logger?: Logger;
}

export interface RunningCaptureProxy {
  /** The bound listen address (port 0 resolved). */
  address: HostPort;
  /** Connections being relayed right now. */
  readonly activeConnections: number;
  /** Stops listening, closes every relayed connection (recorded as closed by the proxy). */
  close(): Promise<void>;
}

/** Epoch milliseconds with sub-millisecond precision. */
function now(): number {
  return performance.timeOrigin + performance.now();
}

function formatAddress(host: string | undefined, port: number | undefined): string {
  if (!host) return 'unknown';
  const bare = host.startsWith('::ffff:') ? host.slice(7) : host;
  return bare.includes(':') ? `[${bare}]:${port}` : `${bare}:${port}`;
}

/** One relayed client connection and its upstream socket. */
class RelayedConnection {
  private closed = false;
  private closedBy: CloseBy | null = null;
  private closeReason = '';
  private pendingCloses = 2;

  constructor(
    readonly id: number,
    private readonly client: net.Socket,
    private readonly server: net.Socket,
    private readonly recorder: CaptureRecorder,
    private readonly onDone: (conn: RelayedConnection) => void,
    private readonly logger?: Logger,
  ) {
    this.relay(client, server, 'c2s');
    this.relay(server, client, 's2c');
  }

  private relay(from: net.Socket, to: net.Socket, dir: 'c2s' | 's2c'): void {
    const side: CloseBy = dir === 'c2s' ? 'client' : 'server';
    from.on('data', (chunk: Buffer) => {
      if (!to.destroyed && !to.write(chunk)) {
        // The other side reads slower than this one writes: let TCP push back.
        from.pause();
        to.once('drain', () => from.resume());
      }
      this.recorder.data(this.id, dir, Buffer.from(chunk), now());
    });
    from.on('end', () => {
      this.noteClose(side, `${side} closed the connection`);
      if (!to.destroyed) to.end();
    });
    from.on('error', (err) => {
      this.noteClose(side, `${side} side error: ${err.message}`);
      to.destroy();
    });
    from.on('close', () => {
      if (!to.destroyed && to.writableEnded === false) {
        // Closed without a FIN we saw (reset): take the other side down too.
        this.noteClose(side, `${side} connection reset`);
        to.destroy();
      }
      if (--this.pendingCloses === 0) this.finish();
    });
  }

  private noteClose(by: CloseBy, reason: string): void {
    if (this.closedBy === null) {
      this.closedBy = by;
      this.closeReason = reason;
    }
  }

  /** Proxy shutdown. */
  destroy(reason: string): void {
    this.noteClose('proxy', reason);
    this.client.destroy();
    this.server.destroy();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.recorder.close(this.id, this.closedBy ?? 'proxy', this.closeReason || 'closed', now());
    this.logger?.info({ conn: this.id, by: this.closedBy, reason: this.closeReason }, 'capture: connection closed');
    this.onDone(this);
  }
}

export async function startCaptureProxy(options: CaptureProxyOptions): Promise<RunningCaptureProxy> {
  const recorder = new CaptureRecorder(options.onRecord, {
    header: {
      source: 'proxy',
      listen: `${options.listen.host ?? '127.0.0.1'}:${options.listen.port}`,
      target: `${options.target.host}:${options.target.port}`,
    },
    startTime: now(),
    maxPduLength: options.maxPduLength ?? DEFAULT_CAPTURE_MAX_PDU_LENGTH,
    resyncAfterError: false,
  });
  const relayed = new Set<RelayedConnection>();
  const connecting = new Set<net.Socket>();
  const logger = options.logger;

  // pauseOnConnect: nothing is read from the client before the msg server accepted
  // us, so the first bytes are neither lost nor buffered here.
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true }, (client) => {
    const clientAddress = formatAddress(client.remoteAddress, client.remotePort);
    const targetAddress = formatAddress(options.target.host, options.target.port);
    const upstream = net.connect({ host: options.target.host, port: options.target.port, allowHalfOpen: true, noDelay: true });
    connecting.add(client);
    // The client may give up while we are still connecting upstream.
    const abandon = () => {
      if (connecting.delete(client)) upstream.destroy();
    };
    client.once('error', abandon);
    client.once('close', abandon);
    upstream.once('error', (err) => {
      if (!connecting.delete(client)) return;
      // Recorded so the capture shows the client tried and why it failed.
      const id = recorder.open(clientAddress, targetAddress, now());
      recorder.close(id, 'proxy', `cannot connect to the msg server ${targetAddress}: ${err.message}`, now());
      logger?.warn({ conn: id, peer: clientAddress, err: err.message }, 'capture: msg server unreachable');
      client.destroy();
    });
    upstream.once('connect', () => {
      if (!connecting.delete(client) || client.destroyed) {
        upstream.destroy();
        return;
      }
      upstream.removeAllListeners('error');
      client.off('error', abandon);
      client.off('close', abandon);
      const id = recorder.open(clientAddress, targetAddress, now());
      logger?.info({ conn: id, peer: clientAddress }, 'capture: connection opened');
      const conn = new RelayedConnection(id, client, upstream, recorder, (c) => relayed.delete(c), logger);
      relayed.add(conn);
      client.resume();
    });
  });

  const bound = await listenOn(server, options.listen.host ?? '127.0.0.1', options.listen.port);
  const address: HostPort = { host: bound.address, port: bound.port };

  return {
    address,
    get activeConnections() {
      return relayed.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of connecting) socket.destroy();
        connecting.clear();
        for (const conn of [...relayed]) conn.destroy('capture stopped');
        // Sockets report 'close' asynchronously; record whatever is left now so the file is complete.
        recorder.closeAll('proxy', 'capture stopped', now());
        if (!server.listening) return resolve();
        server.close(() => resolve());
      }),
  };
}
