/**
 * The admin endpoint every service has on its internal address: Prometheus
 * metrics, status, recent warnings and runtime control (log level; services add
 * their own actions, e.g. the msg server's drain and kick).
 *
 * Internal addresses are assumed reachable by strangers, so it is HTTPS with
 * mutual TLS: a client must present a certificate signed by the cluster CA
 * (checked in the handshake, before any request is read) whose role is "admin"
 * (`npm run certs -- issue --role admin --name prometheus`; the web console and
 * the npm scripts have one). Any other peer is disconnected without an answer
 * and logged once per address and reason per 10 s.
 *
 *   GET  /metrics      Prometheus text format
 *   GET  /status       JSON: what the service is doing (service specific)
 *   GET  /warnings     JSON: the last warnings and errors it logged
 *   GET  /log-level    JSON: {"level": "info"}
 *   PUT  /log-level    JSON body {"level": "debug"}: changes it at once (SIGHUP re-reads the config)
 *
 * Every change is logged with who made it: the certificate's name, and the
 * operator the console signed in (header X-TeamTalk-Operator).
 */
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { InternalTls, PeerIdentity } from './internal-tls';
import { listenOn } from './listen';
import { LogThrottle } from './log-throttle';
import { changeLogLevel, recentWarnings, type Logger } from './log';
import type { ServiceMetrics } from './metrics';

/** Connections to an admin port at once (operators and Prometheus need a handful). */
export const ADMIN_MAX_CONNECTIONS = 64;
/** Largest request body an action may send. */
export const ADMIN_MAX_BODY = '16kb';
const ADMIN_REQUEST_TIMEOUT_MS = 10_000;
export const OPERATOR_HEADER = 'x-teamtalk-operator';

export interface AdminEndpointOptions {
  /** Service name, e.g. "msg-server" (in /status). */
  service: string;
  host: string;
  port: number;
  tls: InternalTls;
  logger: Logger;
  metrics: ServiceMetrics;
  /** The service's part of GET /status. */
  status(): object | Promise<object>;
  /** Service routes (reads are GET; actions POST with a JSON body, answered with JSON). */
  routes?(router: express.Router): void;
}

export interface RunningAdminEndpoint {
  port: number;
  /** https://host:port as a peer on the internal network reaches it (the bind address unless it is a wildcard). */
  url: string;
  close(): Promise<void>;
}

/** Who asked for an action: for the log line that records it. */
export interface Requester {
  /** The operator signed in at the console, else the certificate's name. */
  by: string;
  certificate: string;
}

export function requesterOf(req: Request): Requester {
  const peer = (req as Request & { peer?: PeerIdentity }).peer;
  const certificate = peer?.name ?? '?';
  const header = req.get(OPERATOR_HEADER);
  const operator = header !== undefined && /^[\w.@-]{1,64}$/.test(header) ? header : null;
  return { by: operator ?? certificate, certificate };
}

/** An action's bad input: answered 400 with the message. */
export class AdminRequestError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export async function startAdminEndpoint(options: AdminEndpointOptions): Promise<RunningAdminEndpoint> {
  const { logger, metrics, tls } = options;
  const startedAt = Date.now();
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use((req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    // Checked again per request: a socket only reaches here after the handshake check.
    const peer = tls.peerOf(req.socket as TLSSocket);
    if (peer === null || peer.role !== 'admin') {
      res.status(403).json({ error: 'an admin certificate of this cluster is required' });
      return;
    }
    (req as Request & { peer?: PeerIdentity }).peer = peer;
    next();
  });
  app.use(express.json({ limit: ADMIN_MAX_BODY }));

  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', metrics.contentType);
    res.send(await metrics.text());
  });
  app.get('/status', async (_req, res) => {
    res.json({
      service: options.service,
      instance: tls.name,
      pid: process.pid,
      startedAt: new Date(startedAt).toISOString(),
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      logLevel: logger.level,
      ...(await options.status()),
    });
  });
  app.get('/warnings', (_req, res) => {
    res.json({ service: options.service, instance: tls.name, warnings: recentWarnings(logger) });
  });
  app.get('/log-level', (_req, res) => {
    res.json({ level: logger.level });
  });
  app.put('/log-level', (req, res) => {
    const level = (req.body as { level?: unknown } | undefined)?.level;
    if (typeof level !== 'string') throw new AdminRequestError('body must be {"level": "<level>"}');
    let before: string;
    try {
      before = changeLogLevel(logger, level, { ...requesterOf(req) });
    } catch (err) {
      throw new AdminRequestError((err as Error).message);
    }
    res.json({ level: logger.level, before });
  });
  const router = express.Router();
  options.routes?.(router);
  app.use(router);
  app.use((_req, res) => {
    res.status(404).json({ error: 'no such admin endpoint' });
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    // body-parser's errors carry their 4xx status (bad JSON 400, too large 413).
    const own = (err as { status?: unknown }).status;
    const status = err instanceof AdminRequestError ? err.status : typeof own === 'number' && own >= 400 && own < 500 ? own : 500;
    if (status >= 500) logger.error({ err }, 'admin endpoint failed');
    res.status(status).json({ error: status >= 500 ? 'internal error (see the service log)' : (err as Error).message });
  });

  const server = https.createServer(tls.serverOptions(), app);
  server.maxConnections = ADMIN_MAX_CONNECTIONS;
  server.requestTimeout = ADMIN_REQUEST_TIMEOUT_MS;
  server.headersTimeout = ADMIN_REQUEST_TIMEOUT_MS;
  const throttle = new LogThrottle();
  const refuse = (address: string, reason: string) =>
    throttle.run(`${address} ${reason}`, (suppressed) =>
      logger.warn({ peer: address, reason, port: `${options.service} admin`, similarNotLogged: suppressed }, 'admin client did not authenticate; disconnected without an answer'),
    );
  server.on('secureConnection', (socket: TLSSocket) => {
    const peer = tls.peerOf(socket);
    if (peer === null || peer.role !== 'admin') {
      refuse(socket.remoteAddress ?? '?', `certificate role ${peer?.role ?? '(none)'} may not use the admin port (allowed: admin)`);
      socket.destroy();
    }
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    refuse(socket.remoteAddress ?? '?', `TLS handshake failed: ${err.code ?? err.message}`);
  });
  const { port } = await listenOn(server, options.host, options.port);
  const url = `https://${advertisedHost(options.host)}:${port}`;
  logger.info({ url, allowed: 'admin certificates' }, 'admin endpoint listening (metrics, status, runtime control)');
  return {
    port,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The host others use for a bind address: a wildcard is reached on loopback from this machine. */
function advertisedHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
