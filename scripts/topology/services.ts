/**
 * The service instances of a topology and the environment each one runs with:
 * its config keys (TT_<SERVICE>_*), where its peers are, where storage is, and
 * its certificate. `npm start` runs them under its supervisor, `npm run topology
 * -- env` writes them as env files for systemd, the multi-host test runs them in
 * network namespaces: all from this one mapping.
 */
import type { HostPort } from '../../lib/host-port';
import type { ServiceRole } from '../../lib/internal-tls';
import { formatMysqlUrl } from '../../lib/mysql-url';
import { runDir } from '../../lib/paths';
import { MAIN_SERVER } from '../../services/db-proxy/message-tables';
import { credentialsFile } from '../infra/credentials';
import { webSocketEnv } from '../cluster/web';
import type { Endpoint, ServiceName, Topology } from './topology';

/** What the services need to reach storage: URLs with the services' account, Redis nodes. */
export interface StorageAccess {
  mysqlUrl: string;
  mysqlReplicaUrls: string[];
  mysqlServers: Record<string, { url: string; replicaUrls: string[] }>;
  messageTableCount: number;
  shardMap: Record<string, string>;
  /** One Redis; for Sentinel or a cluster, its password (and database) only. */
  redisUrl: string;
  redisClusterNodes: HostPort[];
  redisSentinels: HostPort[];
  redisSentinelName: string;
  /** The sentinels' own password ('' for none). */
  redisSentinelPassword: string;
  redisKeyPrefix: string;
}

/** The services' database account and the Redis password (never in the topology file). */
export interface StorageSecrets {
  mysqlUser: string;
  mysqlPassword: string;
  redisPassword: string;
}

/** The environment that gives instance `name` of `role` its certificate (see scripts/cluster/pki.ts tlsEnv). */
export type TlsEnv = (envPrefix: string, role: ServiceRole, name: string, hosts: string[]) => Record<string, string>;

export interface ServiceInstance {
  /** e.g. "db-proxy-2"; the first instance is named like the service (msg servers are always numbered). */
  name: string;
  service: ServiceName;
  /** The topology host it runs on. */
  host: string;
  /** Compiled entry point relative to the project root. */
  script: string;
  env: Record<string, string>;
}

export function storageAccess(t: Topology, secrets: StorageSecrets): StorageAccess {
  const at = (e: Endpoint) => ({ host: t.hosts[e.host].internal, port: e.port });
  const url = (e: Endpoint) => formatMysqlUrl({ ...at(e), user: secrets.mysqlUser, password: secrets.mysqlPassword, database: t.storage.database });
  const main = t.storage.mysql[MAIN_SERVER];
  const redis = t.storage.redis;
  const redisAuth = `redis://${secrets.redisPassword ? `:${encodeURIComponent(secrets.redisPassword)}@` : ''}`;
  const first = redis.kind === 'cluster' ? redis.nodes[0] : redis.kind === 'sentinel' ? redis.servers[0] : redis.server;
  return {
    mysqlUrl: url(main),
    mysqlReplicaUrls: main.replicas.map(url),
    mysqlServers: Object.fromEntries(
      Object.entries(t.storage.mysql)
        .filter(([name]) => name !== MAIN_SERVER)
        .map(([name, m]) => [name, { url: url(m), replicaUrls: m.replicas.map(url) }]),
    ),
    messageTableCount: t.storage.messageTableCount,
    shardMap: t.storage.shardMap,
    redisUrl: `${redisAuth}${at(first).host}:${at(first).port}/0`,
    redisClusterNodes: redis.kind === 'cluster' ? redis.nodes.map(at) : [],
    redisSentinels: redis.kind === 'sentinel' ? redis.sentinels.map(at) : [],
    redisSentinelName: redis.kind === 'sentinel' ? redis.masterName : 'mymaster',
    redisSentinelPassword: redis.kind === 'sentinel' ? secrets.redisPassword : '',
    redisKeyPrefix: t.storage.redisKeyPrefix,
  };
}

const SCRIPTS: Record<ServiceName, string> = {
  'db-proxy': 'dist/services/db-proxy/main.js',
  'route-server': 'dist/services/route-server/main.js',
  'login-server': 'dist/services/login-server/main.js',
  msfs: 'dist/services/msfs/main.js',
  'file-server': 'dist/services/file-server/main.js',
  'push-server': 'dist/services/push-server/main.js',
  'msg-server': 'dist/services/msg-server/main.js',
  console: 'dist/services/console/main.js',
};

/** The certificate role of each service (the console uses the admin endpoints with an admin certificate). */
export const SERVICE_ROLE: Record<ServiceName, ServiceRole> = {
  'db-proxy': 'db-proxy',
  'route-server': 'route-server',
  'login-server': 'login-server',
  msfs: 'msfs',
  'file-server': 'file-server',
  'push-server': 'push-server',
  'msg-server': 'msg-server',
  console: 'admin',
};

export function instanceName(service: ServiceName, index: number): string {
  return index === 0 && service !== 'msg-server' ? service : `${service}-${index + 1}`;
}

/** Every instance of every service, in start order (storage users first, msg servers last). */
export function serviceInstances(t: Topology, storage: StorageAccess, tls: TlsEnv, consoleOperatorsFile = credentialsFile(runDir)): ServiceInstance[] {
  const level = t.logLevel;
  const internal = (e: Endpoint) => `${t.hosts[e.host].internal}:${e.port}`;
  // Certificates name where an instance is reached (informational: peers check the CA and the role).
  const certHosts = (host: string) => [...new Set([t.hosts[host].internal, t.hosts[host].internalBind, t.hosts[host].public, 'localhost'])].filter((h) => h !== '0.0.0.0' && h !== '::');
  const out: ServiceInstance[] = [];
  const add = (service: ServiceName, i: number, host: string, env: Record<string, string>, prefix: string, role: ServiceRole) => {
    const name = instanceName(service, i);
    out.push({ name, service, host, script: SCRIPTS[service], env: { ...env, ...tls(prefix, role, name, certHosts(host)) } });
  };
  const msfs = t.services.msfs[0];
  t.services['db-proxy'].forEach((e, i) => {
    add('db-proxy', i, e.host, {
      TT_DB_PROXY_LISTEN_HOST: t.hosts[e.host].internalBind,
      TT_DB_PROXY_LISTEN_PORT: String(e.port),
      TT_DB_PROXY_ADMIN_HOST: t.hosts[e.host].internalBind,
      TT_DB_PROXY_ADMIN_PORT: String(e.adminPort),
      TT_DB_PROXY_MYSQL_URL: storage.mysqlUrl,
      TT_DB_PROXY_MYSQL_REPLICA_URLS: storage.mysqlReplicaUrls.join(','),
      TT_DB_PROXY_MYSQL_SERVERS: JSON.stringify(storage.mysqlServers),
      TT_DB_PROXY_MESSAGE_TABLE_COUNT: String(storage.messageTableCount),
      TT_DB_PROXY_SHARD_MAP: JSON.stringify(storage.shardMap),
      TT_DB_PROXY_REDIS_URL: storage.redisUrl,
      TT_DB_PROXY_REDIS_CLUSTER_NODES: storage.redisClusterNodes.map((n) => `${n.host}:${n.port}`).join(','),
      TT_DB_PROXY_REDIS_SENTINELS: storage.redisSentinels.map((n) => `${n.host}:${n.port}`).join(','),
      TT_DB_PROXY_REDIS_SENTINEL_NAME: storage.redisSentinelName,
      TT_DB_PROXY_REDIS_SENTINEL_PASSWORD: storage.redisSentinelPassword,
      TT_DB_PROXY_REDIS_KEY_PREFIX: storage.redisKeyPrefix,
      TT_DB_PROXY_LOG_LEVEL: level,
      TT_DB_PROXY_MSFS_URL: msfs ? `https://${t.hosts[msfs.host].internal}:${msfs.internalPort}/` : '',
    }, 'TT_DB_PROXY', 'db-proxy');
  });
  t.services['route-server'].forEach((e, i) => {
    const bind = t.hosts[e.host].internalBind;
    add(
      'route-server',
      i,
      e.host,
      { TT_ROUTE_LISTEN_HOST: bind, TT_ROUTE_LISTEN_PORT: String(e.port), TT_ROUTE_ADMIN_HOST: bind, TT_ROUTE_ADMIN_PORT: String(e.adminPort), TT_ROUTE_LOG_LEVEL: level },
      'TT_ROUTE',
      'route-server',
    );
  });
  t.services['login-server'].forEach((e, i) => {
    const h = t.hosts[e.host];
    add('login-server', i, e.host, {
      TT_LOGIN_HTTP_HOST: h.clientBind,
      TT_LOGIN_HTTP_PORT: String(e.httpPort),
      TT_LOGIN_MSG_SERVER_HOST: h.internalBind,
      TT_LOGIN_MSG_SERVER_PORT: String(e.port),
      TT_LOGIN_ADMIN_HOST: h.internalBind,
      TT_LOGIN_ADMIN_PORT: String(e.adminPort),
      TT_LOGIN_LOG_LEVEL: level,
      ...(msfs ? { TT_LOGIN_MSFS_URL: `http://${t.hosts[msfs.host].public}:${msfs.port}/` } : {}),
    }, 'TT_LOGIN', 'login-server');
  });
  t.services.msfs.forEach((e, i) => {
    const h = t.hosts[e.host];
    add('msfs', i, e.host, {
      TT_MSFS_LISTEN_HOST: h.clientBind,
      TT_MSFS_LISTEN_PORT: String(e.port),
      TT_MSFS_PUBLIC_URL: `http://${h.public}:${e.port}/`,
      TT_MSFS_INTERNAL_HOST: h.internalBind,
      TT_MSFS_INTERNAL_PORT: String(e.internalPort),
      TT_MSFS_LOG_LEVEL: level,
    }, 'TT_MSFS', 'msfs');
  });
  t.services['file-server'].forEach((e, i) => {
    const h = t.hosts[e.host];
    add('file-server', i, e.host, {
      TT_FILE_CLIENT_LISTEN_HOST: h.clientBind,
      TT_FILE_CLIENT_LISTEN_PORT: String(e.port),
      TT_FILE_PUBLIC_IPS: h.public,
      TT_FILE_INTERNAL_LISTEN_HOST: h.internalBind,
      TT_FILE_INTERNAL_LISTEN_PORT: String(e.internalPort),
      TT_FILE_LOG_LEVEL: level,
    }, 'TT_FILE', 'file-server');
  });
  t.services['push-server'].forEach((e, i) => {
    add('push-server', i, e.host, {
      TT_PUSH_LISTEN_HOST: t.hosts[e.host].internalBind,
      TT_PUSH_LISTEN_PORT: String(e.port),
      TT_PUSH_WEBHOOK_URL: e.webhookUrl,
      TT_PUSH_LOG_LEVEL: level,
    }, 'TT_PUSH', 'push-server');
  });
  const peers = {
    loginServers: t.services['login-server'].map(internal),
    routeServers: t.services['route-server'].map(internal),
    dbProxies: t.services['db-proxy'].map(internal),
    fileServers: t.services['file-server'].map((e) => `${t.hosts[e.host].internal}:${e.internalPort}`),
    pushServers: t.services['push-server'].map(internal),
  };
  const origins = webOriginsOf(t);
  t.services['msg-server'].forEach((e, i) => {
    const h = t.hosts[e.host];
    const env = msgServerEnvironment({
      listenHost: h.clientBind,
      port: e.port,
      adminHost: h.internalBind,
      adminPort: e.adminPort,
      publicIp: h.public,
      hostName: `msg-server-${i + 1}`,
      logLevel: level,
      wsPort: e.wsPort,
      wsOrigins: origins,
      ...peers,
    });
    add('msg-server', i, e.host, env, 'TT_MSG', 'msg-server');
  });
  const admin = (e: { host: string; adminPort: number }) => `${t.hosts[e.host].internal}:${e.adminPort}`;
  t.services.console.forEach((e, i) => {
    add('console', i, e.host, {
      TT_CONSOLE_HTTP_HOST: t.hosts[e.host].internalBind,
      TT_CONSOLE_HTTP_PORT: String(e.port),
      TT_CONSOLE_LOGIN_SERVERS: t.services['login-server'].map(admin).join(','),
      TT_CONSOLE_ROUTE_SERVERS: t.services['route-server'].map(admin).join(','),
      TT_CONSOLE_DB_PROXIES: t.services['db-proxy'].map(admin).join(','),
      TT_CONSOLE_MYSQL_URL: storage.mysqlUrl,
      TT_CONSOLE_OPERATORS_FILE: consoleOperatorsFile,
      TT_CONSOLE_LOG_LEVEL: level,
    }, 'TT_CONSOLE', 'admin');
  });
  return out;
}

/** The login servers' web origins: what msg servers' WebSocket ports accept (loopback names too, locally). */
export function webOriginsOf(t: Topology): string[] {
  const origins = new Set<string>();
  for (const e of t.services['login-server']) {
    const h = t.hosts[e.host];
    const names = new Set([h.public, h.clientBind === '0.0.0.0' || h.clientBind === '::' ? h.internal : h.clientBind]);
    if ([...names].some((n) => n === '127.0.0.1' || n === 'localhost')) names.add('127.0.0.1').add('localhost');
    for (const n of names) origins.add(`http://${n.includes(':') ? `[${n}]` : n}:${e.httpPort}`);
  }
  return [...origins];
}

/** A msg server's environment without its certificate (also `npm run msg-server`, which joins a running cluster). */
export function msgServerEnvironment(o: {
  listenHost: string;
  port: number;
  adminHost: string;
  adminPort: number;
  publicIp: string;
  hostName: string;
  logLevel: string;
  loginServers: string[];
  routeServers: string[];
  dbProxies: string[];
  fileServers: string[];
  pushServers: string[];
  wsPort: number;
  wsOrigins: string[];
}): Record<string, string> {
  return {
    TT_MSG_LISTEN_HOST: o.listenHost,
    TT_MSG_LISTEN_PORT: String(o.port),
    TT_MSG_ADMIN_HOST: o.adminHost,
    TT_MSG_ADMIN_PORT: String(o.adminPort),
    TT_MSG_PUBLIC_IP1: o.publicIp,
    TT_MSG_HOST_NAME: o.hostName,
    TT_MSG_LOGIN_SERVERS: o.loginServers.join(','),
    TT_MSG_ROUTE_SERVERS: o.routeServers.join(','),
    TT_MSG_DB_PROXIES: o.dbProxies.join(','),
    TT_MSG_FILE_SERVERS: o.fileServers.join(','),
    TT_MSG_PUSH_SERVERS: o.pushServers.join(','),
    TT_MSG_LOG_LEVEL: o.logLevel,
    ...webSocketEnv(o.listenHost, o.wsPort, o.wsOrigins),
  };
}
