import { hostname } from 'node:os';
import { webSocketSpec } from './websocket-config';
import { defineConfig, field, heartbeatWithinTimeout, type ConfigOf } from '../../lib/config';
import { internalTlsSpec } from '../../lib/internal-tls';
import { TEAMTALK_DEFAULT_AES_KEY } from '../../lib/message-crypto';

const spec = {
  logLevel: field.logLevel(),
  listenHost: field.host('127.0.0.1', 'address the client port binds to (0.0.0.0 to accept remote clients)'),
  listenPort: field.port(8000, 'client port (also reported to the login server)'),
  publicIp1: field.host('127.0.0.1', 'address clients are told to connect to (login server "priorIP"); set it to this host\'s public address in production'),
  publicIp2: field.host('', 'alternative address for clients ("backupIP"); empty = publicIp1', { optional: true }),
  hostName: field.string(hostname(), 'name reported to the login server', { nonEmpty: true }),
  ...webSocketSpec,
  maxConnections: field.int(100_000, 'client connections accepted at most (reported to the login server as capacity)', { min: 1 }),
  loginServers: field.hostPortList([{ host: '127.0.0.1', port: 8100 }], 'login servers to register with (host:port of their msg-server port)'),
  routeServers: field.hostPortList([{ host: '127.0.0.1', port: 8200 }], 'route servers; the msg server connects to all of them'),
  dbProxies: field.hostPortList([{ host: '127.0.0.1', port: 10600 }], 'db-proxies; requests are spread over them, failing over when one is down', {
    min: 1,
  }),
  dbRetryMs: field.int(15_000, 'a request that finds no db-proxy waits this long for one, and one whose db-proxy connection broke is sent again on a live one within it', {
    min: 0,
  }),
  fileServers: field.hostPortList([], 'file servers (their internal msg-server port); empty: file transfers are refused'),
  pushServers: field.hostPortList([], 'push servers; empty: no pushes to phones of offline users'),
  aesKey: field.string(TEAMTALK_DEFAULT_AES_KEY, 'TeamTalk message key (32 characters, the clients\' key): decrypts a text only to write its push notification'),
  dbConnectionsPerProxy: field.int(2, 'connections opened to each db-proxy', { min: 1, max: 64 }),
  loginTimeoutMs: field.int(15_000, 'a connection that has not logged in by then is closed', { min: 100 }),
  pcIdleTimeoutMs: field.int(120_000, 'a PC client that sent nothing for this long is closed', { min: 100 }),
  mobileIdleTimeoutMs: field.int(300_000, 'a mobile client that sent nothing for this long is closed', { min: 100 }),
  linkHeartbeatIntervalMs: field.int(5_000, 'heartbeat on server links when idle', { min: 50 }),
  linkTimeoutMs: field.int(30_000, 'a server link that sent nothing for this long is closed and reconnected', { min: 100 }),
  linkMaxPduBytes: field.int(64 * 1024 * 1024, 'largest PDU accepted from a db-proxy, route, file or push server (replies can be big: a whole company\'s user list); a bigger one closes the link', { min: 64 * 1024 }),
  linkMaxWriteQueueBytes: field.int(256 * 1024 * 1024, 'a server link that lets this much of our output pile up unread is closed as stuck and reconnected (see "Slow peers" in the README)', { min: 1024 * 1024 }),
  requestTimeoutMs: field.int(10_000, 'how long to wait for a db-proxy or route server reply', { min: 100 }),
  floodLimitPerSecond: field.int(20, 'messages a connection may send per second; more are dropped (TeamTalk: 20)', { min: 1 }),
  deliveryAckTimeoutMs: field.int(5_000, 'an undelivered (unacked) message is resent after this, doubling per attempt', { min: 50 }),
  deliveryRetries: field.int(2, 'resends of an unacked message before it is counted as missed', { min: 0, max: 10 }),
  maxPendingDeliveries: field.int(1_000, 'unacked deliveries tracked per connection; older ones count as missed', { min: 1 }),
  clientMaxPduBytes: field.int(1024 * 1024, 'largest PDU a client may send', { min: 1024 }),
  clientMaxWriteQueueBytes: field.int(4 * 1024 * 1024, 'a client that lets this much output pile up is disconnected', {
    min: 64 * 1024,
  }),
  minClientVersion: field.string('', 'refuse logins from clients older than this dotted version (empty: accept all)'),
  clientBudgetPerSecond: field.int(200, 'command budget of a client connection: tokens refilled per second (each command costs 1 or more, see the README\'s cost table)', { min: 1 }),
  clientBudgetBurst: field.int(600, 'command budget: most tokens a connection can save up (its burst)', { min: 50 }),
  clientBudgetMaxRefusedPerSecond: field.int(100, 'a connection refused more often than this within one second (it keeps sending over budget) is disconnected', { min: 1 }),
  clientBudgetLoginBanMs: field.int(10_000, 'after such a disconnect, logins of that user on this msg server are refused for this long (0: never), so a flooder cannot make every online user hear of its reconnects', { min: 0 }),
  clientMaxRequestsInFlight: field.int(32, 'requests of one client connection waiting for the db-proxy or route server at once; more are refused', { min: 1 }),
  maxHeavyRequestsInFlight: field.int(32, 'expensive reads (all users, departments, group info, history pages) at the db-proxies at once, for this whole msg server; more queue', { min: 1 }),
  maxHeavyRequestsQueued: field.int(2_000, 'expensive reads queued behind maxHeavyRequestsInFlight; more are refused', { min: 0 }),
  maxUsersPerStatusQuery: field.int(1_000, 'user ids answered per users-status query (the rest of a longer list is ignored)', { min: 1 }),
  maxUsersPerInfoRequest: field.int(1_000, 'user ids answered per user-info request (the rest is ignored)', { min: 1 }),
  maxGroupsPerInfoRequest: field.int(100, 'groups answered per group-info request (the rest is ignored)', { min: 1 }),
  maxMessagesPerPage: field.int(100, 'messages per history page (msg_cnt is lowered to this) and per msg-by-id request', { min: 1 }),
  groupMembersCacheMs: field.int(10_000, 'how long group member lists are cached for fan-out (changes invalidate at once)', {
    min: 0,
  }),
  groupMembersCacheEntries: field.int(10_000, 'group member lists cached at most (the least recently used are dropped)', { min: 1 }),
  relayReplayLookbackMs: field.int(5_000, 'when the master route server dies, messages and kicks relayed this long before are sent again to the next one (receivers skip repeats)', {
    min: 0,
  }),
  relayQueueMaxFrames: field.int(100_000, 'relays kept while no route server is up, sent when one is (beyond: the oldest are dropped and counted; their messages stay in storage)', {
    min: 0,
  }),
  relayedDeliveriesMax: field.int(500_000, 'messages from other msg servers remembered as delivered (to skip repeats after a route-server outage)', { min: 1000 }),
  statsIntervalMs: field.int(60_000, 'how often a statistics line is logged (0: never)', { min: 0 }),
  adminHost: field.host('127.0.0.1', 'address of the admin endpoint (HTTPS, admin certificates only: /metrics, /status, users, kick, drain, log level); internal'),
  adminPort: field.port(9000, 'admin endpoint port (told to the login servers, where the console finds it)'),
  drainBatchSize: field.int(50, 'while draining, client connections closed per step (they reconnect through the login server elsewhere)', { min: 1 }),
  drainIntervalMs: field.int(1_000, 'while draining, time between two steps', { min: 10 }),
  ...internalTlsSpec('msg-server'),
};

export const msgServerConfig = defineConfig('msg-server', 'TT_MSG', spec, [heartbeatWithinTimeout('msg-server', 'linkHeartbeatIntervalMs', 'linkTimeoutMs')]);
export type MsgServerConfig = ConfigOf<typeof spec>;
