/**
 * The topology file: which hosts there are, which service instances run on
 * which host and port, and where storage is (MariaDB servers with replicas and
 * the shard map of the message tables; one Redis, a Sentinel-watched master, or
 * a Redis Cluster). One format for every use:
 *
 *   npm start -- --topology sharded          this machine (every host a loopback
 *                                            address; storage provisioned under .run/)
 *   npm run topology -- env --host app1 ...  the env files of one real host's
 *                                            services, for the systemd units in deploy/systemd/
 *   test/multihost                           one network namespace per host
 *
 * Built-in topologies live in config/topologies/<name>.json. Secrets (database
 * and Redis passwords) are never in the topology: they come from .run/ (local)
 * or a secrets file (real hosts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from '../../lib/errors';
import { projectRoot } from '../../lib/paths';
import { MAIN_SERVER, MessageTables } from '../../services/db-proxy/message-tables';
import type { ClusterConfig } from '../cluster/config';
import { reachable } from '../cluster/running';

export const TOPOLOGY_DIR = join(projectRoot, 'config', 'topologies');

export interface TopologyHost {
  /** Where its internal ports are reached by the other hosts. */
  internal: string;
  /** What its internal ports bind to (default: internal). */
  internalBind: string;
  /** Where clients reach its client ports (default: internal). */
  public: string;
  /** What its client ports bind to (default: public). */
  clientBind: string;
}

export interface Endpoint {
  host: string;
  port: number;
}

export interface MysqlServerTopology extends Endpoint {
  replicas: Endpoint[];
}

export type RedisTopology =
  | { kind: 'server'; server: Endpoint }
  | { kind: 'sentinel'; masterName: string; sentinels: Endpoint[]; servers: Endpoint[] }
  | { kind: 'cluster'; nodes: Endpoint[]; replicasPerMaster: number };

export interface Topology {
  name: string;
  /** The file it was read from (null: built from config/cluster.json). */
  file: string | null;
  logLevel: string;
  hosts: Record<string, TopologyHost>;
  storage: {
    database: string;
    redisKeyPrefix: string;
    messageTableCount: number;
    shardMap: Record<string, string>;
    /** "main" and the servers the shard map names. */
    mysql: Record<string, MysqlServerTopology>;
    redis: RedisTopology;
  };
  services: {
    'login-server': Array<Endpoint & { httpPort: number; adminPort: number }>;
    'route-server': Array<Endpoint & { adminPort: number }>;
    'db-proxy': Array<Endpoint & { adminPort: number }>;
    'msg-server': Array<Endpoint & { wsPort: number; adminPort: number }>;
    msfs: Array<Endpoint & { internalPort: number }>;
    'file-server': Array<Endpoint & { internalPort: number }>;
    'push-server': Array<Endpoint & { webhookUrl: string }>;
    /** The web console (at most one; HTTP on the host's internal address). */
    console: Endpoint[];
  };
  seedDemoUsers: boolean;
}

export type ServiceName = keyof Topology['services'];
export const SERVICE_NAMES: readonly ServiceName[] = ['db-proxy', 'route-server', 'login-server', 'msfs', 'file-server', 'push-server', 'msg-server', 'console'];

/** A built-in topology's name (config/topologies/NAME.json) or a file path. */
export function topologyFile(nameOrFile: string): string {
  if (/^[a-z][a-z0-9-]*$/.test(nameOrFile)) {
    const builtin = join(TOPOLOGY_DIR, `${nameOrFile}.json`);
    if (existsSync(builtin)) return builtin;
    throw new ConfigError(`no topology "${nameOrFile}" (built-in ones are in ${TOPOLOGY_DIR}; or give a file path)`);
  }
  return isAbsolute(nameOrFile) ? nameOrFile : resolve(process.cwd(), nameOrFile);
}

export function loadTopology(nameOrFile: string): Topology {
  const file = topologyFile(nameOrFile);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`topology ${file}: ${(err as Error).message}`);
  }
  return parseTopology(raw, file);
}

/** Checks a topology's JSON; errors name the file and the path of the bad value. */
export function parseTopology(raw: unknown, file: string | null): Topology {
  const where = file ?? 'topology';
  const fail = (path: string, what: string): never => {
    throw new ConfigError(`topology ${where}: ${path} ${what}`);
  };
  const obj = (v: unknown, path: string): Record<string, unknown> => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) fail(path, 'must be an object');
    return v as Record<string, unknown>;
  };
  const str = (v: unknown, path: string, def?: string): string => {
    if (v === undefined && def !== undefined) return def;
    if (typeof v !== 'string' || v === '') fail(path, 'must be a non-empty string');
    return v as string;
  };
  const int = (v: unknown, path: string, min: number, max: number, def?: number): number => {
    if (v === undefined && def !== undefined) return def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(path, `must be an integer from ${min} to ${max}`);
    return v as number;
  };
  const list = (v: unknown, path: string, min = 0): unknown[] => {
    if (v === undefined && min === 0) return [];
    if (!Array.isArray(v) || v.length < min) fail(path, `must be a list${min > 0 ? ` of at least ${min}` : ''}`);
    return v as unknown[];
  };
  const allowOnly = (o: Record<string, unknown>, path: string, keys: string[]) => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) fail(`${path}.${k}`, `is not a known key (known: ${keys.join(', ')})`);
  };

  const top = obj(raw, '(top level)');
  allowOnly(top, '(top level)', ['name', 'description', 'logLevel', 'hosts', 'storage', 'services', 'seedDemoUsers']);
  const hosts: Record<string, TopologyHost> = {};
  for (const [name, h] of Object.entries(obj(top.hosts, 'hosts'))) {
    const o = obj(h, `hosts.${name}`);
    allowOnly(o, `hosts.${name}`, ['internal', 'internalBind', 'public', 'clientBind']);
    const internal = str(o.internal, `hosts.${name}.internal`);
    const pub = str(o.public, `hosts.${name}.public`, internal);
    hosts[name] = { internal, internalBind: str(o.internalBind, `hosts.${name}.internalBind`, internal), public: pub, clientBind: str(o.clientBind, `hosts.${name}.clientBind`, pub) };
  }
  if (Object.keys(hosts).length === 0) fail('hosts', 'must name at least one host');
  const hostRef = (v: unknown, path: string): string => {
    const name = str(v, path);
    if (!(name in hosts)) fail(path, `names host "${name}", which is not in "hosts"`);
    return name;
  };
  const endpoint = (v: unknown, path: string, extra: string[] = []): Endpoint & Record<string, unknown> => {
    const o = obj(v, path);
    allowOnly(o, path, ['host', 'port', ...extra]);
    return { ...o, host: hostRef(o.host, `${path}.host`), port: int(o.port, `${path}.port`, 1, 65535) };
  };

  const s = obj(top.storage, 'storage');
  allowOnly(s, 'storage', ['database', 'redisKeyPrefix', 'messageTableCount', 'shardMap', 'mysql', 'redis']);
  const mysqlServers: Record<string, MysqlServerTopology> = {};
  for (const [name, v] of Object.entries(obj(s.mysql, 'storage.mysql'))) {
    const e = endpoint(v, `storage.mysql.${name}`, ['replicas']);
    mysqlServers[name] = { host: e.host, port: e.port, replicas: list(e.replicas, `storage.mysql.${name}.replicas`).map((r, i) => endpoint(r, `storage.mysql.${name}.replicas[${i}]`)) };
  }
  if (!mysqlServers[MAIN_SERVER]) fail('storage.mysql', `must have a "${MAIN_SERVER}" server`);
  const messageTableCount = int(s.messageTableCount, 'storage.messageTableCount', 1, 1024, 8);
  const shardMap: Record<string, string> = {};
  for (const [range, server] of Object.entries(obj(s.shardMap ?? {}, 'storage.shardMap'))) shardMap[range] = str(server, `storage.shardMap.${range}`);
  try {
    new MessageTables(messageTableCount, shardMap, Object.keys(mysqlServers).filter((n) => n !== MAIN_SERVER));
  } catch (err) {
    fail('storage.shardMap', (err as Error).message.replace(/^db-proxy config: key "shardMap": /, ': '));
  }
  const r = obj(s.redis, 'storage.redis');
  let redis: RedisTopology;
  if (r.cluster !== undefined) {
    allowOnly(r, 'storage.redis', ['cluster', 'replicasPerMaster']);
    const nodes = list(r.cluster, 'storage.redis.cluster', 3).map((n, i) => endpoint(n, `storage.redis.cluster[${i}]`));
    const replicasPerMaster = int(r.replicasPerMaster, 'storage.redis.replicasPerMaster', 0, 5, 1);
    if (nodes.length < 3 * (replicasPerMaster + 1)) fail('storage.redis.cluster', `needs at least ${3 * (replicasPerMaster + 1)} nodes for 3 masters with ${replicasPerMaster} replica(s) each`);
    redis = { kind: 'cluster', nodes, replicasPerMaster };
  } else if (r.sentinels !== undefined) {
    allowOnly(r, 'storage.redis', ['sentinels', 'masterName', 'servers']);
    redis = {
      kind: 'sentinel',
      masterName: str(r.masterName, 'storage.redis.masterName', 'mymaster'),
      sentinels: list(r.sentinels, 'storage.redis.sentinels', 1).map((n, i) => endpoint(n, `storage.redis.sentinels[${i}]`)),
      servers: list(r.servers, 'storage.redis.servers', 1).map((n, i) => endpoint(n, `storage.redis.servers[${i}]`)),
    };
  } else {
    allowOnly(r, 'storage.redis', ['server']);
    redis = { kind: 'server', server: endpoint(r.server, 'storage.redis.server') };
  }
  const prefix = typeof s.redisKeyPrefix === 'string' ? s.redisKeyPrefix : '';
  if (redis.kind === 'cluster' && /[{}]/.test(prefix)) fail('storage.redisKeyPrefix', 'must not contain "{" or "}" with a Redis Cluster');

  const withAdminPort = (v: unknown, p: string) => {
    const e = endpoint(v, p, ['adminPort']);
    return { host: e.host, port: e.port, adminPort: int(e.adminPort, `${p}.adminPort`, 1, 65535) };
  };
  const sv = obj(top.services, 'services');
  allowOnly(sv, 'services', [...SERVICE_NAMES]);
  const instances = <T>(name: ServiceName, min: number, parse: (v: unknown, path: string) => T): T[] =>
    list(sv[name], `services.${name}`, min).map((v, i) => parse(v, `services.${name}[${i}]`));
  const services: Topology['services'] = {
    'login-server': instances('login-server', 1, (v, p) => {
      const e = endpoint(v, p, ['httpPort', 'adminPort']);
      return { host: e.host, port: e.port, httpPort: int(e.httpPort, `${p}.httpPort`, 1, 65535), adminPort: int(e.adminPort, `${p}.adminPort`, 1, 65535) };
    }),
    'route-server': instances('route-server', 1, (v, p) => withAdminPort(v, p)),
    'db-proxy': instances('db-proxy', 1, (v, p) => withAdminPort(v, p)),
    'msg-server': instances('msg-server', 1, (v, p) => {
      const e = endpoint(v, p, ['wsPort', 'adminPort']);
      return { host: e.host, port: e.port, wsPort: int(e.wsPort, `${p}.wsPort`, 0, 65535, 0), adminPort: int(e.adminPort, `${p}.adminPort`, 1, 65535) };
    }),
    msfs: instances('msfs', 0, (v, p) => {
      const e = endpoint(v, p, ['internalPort']);
      return { host: e.host, port: e.port, internalPort: int(e.internalPort, `${p}.internalPort`, 1, 65535) };
    }),
    'file-server': instances('file-server', 0, (v, p) => {
      const e = endpoint(v, p, ['internalPort']);
      return { host: e.host, port: e.port, internalPort: int(e.internalPort, `${p}.internalPort`, 1, 65535) };
    }),
    'push-server': instances('push-server', 0, (v, p) => {
      const e = endpoint(v, p, ['webhookUrl']);
      return { host: e.host, port: e.port, webhookUrl: typeof e.webhookUrl === 'string' ? e.webhookUrl : '' };
    }),
    console: instances('console', 0, (v, p) => {
      const e = endpoint(v, p);
      return { host: e.host, port: e.port };
    }),
  };
  if (services.console.length > 1) fail('services.console', 'must have at most one console');
  const topology: Topology = {
    name: str(top.name, 'name', file ? (file.split('/').pop() ?? 'topology').replace(/\.json$/, '') : 'topology'),
    file,
    logLevel: str(top.logLevel, 'logLevel', 'info'),
    hosts,
    storage: {
      database: str(s.database, 'storage.database', 'teamtalk'),
      redisKeyPrefix: prefix,
      messageTableCount,
      shardMap,
      mysql: mysqlServers,
      redis,
    },
    services,
    seedDemoUsers: top.seedDemoUsers === undefined ? true : top.seedDemoUsers === true,
  };
  checkPortsUnique(topology, fail);
  return topology;
}

/** Two things listening on one host:port is a mistake found before anything starts. */
function checkPortsUnique(t: Topology, fail: (path: string, what: string) => never): void {
  const seen = new Map<string, string>();
  const claim = (host: string, port: number, what: string) => {
    if (port === 0) return;
    const key = `${t.hosts[host].internal}:${port}`;
    const before = seen.get(key);
    if (before !== undefined) fail(what, `uses ${key}, as does ${before}`);
    seen.set(key, what);
  };
  for (const [name, m] of Object.entries(t.storage.mysql)) {
    claim(m.host, m.port, `storage.mysql.${name}`);
    m.replicas.forEach((r, i) => claim(r.host, r.port, `storage.mysql.${name}.replicas[${i}]`));
  }
  const redis = t.storage.redis;
  const redisNodes = redis.kind === 'cluster' ? redis.nodes : redis.kind === 'sentinel' ? [...redis.servers, ...redis.sentinels] : [redis.server];
  redisNodes.forEach((n, i) => claim(n.host, n.port, `storage.redis[${i}]`));
  for (const service of SERVICE_NAMES) {
    t.services[service].forEach((e, i) => {
      const path = `services.${service}[${i}]`;
      claim(e.host, e.port, path);
      const extra = e as unknown as Record<string, unknown>;
      for (const k of ['httpPort', 'adminPort', 'wsPort', 'internalPort']) if (typeof extra[k] === 'number') claim(e.host, extra[k] as number, `${path}.${k}`);
    });
  }
}

/** Every storage server's endpoint, for the banner and the status command. */
export function storageEndpoints(t: Topology): Array<{ what: string; address: string }> {
  const at = (e: Endpoint) => `${t.hosts[e.host].internal}:${e.port}`;
  const out: Array<{ what: string; address: string }> = [];
  for (const [name, m] of Object.entries(t.storage.mysql)) {
    out.push({ what: `MariaDB ${name} (primary)`, address: at(m) });
    for (const r of m.replicas) out.push({ what: `MariaDB ${name} replica`, address: at(r) });
  }
  const redis = t.storage.redis;
  if (redis.kind === 'cluster') out.push({ what: `Redis Cluster (${redis.nodes.length} nodes)`, address: redis.nodes.map(at).join(' ') });
  else if (redis.kind === 'sentinel') out.push({ what: `Redis (Sentinel ${redis.masterName})`, address: `${redis.servers.map(at).join(' ')}; sentinels ${redis.sentinels.map(at).join(' ')}` });
  else out.push({ what: 'Redis', address: at(redis.server) });
  return out;
}

/**
 * config/cluster.json (the default `npm start`) as a topology: one host, the
 * services it lists (standby route servers and extra db-proxies included), one MariaDB and one Redis (their endpoints are not
 * used: that storage is provisioned from MYSQL_URL / REDIS_URL or locally).
 */
export function topologyOfCluster(c: ClusterConfig): Topology {
  const host = 'local';
  const at = (port: number) => ({ host, port });
  return {
    name: 'default',
    file: null,
    logLevel: c.logLevel,
    hosts: { [host]: { internal: reachable(c.internalHost), internalBind: c.internalHost, public: c.publicIp, clientBind: c.clientHost } },
    storage: {
      database: c.database,
      redisKeyPrefix: c.redisKeyPrefix,
      messageTableCount: 8,
      shardMap: {},
      mysql: { [MAIN_SERVER]: { ...at(0), replicas: [] } },
      redis: { kind: 'server', server: at(0) },
    },
    services: {
      'login-server': [{ ...at(c.loginMsgServerPort), httpPort: c.loginHttpPort, adminPort: c.loginAdminPort }],
      'route-server': [c.routePort, ...c.standbyRoutePorts].map((port, i) => ({ ...at(port), adminPort: c.routeAdminPort + i })),
      'db-proxy': [c.dbProxyPort, ...c.extraDbProxyPorts].map((port, i) => ({ ...at(port), adminPort: c.dbProxyAdminPort + i })),
      'msg-server': c.msgServerPorts.map((port, i) => ({ ...at(port), wsPort: c.msgServerWsPorts[i] ?? 0, adminPort: c.msgServerAdminPorts[i] })),
      msfs: [{ ...at(c.msfsPort), internalPort: c.msfsInternalPort }],
      'file-server': [{ ...at(c.fileServerPort), internalPort: c.fileServerInternalPort }],
      'push-server': [{ ...at(c.pushServerPort), webhookUrl: c.pushWebhookUrl }],
      console: [at(c.consolePort)],
    },
    seedDemoUsers: c.seedDemoUsers,
  };
}

/**
 * The same topology with every port renumbered from `base` upwards, in a fixed
 * order (storage, then each service's instances): to run it beside another
 * cluster on this machine.
 */
export function renumberPorts(t: Topology, base: number): Topology {
  let next = base;
  const take = () => next++;
  const copy = JSON.parse(JSON.stringify(t)) as Topology;
  for (const m of Object.values(copy.storage.mysql)) {
    m.port = take();
    for (const r of m.replicas) r.port = take();
  }
  const redis = copy.storage.redis;
  const redisNodes = redis.kind === 'cluster' ? redis.nodes : redis.kind === 'sentinel' ? [...redis.servers, ...redis.sentinels] : [redis.server];
  for (const n of redisNodes) n.port = take();
  for (const service of SERVICE_NAMES) {
    for (const e of copy.services[service]) {
      const ports = e as unknown as Record<string, number>;
      for (const key of ['port', 'httpPort', 'adminPort', 'internalPort', 'wsPort']) if (typeof ports[key] === 'number' && ports[key] > 0) ports[key] = take();
    }
  }
  if (next - 1 > 65535) throw new ConfigError(`--port-base ${base}: the topology needs ${next - base} ports, beyond 65535`);
  return copy;
}
