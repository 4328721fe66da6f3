/**
 * HTTP between cluster services, with the same mutual TLS as the PDU links
 * (lib/internal-tls.ts): the msfs file store's internal port takes uploads from
 * db-proxies this way. The server side authenticates each connection before
 * the HTTP parser sees a byte; the client side checks the server's role.
 *
 * A peer listed in plaintextPeers talks plain HTTP both ways (an original C++
 * db_proxy uploading to our msfs), exactly as on PDU ports.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { InternalPortOptions } from '../pdu/server';
import type { InternalTls, ServiceRole } from './internal-tls';
import { listenOn } from './listen';

export interface InternalHttpServer {
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

/**
 * Serves `handler` on host:port for cluster peers only: every connection first
 * completes a TLS handshake with a cluster certificate of an allowed role (or
 * comes from a plaintext peer). `configure` can set limits on the http.Server.
 */
export async function listenInternalHttp(
  handler: http.RequestListener,
  options: { host: string; port: number; internal: InternalPortOptions; maxConnections: number; configure?(server: http.Server): void },
): Promise<InternalHttpServer> {
  const httpServer = http.createServer(handler);
  options.configure?.(httpServer);
  const sockets = new Set<net.Socket>();
  const internal = options.internal;
  const tcp = net.createServer({ noDelay: true }, (socket) => {
    if (sockets.size >= options.maxConnections) {
      socket.destroy();
      internal.onAuthFailure(`${socket.remoteAddress}:${socket.remotePort}`, `connection limit of ${options.maxConnections} reached`);
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    if (internal.tls.isPlaintextPeer(socket.remoteAddress)) {
      httpServer.emit('connection', socket);
      return;
    }
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    internal.tls.accept(socket, internal.allowedRoles).then(
      ({ stream }) => httpServer.emit('connection', stream),
      (err: Error) => internal.onAuthFailure(peer, err.message),
    );
  });
  const address = await listenOn(tcp, options.host, options.port);
  return {
    port: address.port,
    host: address.address,
    close: () =>
      new Promise<void>((done) => {
        for (const s of sockets) s.destroy();
        httpServer.close();
        tcp.close(() => done());
      }),
  };
}

export interface InternalHttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export class InternalHttpError extends Error {
  readonly code = 'TT_ERR_INTERNAL_HTTP';
}

/**
 * One request to an internal HTTP service. `https:` URLs use mutual TLS with
 * `identity` and require the server to hold a certificate of `expectRole`;
 * `http:` URLs are only allowed to plaintext peers. Bounded in time and in
 * response size; rejects with InternalHttpError.
 */
export function internalHttpRequest(
  identity: InternalTls,
  url: URL,
  options: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: Buffer; timeoutMs: number; expectRole: ServiceRole; maxResponseBytes: number },
): Promise<InternalHttpResponse> {
  return new Promise((resolve, reject) => {
    const secure = url.protocol === 'https:';
    if (!secure && !identity.isPlaintextPeer(url.hostname)) {
      reject(new InternalHttpError(`${url.origin}: plain http is only used for plaintextPeers; use https:// (mutual TLS)`));
      return;
    }
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) headers['content-length'] = String(options.body.length);
    const common = { method: options.method, host: url.hostname, port: url.port || (secure ? 443 : 80), path: `${url.pathname}${url.search}`, headers, agent: false as const };
    const req = secure ? https.request({ ...common, ...identity.clientOptions(url.hostname, options.expectRole) }) : http.request(common);
    const timer = setTimeout(() => req.destroy(new InternalHttpError(`${url.origin}: no complete answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(err instanceof InternalHttpError ? err : new InternalHttpError(`${url.origin}: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    });
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxResponseBytes) {
          req.destroy(new InternalHttpError(`${url.origin}: answer larger than ${options.maxResponseBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.once('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks, size) });
      });
      res.once('error', () => {});
    });
    req.end(options.body);
  });
}
