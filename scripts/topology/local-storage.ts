/**
 * Brings up a topology's storage on this machine, self-provisioned like the
 * default `npm start`: every MariaDB server (primaries with a GTID binlog,
 * replicas following them with MASTER_USE_GTID), and Redis (one server,
 * a master with replicas and Sentinels, or Cluster nodes joined with
 * `redis-cli --cluster create`), data under .run/topologies/<name>/, passwords
 * from .run/credentials.json. Servers already running from this checkout are
 * reused. Each MariaDB server gets the services' rows-only account (granted on
 * the database) and the admin account for migrations.
 */
import { join } from 'node:path';
import { formatMysqlUrl } from '../../lib/mysql-url';
import { MAIN_SERVER } from '../../services/db-proxy/message-tables';
import { localCredentials } from '../infra/credentials';
import { startLocalMariaDb, type LocalServer } from '../infra/mariadb';
import { createRedisCluster, startLocalRedis, startLocalSentinel } from '../infra/redis';
import { ensureInstalled } from '../infra/system';
import { storageAccess, type StorageAccess } from './services';
import type { Endpoint, Topology } from './topology';

export interface TopologyStorage {
  access: StorageAccess;
  /** Admin URL (naming the database) of each MariaDB primary, by server name: migrations, tools. */
  adminUrls: Record<string, string>;
  /** Admin URLs of each server's replicas. */
  replicaAdminUrls: Record<string, string[]>;
  /** The Redis servers (cluster nodes, or master and replicas), for tools. */
  redisNodes: Array<{ host: string; port: number }>;
  stop(): Promise<void>;
}

export interface LocalStorageOptions {
  /** The checkout's .run folder (credentials live there). */
  runDir: string;
  log: (line: string) => void;
  keepRunning?: boolean;
  /** Command prefix that runs a process on a topology host (network namespaces in tests). */
  wrap?: (host: string) => string[] | undefined;
  /** How long a Redis Cluster node may be silent before its replica takes over (default 3000 ms). */
  redisNodeTimeoutMs?: number;
}

export async function provisionTopologyStorage(t: Topology, opts: LocalStorageOptions): Promise<TopologyStorage> {
  ensureInstalled(
    [
      { binaries: ['mariadbd', 'mysqld'], debianPackage: 'mariadb-server', purpose: 'MariaDB (message storage)', alternativeEnv: 'a topology without local servers' },
      { binaries: ['redis-server'], debianPackage: 'redis-server', purpose: 'Redis (counters)', alternativeEnv: 'a topology without local servers' },
    ],
    opts.log,
  );
  const creds = localCredentials(opts.runDir);
  const base = join('topologies', t.name);
  const at = (e: Endpoint) => ({ host: t.hosts[e.host].internal, port: e.port });
  const bindOf = (e: Endpoint) => t.hosts[e.host].internalBind;
  // The accounts may connect from the topology's hosts only.
  const clientHosts = [...new Set(Object.values(t.hosts).map((h) => h.internal))];
  const admin = (e: Endpoint) => formatMysqlUrl({ ...at(e), user: creds.mysqlAdminUser, password: creds.mysqlAdminPassword, database: t.storage.database });
  const started: LocalServer[] = [];
  const track = (server: LocalServer) => {
    started.push(server);
    return server;
  };
  const stopAll = async () => {
    // Replicas and Redis first, primaries last.
    for (const server of [...started].reverse()) if (server.owned) await server.stop();
  };
  /** What every server of the topology is started with: its folder, where it listens, how it runs. */
  const placed = (e: Endpoint, name: string) => ({
    runDir: opts.runDir,
    name: join(base, name),
    host: bindOf(e),
    port: e.port,
    log: opts.log,
    keepRunning: opts.keepRunning,
    wrap: opts.wrap?.(e.host),
  });
  const mariaDb = async (e: Endpoint, name: string, replication: { serverId: number; replicaOf?: { host: string; port: number } }) =>
    track(await startLocalMariaDb({ ...placed(e, name), database: t.storage.database, clientHosts, replication, bufferPoolSize: '128M' }));
  const redisServer = async (e: Endpoint, more: { cluster?: { nodeTimeoutMs: number }; replicaOf?: { host: string; port: number } } = {}) =>
    track(await startLocalRedis({ ...placed(e, `redis-${e.port}`), ...more }));
  try {
    const servers = Object.entries(t.storage.mysql);
    await Promise.all(
      servers.map(async ([name, m], i) => {
        const serverId = (i + 1) * 10;
        await mariaDb(m, `mysql-${name}`, { serverId });
        for (const [k, r] of m.replicas.entries()) await mariaDb(r, `mysql-${name}-replica-${k + 1}`, { serverId: serverId + k + 1, replicaOf: at(m) });
      }),
    );
    const redis = t.storage.redis;
    let redisNodes: Endpoint[];
    if (redis.kind === 'cluster') {
      redisNodes = redis.nodes;
      await Promise.all(redis.nodes.map((n) => redisServer(n, { cluster: { nodeTimeoutMs: opts.redisNodeTimeoutMs ?? 3000 } })));
      await createRedisCluster({ runDir: opts.runDir, nodes: redis.nodes.map(at), replicas: redis.replicasPerMaster, log: opts.log, wrap: opts.wrap?.(redis.nodes[0].host) });
    } else if (redis.kind === 'sentinel') {
      redisNodes = redis.servers;
      const master = redis.servers[0];
      for (const n of redis.servers) await redisServer(n, { replicaOf: n === master ? undefined : at(master) });
      for (const s of redis.sentinels) {
        track(
          await startLocalSentinel({
            ...placed(s, `sentinel-${s.port}`),
            masterName: redis.masterName,
            master: at(master),
            quorum: Math.floor(redis.sentinels.length / 2) + 1,
            downAfterMs: opts.redisNodeTimeoutMs ?? 3000,
          }),
        );
      }
    } else {
      redisNodes = [redis.server];
      await redisServer(redis.server);
    }
    return {
      access: storageAccess(t, { mysqlUser: creds.mysqlUser, mysqlPassword: creds.mysqlPassword, redisPassword: creds.redisPassword }),
      adminUrls: Object.fromEntries(servers.map(([name, m]) => [name, admin(m)])),
      replicaAdminUrls: Object.fromEntries(servers.map(([name, m]) => [name, m.replicas.map(admin)])),
      redisNodes: redisNodes.map(at),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** The main database's admin URL of a provisioned topology. */
export function mainAdminUrl(storage: TopologyStorage): string {
  return storage.adminUrls[MAIN_SERVER];
}
