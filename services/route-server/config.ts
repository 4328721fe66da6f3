import { defineConfig, field, heartbeatWithinTimeout, type ConfigOf } from '../../lib/config';
import { internalTlsSpec } from '../../lib/internal-tls';

const spec = {
  logLevel: field.logLevel(),
  listenHost: field.host('127.0.0.1', 'address msg servers connect to (internal: keep it on a private interface)'),
  listenPort: field.port(8200, 'port msg servers connect to'),
  heartbeatIntervalMs: field.int(5_000, 'a heartbeat is sent on a msg-server link when nothing else was sent for this long', {
    min: 10,
  }),
  linkTimeoutMs: field.int(30_000, 'a msg-server link that sent nothing (not even a heartbeat) for this long is closed and its users removed', {
    min: 50,
  }),
  maxMsgServers: field.int(1_000, 'msg-server connections accepted at most; more are refused with a log line', { min: 1 }),
  maxPduBytes: field.int(16 * 1024 * 1024, 'largest PDU a msg server may send (the online-user snapshot is the big one: ~12 bytes per user)', {
    min: 1024,
  }),
  maxRelayPduBytes: field.int(2 * 1024 * 1024, 'relayed PDUs (messages, notifies, kicks) bigger than this are dropped with a log line (they come from client PDUs of 1 MiB at most)', {
    min: 1024,
  }),
  maxStatusQueryIds: field.int(20_000, 'users-status queries are answered for their first this many ids (a bigger query would hold the route server for seconds)', {
    min: 1,
  }),
  maxWriteQueueBytes: field.int(64 * 1024 * 1024, 'a msg server that lets this much relayed output pile up is disconnected as too slow', {
    min: 64 * 1024,
  }),
  adminHost: field.host('127.0.0.1', 'address of the admin endpoint (HTTPS, admin certificates only: /metrics, /status, log level); internal'),
  adminPort: field.port(8281, 'admin endpoint port'),
  ...internalTlsSpec('route-server'),
};

export const routeServerConfig = defineConfig('route-server', 'TT_ROUTE', spec, [heartbeatWithinTimeout('route-server', 'heartbeatIntervalMs', 'linkTimeoutMs')]);
export type RouteServerConfig = ConfigOf<typeof spec>;
