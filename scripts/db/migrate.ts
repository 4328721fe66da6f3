/**
 * Idempotent schema migrator: applies schema/NNN_*.sql in order, once each,
 * recording what ran in tt_schema_migrations. Creates the database if needed.
 *
 * With message tables on several servers (the db-proxy's shard map), every
 * server that holds tables is migrated, each statement where it belongs:
 *
 *   - a statement naming message tables (IMMessage_<n>, IMGroupMessage_<n>)
 *     runs on the server holding them: where the table is now, or for a table
 *     that does not exist yet, the server the shard map names. A statement on a
 *     message table that exists nowhere and does not create it is skipped: the
 *     table is made later from its template (below), which already has it;
 *   - `IMMessage_N` / `IMGroupMessage_N` (a capital N) stands for every message
 *     table: the statement runs once per table, each on its server. Migrations
 *     that change the message tables should use it, so they reach tables beyond
 *     the eight of 001 and tables wherever they are;
 *   - every other statement runs on the main database.
 *
 * Each server records the files it has applied, so a server added later gets
 * the statements that concern it. Finally every table of messageTableCount
 * that exists nowhere is created on its server as a copy of IMMessage_0 /
 * IMGroupMessage_0 (their current structure, wherever they are).
 *
 * Two starts at once (two `npm start`s, a db-proxy host and a bench) cannot
 * apply the same file twice: the run holds a MySQL named lock (GET_LOCK) per
 * database on every server it migrates (taken main first, then by server name),
 * from reading what ran to recording the last file. A file is recorded on each
 * server by one INSERT once all its statements ran; MySQL cannot roll DDL back, so a
 * file interrupted half-way runs again from the start next time: every
 * statement in schema/ must be safe to repeat (CREATE ... IF NOT EXISTS, ALTER
 * ... ADD COLUMN IF NOT EXISTS, INSERT IGNORE, ...).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { parseMysqlUrl } from '../../lib/mysql-url';
import { schemaDir } from '../../lib/paths';
import { MAIN_SERVER, MessageTables } from '../../services/db-proxy/message-tables';

export interface MigrationResult {
  database: string;
  applied: string[];
  alreadyApplied: string[];
}

/** Where the message tables go: the db-proxy's messageTableCount and shardMap. */
export interface MessageLayout {
  messageTableCount: number;
  shardMap: Record<string, string>;
}

const DEFAULT_LAYOUT: MessageLayout = { messageTableCount: 8, shardMap: {} };

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

/** One server, everything on it (the default deployment, and every test database). */
export async function migrate(url: string, dir = schemaDir): Promise<MigrationResult> {
  const results = await migrateServers({ [MAIN_SERVER]: url }, DEFAULT_LAYOUT, dir);
  return results[MAIN_SERVER];
}

const MESSAGE_TABLE_NAME = /\bIM(Group)?Message_(\d+|N)\b/g;

/**
 * Migrates every server: `servers` maps server names ("main" and the names the
 * shard map uses) to admin URLs naming the database. Returns what each applied.
 */
export async function migrateServers(servers: Record<string, string>, layout: MessageLayout = DEFAULT_LAYOUT, dir = schemaDir): Promise<Record<string, MigrationResult>> {
  if (!servers[MAIN_SERVER]) throw new Error('the main database server must be given');
  const tables = new MessageTables(layout.messageTableCount, layout.shardMap, Object.keys(servers).filter((n) => n !== MAIN_SERVER));
  const conns = new Map<string, mysql.Connection>();
  const results: Record<string, MigrationResult> = {};
  try {
    const done = new Map<string, Set<string>>();
    // Locked in one order (main first, then by name), so two runs never wait for each other's locks.
    const order = Object.entries(servers).sort(([a], [b]) => (a === MAIN_SERVER ? -1 : b === MAIN_SERVER ? 1 : a.localeCompare(b)));
    for (const [name, url] of order) {
      const { conn, database, applied } = await openForMigration(url);
      conns.set(name, conn);
      done.set(name, applied);
      results[name] = { database, applied: [], alreadyApplied: [] };
    }
    const location = await locateMessageTables(conns);
    const serverOf = (table: string): string | null => {
      const index = MessageTables.indexOf(table) as number;
      if (index >= tables.count) return location.get(table) ?? MAIN_SERVER; // beyond the count: left where 001 puts them
      return location.get(table) ?? tables.mappedServer(table);
    };
    for (const file of migrationFiles(dir)) {
      const pending = [...conns.keys()].filter((name) => !done.get(name)?.has(file));
      if (pending.length === 0) {
        for (const name of conns.keys()) results[name].alreadyApplied.push(file);
        continue;
      }
      for (const statement of splitStatements(readFileSync(join(dir, file), 'utf8'))) {
        for (const { sql, server, creates } of routeStatement(statement, tables, serverOf, location)) {
          if (server === null || !pending.includes(server)) continue;
          await (conns.get(server) as mysql.Connection).query(sql);
          for (const table of creates) location.set(table, server);
        }
      }
      for (const name of conns.keys()) {
        if (!pending.includes(name)) {
          results[name].alreadyApplied.push(file);
          continue;
        }
        await (conns.get(name) as mysql.Connection).query('INSERT INTO tt_schema_migrations (version, applied_at) VALUES (?, UNIX_TIMESTAMP())', [file]);
        results[name].applied.push(file);
      }
    }
    await createMissingTables(conns, tables, location);
    return results;
  } finally {
    // Ending a connection releases its named lock too.
    for (const conn of conns.values()) await conn.end().catch(() => undefined);
  }
}

async function openForMigration(url: string): Promise<{ conn: mysql.Connection; database: string; applied: Set<string> }> {
  const target = parseMysqlUrl(url);
  if (!target.database) throw new Error('MYSQL_URL must name a database (mysql://user:pass@host:port/teamtalk)');
  if (!/^[A-Za-z0-9_]+$/.test(target.database)) {
    throw new Error(`database name "${target.database}" may only hold letters, digits and _`);
  }
  const conn = await mysql.createConnection({ ...target, database: undefined, multipleStatements: false });
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${target.database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
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
    return { conn, database: target.database, applied: new Set(rows.map((r) => String(r.version))) };
  } catch (err) {
    await conn.end().catch(() => undefined);
    throw err;
  }
}

/** Message table -> the server holding it; a table on two servers is an error. */
async function locateMessageTables(conns: Map<string, mysql.Connection>): Promise<Map<string, string>> {
  const location = new Map<string, string>();
  for (const [name, conn] of conns) {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name REGEXP '^IM(Group)?Message_[0-9]+$'",
    );
    for (const row of rows) {
      const table = String(row.name);
      const before = location.get(table);
      if (before !== undefined) throw new Error(`${table} exists on server ${before} and on ${name}: finish its move (npm run storage -- move-table) or drop the stale copy first`);
      location.set(table, name);
    }
  }
  return location;
}

interface RoutedStatement {
  sql: string;
  /** Where it runs; null: skipped (its table exists nowhere yet and will be made from the template). */
  server: string | null;
  /** Message tables it creates. */
  creates: string[];
}

/** Where one statement runs (several statements for the IMMessage_N placeholder). */
function routeStatement(statement: string, tables: MessageTables, serverOf: (table: string) => string | null, location: Map<string, string>): RoutedStatement[] {
  const named = [...statement.matchAll(MESSAGE_TABLE_NAME)];
  if (named.length === 0) return [{ sql: statement, server: MAIN_SERVER, creates: [] }];
  const createsTable = /^\s*CREATE\s+TABLE/i.test(statement);
  if (named.some((m) => m[2] === 'N')) {
    const out: RoutedStatement[] = [];
    for (let i = 0; i < tables.count; i++) {
      const sql = statement.replace(/\bIM(Group)?Message_N\b/g, (_m, group: string | undefined) => `IM${group ?? ''}Message_${i}`);
      out.push(...routeStatement(sql, tables, serverOf, location));
    }
    return out;
  }
  const names = [...new Set(named.map((m) => m[0]))];
  const servers = new Set(names.map(serverOf));
  if (servers.size > 1) throw new Error(`a migration statement names message tables on different servers (${names.join(', ')}): split it`);
  const server = [...servers][0];
  // The first name of a CREATE TABLE is the table it creates (a LIKE source is named after it).
  const created = createsTable ? [named[0][0]] : [];
  if (!createsTable && names.every((t) => !location.has(t))) return [{ sql: statement, server: null, creates: [] }];
  return [{ sql: statement, server, creates: created }];
}

/** Tables of the layout that exist nowhere: created on their server like IMMessage_0 / IMGroupMessage_0. */
async function createMissingTables(conns: Map<string, mysql.Connection>, tables: MessageTables, location: Map<string, string>): Promise<void> {
  const templates = new Map<string, string>();
  const templateOf = async (kind: 'IMMessage' | 'IMGroupMessage'): Promise<string> => {
    const cached = templates.get(kind);
    if (cached) return cached;
    const source = [...location.keys()].filter((t) => t.startsWith(`${kind}_`)).sort((a, b) => (MessageTables.indexOf(a) as number) - (MessageTables.indexOf(b) as number))[0];
    if (source === undefined) throw new Error(`no ${kind}_N table exists to copy the structure of`);
    const [rows] = await (conns.get(location.get(source) as string) as mysql.Connection).query<mysql.RowDataPacket[]>(`SHOW CREATE TABLE \`${source}\``);
    const ddl = String(rows[0]['Create Table'])
      .replace(/^CREATE TABLE `[^`]+`/, 'CREATE TABLE IF NOT EXISTS `{{name}}`')
      .replace(/\s+AUTO_INCREMENT=\d+/, '');
    templates.set(kind, ddl);
    return ddl;
  };
  for (const table of tables.all()) {
    if (location.has(table)) continue;
    const server = tables.mappedServer(table);
    const conn = conns.get(server);
    if (!conn) throw new Error(`${table} belongs on server "${server}", which was not given to the migration`);
    const ddl = await templateOf(table.startsWith('IMGroupMessage_') ? 'IMGroupMessage' : 'IMMessage');
    await conn.query(ddl.replace('{{name}}', table));
    location.set(table, server);
  }
}
