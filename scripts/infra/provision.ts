/**
 * Storage for `npm start`, `npm test` and the db scripts: MYSQL_URL / REDIS_URL
 * when set, otherwise a local MariaDB / Redis under .run/ (installed first when
 * missing and we may).
 */
import mysql from 'mysql2/promise';
import Redis from 'ioredis';
import { parseMysqlUrl, withDatabase } from '../../lib/mysql-url';
import { runDir } from '../../lib/paths';
import { DEFAULT_LOCAL_MYSQL_PORT, startLocalMariaDb, type LocalServer } from './mariadb';
import { DEFAULT_LOCAL_REDIS_PORT, deleteKeysWithPrefix, startLocalRedis } from './redis';
import { ensureInstalled, type Requirement } from './system';

export interface Storage {
  /** The services' account (rows only on the local MariaDB; MYSQL_URL as given otherwise). */
  mysqlUrl: string;
  /** Migrations, creating and dropping databases: the admin account locally, MYSQL_URL otherwise. */
  mysqlAdminUrl: string;
  redisUrl: string;
  /** Which of the two we started (and will stop). */
  started: { mysql: boolean; redis: boolean };
  stop(): Promise<void>;
}

const MARIADB: Requirement = {
  binaries: ['mariadbd', 'mysqld'],
  debianPackage: 'mariadb-server',
  purpose: 'MariaDB (message storage)',
  alternativeEnv: 'MYSQL_URL',
};
const REDIS: Requirement = {
  binaries: ['redis-server'],
  debianPackage: 'redis-server',
  purpose: 'Redis (msg-id and unread counters)',
  alternativeEnv: 'REDIS_URL',
};

/** Installs MariaDB and Redis when missing (when root), for tools that run their own (`npm run chaos`). */
export function ensureStorageInstalled(log: (line: string) => void): void {
  ensureInstalled([MARIADB, REDIS], log);
}

export async function provisionStorage(opts: {
  database: string;
  log: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Leave local servers running when this process exits. */
  keepRunning?: boolean;
}): Promise<Storage> {
  const env = opts.env ?? process.env;
  const needMysql = !env.MYSQL_URL;
  const needRedis = !env.REDIS_URL;
  ensureInstalled([...(needMysql ? [MARIADB] : []), ...(needRedis ? [REDIS] : [])], opts.log);

  const servers: LocalServer[] = [];
  try {
    let mysqlUrl: string;
    let mysqlAdminUrl: string;
    if (env.MYSQL_URL) {
      mysqlUrl = withDatabase(env.MYSQL_URL, opts.database);
      mysqlAdminUrl = mysqlUrl;
    } else {
      const port = Number(env.TT_LOCAL_MYSQL_PORT ?? DEFAULT_LOCAL_MYSQL_PORT);
      const server = await startLocalMariaDb({ runDir, port, database: opts.database, log: opts.log, keepRunning: opts.keepRunning });
      servers.push(server);
      mysqlUrl = server.url;
      mysqlAdminUrl = server.adminUrl as string;
    }
    let redisUrl: string;
    if (env.REDIS_URL) {
      redisUrl = env.REDIS_URL;
    } else {
      const port = Number(env.TT_LOCAL_REDIS_PORT ?? DEFAULT_LOCAL_REDIS_PORT);
      const server = await startLocalRedis({ runDir, port, log: opts.log, keepRunning: opts.keepRunning });
      servers.push(server);
      redisUrl = server.url;
    }
    const owned = servers.filter((s) => s.owned);
    return {
      mysqlUrl,
      mysqlAdminUrl,
      redisUrl,
      started: {
        mysql: needMysql && servers[0]?.owned === true,
        redis: needRedis && servers[servers.length - 1]?.owned === true,
      },
      stop: async () => {
        await Promise.all(owned.map((s) => s.stop()));
      },
    };
  } catch (err) {
    await Promise.all(servers.filter((s) => s.owned).map((s) => s.stop()));
    throw err;
  }
}

/** Drops the database that an admin URL names (if it is there). */
export async function dropDatabase(mysqlAdminUrl: string): Promise<void> {
  const target = parseMysqlUrl(mysqlAdminUrl);
  const conn = await mysql.createConnection({ ...target, database: undefined });
  await conn.query(`DROP DATABASE IF EXISTS \`${target.database}\``);
  await conn.end();
}

/** What a run wrote: its database and the Redis keys under its prefix, gone (the next run starts from nothing). */
export async function dropRunData(storage: Pick<Storage, 'mysqlAdminUrl' | 'redisUrl'>, redisPrefix: string): Promise<void> {
  await dropDatabase(storage.mysqlAdminUrl);
  const redis = new Redis(storage.redisUrl);
  await deleteKeysWithPrefix(redis, redisPrefix);
  redis.disconnect();
}
