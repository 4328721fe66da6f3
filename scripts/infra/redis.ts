/**
 * A local Redis for development and tests: bound to 127.0.0.1 on a non-default
 * port with a generated password, AOF persistence (appendfsync everysec) under
 * .run/redis, run as a child process; reused if this checkout's Redis already runs.
 *
 * The same code runs the servers of a sharded topology and of tests: Redis
 * Cluster nodes (`cluster`, then createRedisCluster joins them with
 * `redis-cli --cluster create`), replicas of a master (`replicaOf`), Sentinels
 * (startLocalSentinel), inside network namespaces (`host`, `wrap`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis, { Cluster } from 'ioredis';
import { localCredentials } from './credentials';
import type { LocalServer } from './mariadb';
import { InfraError, findExecutable, isAlive, portAcceptsConnections, readPidFile, sleep, stopProcess, tail } from './system';

export const DEFAULT_LOCAL_REDIS_PORT = 36379;

export interface RedisServerOptions {
  runDir: string;
  port: number;
  log: (line: string) => void;
  /** Keep running after this process exits (`npm run infra -- start`). */
  keepRunning?: boolean;
  /** Its folder under runDir (default "redis"). */
  name?: string;
  /** Address it listens on (default 127.0.0.1). */
  host?: string;
  /** A Redis Cluster node (cluster-enabled; join the nodes with createRedisCluster). */
  cluster?: { nodeTimeoutMs: number };
  /** A replica of this master (not with `cluster`). */
  replicaOf?: { host: string; port: number };
  /** Command prefix to run it with, e.g. ['ip', 'netns', 'exec', 'NS']. */
  wrap?: string[];
}

export async function startLocalRedis(opts: RedisServerOptions): Promise<LocalServer> {
  const dir = join(opts.runDir, opts.name ?? 'redis');
  const host = opts.host ?? '127.0.0.1';
  const creds = localCredentials(opts.runDir);
  const lines = [
    `requirepass ${creds.redisPassword}`,
    // Replicas (and cluster replicas) authenticate to their master with the same password.
    `masterauth ${creds.redisPassword}`,
    'appendonly yes',
    'appendfsync everysec',
    'save ""',
    // A replica's first sync starts at once (the default waits 5 s for more replicas).
    'repl-diskless-sync-delay 0',
  ];
  if (opts.cluster) {
    lines.push(
      'cluster-enabled yes',
      `cluster-config-file ${join(dir, 'nodes.conf')}`,
      `cluster-node-timeout ${opts.cluster.nodeTimeoutMs}`,
      // The other slots keep working while one master's are failing over.
      'cluster-require-full-coverage no',
    );
  }
  if (opts.replicaOf) lines.push(`replicaof ${opts.replicaOf.host} ${opts.replicaOf.port}`);
  const role = opts.cluster ? 'Redis Cluster node' : opts.replicaOf ? `Redis replica of ${opts.replicaOf.host}:${opts.replicaOf.port}` : 'Redis';
  return startRedisProcess({ ...opts, dir, host, lines, role, password: creds.redisPassword, binary: 'redis-server' });
}

/** The URL of a local Redis server (with the local password). */
export function localRedisUrl(runDir: string, host: string, port: number): string {
  return `redis://:${encodeURIComponent(localCredentials(runDir).redisPassword)}@${host}:${port}/0`;
}

/**
 * Joins cluster-enabled nodes into one Redis Cluster with `replicas` replicas
 * per master (`redis-cli --cluster create`), unless they already form one;
 * then waits until every node reports the cluster ok.
 */
export async function createRedisCluster(opts: {
  runDir: string;
  nodes: Array<{ host: string; port: number }>;
  replicas: number;
  log: (line: string) => void;
  /** Command prefix for redis-cli (it must reach the nodes), e.g. ['ip', 'netns', 'exec', 'NS']. */
  wrap?: string[];
}): Promise<void> {
  const password = localCredentials(opts.runDir).redisPassword;
  const first = new Redis({ host: opts.nodes[0].host, port: opts.nodes[0].port, password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  first.on('error', () => {});
  try {
    await first.connect();
    const info = String(await first.cluster('INFO'));
    const known = Number(/cluster_known_nodes:(\d+)/.exec(info)?.[1] ?? 0);
    // A node that knows others was joined before (nodes.conf): restarted nodes find each other again.
    if (known <= 1) {
      const cli = findExecutable(['redis-cli']);
      if (!cli) throw new InfraError('redis-cli not found (install redis-tools / redis-server)');
      opts.log(`creating a Redis Cluster of ${opts.nodes.length} nodes (${opts.replicas} replica(s) per master)`);
      const [command, ...args] = [
        ...(opts.wrap ?? []),
        cli,
        '--cluster',
        'create',
        ...opts.nodes.map((n) => `${n.host}:${n.port}`),
        '--cluster-replicas',
        String(opts.replicas),
        '--cluster-yes',
      ];
      // The password goes through the environment, not the command line `ps` shows.
      const res = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, REDISCLI_AUTH: password }, timeout: 60_000 });
      if (res.status !== 0) throw new InfraError(`redis-cli --cluster create failed (exit ${res.status}):\n${res.stdout}\n${res.stderr}`);
    }
  } finally {
    first.disconnect();
  }
  await waitForCluster(opts.nodes, password, opts.nodes.length);
}

/** Until every node says cluster_state:ok and knows all the others, and every replica is in sync with its master. */
export async function waitForCluster(nodes: Array<{ host: string; port: number }>, password: string, expectNodes: number, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (const node of nodes) {
    for (;;) {
      const client = new Redis({ host: node.host, port: node.port, password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on('error', () => {});
      let info = '';
      try {
        await client.connect();
        info = String(await client.cluster('INFO'));
      } catch {
        // not up yet
      }
      let replicaInSync = true;
      if (info.includes('cluster_state:ok')) {
        // A replica that never completed its first sync could not take over: wait for it too.
        const replication = await client.info('replication').catch(() => '');
        replicaInSync = !/role:slave/.test(replication) || /master_link_status:up/.test(replication);
      }
      client.disconnect();
      if (replicaInSync && info.includes('cluster_state:ok') && Number(/cluster_known_nodes:(\d+)/.exec(info)?.[1] ?? 0) >= expectNodes) break;
      if (Date.now() > until) throw new InfraError(`Redis Cluster node ${node.host}:${node.port} did not report cluster_state:ok within ${timeoutMs / 1000} s`);
      await sleep(200);
    }
  }
}

/** A Redis Sentinel watching `master` as `masterName` (its own password is the local Redis password too). */
export async function startLocalSentinel(opts: {
  runDir: string;
  name: string;
  port: number;
  host?: string;
  masterName: string;
  master: { host: string; port: number };
  quorum: number;
  downAfterMs: number;
  log: (line: string) => void;
  keepRunning?: boolean;
  wrap?: string[];
}): Promise<LocalServer> {
  const dir = join(opts.runDir, opts.name);
  const password = localCredentials(opts.runDir).redisPassword;
  const lines = [
    `sentinel monitor ${opts.masterName} ${opts.master.host} ${opts.master.port} ${opts.quorum}`,
    `sentinel auth-pass ${opts.masterName} ${password}`,
    `sentinel down-after-milliseconds ${opts.masterName} ${opts.downAfterMs}`,
    `sentinel failover-timeout ${opts.masterName} ${Math.max(3000, opts.downAfterMs * 3)}`,
    `requirepass ${password}`,
  ];
  return startRedisProcess({ ...opts, dir, host: opts.host ?? '127.0.0.1', lines, role: `Redis Sentinel of ${opts.masterName}`, password, binary: 'redis-sentinel' });
}

async function startRedisProcess(opts: {
  dir: string;
  host: string;
  port: number;
  lines: string[];
  role: string;
  password: string;
  binary: 'redis-server' | 'redis-sentinel';
  log: (line: string) => void;
  keepRunning?: boolean;
  wrap?: string[];
}): Promise<LocalServer> {
  const pidFile = join(opts.dir, 'redis.pid');
  const logFile = join(opts.dir, 'redis.log');
  const url = `redis://:${encodeURIComponent(opts.password)}@${opts.host}:${opts.port}/0`;

  const runningPid = readPidFile(pidFile);
  if (runningPid !== null && isAlive(runningPid) && (await portAcceptsConnections(opts.host, opts.port))) {
    return { url, owned: false, pid: runningPid, stop: async () => {} };
  }
  if (await portAcceptsConnections(opts.host, opts.port)) {
    throw new InfraError(
      `port ${opts.port} is already used by another program, not by this checkout's Redis; ` +
        'set TT_LOCAL_REDIS_PORT to a free port, or REDIS_URL to use that server',
    );
  }
  // redis-sentinel is redis-server under another name (the Debian package links it).
  const redisServer = findExecutable([opts.binary, 'redis-server']);
  if (!redisServer) throw new InfraError('redis-server not found (install redis-server)');

  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const confFile = join(opts.dir, opts.binary === 'redis-sentinel' ? 'sentinel.conf' : 'redis.conf');
  // The password lives in a mode-600 file, not on the command line where `ps` shows it.
  writeFileSync(
    confFile,
    [
      `port ${opts.port}`,
      `bind ${opts.host}`,
      'protected-mode yes',
      `dir ${opts.dir}`,
      `pidfile ${pidFile}`,
      `logfile ${logFile}`,
      'daemonize no',
      ...opts.lines,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  opts.log(`starting ${opts.role} on ${opts.host}:${opts.port} (data in ${opts.dir})`);
  // Its own process group: a Ctrl-C in the terminal reaches only our process,
  // which stops the services first and the storage last.
  const sentinelFlag = opts.binary === 'redis-sentinel' && !redisServer.endsWith('redis-sentinel') ? ['--sentinel'] : [];
  const [command, ...args] = [...(opts.wrap ?? []), redisServer, confFile, ...sentinelFlag];
  const child = spawn(command, args, { stdio: 'ignore', detached: true });
  if (opts.keepRunning) child.unref();
  let exited: string | null = null;
  child.once('exit', (code, signal) => {
    exited = `exit code ${code ?? signal}`;
  });
  const until = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new InfraError(`${opts.role} exited during start-up (${exited}); last lines of ${logFile}:\n${tail(logFile)}`);
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new InfraError(`${opts.role} did not answer PING within 30 s; see ${logFile}:\n${tail(logFile)}`);
    }
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.ping();
      client.disconnect();
      break;
    } catch {
      client.disconnect();
      await sleep(100);
    }
  }
  // `ip netns exec` execs the server: the child's pid is the server's.
  const pid = child.pid as number;
  return { url, owned: true, pid, stop: () => stopProcess(pid) };
}

/** Deletes every key starting with `prefix` (what a test or bench run wrote), a SCAN page at a time. */
export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

/** deleteKeysWithPrefix for a Redis Cluster too: every master is scanned, keys deleted one by one (they are in many slots). */
export async function deleteKeysEverywhere(client: Redis | Cluster, prefix: string): Promise<void> {
  if (!(client instanceof Cluster)) return deleteKeysWithPrefix(client, prefix);
  for (const node of client.nodes('master')) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) {
        const pipeline = node.pipeline();
        for (const key of keys) pipeline.del(key);
        await pipeline.exec();
      }
    } while (cursor !== '0');
  }
}
