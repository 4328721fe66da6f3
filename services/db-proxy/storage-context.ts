/**
 * Opens what every db-proxy handler works with (DbProxyContext): the database
 * servers (main, message-table shards, their replicas) and the Redis gateway
 * (one server, Sentinel or Cluster), connected, and the state classes built on them. The db-proxy
 * service and tools that run its handlers in-process (replay provisioning) open
 * storage the same way.
 */
import type { Logger } from '../../lib/log';
import { encryptMessageText } from '../../lib/message-crypto';
import type { AudioFiles } from './audio-files';
import type { DbProxyConfig } from './config';
import type { DbProxyContext } from './context';
import { GroupMembership } from './group-membership';
import { LoginFailures } from './login-failures';
import { LatestCopies } from './latest-messages';
import { MessageReader } from './message-reader';
import { MessageStore, type MessageStoreOptions } from './message-store';
import { MAIN_SERVER, MessageTables } from './message-tables';
import { MsgIdCounters } from './msg-id-counters';
import { SETTLE_BUDGET_MS } from './mysql-gateway';
import { DatabaseServers } from './database-servers';
import { RecentSessionTouches } from './recent-session-touches';
import { RedisGateway } from './redis-gateway';
import { Relations } from './relations';
import { UnreadCounters } from './unread-counters';
import { UserDirectory } from './user-directory';
import { AllUsersSnapshot } from './all-users-snapshot';
import { USER_COLUMNS } from './user-info';
import type { RowDataPacket } from 'mysql2/promise';

export interface StorageOptions {
  /** Where voice messages go (msfs); null or absent: they stay in IMAudio. */
  audioFiles?: AudioFiles | null;
  /** Told about every message-store batch (metrics). */
  onBatch?: MessageStoreOptions['onBatch'];
  /** Told how long each step of a batch took (metrics). */
  onStep?: MessageStoreOptions['onStep'];
}

/**
 * Connects to MySQL and Redis (storage that is down is retried in the
 * background) and builds the context.
 */
export async function openStorage(config: DbProxyConfig, logger: Logger, options: StorageOptions = {}): Promise<DbProxyContext> {
  const audioFiles = options.audioFiles ?? null;
  const tables = new MessageTables(config.messageTableCount, config.shardMap, Object.keys(config.mysqlServers));
  const databases = new DatabaseServers(
    tables,
    {
      servers: [
        { name: MAIN_SERVER, url: config.mysqlUrl, replicaUrls: config.mysqlReplicaUrls },
        ...Object.entries(config.mysqlServers).map(([name, s]) => ({ name, url: s.url, replicaUrls: s.replicaUrls })),
      ],
      poolSize: config.mysqlPoolSize,
      // Each store batch runs its relation lookups, then its transaction, on one of these.
      scriptPoolSize: config.storeBatchConcurrency + 1,
      timeoutMs: config.storageTimeoutMs,
      connectTimeoutMs: config.storageConnectTimeoutMs,
      replicas: {
        waitMs: config.replicaWaitMs,
        maxLagMs: config.replicaMaxLagMs,
        probeIntervalMs: config.replicaLagProbeMs,
        probeWaitMs: Math.floor(config.storageTimeoutMs / 2),
      },
    },
    logger,
  );
  const mysql = databases.main.primary;
  const redis = new RedisGateway(
    {
      url: config.redisUrl,
      keyPrefix: config.redisKeyPrefix,
      timeoutMs: config.storageTimeoutMs,
      connectTimeoutMs: config.storageConnectTimeoutMs,
      clusterNodes: config.redisClusterNodes,
      sentinels: config.redisSentinels,
      sentinelName: config.redisSentinelName,
      sentinelPassword: config.redisSentinelPassword,
    },
    logger,
  );
  try {
    await Promise.all([databases.start(), redis.start()]);
  } catch (err) {
    await Promise.all([databases.close(), redis.close()]);
    throw err;
  }
  const relations = new Relations(mysql);
  const users = new UserDirectory(mysql, config.userCacheMs, config.userCacheEntries);
  const touches = new RecentSessionTouches();
  // The clients' encryption of "[语音]", shown as the latest message of audio conversations.
  // The default key is TeamTalk's protocol constant compiled into every client, not a secret.
  const latestCopies = new LatestCopies(redis, { maxBytes: config.latestCopyMaxBytes, ttlSec: config.latestCopyTtlSec });
  const reader = new MessageReader(databases, encryptMessageText('[语音]', config.aesKey), audioFiles, latestCopies);
  return {
    config,
    logger,
    mysql,
    databases,
    redis,
    tables,
    relations,
    touches,
    reader,
    unread: new UnreadCounters(redis, databases.main, relations, reader),
    members: new GroupMembership(redis),
    store: new MessageStore(
      databases,
      redis,
      relations,
      new MsgIdCounters(redis, databases),
      touches,
      users,
      tables,
      {
        maxBatch: config.storeBatchMaxMessages,
        concurrency: config.storeBatchConcurrency,
        settleMs: config.storageTimeoutMs + SETTLE_BUDGET_MS,
        tokenTtlSec: config.storeTokenTtlSec,
        deferredCountersMax: config.deferredCounterUpdatesMax,
        onBatch: options.onBatch,
        onStep: options.onStep,
      },
      logger,
      latestCopies,
      audioFiles,
    ),
    loginFailures: new LoginFailures(redis, config.loginMaxFailures, config.loginFailureWindowSec),
    users,
    allUsers: new AllUsersSnapshot(
      () => databases.main.read<RowDataPacket[]>(`SELECT ${USER_COLUMNS} FROM IMUser WHERE status != 3 ORDER BY id`),
      config.allUsersSnapshotMs,
    ),
  };
}
