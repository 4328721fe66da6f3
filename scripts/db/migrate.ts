/**
 * Idempotent schema migrator: applies schema/NNN_*.sql in order, once each,
 * recording what ran in tt_schema_migrations. Creates the database if needed.
 *
 * Two starts at once (two `npm start`s, a db-proxy host and a bench) cannot
 * apply the same file twice: the run holds a MySQL named lock (GET_LOCK) per
 * database from reading what ran to recording the last file. A file is recorded
 * by one INSERT once all its statements ran; MySQL cannot roll DDL back, so a
 * file interrupted half-way runs again from the start next time: every
 * statement in schema/ must be safe to repeat (CREATE ... IF NOT EXISTS, ALTER
 * ... ADD COLUMN IF NOT EXISTS, INSERT IGNORE, ...).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { parseMysqlUrl } from '../../lib/mysql-url';
import { schemaDir } from '../../lib/paths';

export interface MigrationResult {
  database: string;
  applied: string[];
  alreadyApplied: string[];
}

export function migrationFiles(dir = schemaDir): string[] {
  return readdirSync(dir)
    .filter((f) => /^\d+_.*\.sql$/.test(f))
    .sort();
}

/** Splits a schema file into statements (our files hold no procedures, so ";" at line end ends one). */
export function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter(Boolean);
}

/** How long a migration waits for another one on the same database to finish. */
const LOCK_WAIT_SECONDS = 120;

export async function migrate(url: string, dir = schemaDir): Promise<MigrationResult> {
  const target = parseMysqlUrl(url);
  if (!target.database) throw new Error('MYSQL_URL must name a database (mysql://user:pass@host:port/teamtalk)');
  if (!/^[A-Za-z0-9_]+$/.test(target.database)) {
    throw new Error(`database name "${target.database}" may only hold letters, digits and _`);
  }
  const conn = await mysql.createConnection({ ...target, database: undefined, multipleStatements: false });
  try {
    await conn.query(
      `CREATE DATABASE IF NOT EXISTS \`${target.database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
    );
    await conn.query(`USE \`${target.database}\``);
    const lockName = `tt_migrate_${target.database}`;
    const [locked] = await conn.query<mysql.RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS got', [lockName, LOCK_WAIT_SECONDS]);
    if (Number(locked[0]?.got) !== 1) {
      throw new Error(`another migration of database ${target.database} has held the lock "${lockName}" for ${LOCK_WAIT_SECONDS} s; is one stuck?`);
    }
    await conn.query(
      `CREATE TABLE IF NOT EXISTS tt_schema_migrations (
         version varchar(128) NOT NULL PRIMARY KEY,
         applied_at int unsigned NOT NULL
       ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    );
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT version FROM tt_schema_migrations');
    const done = new Set(rows.map((r) => String(r.version)));
    const result: MigrationResult = { database: target.database, applied: [], alreadyApplied: [] };
    for (const file of migrationFiles(dir)) {
      if (done.has(file)) {
        result.alreadyApplied.push(file);
        continue;
      }
      for (const statement of splitStatements(readFileSync(join(dir, file), 'utf8'))) {
        await conn.query(statement);
      }
      await conn.query('INSERT INTO tt_schema_migrations (version, applied_at) VALUES (?, UNIX_TIMESTAMP())', [file]);
      result.applied.push(file);
    }
    return result;
  } finally {
    // Ending the connection releases the named lock too.
    await conn.end();
  }
}
