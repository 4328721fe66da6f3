/**
 * Fresh storage per test file: a new MariaDB database (migrated) and a Redis
 * key prefix of its own, both removed when the test ends. `npm test` provides
 * MYSQL_URL / REDIS_URL; nothing here touches the demo data of `npm start`.
 */
import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import mysql from 'mysql2/promise';
import Redis from 'ioredis';
import { parseMysqlUrl, withDatabase } from '../../lib/mysql-url';
import { migrate } from '../../scripts/db/migrate';
import { deleteKeysWithPrefix } from '../../scripts/infra/redis';

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the tests with "npm test", which starts MariaDB and Redis (or set MYSQL_URL and REDIS_URL)`);
  }
  return value;
}

export interface TestDatabase {
  name: string;
  url: string;
  pool: mysql.Pool;
}

/** A new database on `base` (an admin URL; default: npm test's MYSQL_URL), migrated unless `migrate: false`. */
export async function freshDatabase(t: Test, opts: { migrate?: boolean; base?: string; name?: string } = {}): Promise<TestDatabase> {
  const base = opts.base ?? requireEnv('MYSQL_URL');
  const name = opts.name ?? `tt_test_${process.pid}_${randomBytes(3).toString('hex')}`;
  const url = withDatabase(base, name);
  if (opts.migrate !== false) {
    await migrate(url);
  } else {
    const admin = await mysql.createConnection({ ...parseMysqlUrl(base), database: undefined });
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    await admin.end();
  }
  const pool = mysql.createPool({ ...parseMysqlUrl(url), connectionLimit: 4 });
  t.teardown(async () => {
    await pool.end();
    const admin = await mysql.createConnection({ ...parseMysqlUrl(base), database: undefined });
    await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await admin.end();
  });
  return { name, url, pool };
}

export interface TestRedis {
  url: string;
  /** Every key this test's services write starts with it. */
  prefix: string;
  /** A client that sees keys without the prefix applied (use `prefix + key`). */
  redis: Redis;
}

export async function freshRedis(t: Test): Promise<TestRedis> {
  const url = requireEnv('REDIS_URL');
  const prefix = `tt_test_${process.pid}_${randomBytes(3).toString('hex')}:`;
  const redis = new Redis(url, { lazyConnect: true });
  await redis.connect();
  t.teardown(async () => {
    await deleteKeysWithPrefix(redis, prefix);
    redis.disconnect();
  });
  return { url, prefix, redis };
}
