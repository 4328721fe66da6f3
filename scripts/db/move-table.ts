/**
 * Moves message table index N (IMMessage_N and IMGroupMessage_N) to another
 * database server while the cluster runs (`npm run storage -- move-table N --to SERVER`):
 *
 *   1. copy    on the target, `tt_incoming_<table>` (the source's structure) is
 *              filled from the source in id order, chunk by chunk, while the
 *              db-proxies go on writing to the source (a run that was stopped
 *              resumes here);
 *   2. fence   `RENAME TABLE <table> TO tt_moved_<table>` on the source: it waits
 *              for the transactions using the table, then every write and read
 *              of it fails (no such table): such messages are not acknowledged,
 *              so they are sent again;
 *   3. sync    both sides are compared chunk by chunk (count and checksum); a
 *              chunk that differs (rows committed during the copy, late commits
 *              of lower ids, updates) is copied again;
 *   4. open    `RENAME TABLE tt_incoming_<table> TO <table>` on the target.
 *
 * The db-proxies look for a table a statement found missing, and use it where
 * it is now (database-servers.ts): the fence-to-open window (seconds) is the
 * only time that table's conversations are refused. Should anything fail after
 * the fence, the fence is undone (the table is renamed back on the source) and
 * the copy stays for the next run. Afterwards: set shardMap N -> SERVER where
 * the db-proxies are configured, and drop tt_moved_<table> on the source once
 * it is backed up.
 */
import mysql from 'mysql2/promise';
import { parseMysqlUrl } from '../../lib/mysql-url';

export interface MoveTableOptions {
  /** Table index: IMMessage_N and IMGroupMessage_N move together. */
  index: number;
  /** Admin URL (naming the database) of every server, by name. */
  servers: Record<string, string>;
  to: string;
  /** Rows per copy chunk (default 5000). */
  chunkRows?: number;
  log: (line: string) => void;
  /** Called as each phase ends (tests put traffic there). */
  onPhase?: (phase: 'copied' | 'fenced' | 'synced' | 'opened') => Promise<void>;
}

export interface MoveTableReport {
  tables: string[];
  from: string;
  to: string;
  rows: Record<string, number>;
  /** Rows copied again by the sync (changed or committed while the copy ran). */
  resynced: Record<string, number>;
  /** How long the tables were fenced (refused everywhere). */
  fencedMs: number;
  durationMs: number;
}

export async function moveTable(opts: MoveTableOptions): Promise<MoveTableReport> {
  const started = Date.now();
  const chunk = opts.chunkRows ?? 5000;
  const tables = [`IMMessage_${opts.index}`, `IMGroupMessage_${opts.index}`];
  if (!opts.servers[opts.to]) throw new Error(`no server "${opts.to}" (known: ${Object.keys(opts.servers).join(', ')})`);
  const conns = new Map<string, mysql.Connection>();
  try {
    for (const [name, url] of Object.entries(opts.servers)) {
      const conn = await mysql.createConnection({ ...parseMysqlUrl(url), multipleStatements: false, supportBigNumbers: true, bigNumberStrings: false });
      conn.on('error', () => {});
      conns.set(name, conn);
    }
    const has = async (server: string, table: string) => {
      const [rows] = await (conns.get(server) as mysql.Connection).query<mysql.RowDataPacket[]>(
        'SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?',
        [table],
      );
      return rows.length > 0;
    };
    const holders: string[] = [];
    for (const name of conns.keys()) if (await has(name, tables[0])) holders.push(name);
    if (holders.length !== 1) throw new Error(`${tables[0]} must be on exactly one server, found on ${holders.length === 0 ? 'none' : holders.join(' and ')}`);
    const from = holders[0];
    if (from === opts.to) throw new Error(`${tables[0]} is on ${from} already`);
    for (const table of tables) {
      if (!(await has(from, table))) throw new Error(`${table} is not on ${from} (both tables of index ${opts.index} must be on one server)`);
      if (await has(opts.to, table)) throw new Error(`${table} exists on ${opts.to} already: drop that copy first if it is stale`);
      if (await has(from, moved(table))) throw new Error(`${moved(table)} is still on ${from} from an earlier move: back it up and drop it first`);
    }
    const source = conns.get(from) as mysql.Connection;
    const target = conns.get(opts.to) as mysql.Connection;
    const report: MoveTableReport = { tables, from, to: opts.to, rows: {}, resynced: {}, fencedMs: 0, durationMs: 0 };

    // 1. copy, online
    for (const table of tables) {
      const [ddl] = await source.query<mysql.RowDataPacket[]>(`SHOW CREATE TABLE \`${table}\``);
      const create = String(ddl[0]['Create Table'])
        .replace(/^CREATE TABLE `[^`]+`/, `CREATE TABLE IF NOT EXISTS \`${incoming(table)}\``)
        .replace(/\s+AUTO_INCREMENT=\d+/, '');
      await target.query(create);
      const [top] = await target.query<mysql.RowDataPacket[]>(`SELECT COALESCE(MAX(id), 0) AS id FROM \`${incoming(table)}\``);
      const copied = await copyAfter(source, table, target, incoming(table), Number(top[0].id), chunk);
      opts.log(`${table}: ${copied} rows copied from ${from} to ${opts.to} (${incoming(table)}), writes go on`);
    }
    await opts.onPhase?.('copied');

    // 2. fence: from here on the tables are refused everywhere until opened
    const fencedAt = Date.now();
    await source.query(`RENAME TABLE ${tables.map((t) => `\`${t}\` TO \`${moved(t)}\``).join(', ')}`);
    opts.log(`${tables.join(', ')} fenced on ${from} (renamed to ${tables.map(moved).join(', ')}): their conversations are refused until they open on ${opts.to}`);
    try {
      await opts.onPhase?.('fenced');
      // 3. sync what changed during the copy
      for (const table of tables) {
        report.resynced[table] = await syncChunks(source, moved(table), target, incoming(table), chunk);
        const [n] = await target.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${incoming(table)}\``);
        report.rows[table] = Number(n[0].n);
      }
      await opts.onPhase?.('synced');
      // 4. open on the target
      await target.query(`RENAME TABLE ${tables.map((t) => `\`${incoming(t)}\` TO \`${t}\``).join(', ')}`);
    } catch (err) {
      await source.query(`RENAME TABLE ${tables.map((t) => `\`${moved(t)}\` TO \`${t}\``).join(', ')}`).then(
        () => opts.log(`move failed (${(err as Error).message}): fence undone, ${tables.join(', ')} serve from ${from} again; the copy on ${opts.to} stays for the next run`),
        (undoErr: Error) => opts.log(`move failed (${(err as Error).message}) AND the fence could not be undone (${undoErr.message}): on ${from} run RENAME TABLE ${tables.map((t) => `${moved(t)} TO ${t}`).join(', ')}`),
      );
      throw err;
    }
    report.fencedMs = Date.now() - fencedAt;
    opts.log(`${tables.join(', ')} open on ${opts.to} after ${report.fencedMs} ms fenced (${tables.map((t) => `${t}: ${report.rows[t]} rows, ${report.resynced[t]} re-synced`).join('; ')})`);
    await opts.onPhase?.('opened');
    report.durationMs = Date.now() - started;
    return report;
  } finally {
    for (const conn of conns.values()) await conn.end().catch(() => undefined);
  }
}

export const incoming = (table: string) => `tt_incoming_${table}`;
export const moved = (table: string) => `tt_moved_${table}`;

/** Copies rows with id > after, in id order; returns how many. */
async function copyAfter(source: mysql.Connection, from: string, target: mysql.Connection, to: string, after: number, chunk: number): Promise<number> {
  let copied = 0;
  for (let last = after; ; ) {
    const [rows, fields] = await source.query<mysql.RowDataPacket[][]>({ sql: `SELECT * FROM \`${from}\` WHERE id > ? ORDER BY id LIMIT ?`, values: [last, chunk], rowsAsArray: true });
    if (rows.length === 0) return copied;
    const columns = fields.map((f) => `\`${f.name}\``).join(', ');
    await target.query(`INSERT IGNORE INTO \`${to}\` (${columns}) VALUES ?`, [rows]);
    copied += rows.length;
    last = Number(rows[rows.length - 1][fields.findIndex((f) => f.name === 'id')]);
  }
}

/** Compares both tables chunk by chunk (by id range) and copies the chunks that differ again; returns the rows re-copied. */
async function syncChunks(source: mysql.Connection, from: string, target: mysql.Connection, to: string, chunk: number): Promise<number> {
  const [cols] = await source.query<mysql.RowDataPacket[]>(
    'SELECT column_name AS c FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position',
    [from],
  );
  const checksum = `COUNT(*) AS n, COALESCE(BIT_XOR(CRC32(CONCAT_WS('#', ${cols.map((c) => `IFNULL(\`${String(c.c)}\`, '\\\\N')`).join(', ')}))), 0) AS x`;
  const bounds = async (conn: mysql.Connection, table: string) => {
    const [r] = await conn.query<mysql.RowDataPacket[]>(`SELECT COALESCE(MIN(id), 0) AS lo, COALESCE(MAX(id), 0) AS hi FROM \`${table}\``);
    return [Number(r[0].lo), Number(r[0].hi)];
  };
  const [slo, shi] = await bounds(source, from);
  const [tlo, thi] = await bounds(target, to);
  const lo = Math.min(slo || tlo, tlo || slo);
  const hi = Math.max(shi, thi);
  let recopied = 0;
  for (let start = lo; start <= hi && hi > 0; start += chunk) {
    const end = start + chunk - 1;
    const [a] = await source.query<mysql.RowDataPacket[]>(`SELECT ${checksum} FROM \`${from}\` WHERE id BETWEEN ? AND ?`, [start, end]);
    const [b] = await target.query<mysql.RowDataPacket[]>(`SELECT ${checksum} FROM \`${to}\` WHERE id BETWEEN ? AND ?`, [start, end]);
    if (Number(a[0].n) === Number(b[0].n) && String(a[0].x) === String(b[0].x)) continue;
    await target.query(`DELETE FROM \`${to}\` WHERE id BETWEEN ? AND ?`, [start, end]);
    const [rows, fields] = await source.query<mysql.RowDataPacket[][]>({ sql: `SELECT * FROM \`${from}\` WHERE id BETWEEN ? AND ? ORDER BY id`, values: [start, end], rowsAsArray: true });
    if (rows.length > 0) await target.query(`INSERT INTO \`${to}\` (${fields.map((f) => `\`${f.name}\``).join(', ')}) VALUES ?`, [rows]);
    recopied += rows.length;
  }
  return recopied;
}
