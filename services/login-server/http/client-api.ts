/**
 * The HTTP endpoint every TeamTalk client calls first (behaviour.md §2.1): any
 * path starting with /msg_server, GET or POST (body ignored), answers which msg
 * server to connect to. The body is the original's text exactly (key set, types
 * — port is a string —, layout, content type), so existing clients parse it.
 * Additions for browsers and proxies: CORS headers and `Cache-Control: no-store`
 * (an answer is only good for this one login; a cached one defeats balancing).
 *
 * Web clients ask `/msg_server?transport=ws`: the least-loaded msg server among
 * those with a WebSocket port, and the same answer plus `wsUrl` (ws:// or wss://).
 * Without the parameter the answer is byte for byte the original's.
 * The browser chat client itself is served under /chat/ (web-chat.ts).
 */
import express, { type Request, type Response } from 'express';
import type { Logger } from '../../../lib/log';
import type { LoginServerConfig } from '../config';
import { prefersFirstAddress } from '../addresses';
import type { LoopbackWarnings } from '../loopback-warning';
import type { MsgServerEntry, MsgServerRegistry } from '../msg-server-registry';
import { styledJson, type FlatJson } from './styled-json';
import { webChatRoutes } from './web-chat';

export const ResultCode = {
  OK: 0,
  NO_MSG_SERVER: 1,
  ALL_FULL: 2,
} as const;

/** Clear English in place of the original's Chinese ("没有msg_server", "负载过高"). */
export const RESULT_TEXT = {
  [ResultCode.NO_MSG_SERVER]: 'no msg server is available',
  [ResultCode.ALL_FULL]: 'all msg servers are full',
} as const;

/** Code 1 for a web client: msg servers may be up, but none has a WebSocket port. */
export const NO_WEBSOCKET_TEXT = 'no msg server accepts WebSocket connections';

export type Transport = 'tcp' | 'ws';

/** The original's content type; old clients that look at it keep working. */
const CONTENT_TYPE = 'text/html;charset=utf-8';

export interface ClientApiDeps {
  config: Pick<LoginServerConfig, 'msfsUrl' | 'discoveryUrl' | 'trustProxy' | 'webChat'>;
  registry: MsgServerRegistry;
  /** False for a msg server whose link is already closing: do not send clients there. */
  usable(entry: MsgServerEntry): boolean;
  loopbackWarnings: LoopbackWarnings;
  /** Where the built web chat is (served under /chat/ when config.webChat). */
  webChatDir: string;
  logger: Logger;
  /** Counts each answer by its code (metrics). */
  answered?(code: number): void;
}

function allowCrossOrigin(req: Request, res: Response, next: () => void): void {
  res.setHeader('Access-Control-Allow-Origin', '*');
  if (req.method !== 'OPTIONS') return next();
  // Preflight (a browser POSTing JSON asks first).
  res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
  res.setHeader('Access-Control-Allow-Headers', req.get('Access-Control-Request-Headers') ?? 'Content-Type');
  res.setHeader('Access-Control-Max-Age', '86400');
  res.setHeader('Cache-Control', 'no-store');
  res.status(204).end();
}

function sendStyled(res: Response, body: FlatJson): void {
  const bytes = Buffer.from(styledJson(body), 'utf8');
  res.status(200);
  res.setHeader('Content-Type', CONTENT_TYPE);
  res.setHeader('Content-Length', String(bytes.length));
  res.setHeader('Cache-Control', 'no-store');
  // The original closes after every answer; a client asks once per login anyway.
  res.setHeader('Connection', 'close');
  res.end(bytes);
}

/** The answer for a client at `clientAddress` (exported for tests of the exact text). */
export function msgServerAnswer(deps: Pick<ClientApiDeps, 'config' | 'registry' | 'usable' | 'loopbackWarnings'>, clientAddress: string, transport: Transport = 'tcp'): FlatJson {
  const webSocket = transport === 'ws';
  const choice = deps.registry.choose(webSocket ? (entry) => entry.wsUrl !== '' && deps.usable(entry) : deps.usable);
  if (choice.kind === 'none') return { code: ResultCode.NO_MSG_SERVER, msg: webSocket ? NO_WEBSOCKET_TEXT : RESULT_TEXT[ResultCode.NO_MSG_SERVER] };
  if (choice.kind === 'full') return { code: ResultCode.ALL_FULL, msg: RESULT_TEXT[ResultCode.ALL_FULL] };
  const server = choice.server;
  const ipv4Client = prefersFirstAddress(clientAddress);
  const priorIP = ipv4Client ? server.ip1 : server.ip2;
  const backupIP = ipv4Client ? server.ip2 : server.ip1;
  deps.loopbackWarnings.check(server, clientAddress, { priorIP, backupIP });
  const answer: FlatJson = {
    backupIP,
    code: ResultCode.OK,
    discovery: deps.config.discoveryUrl,
    msfsBackup: deps.config.msfsUrl,
    msfsPrior: deps.config.msfsUrl,
    msg: '',
    port: String(server.port),
    priorIP,
  };
  if (webSocket) answer.wsUrl = server.wsUrl;
  return answer;
}

export function createClientApi(deps: ClientApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  // Only a proxy on this host is believed, never a header from the open network.
  app.set('trust proxy', deps.config.trustProxy ? 'loopback' : false);
  if (deps.config.webChat) app.use('/chat', webChatRoutes(deps.webChatDir, deps.config.msfsUrl, deps.logger));
  app.use(allowCrossOrigin);
  app.get('/health', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json({ status: 'ok' });
  });
  // "Starts with /msg_server", as the original matched it: /msg_server, /msg_server/, /msg_server?x=1 ...
  app.all(/^\/msg_server/, (req, res) => {
    const transport: Transport = req.query.transport === 'ws' ? 'ws' : 'tcp';
    const answer = msgServerAnswer(deps, req.ip ?? req.socket.remoteAddress ?? '', transport);
    deps.answered?.(Number(answer.code));
    sendStyled(res, answer);
  });
  return app;
}
