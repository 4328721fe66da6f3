/**
 * Extra storage servers a test starts for itself, in a temporary folder, with
 * the same code `npm start -- --topology ...` uses (scripts/infra): MariaDB
 * primaries and GTID replicas, a Redis Cluster, a Redis master with replicas
 * and Sentinels. Ports come from the range set aside for them (19700-19899 by
 * default, TT_TEST_STORAGE_PORTS="LOW-HIGH"), checked free. Everything is
 * stopped and removed when the test ends.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import mysql from 'mysql2/promise';
import { formatMysqlUrl, parseMysqlUrl } from '../../lib/mysql-url';
import { localCredentials } from '../../scripts/infra/credentials';
import { startLocalMariaDb, type LocalServer } from '../../scripts/infra/mariadb';
import { createRedisCluster, startLocalRedis, startLocalSentinel } from '../../scripts/infra/redis';
import { stopProcess } from '../../scripts/infra/system';

const quiet = () => {};

function portRange(): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(process.env.TT_TEST_STORAGE_PORTS ?? '');
  return m ? [Number(m[1]), Number(m[2])] : [19700, 19899];
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

const handedOut = new Set<number>();

/** A free port of the range (and, for Redis Cluster nodes, its bus port +10000). */
export async function freeStoragePort(opts: { withBus?: boolean } = {}): Promise<number> {
  const [lo, hi] = portRange();
  const span = hi - lo + 1;
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const port = lo + ((start + i) % span);
    if (handedOut.has(port)) continue;
    if (!(await portFree(port)) || (opts.withBus && !(await portFree(port + 10000)))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port in ${lo}-${hi} (TT_TEST_STORAGE_PORTS)`);
}

export class StorageServers {
  readonly servers: LocalServer[] = [];

  private constructor(readonly dir: string) {}

  static async create(t: Test): Promise<StorageServers> {
    const dir = await mkdtemp(join(tmpdir(), 'tt-storage-'));
    const servers = new StorageServers(dir);
    t.teardown(async () => {
      for (const s of [...servers.servers].reverse()) await s.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    });
    return servers;
  }

  get credentials() {
    return localCredentials(this.dir);
  }

  /** Admin URL of a server started here, naming `database`. */
  adminUrl(port: number, database = ''): string {
    const c = this.credentials;
    return formatMysqlUrl({ host: '127.0.0.1', port, user: c.mysqlAdminUser, password: c.mysqlAdminPassword, database });
  }

  /** A MariaDB primary writing a GTID binlog (serverId unique among the test's servers). */
  async mariaDb(name: string, serverId: number, replicaOf: number | null = null): Promise<{ port: number; server: LocalServer }> {
    const port = await freeStoragePort();
    return { port, server: await this.restartMariaDb(name, port, serverId, replicaOf) };
  }

  /** Starts a MariaDB server of this set in its folder on its port: the first time (mariaDb) or again after it was stopped. */
  async restartMariaDb(name: string, port: number, serverId: number, replicaOf: number | null = null): Promise<LocalServer> {
    const server = await startLocalMariaDb({
      runDir: this.dir,
      name,
      port,
      database: 'tt_unused',
      log: quiet,
      replication: { serverId, replicaOf: replicaOf === null ? undefined : { host: '127.0.0.1', port: replicaOf } },
      bufferPoolSize: '64M',
    });
    this.servers.push(server);
    return server;
  }

  /** A Redis Cluster of `masters` masters with `replicas` replicas each; nodes[i].server to kill one. */
  async redisCluster(masters: number, replicas: number, nodeTimeoutMs: number): Promise<{ url: string; nodes: Array<{ host: string; port: number; server: LocalServer }> }> {
    const nodes: Array<{ host: string; port: number; server: LocalServer }> = [];
    for (let i = 0; i < masters * (replicas + 1); i++) {
      const port = await freeStoragePort({ withBus: true });
      const server = await startLocalRedis({ runDir: this.dir, name: `redis-${port}`, port, cluster: { nodeTimeoutMs }, log: quiet });
      this.servers.push(server);
      nodes.push({ host: '127.0.0.1', port, server });
    }
    await createRedisCluster({ runDir: this.dir, nodes, replicas, log: quiet });
    return { url: `redis://:${encodeURIComponent(this.credentials.redisPassword)}@127.0.0.1:${nodes[0].port}/0`, nodes };
  }

  /** A Redis master, `replicas` replicas of it, and `sentinels` Sentinels watching it as `masterName`. */
  async redisWithSentinels(replicas: number, sentinels: number, masterName: string, downAfterMs: number) {
    const masterPort = await freeStoragePort();
    const master = await startLocalRedis({ runDir: this.dir, name: `redis-${masterPort}`, port: masterPort, log: quiet });
    this.servers.push(master);
    const servers = [{ port: masterPort, server: master }];
    for (let i = 0; i < replicas; i++) {
      const port = await freeStoragePort();
      const server = await startLocalRedis({ runDir: this.dir, name: `redis-${port}`, port, replicaOf: { host: '127.0.0.1', port: masterPort }, log: quiet });
      this.servers.push(server);
      servers.push({ port, server });
    }
    const sentinelPorts: number[] = [];
    for (let i = 0; i < sentinels; i++) {
      const port = await freeStoragePort();
      const server = await startLocalSentinel({
        runDir: this.dir,
        name: `sentinel-${port}`,
        port,
        masterName,
        master: { host: '127.0.0.1', port: masterPort },
        quorum: Math.floor(sentinels / 2) + 1,
        downAfterMs,
        log: quiet,
      });
      this.servers.push(server);
      sentinelPorts.push(port);
    }
    return { url: `redis://:${encodeURIComponent(this.credentials.redisPassword)}@127.0.0.1:${masterPort}/0`, servers, sentinelPorts, password: this.credentials.redisPassword };
  }
}

/** Kills a server at once (SIGKILL: no shutdown, no last write made durable). */
export async function killServer(server: LocalServer): Promise<void> {
  try {
    process.kill(server.pid, 'SIGKILL');
  } catch {
    // gone already
  }
  await stopProcess(server.pid, 5000);
}

/** Runs one statement with an admin URL. */
export async function adminQuery<T = mysql.RowDataPacket[]>(url: string, sql: string, values: unknown[] = []): Promise<T> {
  const conn = await mysql.createConnection({ ...parseMysqlUrl(url), multipleStatements: false });
  try {
    const [rows] = await conn.query(sql, values);
    return rows as T;
  } finally {
    await conn.end();
  }
}
