/**
 * db-proxy configuration (env prefix TT_DB_PROXY). Validated at start: load()
 * checks types and ranges, checkDbProxyConfig() the rules that span keys.
 */
import { defineConfig, field, heartbeatWithinTimeout, urlOrNull, type ConfigOf } from '../../lib/config';
import { internalTlsSpec } from '../../lib/internal-tls';
import { ConfigError } from '../../lib/errors';
import { TEAMTALK_DEFAULT_AES_KEY } from '../../lib/message-crypto';
import { DEFAULT_COPY_LIMITS } from './latest-messages';
import { MAIN_SERVER, MessageTables } from './message-tables';

const spec = {
  listenHost: field.host('127.0.0.1', 'address msg servers connect to'),
  listenPort: field.port(10600, 'TCP port for msg servers (0 = any free port)'),
  maxConnections: field.int(1000, 'msg-server connections accepted at once', { min: 1 }),
  maxRequestPduBytes: field.int(4 * 1024 * 1024, 'largest PDU a msg server may send (requests are small; a voice message is the biggest, ~60 KB a minute); a bigger one closes the link', { min: 64 * 1024 }),
  pauseReadingAboveBytes: field.int(16 * 1024 * 1024, 'backpressure: once this much of our replies to a msg server is unsent, its further requests are not read until the replies drain (0: never pause)', { min: 0 }),
  maxWriteQueueBytes: field.int(256 * 1024 * 1024, 'a msg-server link that lets this much of our replies pile up unread anyway (one read of requests can ask for a lot) is closed as stuck; its msg server reconnects and retries', { min: 1024 * 1024 }),
  mysqlUrl: field.url('mysql://teamtalk@127.0.0.1:33306/teamtalk', 'MariaDB/MySQL database', {
    protocols: ['mysql', 'mariadb'],
    aliases: ['MYSQL_URL'],
  }),
  mysqlPoolSize: field.int(12, 'MySQL connections in the pool (per database server and per replica)', { min: 2, max: 500 }),
  mysqlReplicaUrls: field.urlList([], 'replicas of the main database (MariaDB GTID replication): user, department, group, session and history reads may go to them, never missing an acknowledged write (replicaWaitMs)', {
    protocols: ['mysql', 'mariadb'],
  }),
  mysqlServers: field.record<MysqlServerEntry>(
    {},
    'more database servers for message tables, by name: {"shard2": {"url": "mysql://...", "replicaUrls": ["mysql://..."]}}; shardMap says which tables each holds',
    'an object of server name -> {"url": "mysql://...", "replicaUrls": [...]}',
    parseMysqlServer,
  ),
  shardMap: field.record<string>(
    {},
    'which database server holds which message tables (IMMessage_N and IMGroupMessage_N): {"8-15": "shard2"}, table index or FROM-TO -> a name of mysqlServers or "main"; unlisted tables are on main',
    'an object of table index or FROM-TO -> server name',
    (_range, server) => {
      if (typeof server !== 'string' || server === '') throw new Error('the value must be a server name');
      return server;
    },
  ),
  replicaWaitMs: field.int(200, 'a replica read waits this long at most for the replica to apply what the primary had committed when the read arrived; then it goes to the primary', { min: 1, max: 60_000 }),
  replicaMaxLagMs: field.int(5000, 'a replica whose measured lag is above this is not read from until it catches up', { min: 10 }),
  replicaLagProbeMs: field.int(1000, 'how often each replica\'s lag is measured (time until a write committed on the primary is applied on it)', { min: 50 }),
  redisUrl: field.url('redis://127.0.0.1:36379/0', 'Redis server (counters, unread, group members)', {
    protocols: ['redis', 'rediss'],
    aliases: ['REDIS_URL'],
  }),
  redisKeyPrefix: field.string('', 'prefix of every Redis key (TeamTalk key names follow it)'),
  redisClusterNodes: field.hostPortList([], 'Redis Cluster: some of its nodes (host:port; the others are discovered); set = cluster mode, redisUrl then gives only the password and TLS (see README: key layout)'),
  redisSentinels: field.hostPortList([], 'Redis Sentinel: the sentinels (host:port); set = the master named redisSentinelName is used, and followed after a failover; redisUrl gives its password, database and TLS'),
  redisSentinelName: field.string('mymaster', 'name of the master the sentinels watch', { nonEmpty: true }),
  redisSentinelPassword: field.string('', 'password of the sentinels themselves (empty: none)'),
  storageTimeoutMs: field.int(5000, 'a MySQL query or Redis command that takes longer fails the request', { min: 100 }),
  storageConnectTimeoutMs: field.int(2000, 'how long connecting to MySQL / Redis may take', { min: 100 }),
  maxQueuedRequests: field.int(20000, 'requests in progress over all connections; beyond it requests get a BUSY reply', {
    min: 1,
  }),
  maxQueuedPerConnection: field.int(5000, 'requests in progress per msg-server connection; beyond it BUSY', { min: 1 }),
  storeBatchMaxMessages: field.int(512, 'most messages stored by one transaction', { min: 1, max: 10000 }),
  storeTokenTtlSec: field.int(120, 'how long the store token of a message is kept, so a msg server\'s retry of it is recognised and not stored twice', {
    min: 10,
  }),
  deferredCounterUpdatesMax: field.int(100_000, 'messages stored while Redis was failing whose unread-count updates wait in memory for Redis to answer again; beyond it the oldest are dropped (they stay in history, not unread)', {
    min: 1,
  }),
  storeBatchConcurrency: field.int(4, 'message-store transactions in flight at once', { min: 1, max: 64 }),
  messageTableCount: field.int(8, 'IMMessage_N / IMGroupMessage_N tables (N = id % count); they must exist', {
    min: 1,
    max: 1024,
  }),
  userCacheMs: field.int(30_000, 'how long "user exists and is enabled" answers are cached for authorization checks (a disabled user stops receiving within this time)', {
    min: 0,
  }),
  allUsersSnapshotMs: field.int(1000, 'the whole-company user list (a client\'s first sync, IMAllUserReq with time 0) is read and encoded once and shared by the requests of this long; changes made later reach clients by their next incremental sync (0: read for every request)', {
    min: 0,
    max: 60_000,
  }),
  latestCopyMaxBytes: field.int(DEFAULT_COPY_LIMITS.maxBytes, 'each conversation\'s newest message is copied to Redis for recent sessions and unread counts if its stored content is at most this many bytes (longer ones, and conversations without a current copy, are read from the message table; 0: no copies)', {
    min: 0,
    max: 4096,
  }),
  latestCopyTtlSec: field.int(DEFAULT_COPY_LIMITS.ttlSec, 'a newest-message copy expires this long after its message (bounds Redis memory to recently active conversations)', {
    min: 60,
  }),
  userCacheEntries: field.int(200_000, 'user ids whose status is cached at most', { min: 1 }),
  maxDeviceTokenLength: field.int(512, 'longest push device token stored (APNs tokens are 64 characters, FCM tokens about 160); longer ones are refused', {
    min: 32,
  }),
  loginMaxFailures: field.int(10, 'wrong passwords per login name allowed within the window; more locks the name', {
    min: 1,
  }),
  loginFailureWindowSec: field.int(1800, 'failure counting window (s); a locked name stays locked until it ends', {
    min: 1,
  }),
  aesKey: field.string(TEAMTALK_DEFAULT_AES_KEY, 'TeamTalk message key (32 characters, must equal the clients\' key)'),
  groupSessionSyncIntervalMs: field.int(5000, 'how often group members\' recent sessions follow group activity', {
    min: 100,
  }),
  heartbeatIntervalMs: field.int(5000, 'heartbeat to msg servers after this much silence', { min: 10 }),
  linkTimeoutMs: field.int(30000, 'close a msg-server link after this long without data', { min: 50 }),
  pushShieldHours: field.string('22-8', 'when a user\'s push shield (0x010c) holds: "START-END" hours of the db-proxy\'s local day, END exclusive ("22-8" = 22:00-07:59, the original); "0-24": always; "": never'),
  offlineFileTtlSec: field.int(7 * 86_400, 'offline-file rows (IMTransmitFile) older than this are not listed and are deleted; keep it equal to the file servers\' offlineFileTtlSec', { min: 1 }),
  msfsUrl: field.string('', 'msfs internal port where voice messages are stored, e.g. "https://127.0.0.1:8701/" (mutual TLS); empty: in IMAudio.data'),
  msfsTimeoutMs: field.int(5000, 'a voice-message upload to or read from msfs that takes longer fails (the message is not stored / left out of history)', { min: 100 }),
  logLevel: field.logLevel(),
  adminHost: field.host('127.0.0.1', 'address of the admin endpoint (HTTPS, admin certificates only: /metrics, /status, log level); internal'),
  adminPort: field.port(10681, 'admin endpoint port'),
  ...internalTlsSpec('db-proxy'),
};

export const dbProxyConfig = defineConfig('db-proxy', 'TT_DB_PROXY', spec, [heartbeatWithinTimeout('db-proxy', 'heartbeatIntervalMs', 'linkTimeoutMs'), checkDbProxyConfig]);
export type DbProxyConfig = ConfigOf<typeof spec>;

export interface MysqlServerEntry {
  url: string;
  replicaUrls: string[];
}

const SERVER_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

function isMysqlUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    return ['mysql:', 'mariadb:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

function parseMysqlServer(name: string, value: unknown): MysqlServerEntry {
  if (!SERVER_NAME.test(name) || name === MAIN_SERVER) throw new Error(`server names are lower-case words (not "${MAIN_SERVER}")`);
  const entry = value as { url?: unknown; replicaUrls?: unknown };
  if (!entry || typeof entry !== 'object' || !isMysqlUrl(entry.url)) throw new Error('"url" must be a mysql:// URL');
  const replicas = entry.replicaUrls ?? [];
  if (!Array.isArray(replicas) || !replicas.every(isMysqlUrl)) throw new Error('"replicaUrls" must be a list of mysql:// URLs');
  for (const key of Object.keys(entry)) if (key !== 'url' && key !== 'replicaUrls') throw new Error(`unknown field "${key}"`);
  return { url: entry.url, replicaUrls: replicas as string[] };
}

/** The hours of pushShieldHours as [start, end), or null for "never". */
export function shieldHours(spec: string): [number, number] | null {
  if (spec === '') return null;
  const m = /^(\d{1,2})-(\d{1,2})$/.exec(spec);
  if (m === null || Number(m[1]) > 23 || Number(m[2]) > 24 || Number(m[1]) === Number(m[2])) {
    throw new ConfigError(`db-proxy config: key "pushShieldHours" must be "START-END" hours (0-23, 1-24) or empty, got ${JSON.stringify(spec)}`);
  }
  return [Number(m[1]), Number(m[2])];
}

/** Rules a single field cannot express; throws ConfigError naming the key. */
export function checkDbProxyConfig(config: DbProxyConfig): void {
  shieldHours(config.pushShieldHours);
  // Throws naming shardMap when it lists a table twice, out of range, or an unknown server.
  new MessageTables(config.messageTableCount, config.shardMap, Object.keys(config.mysqlServers));
  if (config.redisClusterNodes.length > 0 && config.redisSentinels.length > 0) {
    throw new ConfigError('db-proxy config: keys "redisClusterNodes" and "redisSentinels" exclude each other (a cluster, or a master watched by sentinels)');
  }
  if (config.redisClusterNodes.length > 0 && /[{}]/.test(config.redisKeyPrefix)) {
    throw new ConfigError('db-proxy config: key "redisKeyPrefix" must not contain "{" or "}" with a Redis Cluster (it would put every key into one hash slot)');
  }
  if (config.replicaWaitMs >= config.storageTimeoutMs) {
    throw new ConfigError(`db-proxy config: key "replicaWaitMs" (${config.replicaWaitMs}) must be below "storageTimeoutMs" (${config.storageTimeoutMs})`);
  }
  if (config.msfsUrl !== '') {
    const url = urlOrNull(config.msfsUrl);
    if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      throw new ConfigError(`db-proxy config: key "msfsUrl" must be an https:// URL (or empty), got ${JSON.stringify(config.msfsUrl)}`);
    }
    if (url.protocol === 'http:' && !config.plaintextPeers.includes(url.hostname)) {
      throw new ConfigError('db-proxy config: key "msfsUrl": plain http:// is only for a host listed in plaintextPeers (an original msfs); use https:// (mutual TLS)');
    }
  }
  if (Buffer.byteLength(config.aesKey, 'latin1') !== 32 || /[^\x20-\x7e]/.test(config.aesKey)) {
    throw new ConfigError('db-proxy config: key "aesKey" must be exactly 32 printable ASCII characters');
  }
  if (config.maxQueuedPerConnection > config.maxQueuedRequests) {
    throw new ConfigError(
      `db-proxy config: key "maxQueuedPerConnection" (${config.maxQueuedPerConnection}) must not exceed "maxQueuedRequests" (${config.maxQueuedRequests})`,
    );
  }
  if (config.pauseReadingAboveBytes >= config.maxWriteQueueBytes) {
    throw new ConfigError(
      `db-proxy config: key "pauseReadingAboveBytes" (${config.pauseReadingAboveBytes}) must be below "maxWriteQueueBytes" (${config.maxWriteQueueBytes}), or a slow msg server is cut off before it is slowed down`,
    );
  }
  if (config.storeBatchConcurrency >= config.mysqlPoolSize) {
    throw new ConfigError(
      `db-proxy config: key "storeBatchConcurrency" (${config.storeBatchConcurrency}) must be below "mysqlPoolSize" (${config.mysqlPoolSize}) so reads still get connections`,
    );
  }
}
