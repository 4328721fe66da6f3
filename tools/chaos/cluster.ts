/**
 * The cluster `npm run chaos` breaks: MariaDB and Redis of its own (child
 * processes under <runDir>/, on free loopback ports, so they can be killed
 * without touching anyone's storage), and the services of `npm start`
 * (serviceSpecs) under the Supervisor with two db-proxies, two route servers
 * and two msg servers, so every role has somewhere to fail over to.
 *
 * Services are restarted by the Supervisor (as after any crash); MariaDB and
 * Redis are started again by this module after `storageDownMs`, the way
 * systemd's Restart=always would.
 */
import mysql from 'mysql2/promise';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AdminClient, type AdminTarget } from '../../lib/admin-client';
import { errorMessage } from '../../lib/errors';
import { parseMysqlUrl } from '../../lib/mysql-url';
import { localAdminClient, loginAdmin, waitForMsgServers } from '../../scripts/cluster/admin';
import { clusterConfig } from '../../scripts/cluster/config';
import { localPki } from '../../scripts/cluster/pki';
import { Supervisor } from '../../scripts/cluster/supervisor';
import { bulkAddUsers } from '../../scripts/db/accounts';
import { migrate } from '../../scripts/db/migrate';
import { startLocalMariaDb, type LocalServer } from '../../scripts/infra/mariadb';
import { ensureStorageInstalled } from '../../scripts/infra/provision';
import { startLocalRedis } from '../../scripts/infra/redis';
import { freeLoopbackPort, isAlive, portAcceptsConnections, readPidFile, sleep } from '../../scripts/infra/system';
import { serviceSpecs } from '../../scripts/start';

/** What can be killed: a supervised service by its name, or a store. */
export type Target = { kind: 'service'; name: string } | { kind: 'store'; store: 'mariadb' | 'redis' };

export interface ChaosClusterOptions {
  /** Where MariaDB's and Redis's data, and their credentials, live. */
  runDir: string;
  /** Users to create: prefix0 .. prefix(count-1), all with `password`. */
  accounts: Array<{ prefix: string; count: number }>;
  password: string;
  /** How long a killed store stays down before it is started again. */
  storageDownMs: number;
  verbose: boolean;
  note(line: string): void;
}

export const DATABASE = 'tt_chaos';

export class ChaosCluster {
  readonly loginUrl: string;
  readonly msgServerPorts: number[];
  private readonly admin: AdminClient;
  private mariadb: LocalServer;
  private redis: LocalServer;
  private readonly supervisor: Supervisor;
  private readonly ports: { mysql: number; redis: number; loginAdmin: number; routeAdmin: number[] };
  /** Services with their names, for kill targets. */
  readonly serviceNames: string[];

  private constructor(init: {
    loginUrl: string;
    msgServerPorts: number[];
    admin: AdminClient;
    mariadb: LocalServer;
    redis: LocalServer;
    supervisor: Supervisor;
    ports: ChaosCluster['ports'];
    serviceNames: string[];
  }, private readonly options: ChaosClusterOptions) {
    this.loginUrl = init.loginUrl;
    this.msgServerPorts = init.msgServerPorts;
    this.admin = init.admin;
    this.mariadb = init.mariadb;
    this.redis = init.redis;
    this.supervisor = init.supervisor;
    this.ports = init.ports;
    this.serviceNames = init.serviceNames;
  }

  static async start(options: ChaosClusterOptions): Promise<ChaosCluster> {
    const { note } = options;
    mkdirSync(options.runDir, { recursive: true, mode: 0o700 });
    // The packages are installed when missing (when root), as for npm start.
    ensureStorageInstalled(note);
    await stopLeftovers(options.runDir, note);
    const [mysqlPort, redisPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
    const mariadb = await startLocalMariaDb({ runDir: options.runDir, port: mysqlPort, database: DATABASE, log: note });
    let redis: LocalServer | null = null;
    try {
      redis = await startLocalRedis({ runDir: options.runDir, port: redisPort, log: note });
      await freshData(mariadb, redis);
      await migrate(mariadb.adminUrl as string);
      const pool = mysql.createPool({ ...parseMysqlUrl(mariadb.url), connectionLimit: 2 });
      try {
        for (const a of options.accounts) await bulkAddUsers(pool, a.prefix, a.count, options.password);
      } finally {
        await pool.end();
      }
    } catch (err) {
      await mariadb.stop();
      await redis?.stop();
      throw err;
    }

    const free = () => freeLoopbackPort();
    const p = {
      loginHttp: await free(),
      loginMsg: await free(),
      loginAdmin: await free(),
      routes: [await free(), await free()],
      routeAdmin: await free(),
      dbs: [await free(), await free()],
      dbAdmin: await free(),
      msg: [await free(), await free()],
      msgAdmin: [await free(), await free()],
      other: await Promise.all(Array.from({ length: 6 }, free)),
    };
    const config = clusterConfig.load({
      env: {},
      overrides: {
        logLevel: options.verbose ? 'info' : 'warn',
        loginHttpPort: p.loginHttp,
        loginMsgServerPort: p.loginMsg,
        loginAdminPort: p.loginAdmin,
        routePort: p.routes[0],
        standbyRoutePorts: [p.routes[1]],
        routeAdminPort: p.routeAdmin,
        dbProxyPort: p.dbs[0],
        extraDbProxyPorts: [p.dbs[1]],
        dbProxyAdminPort: p.dbAdmin,
        msgServerPorts: p.msg,
        msgServerAdminPorts: p.msgAdmin,
        msgServerWsPorts: [],
        consolePort: p.other[0],
        msfsPort: p.other[1],
        msfsInternalPort: p.other[2],
        fileServerPort: p.other[3],
        fileServerInternalPort: p.other[4],
        pushServerPort: p.other[5],
        database: DATABASE,
        seedDemoUsers: false,
      },
    });
    const supervisor = new Supervisor({
      output: (line) => {
        if (options.verbose || /\b(ERROR|FATAL)\b/.test(line)) process.stderr.write(line + '\n');
      },
      note,
      color: false,
    });
    const storage = {
      mysqlUrl: mariadb.url,
      mysqlAdminUrl: mariadb.adminUrl as string,
      redisUrl: redis.url,
      started: { mysql: false, redis: false },
      stop: async () => {},
    };
    // The admin endpoint of the second route server / db-proxy is the first one's + 1 (npm start's rule).
    const taken = new Set([...Object.values(p).flat()]);
    for (const port of [p.routeAdmin + 1, p.dbAdmin + 1]) {
      if (taken.has(port) || (await portAcceptsConnections('127.0.0.1', port))) throw new Error(`port ${port} is taken; run npm run chaos again`);
    }
    const specs = serviceSpecs(config, storage, localPki())
      .filter((spec) => spec.name !== 'console')
      .map((spec) => ({ ...spec, env: { ...spec.env, ...(spec.name.startsWith('msg-server') ? { TT_MSG_STATS_INTERVAL_MS: '0' } : {}) } }));
    for (const spec of specs) supervisor.start(spec);
    const admin = localAdminClient('chaos');
    const cluster = new ChaosCluster(
      {
        loginUrl: `http://127.0.0.1:${p.loginHttp}/msg_server`,
        msgServerPorts: p.msg,
        admin,
        mariadb,
        redis,
        supervisor,
        ports: { mysql: mysqlPort, redis: redisPort, loginAdmin: p.loginAdmin, routeAdmin: [p.routeAdmin, p.routeAdmin + 1] },
        serviceNames: specs.map((s) => s.name),
      },
      options,
    );
    if (!(await waitForMsgServers(admin, loginAdmin('127.0.0.1', p.loginAdmin), p.msg.length))) {
      await cluster.stop();
      throw new Error('the chaos cluster did not come up within 60 s (run with --verbose to see its logs)');
    }
    return cluster;
  }

  /** The route server msg servers use as their master now (by its status page), or the first one if none says so. */
  async masterRouteServer(): Promise<string> {
    const names = ['route-server', 'route-server-2'];
    for (let i = 0; i < names.length; i++) {
      try {
        const status = await this.admin.get<{ links: Array<{ master: boolean | null }> }>(this.routeAdmin(i), '/status');
        if (status.links.some((l) => l.master === true)) return names[i];
      } catch {
        // down: not the master
      }
    }
    return names[0];
  }

  /** SIGKILLs the target; a store is started again after storageDownMs (in the background). Returns the pid killed. */
  kill(target: Target): { pid: number; back: Promise<void> } {
    if (target.kind === 'service') {
      const pid = this.supervisor.signal(target.name, 'SIGKILL');
      if (pid === null) throw new Error(`${target.name} is not running, cannot kill it`);
      return { pid, back: Promise.resolve() };
    }
    const server = target.store === 'mariadb' ? this.mariadb : this.redis;
    process.kill(server.pid, 'SIGKILL');
    const back = (async () => {
      await waitUntilDead(server.pid);
      await sleep(this.options.storageDownMs);
      const log = (line: string) => this.options.note(line);
      if (target.store === 'mariadb') {
        this.mariadb = await startLocalMariaDb({ runDir: this.options.runDir, port: this.ports.mysql, database: DATABASE, log });
      } else {
        this.redis = await startLocalRedis({ runDir: this.options.runDir, port: this.ports.redis, log });
      }
    })();
    return { pid: server.pid, back };
  }

  /** Whether the target runs again under a new pid and answers. */
  async isBack(target: Target, killedPid: number): Promise<boolean> {
    if (target.kind === 'store') {
      const server = target.store === 'mariadb' ? this.mariadb : this.redis;
      return server.pid !== killedPid && isAlive(server.pid) && portAcceptsConnections('127.0.0.1', target.store === 'mariadb' ? this.ports.mysql : this.ports.redis);
    }
    const pid = this.supervisor.pids()[target.name];
    if (pid === undefined || pid === killedPid) return false;
    try {
      if (target.name.startsWith('route-server')) {
        const i = target.name === 'route-server' ? 0 : 1;
        const status = await this.admin.get<{ links: unknown[] }>(this.routeAdmin(i), '/status');
        return status.links.length === this.msgServerPorts.length;
      }
      if (target.name === 'login-server') {
        return waitForMsgServers(this.admin, loginAdmin('127.0.0.1', this.ports.loginAdmin), this.msgServerPorts.length, 1);
      }
      if (target.name.startsWith('msg-server')) {
        const port = this.msgServerPorts[Number(target.name.slice('msg-server-'.length)) - 1];
        return portAcceptsConnections('127.0.0.1', port);
      }
    } catch {
      return false;
    }
    return true;
  }

  /** Rows stored for the run (what `npm run chaos` counts), read with the admin account. */
  async storedMessages(sinceUnix: number): Promise<Array<{ fromId: number; toId: number; msgId: number; content: string }>> {
    const conn = await mysql.createConnection({ ...parseMysqlUrl(this.mariadb.adminUrl as string), connectTimeout: 5_000 });
    try {
      const out: Array<{ fromId: number; toId: number; msgId: number; content: string }> = [];
      const [tables] = await conn.query<mysql.RowDataPacket[]>("SHOW TABLES LIKE 'IMMessage\\_%'");
      for (const row of tables) {
        const table = String(Object.values(row)[0]);
        const [rows] = await conn.query<mysql.RowDataPacket[]>(`SELECT fromId, toId, msgId, content FROM \`${table}\` WHERE created >= ?`, [sinceUnix]);
        for (const r of rows) out.push({ fromId: Number(r.fromId), toId: Number(r.toId), msgId: Number(r.msgId), content: String(r.content) });
      }
      return out;
    } finally {
      await conn.end();
    }
  }

  restarts(): Record<string, number> {
    return this.supervisor.restarts();
  }

  async stop(): Promise<void> {
    this.admin.close();
    await this.supervisor.stopAll();
    for (const server of [this.redis, this.mariadb]) {
      try {
        await server.stop();
      } catch (err) {
        this.options.note(`stopping storage: ${errorMessage(err)}`);
      }
    }
  }

  private routeAdmin(i: number): AdminTarget {
    return { url: `https://127.0.0.1:${this.ports.routeAdmin[i]}`, role: 'route-server' };
  }
}

/** A MariaDB or Redis left running in runDir by an earlier run that was cut short: stopped, so its data directory is free. */
async function stopLeftovers(runDir: string, note: (line: string) => void): Promise<void> {
  for (const pidFile of [join(runDir, 'mariadb', 'mariadb.pid'), join(runDir, 'redis', 'redis.pid')]) {
    const pid = readPidFile(pidFile);
    if (pid === null || !isAlive(pid)) continue;
    note(`stopping pid ${pid} left by an earlier chaos run (${pidFile})`);
    process.kill(pid, 'SIGKILL');
    await waitUntilDead(pid);
  }
}

async function waitUntilDead(pid: number): Promise<void> {
  const until = Date.now() + 30_000;
  while (isAlive(pid) && Date.now() < until) await sleep(20);
}

/** Every run starts from an empty database and Redis. */
async function freshData(mariadb: LocalServer, redis: LocalServer): Promise<void> {
  const target = parseMysqlUrl(mariadb.adminUrl as string);
  const conn = await mysql.createConnection({ ...target, database: undefined });
  try {
    await conn.query(`DROP DATABASE IF EXISTS \`${DATABASE}\``);
    await conn.query(`CREATE DATABASE \`${DATABASE}\``);
  } finally {
    await conn.end();
  }
  const { default: Redis } = await import('ioredis');
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  try {
    await client.flushall();
  } finally {
    client.disconnect();
  }
}
