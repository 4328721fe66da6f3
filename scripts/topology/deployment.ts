/**
 * The storage of a deployment, as tools (npm run storage, npm run users) find
 * it: --topology NAME|FILE; else the topology the running `npm start` uses;
 * else config/cluster.json's database (MYSQL_URL / REDIS_URL, or the local
 * servers). A topology on other machines needs a secrets file (JSON:
 * mysqlAdminUser, mysqlAdminPassword, redisPassword). Local servers that are not
 * running are started for the tool and stopped after it.
 */
import { readFileSync } from 'node:fs';
import { isLoopbackHost } from '../../lib/host-port';
import { formatMysqlUrl } from '../../lib/mysql-url';
import { runDir } from '../../lib/paths';
import { MAIN_SERVER } from '../../services/db-proxy/message-tables';
import { clusterConfig, DEFAULT_CLUSTER_CONFIG_FILE } from '../cluster/config';
import { readRunningCluster } from '../cluster/running';
import type { MessageLayout } from '../db/migrate';
import type { StatusTarget } from '../db/storage-status';
import { provisionStorage } from '../infra/provision';
import { provisionTopologyStorage } from './local-storage';
import { storageAccess } from './services';
import { loadTopology, renumberPorts, type Endpoint, type Topology } from './topology';

/** A bad command line (exit 2). */
export class DeploymentUsageError extends Error {}

export interface Deployment {
  name: string;
  /** The main database with the services' account (the admin one for remote topologies). */
  mainUrl: string;
  /** Admin URL of each primary, by server name. */
  admin: Record<string, string>;
  replicas: Record<string, string[]>;
  layout: MessageLayout;
  redis: StatusTarget['redis'];
  stop(): Promise<void>;
}

export async function openDeployment(opts: {
  topology?: string;
  portBase?: string;
  secretsFile?: string;
  log: (line: string) => void;
  /** Start only MariaDB for the default deployment (Redis is not needed). */
  mysqlOnly?: boolean;
}): Promise<Deployment> {
  const running = readRunningCluster();
  const which = opts.topology ?? running?.topology ?? null;
  if (opts.portBase !== undefined && !/^\d+$/.test(opts.portBase)) throw new DeploymentUsageError(`--port-base must be a port number, got "${opts.portBase}"`);
  const portBase = opts.portBase !== undefined ? Number(opts.portBase) : opts.topology === undefined ? (running?.topologyPortBase ?? null) : null;
  if (which === null) {
    const config = clusterConfig.load({ file: process.env.TT_CLUSTER_CONFIG ?? DEFAULT_CLUSTER_CONFIG_FILE });
    const env = opts.mysqlOnly ? { ...process.env, REDIS_URL: process.env.REDIS_URL ?? 'redis://unused-by-this-tool' } : process.env;
    const storage = await provisionStorage({ database: process.env.TT_DB_NAME ?? config.database, log: opts.log, env });
    return {
      name: 'default',
      mainUrl: storage.mysqlUrl,
      admin: { [MAIN_SERVER]: storage.mysqlAdminUrl },
      replicas: {},
      layout: { messageTableCount: 8, shardMap: {} },
      redis: { url: storage.redisUrl, clusterNodes: [], sentinels: [], sentinelName: 'mymaster', sentinelPassword: '', keyPrefix: config.redisKeyPrefix },
      stop: () => storage.stop(),
    };
  }
  const t = portBase === null ? loadTopology(which) : renumberPorts(loadTopology(which), portBase);
  const layout = { messageTableCount: t.storage.messageTableCount, shardMap: t.storage.shardMap };
  const local = Object.values(t.hosts).every((h) => isLoopbackHost(h.internal));
  if (local && opts.secretsFile === undefined) {
    const storage = await provisionTopologyStorage(t, { runDir, log: opts.log });
    return {
      name: t.name,
      mainUrl: storage.access.mysqlUrl,
      admin: storage.adminUrls,
      replicas: storage.replicaAdminUrls,
      layout,
      redis: redisTarget(t, storage.access),
      stop: () => storage.stop(),
    };
  }
  if (opts.secretsFile === undefined) throw new DeploymentUsageError(`topology ${t.name} is on other machines: give --secrets FILE (JSON with mysqlAdminUser, mysqlAdminPassword, redisPassword)`);
  const secrets = JSON.parse(readFileSync(opts.secretsFile, 'utf8')) as { mysqlAdminUser?: string; mysqlAdminPassword?: string; redisPassword?: string };
  if (!secrets.mysqlAdminUser) throw new DeploymentUsageError(`${opts.secretsFile} must give mysqlAdminUser (and mysqlAdminPassword, redisPassword)`);
  const admin = (e: Endpoint) =>
    formatMysqlUrl({ host: t.hosts[e.host].internal, port: e.port, user: secrets.mysqlAdminUser as string, password: secrets.mysqlAdminPassword ?? '', database: t.storage.database });
  const access = storageAccess(t, { mysqlUser: secrets.mysqlAdminUser, mysqlPassword: secrets.mysqlAdminPassword ?? '', redisPassword: secrets.redisPassword ?? '' });
  return {
    name: t.name,
    mainUrl: access.mysqlUrl,
    admin: Object.fromEntries(Object.entries(t.storage.mysql).map(([n, m]) => [n, admin(m)])),
    replicas: Object.fromEntries(Object.entries(t.storage.mysql).map(([n, m]) => [n, m.replicas.map(admin)])),
    layout,
    redis: redisTarget(t, access),
    stop: async () => {},
  };
}

function redisTarget(t: Topology, access: ReturnType<typeof storageAccess>): StatusTarget['redis'] {
  return {
    url: access.redisUrl,
    clusterNodes: access.redisClusterNodes,
    sentinels: access.redisSentinels,
    sentinelName: access.redisSentinelName,
    sentinelPassword: access.redisSentinelPassword,
    keyPrefix: t.storage.redisKeyPrefix,
  };
}
