/**
 * A local MariaDB for development and tests: data under .run/mariadb, bound to
 * 127.0.0.1 on a non-default port, run as a child process. If one is already
 * running from this checkout (e.g. `npm start` in another terminal) it is reused.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
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

export async function startLocalMariaDb(opts: {
  runDir: string;
  port: number;
  database: string;
  log: (line: string) => void;
  /** Keep running after this process exits (`npm run infra -- start`). */
  keepRunning?: boolean;
}): Promise<LocalServer> {
  const dir = join(opts.runDir, 'mariadb');
  const dataDir = join(dir, 'data');
  const pidFile = join(dir, 'mariadb.pid');
  const errorLog = join(dir, 'error.log');
  const creds = localCredentials(opts.runDir);
  const url = formatMysqlUrl({
    host: '127.0.0.1',
    port: opts.port,
    user: creds.mysqlUser,
    password: creds.mysqlPassword,
    database: opts.database,
  });
  const adminUrl = formatMysqlUrl({ host: '127.0.0.1', port: opts.port, user: creds.mysqlAdminUser, password: creds.mysqlAdminPassword, database: opts.database });

  const runningPid = readPidFile(pidFile);
  if (runningPid !== null && isAlive(runningPid) && (await portAcceptsConnections('127.0.0.1', opts.port))) {
    try {
      await grantAppAccess(adminUrl, creds.mysqlUser, '127.0.0.1', opts.database);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ER_ACCESS_DENIED_ERROR') throw err;
      throw new InfraError(
        `the running local MariaDB (pid ${runningPid}) was started by an older checkout, before its admin account existed; ` +
          'stop it (npm run infra -- stop, or Ctrl-C the npm start that runs it) and run the command again',
      );
    }
    return { url, adminUrl, owned: false, pid: runningPid, stop: async () => {} };
  }
  if (await portAcceptsConnections('127.0.0.1', opts.port)) {
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
  const initFile = join(dir, 'init.sql');
  const quote = (s: string) => s.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  const admin = `'${creds.mysqlAdminUser}'@'127.0.0.1'`;
  const app = `'${creds.mysqlUser}'@'127.0.0.1'`;
  writeFileSync(
    initFile,
    [
      `CREATE USER IF NOT EXISTS ${admin} IDENTIFIED BY '${quote(creds.mysqlAdminPassword)}';`,
      `ALTER USER ${admin} IDENTIFIED BY '${quote(creds.mysqlAdminPassword)}';`,
      `GRANT ALL PRIVILEGES ON *.* TO ${admin} WITH GRANT OPTION;`,
      `CREATE USER IF NOT EXISTS ${app} IDENTIFIED BY '${quote(creds.mysqlPassword)}';`,
      `ALTER USER ${app} IDENTIFIED BY '${quote(creds.mysqlPassword)}';`,
      `REVOKE ALL PRIVILEGES ON *.* FROM ${app};`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );

  const args = [
    '--no-defaults',
    `--datadir=${dataDir}`,
    `--port=${opts.port}`,
    '--bind-address=127.0.0.1',
    `--socket=${join(dir, 'mariadb.sock')}`,
    `--pid-file=${pidFile}`,
    `--log-error=${errorLog}`,
    `--init-file=${initFile}`,
    `--user=${user}`,
    '--skip-name-resolve',
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_bin',
    '--max-connections=1000',
    '--innodb-buffer-pool-size=256M',
  ];
  opts.log(`starting MariaDB on 127.0.0.1:${opts.port} (data in ${dataDir})`);
  // Its own process group: a Ctrl-C in the terminal reaches only our process,
  // which stops the services first and the storage last.
  const child = spawn(mariadbd, args, { stdio: 'ignore', detached: true });
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
        host: '127.0.0.1',
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
  const pid = child.pid as number;
  await grantAppAccess(adminUrl, creds.mysqlUser, '127.0.0.1', opts.database);
  return {
    url,
    adminUrl,
    owned: true,
    pid,
    stop: () => stopProcess(pid),
  };
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
