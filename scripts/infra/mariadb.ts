/**
 * A local MariaDB for development and tests: data under .run/mariadb, bound to
 * 127.0.0.1 on a non-default port, run as a child process. If one is already
 * running from this checkout (e.g. `npm start` in another terminal) it is reused.
 *
 * The same code runs the extra servers of a sharded topology (`name`: its own
 * folder; `replication`: a primary writing a GTID binlog, or a replica of one,
 * CHANGE MASTER TO ... MASTER_USE_GTID = slave_pos), and servers inside network
 * namespaces (`host`: the address to bind, `wrap`: `ip netns exec NS`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { totalmem, userInfo } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { formatMysqlUrl, parseMysqlUrl } from '../../lib/mysql-url';
import { localCredentials } from './credentials';
import { InfraError, findExecutable, isAlive, portAcceptsConnections, readPidFile, sleep, stopProcess, tail } from './system';

export interface LocalServer {
  /** URL with credentials, pointing at `database` (or no database for Redis): the services' account. */
  url: string;
  /** MariaDB only: the admin account (migrations, creating databases). */
  adminUrl?: string;
  /** False when we found it already running and did not start it. */
  owned: boolean;
  pid: number;
  stop(): Promise<void>;
}

export const DEFAULT_LOCAL_MYSQL_PORT = 33306;

export interface MariaDbOptions {
  runDir: string;
  port: number;
  database: string;
  log: (line: string) => void;
  /** Keep running after this process exits (`npm run infra -- start`). */
  keepRunning?: boolean;
  /** Its folder under runDir (default "mariadb"). */
  name?: string;
  /** Address it listens on (default 127.0.0.1). */
  host?: string;
  /** Addresses the accounts may connect from (default: the listen address). */
  clientHosts?: string[];
  /** A primary (binlog with GTIDs) or, with replicaOf, a read-only replica of one. */
  replication?: { serverId: number; replicaOf?: { host: string; port: number } };
  /** Command prefix to run it with, e.g. ['ip', 'netns', 'exec', 'NS']. */
  wrap?: string[];
  /** innodb_buffer_pool_size (default 256M). */
  bufferPoolSize?: string;
}

export async function startLocalMariaDb(opts: MariaDbOptions): Promise<LocalServer> {
  const dir = join(opts.runDir, opts.name ?? 'mariadb');
  const dataDir = join(dir, 'data');
  const pidFile = join(dir, 'mariadb.pid');
  const errorLog = join(dir, 'error.log');
  const host = opts.host ?? '127.0.0.1';
  const clientHosts = opts.clientHosts ?? [host];
  const replica = opts.replication?.replicaOf ?? null;
  const creds = localCredentials(opts.runDir);
  const url = formatMysqlUrl({
    host,
    port: opts.port,
    user: creds.mysqlUser,
    password: creds.mysqlPassword,
    database: opts.database,
  });
  const adminUrl = formatMysqlUrl({ host, port: opts.port, user: creds.mysqlAdminUser, password: creds.mysqlAdminPassword, database: opts.database });
  // A replica gets its grants from its primary's binlog; granting there directly would write to it.
  const grant = async () => {
    if (replica === null) for (const client of clientHosts) await grantAppAccess(adminUrl, creds.mysqlUser, client, opts.database);
  };

  const runningPid = readPidFile(pidFile);
  if (runningPid !== null && isAlive(runningPid) && (await portAcceptsConnections(host, opts.port))) {
    try {
      await grant();
    } catch (err) {
      if ((err as { code?: string }).code !== 'ER_ACCESS_DENIED_ERROR') throw err;
      throw new InfraError(
        `the running local MariaDB (pid ${runningPid}) was started by an older checkout, before its admin account existed; ` +
          'stop it (npm run infra -- stop, or Ctrl-C the npm start that runs it) and run the command again',
      );
    }
    return { url, adminUrl, owned: false, pid: runningPid, stop: async () => {} };
  }
  if (await portAcceptsConnections(host, opts.port)) {
    throw new InfraError(
      `port ${opts.port} is already used by another program, not by this checkout's MariaDB; ` +
        'set TT_LOCAL_MYSQL_PORT to a free port, or MYSQL_URL to use that server',
    );
  }

  const mariadbd = findExecutable(['mariadbd', 'mysqld']);
  const installDb = findExecutable(['mariadb-install-db', 'mysql_install_db']);
  if (!mariadbd || !installDb) throw new InfraError('mariadbd / mariadb-install-db not found (install mariadb-server)');

  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const user = userInfo().username;
  if (!existsSync(join(dataDir, 'mysql'))) {
    opts.log(`initialising MariaDB data directory ${dataDir}`);
    const res = spawnSync(
      installDb,
      ['--no-defaults', `--datadir=${dataDir}`, '--auth-root-authentication-method=socket', '--skip-test-db', `--user=${user}`],
      { encoding: 'utf8' },
    );
    if (res.status !== 0) {
      throw new InfraError(`mariadb-install-db failed (exit ${res.status}):\n${res.stdout}\n${res.stderr}`);
    }
  }
  // Runs at every start, before connections are accepted: (re)creates both accounts.
  // The services' account holds no global privilege (older checkouts gave it ALL);
  // its rights on the cluster's database are granted below, after start.
  // Not written to the binlog (sql_log_bin = 0): each server of a replicated pair makes its own.
  const initFile = join(dir, 'init.sql');
  const quote = (s: string) => s.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  const lines = ['SET sql_log_bin = 0;'];
  for (const client of clientHosts) {
    const admin = `'${creds.mysqlAdminUser}'@'${quote(client)}'`;
    const app = `'${creds.mysqlUser}'@'${quote(client)}'`;
    const repl = `'${creds.mysqlReplicationUser}'@'${quote(client)}'`;
    lines.push(
      `CREATE USER IF NOT EXISTS ${admin} IDENTIFIED BY '${quote(creds.mysqlAdminPassword)}';`,
      `ALTER USER ${admin} IDENTIFIED BY '${quote(creds.mysqlAdminPassword)}';`,
      `GRANT ALL PRIVILEGES ON *.* TO ${admin} WITH GRANT OPTION;`,
      `CREATE USER IF NOT EXISTS ${app} IDENTIFIED BY '${quote(creds.mysqlPassword)}';`,
      `ALTER USER ${app} IDENTIFIED BY '${quote(creds.mysqlPassword)}';`,
      `REVOKE ALL PRIVILEGES ON *.* FROM ${app};`,
    );
    if (opts.replication) {
      // Replicas of this server connect with it; it may only read the binlog.
      lines.push(
        `CREATE USER IF NOT EXISTS ${repl} IDENTIFIED BY '${quote(creds.mysqlReplicationPassword)}';`,
        `ALTER USER ${repl} IDENTIFIED BY '${quote(creds.mysqlReplicationPassword)}';`,
        `GRANT REPLICATION SLAVE ON *.* TO ${repl};`,
      );
    }
  }
  writeFileSync(initFile, [...lines, ''].join('\n'), { mode: 0o600 });

  const args = [
    '--no-defaults',
    `--datadir=${dataDir}`,
    `--port=${opts.port}`,
    `--bind-address=${host}`,
    `--socket=${join(dir, 'mariadb.sock')}`,
    `--pid-file=${pidFile}`,
    `--log-error=${errorLog}`,
    `--init-file=${initFile}`,
    `--user=${user}`,
    '--skip-name-resolve',
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_bin',
    '--max-connections=1000',
    ...innodbSettings(opts.bufferPoolSize ? smallServerMemory(opts.bufferPoolSize) : mariadbMemory(process.env)),
  ];
  if (opts.replication) {
    args.push(`--server-id=${opts.replication.serverId}`, '--log-bin=mariadb-bin', '--binlog-format=ROW', `--relay-log=${join(dir, 'relay-bin')}`);
    if (replica !== null) args.push('--read-only=ON');
  }
  const role = opts.replication ? (replica ? ` (replica of ${replica.host}:${replica.port})` : ' (primary, GTID binlog)') : '';
  opts.log(`starting MariaDB on ${host}:${opts.port}${role} (data in ${dataDir})`);
  // Its own process group: a Ctrl-C in the terminal reaches only our process,
  // which stops the services first and the storage last.
  const [command, ...commandArgs] = [...(opts.wrap ?? []), mariadbd, ...args];
  const child = spawn(command, commandArgs, { stdio: 'ignore', detached: true });
  if (opts.keepRunning) child.unref();
  let exited: string | null = null;
  child.once('exit', (code, signal) => {
    exited = `exit code ${code ?? signal}`;
  });

  const until = Date.now() + 90_000;
  for (;;) {
    if (exited) throw new InfraError(`MariaDB exited during start-up (${exited}); last lines of ${errorLog}:\n${tail(errorLog)}`);
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new InfraError(`MariaDB did not accept connections within 90 s; see ${errorLog}:\n${tail(errorLog)}`);
    }
    try {
      const conn = await mysql.createConnection({
        host,
        port: opts.port,
        user: creds.mysqlAdminUser,
        password: creds.mysqlAdminPassword,
        connectTimeout: 1000,
      });
      await conn.end();
      break;
    } catch {
      await sleep(150);
    }
  }
  // `ip netns exec` execs the server: the child's pid is the server's.
  const pid = child.pid as number;
  await grant();
  if (replica !== null) await followPrimary(adminUrl, replica, creds.mysqlReplicationUser, creds.mysqlReplicationPassword, opts.log);
  return {
    url,
    adminUrl,
    owned: true,
    pid,
    stop: () => stopProcess(pid),
  };
}

/**
 * Makes a replica follow its primary by GTID. A configured replica resumes by
 * itself when restarted; a stopped one is started again; one configured for
 * another address (the primary moved, e.g. npm start with another --port-base)
 * is pointed at this one, keeping its GTID position.
 */
async function followPrimary(adminUrl: string, primary: { host: string; port: number }, user: string, password: string, log: (line: string) => void): Promise<void> {
  const conn = await mysql.createConnection({ ...parseMysqlUrl(adminUrl), database: undefined });
  try {
    const [status] = await conn.query<mysql.RowDataPacket[]>('SHOW SLAVE STATUS');
    const moved = status.length > 0 && (status[0].Master_Host !== primary.host || Number(status[0].Master_Port) !== primary.port);
    if (moved) {
      log(`replica: its primary moved from ${status[0].Master_Host}:${status[0].Master_Port} to ${primary.host}:${primary.port}`);
      await conn.query('STOP SLAVE');
    }
    if (status.length === 0 || moved) {
      log(`replica: following ${primary.host}:${primary.port} by GTID`);
      await conn.query('CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1', [
        primary.host,
        primary.port,
        user,
        password,
      ]);
    }
    if (status.length === 0 || moved || status[0].Slave_IO_Running !== 'Yes' || status[0].Slave_SQL_Running !== 'Yes') await conn.query('START SLAVE');
  } finally {
    await conn.end();
  }
}

/**
 * The local MariaDB's InnoDB settings (README "Storage settings"): the buffer
 * pool holds what message stores touch (the tables' right edges and the
 * per-conversation indexes), the redo log is large enough that bursts of
 * stores are not throttled by checkpoints, and nothing trades durability for
 * speed: every COMMIT is on disk (flush_log_at_trx_commit=1, doublewrite on)
 * before a message is acknowledged.
 */
export interface MariaDbMemory {
  bufferPoolBytes: number;
  logFileBytes: number;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Bytes from "512M", "8G", "1073741824". */
export function parseByteSize(raw: string, name: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(raw.trim());
  if (!m) throw new InfraError(`${name} must be a size like 512M or 8G, got "${raw}"`);
  const unit = { '': 1, K: 1024, M: MiB, G: GiB }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(m[1]) * unit;
}

/**
 * Buffer pool: TT_LOCAL_MYSQL_BUFFER_POOL, else 40 % of the machine's memory
 * (the services, Redis and the page cache share it), 256 MB at least, in
 * 128 MB steps. Redo log: a quarter of the pool, from 256 MB to 2 GB
 * (TT_LOCAL_MYSQL_LOG_FILE_SIZE overrides).
 */
export function mariadbMemory(env: NodeJS.ProcessEnv, machineBytes = totalmem()): MariaDbMemory {
  const step = 128 * MiB;
  const pool = env.TT_LOCAL_MYSQL_BUFFER_POOL
    ? parseByteSize(env.TT_LOCAL_MYSQL_BUFFER_POOL, 'TT_LOCAL_MYSQL_BUFFER_POOL')
    : Math.max(2 * step, Math.floor((machineBytes * 0.4) / step) * step);
  const log = env.TT_LOCAL_MYSQL_LOG_FILE_SIZE
    ? parseByteSize(env.TT_LOCAL_MYSQL_LOG_FILE_SIZE, 'TT_LOCAL_MYSQL_LOG_FILE_SIZE')
    : Math.min(2 * GiB, Math.max(256 * MiB, Math.floor(pool / 4 / MiB) * MiB));
  if (pool < 128 * MiB) throw new InfraError('TT_LOCAL_MYSQL_BUFFER_POOL must be at least 128M');
  if (log < 32 * MiB) throw new InfraError('TT_LOCAL_MYSQL_LOG_FILE_SIZE must be at least 32M');
  return { bufferPoolBytes: pool, logFileBytes: log };
}

/** A small server of its own size (`bufferPoolSize`: tests' and topologies' extra servers): redo log a quarter of it, 32 MB at least. */
export function smallServerMemory(bufferPoolSize: string): MariaDbMemory {
  const pool = parseByteSize(bufferPoolSize, 'bufferPoolSize');
  return { bufferPoolBytes: pool, logFileBytes: Math.max(32 * MiB, Math.floor(pool / 4 / MiB) * MiB) };
}

export function innodbSettings(memory: MariaDbMemory): string[] {
  return [
    `--innodb-buffer-pool-size=${memory.bufferPoolBytes}`,
    `--innodb-log-file-size=${memory.logFileBytes}`,
    '--innodb-log-buffer-size=64M',
    // Durability: the redo log is written and fsynced at every COMMIT; pages are written
    // through the doublewrite buffer, so a crash (of MariaDB or of the machine) loses no
    // committed transaction and tears no page.
    '--innodb-flush-log-at-trx-commit=1',
    '--innodb-doublewrite=ON',
    // Data pages bypass the OS page cache (the buffer pool is the cache; no double caching).
    '--innodb-flush-method=O_DIRECT',
    // Solid-state storage: no read-modify-write of neighbouring pages, more background flushing.
    '--innodb-flush-neighbors=0',
    '--innodb-io-capacity=2000',
    '--innodb-io-capacity-max=8000',
    // A restart gives back the whole buffer pool (MariaDB's default dumps the hottest 25 %):
    // histories larger than memory are not read back from disk page by page after it.
    '--innodb-buffer-pool-dump-pct=100',
    // Schema migrations rebuild tables online: room for the writes made meanwhile, and sort space.
    '--innodb-online-alter-log-max-size=1G',
    '--innodb-sort-buffer-size=32M',
  ];
}

/** What the services' account may do: rows, nothing else (no DDL, no other databases, no FILE/PROCESS/SUPER). */
export const APP_PRIVILEGES = 'SELECT, INSERT, UPDATE, DELETE';

/**
 * Grants the services' account its rows-only access to one database (run as
 * an account that may grant). `_` and `%` are wildcards in a GRANT's database
 * name, so they are escaped: exactly this database, no look-alikes.
 */
export async function grantAppAccess(adminUrl: string, user: string, host: string, database: string): Promise<void> {
  if (!/^[A-Za-z0-9_]+$/.test(database)) throw new InfraError(`database name "${database}" may only hold letters, digits and _`);
  const conn = await mysql.createConnection({ ...parseMysqlUrl(adminUrl), database: undefined });
  try {
    await conn.query(`GRANT ${APP_PRIVILEGES} ON \`${database.replace(/_/g, '\\_')}\`.* TO ?@?`, [user, host]);
  } finally {
    await conn.end();
  }
}
