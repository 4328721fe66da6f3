import { defineConfig, field, heartbeatWithinTimeout, type ConfigOf } from '../../lib/config';
import { internalTlsSpec } from '../../lib/internal-tls';

const spec = {
  logLevel: field.logLevel(),
  httpHost: field.host('127.0.0.1', 'address of the client HTTP port (0.0.0.0 to serve remote clients)'),
  httpPort: field.port(8080, 'client HTTP port: GET or POST /msg_server answers which msg server to use'),
  trustProxy: field.bool(
    false,
    'behind a reverse proxy on this host: for requests from loopback, take the client address from X-Forwarded-For (it picks priorIP/backupIP and drives the loopback warning)',
  ),
  httpMaxConnections: field.int(10_000, 'client HTTP connections open at once; more are refused', { min: 1 }),
  msgServerHost: field.host('127.0.0.1', 'address msg servers register on (internal)'),
  msgServerPort: field.port(8100, 'port msg servers register on (CID_OTHER_MSG_SERV_INFO, then user-count updates)'),
  maxMsgServers: field.int(1_000, 'msg-server connections accepted at most; more are refused with a log line', { min: 1 }),
  msgServerMaxPduBytes: field.int(64 * 1024, 'largest PDU a msg server may send on its registration link (they are a few dozen bytes); a bigger one closes the link', { min: 1024 }),
  adminHost: field.host('127.0.0.1', 'address of the admin endpoint (HTTPS, admin certificates only: /metrics, /health, /msg_servers, log level); internal'),
  adminPort: field.port(8181, 'admin endpoint port'),
  msfsUrl: field.url('http://127.0.0.1:8700/', 'file/image server URL handed to clients as msfsPrior and msfsBackup', {
    protocols: ['http', 'https'],
  }),
  webChat: field.bool(true, 'serve the browser chat client under /chat/ on the client HTTP port (it connects to msg servers that have a WebSocket port)'),
  discoveryUrl: field.url('http://127.0.0.1/api/discovery', 'discovery URL handed to clients', { protocols: ['http', 'https'] }),
  heartbeatIntervalMs: field.int(5_000, 'a heartbeat is sent on a msg-server link when nothing else was sent for this long', {
    min: 10,
  }),
  linkTimeoutMs: field.int(30_000, 'a msg server that sent nothing (not even a heartbeat) for this long is dropped from the list', {
    min: 50,
  }),
  ...internalTlsSpec('login-server'),
};

export const loginServerConfig = defineConfig('login-server', 'TT_LOGIN', spec, [heartbeatWithinTimeout('login-server', 'heartbeatIntervalMs', 'linkTimeoutMs')]);
export type LoginServerConfig = ConfigOf<typeof spec>;
