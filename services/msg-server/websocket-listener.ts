/**
 * The msg server's WebSocket port, for browsers. Each accepted WebSocket becomes
 * a WebSocketDuplex handed to the same PduServer as TCP clients, so login,
 * connection limits, flood control, idle timeouts and every handler are the TCP
 * ones. What is checked here, before the upgrade:
 *   - the Origin header, when there is one, must be in wsAllowedOrigins: a page
 *     elsewhere cannot make a visitor's browser open a session (browsers always
 *     send Origin; clients that send none are not browsers and are let in);
 *   - the client connection limit (a refused browser gets HTTP 503, not a silent close).
 * Messages are capped at clientMaxPduBytes (ws maxPayload). Plain HTTP requests get 426.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { ConfigError } from '../../lib/errors';
import { listenOn } from '../../lib/listen';
import type { Logger } from '../../lib/log';
import type { PduServer } from '../../pdu/server';
import { WebSocketDuplex, WsCloseCode } from '../../pdu/websocket-duplex';
import type { MsgServerConfig } from './config';
import { checkWebSocketConfig } from './websocket-config';

/** Handshakes (not yet upgraded sockets) allowed beyond maxConnections. */
const HANDSHAKE_MARGIN = 256;
/** A request must be complete by then. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface WebSocketListener {
  port: number;
  /** What browsers are told (wsPublicUrl, or ws[s]://publicIp1:port/). */
  url: string;
  stop(reason: string): Promise<void>;
}

type WsConfig = Pick<
  MsgServerConfig,
  'wsListenHost' | 'wsListenPort' | 'wsPublicUrl' | 'wsAllowedOrigins' | 'wsTlsCertFile' | 'wsTlsKeyFile' | 'publicIp1' | 'maxConnections' | 'clientMaxPduBytes'
>;

export async function startWebSocketListener(config: WsConfig, clients: PduServer<unknown>, logger: Logger): Promise<WebSocketListener> {
  checkWebSocketConfig(config);
  const tls = readTls(config);
  const httpServer = tls ? https.createServer(tls) : http.createServer();
  httpServer.maxConnections = config.maxConnections + HANDSHAKE_MARGIN;
  httpServer.requestTimeout = HANDSHAKE_TIMEOUT_MS;
  httpServer.headersTimeout = HANDSHAKE_TIMEOUT_MS;
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.clientMaxPduBytes, perMessageDeflate: false });
  const allowAny = config.wsAllowedOrigins.includes('*');
  const allowed = new Set(config.wsAllowedOrigins.map((o) => o.replace(/\/$/, '').toLowerCase()));

  httpServer.on('request', (_req, res) => {
    res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Upgrade: 'websocket', Connection: 'close' });
    res.end('This port speaks WebSocket: TeamTalk PDUs, one per binary message. The web chat is on the login server under /chat/.\n');
  });

  httpServer.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    // Node hands over an upgrading socket without an error listener: a peer resetting now must not take the server down.
    socket.on('error', (err: NodeJS.ErrnoException) => logger.debug({ peer: socket.remoteAddress, err: err.code ?? err.message }, 'WebSocket handshake socket error'));
    const peer = { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort };
    const origin = req.headers.origin;
    if (origin !== undefined && !allowAny && !allowed.has(origin.toLowerCase())) {
      logger.warn({ peer: `${peer.remoteAddress}:${peer.remotePort}`, origin }, 'WebSocket refused: origin not in wsAllowedOrigins');
      return refuse(socket, 403, 'Forbidden', `origin ${origin} may not open TeamTalk sessions here`);
    }
    if (clients.connections.size >= config.maxConnections) {
      logger.warn({ peer: `${peer.remoteAddress}:${peer.remotePort}`, max: config.maxConnections }, 'WebSocket refused: client connection limit reached');
      return refuse(socket, 503, 'Service Unavailable', 'connection limit reached');
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      let connId = 0;
      const duplex = new WebSocketDuplex(ws, {
        ...peer,
        socket,
        onViolation: (reason) =>
          logger.warn({ conn: connId, peer: `${peer.remoteAddress}:${peer.remotePort}`, reason }, 'WebSocket client broke the protocol: connection closed'),
      });
      connId = clients.handle(duplex)?.id ?? 0;
    });
  });

  const { port } = await listenOn(httpServer, config.wsListenHost, config.wsListenPort);
  const url = config.wsPublicUrl || `${tls ? 'wss' : 'ws'}://${urlHost(config.publicIp1)}:${port}/`;
  logger.info({ host: config.wsListenHost, port, url, tls: tls !== null, origins: config.wsAllowedOrigins }, 'WebSocket port listening');

  return {
    port,
    url,
    stop: (reason) =>
      new Promise<void>((resolve) => {
        // Browsers see "going away" and reconnect; the PduServer then closes the connections themselves.
        for (const ws of wss.clients) ws.close(WsCloseCode.GOING_AWAY, reason.slice(0, 120));
        httpServer.close(() => resolve());
        httpServer.closeIdleConnections();
      }),
  };
}

function refuse(socket: Socket, status: number, statusText: string, body: string): void {
  socket.end(`HTTP/1.1 ${status} ${statusText}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

function readTls(config: WsConfig): { cert: Buffer; key: Buffer } | null {
  if (config.wsTlsCertFile === '') return null;
  const read = (key: 'wsTlsCertFile' | 'wsTlsKeyFile') => {
    try {
      return readFileSync(config[key]);
    } catch (err) {
      throw new ConfigError(`msg-server config: key "${key}": cannot read ${config[key]}: ${(err as Error).message}`);
    }
  };
  return { cert: read('wsTlsCertFile'), key: read('wsTlsKeyFile') };
}

/** An IPv6 address goes in brackets in a URL. */
function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
