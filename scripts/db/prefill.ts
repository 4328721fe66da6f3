/**
 * Bulk-loads a realistic message history (`npm run db:prefill`, `npm run bench
 * -- --prefill N`): users in teams, relations with a few frequent contacts and
 * a long tail of first contacts (history-model.ts), single and group messages
 * with growing ids and times, recent sessions, and the Redis state the
 * db-proxy keeps beside them (msg-id counters, unread counts, group members
 * and counts), all consistent, as if the messages had been sent through the
 * protocol. Not through the protocol: rows go in with LOAD DATA LOCAL INFILE
 * (multi-row INSERTs when the server refuses it), in id (= time) order, into
 * tables stripped of their indexes for the load; each table's keys are built
 * once at the end, by sorting, instead of by millions of random inserts.
 *
 * The history must start empty: the message tables and IMRelationShip hold
 * no row. Users, groups and sessions already there stay; new ones get ids
 * after them. Runs as an account that may ALTER tables (the admin account).
 * A row in tt_prefill records each prefill (state 'loading', then 'done').
 */
import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import Redis from 'ioredis';
import { encryptMessageText } from '../../lib/message-crypto';
import { hashForStorage } from '../../lib/password';
import { parseMysqlUrl } from '../../lib/mysql-url';
import { DEFAULT_COPY_LIMITS, GROUP_CONVERSATION, SINGLE_CONVERSATION, copyCommands, forEachNewestMessage } from '../../services/db-proxy/latest-messages';
import { RedisKeys } from '../../services/db-proxy/redis-keys';
import { HistoryModel, type HistoryShape } from './history-model';

export interface PrefillOptions {
  /** An account that may ALTER tables and LOAD DATA (migrations' admin account). */
  mysqlUrl: string;
  redisUrl: string;
  /** The db-proxy's redisKeyPrefix. */
  redisKeyPrefix: string;
  messages: number;
  users: number;
  /** Login names are PREFIX0 .. PREFIX(users-1). */
  userPrefix: string;
  password: string;
  days: number;
  groupShare: number;
  seed: number;
  /** The db-proxy's messageTableCount. */
  tableCount: number;
  log: (line: string) => void;
}

export interface PrefillSummary {
  database: string;
  users: number;
  firstUserId: number;
  groups: number;
  relations: number;
  singleMessages: number;
  groupMessages: number;
  sessions: number;
  unreadConversations: number;
  /** Conversations whose newest message was copied to Redis (those within the copy limits: latest-messages.ts). */
  latestCopies: number;
  /** How the rows went in. */
  loadedWith: 'LOAD DATA LOCAL INFILE' | 'multi-row INSERT';
  seconds: number;
  messagesPerSecond: number;
}

/** Defaults of the CLI and the bench. */
export const PREFILL_DEFAULTS = {
  userPrefix: 'user_',
  password: 'teamtalk',
  days: 7,
  groupShare: 0.1,
  seed: 20260118,
  teamSize: 50,
  contacts: 100,
  zipf: 1.1,
  /** Messages of the last hours are the unread ones (until the receiver answers). */
  unreadHours: 8,
  tableCount: 8,
};

/** Users of a history of `messages` when not given: about 2 000 messages per user (a busy week). */
export function defaultUserCount(messages: number): number {
  return Math.max(1000, Math.round(messages / 2000));
}

/** Messages generated (and loaded) per chunk. */
const CHUNK_MESSAGES = 250_000;
/** Rows per INSERT when LOAD DATA is refused. */
const INSERT_ROWS = 2000;
const MAX_USERS = 50_000_000;

export class PrefillError extends Error {}

export async function prefillHistory(opts: PrefillOptions): Promise<PrefillSummary> {
  if (!Number.isInteger(opts.messages) || opts.messages < 1) throw new PrefillError('--messages must be a whole number above 0');
  if (!Number.isInteger(opts.users) || opts.users < 2 || opts.users > MAX_USERS) throw new PrefillError(`--users must be a whole number from 2 to ${MAX_USERS}`);
  if (!(opts.days > 0)) throw new PrefillError('--days must be above 0');
  if (!(opts.groupShare >= 0 && opts.groupShare <= 1)) throw new PrefillError('--group-share must be from 0 to 1');
  const started = Date.now();
  const target = parseMysqlUrl(opts.mysqlUrl);
  // Two connections: MariaDB loads and builds indexes on both cores while this process generates rows.
  const connect = () => mysql.createConnection({ ...target, multipleStatements: false, charset: 'utf8mb4' });
  const conns = [await connect(), await connect()];
  const conn = conns[0];
  const redis = new Redis(opts.redisUrl, { keyPrefix: opts.redisKeyPrefix, lazyConnect: true, maxRetriesPerRequest: 3 });
  const loader = new RowLoader(conns, opts.log);
  let markerId = 0;
  try {
    await redis.connect();
    await checkEmptyHistory(conn, opts);
    markerId = await recordStart(conn, opts);

    const end = Math.floor(Date.now() / 1000);
    const shape: HistoryShape = {
      users: opts.users,
      messages: opts.messages,
      groupShare: opts.groupShare,
      teamSize: PREFILL_DEFAULTS.teamSize,
      contacts: PREFILL_DEFAULTS.contacts,
      zipf: PREFILL_DEFAULTS.zipf,
      start: end - Math.round(opts.days * 86400),
      end,
      seed: opts.seed,
    };
    const model = new HistoryModel(shape, end - PREFILL_DEFAULTS.unreadHours * 3600);
    const ids = await firstIds(conn);

    const tables = [
      ...Array.from({ length: opts.tableCount }, (_, i) => `IMMessage_${i}`),
      ...Array.from({ length: opts.tableCount }, (_, i) => `IMGroupMessage_${i}`),
      'IMRelationShip',
      'IMRecentSession',
    ];
    const dropped = await dropSecondaryIndexes(conn, tables, opts.log);
    try {
      opts.log(`users: ${opts.users} (${opts.userPrefix}0 .. ${opts.userPrefix}${opts.users - 1}, ids from ${ids.user})`);
      await insertUsers(conn, opts, ids.user, shape.start);
      opts.log(`messages: ${opts.messages} over ${opts.days} days`);
      const counts = await loadMessages(loader, model, ids, opts);
      opts.log(`${model.relations} relations; groups, members and recent sessions`);
      await insertGroups(conn, model, ids, shape.start);
      const sessions = await loadSessions(loader, model, ids, shape.start);
      opts.log('building indexes');
      await restoreIndexes(conns, dropped, opts.log);
      opts.log('Redis: msg-id counters, unread counts, group members and counts');
      const unreadConversations = await writeRedis(redis, model, ids, shape.start);
      const latest = await copyLatestMessages(conn, redis, opts.tableCount, opts.log);
      const seconds = (Date.now() - started) / 1000;
      const summary: PrefillSummary = {
        database: target.database,
        users: opts.users,
        firstUserId: ids.user,
        groups: model.groups,
        relations: model.relations,
        singleMessages: counts.single,
        groupMessages: counts.group,
        sessions,
        unreadConversations,
        latestCopies: latest,
        loadedWith: loader.mode === 'load' ? 'LOAD DATA LOCAL INFILE' : 'multi-row INSERT',
        seconds: Math.round(seconds),
        messagesPerSecond: Math.round(opts.messages / seconds),
      };
      await conn.query("UPDATE tt_prefill SET state = 'done', finished = UNIX_TIMESTAMP(), summary = ? WHERE id = ?", [JSON.stringify(summary), markerId]);
      return summary;
    } catch (err) {
      // Leave the tables usable: indexes back, even on a half-loaded history (on fresh
      // connections: the failure may have broken these).
      opts.log(`failed (${(err as Error).message}); putting the indexes back`);
      const fresh = await Promise.all([connect(), connect()]).catch(() => null);
      if (fresh !== null) {
        await restoreIndexes(fresh, dropped, opts.log).catch((e: Error) => opts.log(`could not put every index back: ${e.message}`));
        await Promise.all(fresh.map((c) => c.end()));
      }
      throw err;
    }
  } finally {
    redis.disconnect();
    await Promise.all(conns.map((c) => c.end()));
  }
}

/** The prefill recorded in the database, if one finished (what `bench --prefill` reuses). */
export async function finishedPrefill(mysqlUrl: string): Promise<{ messages: number; users: number; userPrefix: string; seed: number } | null> {
  const conn = await mysql.createConnection(parseMysqlUrl(mysqlUrl));
  try {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT messages, users, userPrefix, seed FROM tt_prefill WHERE state = 'done' ORDER BY id DESC LIMIT 1",
    );
    if (rows.length === 0) return null;
    return { messages: Number(rows[0].messages), users: Number(rows[0].users), userPrefix: String(rows[0].userPrefix), seed: Number(rows[0].seed) };
  } catch (err) {
    if ((err as { code?: string }).code === 'ER_NO_SUCH_TABLE' || (err as { code?: string }).code === 'ER_BAD_DB_ERROR') return null;
    throw err;
  } finally {
    await conn.end();
  }
}

// ---------------------------------------------------------------- checks and ids

async function checkEmptyHistory(conn: mysql.Connection, opts: PrefillOptions): Promise<void> {
  const nonEmpty: string[] = [];
  for (const table of ['IMRelationShip', ...Array.from({ length: opts.tableCount }, (_, i) => [`IMMessage_${i}`, `IMGroupMessage_${i}`]).flat()]) {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(`SELECT 1 FROM \`${table}\` LIMIT 1`);
    if (rows.length > 0) nonEmpty.push(table);
  }
  if (nonEmpty.length > 0) {
    throw new PrefillError(
      `the database already holds a history (${nonEmpty.slice(0, 3).join(', ')}${nonEmpty.length > 3 ? ', ...' : ''} not empty): ` +
        'prefill an empty one (another database name, e.g. TT_CLUSTER_DATABASE=history1, or drop this one)',
    );
  }
  const [taken] = await conn.query<mysql.RowDataPacket[]>('SELECT name FROM IMUser WHERE name IN (?, ?) LIMIT 1', [
    `${opts.userPrefix}0`,
    `${opts.userPrefix}${opts.users - 1}`,
  ]);
  if (taken.length > 0) throw new PrefillError(`user "${String(taken[0].name)}" exists already: choose another --prefix`);
}

async function recordStart(conn: mysql.Connection, opts: PrefillOptions): Promise<number> {
  await conn.query(
    `CREATE TABLE IF NOT EXISTS tt_prefill (
       id int unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
       messages bigint unsigned NOT NULL,
       users int unsigned NOT NULL,
       userPrefix varchar(32) NOT NULL,
       seed int unsigned NOT NULL,
       state varchar(16) NOT NULL COMMENT 'loading, done',
       started int unsigned NOT NULL,
       finished int unsigned NOT NULL DEFAULT 0,
       summary text NULL
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  );
  const [res] = await conn.query<mysql.ResultSetHeader>(
    "INSERT INTO tt_prefill (messages, users, userPrefix, seed, state, started) VALUES (?, ?, ?, ?, 'loading', UNIX_TIMESTAMP())",
    [opts.messages, opts.users, opts.userPrefix, opts.seed],
  );
  return res.insertId;
}

interface FirstIds {
  user: number;
  group: number;
  relation: number;
}

async function firstIds(conn: mysql.Connection): Promise<FirstIds> {
  const next = async (table: string) => {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(`SELECT COALESCE(MAX(id), 0) + 1 AS n FROM \`${table}\``);
    return Number(rows[0].n);
  };
  return { user: await next('IMUser'), group: await next('IMGroup'), relation: await next('IMRelationShip') };
}

// ---------------------------------------------------------------- indexes

interface DroppedIndexes {
  table: string;
  /** "UNIQUE KEY `uk` (`a`,`b`)" etc., as SHOW CREATE TABLE writes them. */
  definitions: string[];
  /** The table's primary key when it is not `id` (e.g. "(`relateId`,`msgId`)"): loaded in id order, re-keyed at the end. */
  primaryKey: string | null;
}

/**
 * Empty tables among `tables` are loaded in id order (the order rows are
 * generated in) with no secondary index: those are dropped, and a primary key
 * other than `id` becomes `id` for the load. restoreIndexes puts everything
 * back with one ALTER per table, which sorts instead of inserting at random.
 * Non-empty tables keep their indexes.
 */
async function dropSecondaryIndexes(conn: mysql.Connection, tables: string[], log: (line: string) => void): Promise<DroppedIndexes[]> {
  const dropped: DroppedIndexes[] = [];
  for (const table of tables) {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(`SELECT 1 FROM \`${table}\` LIMIT 1`);
    if (rows.length > 0) continue;
    const [create] = await conn.query<mysql.RowDataPacket[]>(`SHOW CREATE TABLE \`${table}\``);
    const ddl = String(create[0]['Create Table']);
    const definitions: string[] = [];
    const names: string[] = [];
    let primaryKey: string | null = null;
    const hasId = /^\s*`id` /m.test(ddl);
    for (const line of ddl.split('\n')) {
      const key = /^\s*((?:UNIQUE )?KEY `([^`]+)` \(.*\))(?: COMMENT '.*')?,?$/.exec(line);
      if (key) {
        definitions.push(key[1]);
        names.push(key[2]);
      }
      const primary = /^\s*PRIMARY KEY (\(.*\)),?$/.exec(line);
      if (primary && primary[1] !== '(`id`)' && hasId) primaryKey = primary[1];
    }
    const changes = names.map((n) => `DROP INDEX \`${n}\``);
    if (primaryKey !== null) changes.push('DROP PRIMARY KEY', 'ADD PRIMARY KEY (`id`)');
    if (changes.length === 0) continue;
    await conn.query(`ALTER TABLE \`${table}\` ${changes.join(', ')}`);
    dropped.push({ table, definitions, primaryKey });
  }
  if (dropped.length > 0) log(`indexes of ${dropped.length} empty tables dropped for the load (rebuilt at the end)`);
  return dropped;
}

/** One ALTER per table, a table per connection at a time; `dropped` empties as tables are done. */
async function restoreIndexes(conns: mysql.Connection[], dropped: DroppedIndexes[], log: (line: string) => void): Promise<void> {
  const pending = [...dropped];
  const worker = async (conn: mysql.Connection) => {
    for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
      const { table, definitions, primaryKey } = next;
      const started = Date.now();
      const changes = definitions.map((d) => `ADD ${d}`);
      if (primaryKey !== null) changes.unshift('DROP PRIMARY KEY', `ADD PRIMARY KEY ${primaryKey}`);
      await conn.query(`ALTER TABLE \`${table}\` ${changes.join(', ')}`);
      log(`  ${table}: ${primaryKey !== null ? 'primary key and ' : ''}${definitions.length} indexes in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      dropped.splice(dropped.indexOf(next), 1);
    }
  };
  await Promise.all(conns.map(worker));
}

// ---------------------------------------------------------------- rows

type LoadJob = [table: string, columns: readonly string[], data: Buffer];

/** LOAD DATA LOCAL INFILE of tab-separated rows; multi-row INSERTs if the server refuses it. */
class RowLoader {
  mode: 'load' | 'insert' = 'load';

  constructor(
    private readonly conns: mysql.Connection[],
    private readonly log: (line: string) => void,
  ) {}

  /** Jobs spread over the connections (different tables load side by side). */
  async loadAll(jobs: LoadJob[]): Promise<void> {
    const pending = [...jobs];
    await Promise.all(
      this.conns.map(async (conn) => {
        for (let job = pending.shift(); job !== undefined; job = pending.shift()) await this.load(job[0], job[1], job[2], conn);
      }),
    );
  }

  async load(table: string, columns: readonly string[], data: Buffer, conn = this.conns[0]): Promise<void> {
    if (data.length === 0) return;
    if (this.mode === 'load') {
      try {
        await conn.query({
          sql:
            `LOAD DATA LOCAL INFILE 'prefill.tsv' INTO TABLE \`${table}\` CHARACTER SET utf8mb4 ` +
            `FIELDS TERMINATED BY '\\t' ESCAPED BY '' LINES TERMINATED BY '\\n' (${columns.join(', ')})`,
          // In pieces: each becomes one packet, which must stay under the server's max_allowed_packet.
          infileStreamFactory: () => Readable.from(pieces(data, 1 << 20)),
        });
        return;
      } catch (err) {
        if (!localInfileRefused(err)) throw err;
        this.mode = 'insert';
        this.log(`the server refuses LOAD DATA LOCAL INFILE (${(err as Error).message}); using multi-row INSERTs`);
      }
    }
    const rows = data.toString('utf8').slice(0, -1).split('\n').map((line) => line.split('\t'));
    for (let i = 0; i < rows.length; i += INSERT_ROWS) {
      await conn.query(`INSERT INTO \`${table}\` (${columns.join(', ')}) VALUES ?`, [rows.slice(i, i + INSERT_ROWS)]);
    }
  }
}

/**
 * Tab-separated rows written straight into a Buffer (numbers as decimal
 * digits): building strings for a hundred million rows would cost several
 * times more than the rows' generation.
 */
class TsvWriter {
  private buf = Buffer.allocUnsafe(1 << 20);
  private len = 0;
  rows = 0;

  /** A whole number >= 0, then a tab (or a newline when `last`). */
  int(n: number, last = false): this {
    this.ensure(17);
    const b = this.buf;
    let start = this.len;
    do {
      b[this.len++] = 48 + (n % 10);
      n = Math.floor(n / 10);
    } while (n > 0);
    for (let end = this.len - 1; start < end; start++, end--) {
      const t = b[start];
      b[start] = b[end];
      b[end] = t;
    }
    b[this.len++] = last ? 10 : 9;
    if (last) this.rows++;
    return this;
  }

  /** Bytes without tabs, newlines or backslashes, then a tab. */
  bytes(data: Buffer): this {
    this.ensure(data.length + 1);
    data.copy(this.buf, this.len);
    this.len += data.length;
    this.buf[this.len++] = 9;
    return this;
  }

  get size(): number {
    return this.len;
  }

  take(): Buffer {
    const out = this.buf.subarray(0, this.len);
    this.buf = Buffer.allocUnsafe(1 << 20);
    this.len = 0;
    this.rows = 0;
    return out;
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }
}

function* pieces(data: Buffer, size: number): Generator<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, Math.min(data.length, at + size));
}

function localInfileRefused(err: unknown): boolean {
  const e = err as { errno?: number; code?: string };
  // 1148 ER_NOT_ALLOWED_COMMAND (local_infile off), 3948 ER_CLIENT_LOCAL_FILES_DISABLED, 4166 (MariaDB: LOAD DATA LOCAL disabled)
  return e.errno === 1148 || e.errno === 3948 || e.errno === 4166 || e.code === 'ER_NOT_ALLOWED_COMMAND';
}

/** Copies of every conversation's newest message in Redis (latest-messages.ts), as the db-proxy keeps them. */
async function copyLatestMessages(conn: mysql.Connection, redis: Redis, tableCount: number, log: (line: string) => void): Promise<number> {
  log('Redis: the newest message of every conversation');
  const query = async (sql: string, values?: unknown[]) => (await conn.query<mysql.RowDataPacket[]>(sql, values))[0];
  const tables = Array.from({ length: tableCount }, (_, i) => [
    { name: `IMMessage_${i}`, kind: SINGLE_CONVERSATION },
    { name: `IMGroupMessage_${i}`, kind: GROUP_CONVERSATION },
  ]).flat();
  let copied = 0;
  await forEachNewestMessage(tables, () => query, async (rows) => {
    const commands = copyCommands(RedisKeys, rows, DEFAULT_COPY_LIMITS, Math.floor(Date.now() / 1000));
    const results = (await redis.pipeline(commands as string[][]).exec()) ?? [];
    for (const [err] of results) if (err) throw err;
    copied += commands.length;
  });
  return copied;
}

async function insertUsers(conn: mysql.Connection, opts: PrefillOptions, firstId: number, created: number): Promise<void> {
  const [departs] = await conn.query<mysql.RowDataPacket[]>("SELECT id FROM IMDepart WHERE departName = 'Prefilled history' AND status = 0 LIMIT 1");
  let depart: number;
  if (departs.length > 0) {
    depart = Number(departs[0].id);
  } else {
    const [res] = await conn.query<mysql.ResultSetHeader>(
      "INSERT INTO IMDepart (departName, priority, parentId, status, created, updated) VALUES ('Prefilled history', 0, 0, 0, ?, ?)",
      [created, created],
    );
    depart = res.insertId;
  }
  for (let i = 0; i < opts.users; i += INSERT_ROWS) {
    const rows: unknown[][] = [];
    for (let u = i; u < Math.min(opts.users, i + INSERT_ROWS); u++) {
      const { salt, password } = hashForStorage(opts.password);
      const name = `${opts.userPrefix}${u}`;
      rows.push([firstId + u, name, name, name, password, salt, u % 3, '', '', '', depart, 0, '', created, created]);
    }
    await conn.query(
      'INSERT INTO IMUser (id, name, domain, nick, password, salt, sex, phone, email, avatar, departId, status, sign_info, created, updated) VALUES ?',
      [rows],
    );
  }
}

/** Client-encrypted texts of varied length (what clients store), reused round-robin. */
function contentPool(): Buffer[] {
  const words = ['ok', 'see you', 'meeting at 3', 'can you check the build', 'thanks!', 'lunch?', 'the report is ready', 'I will call you', 'on my way', 'sounds good', 'please review', 'done'];
  const random = (() => {
    let a = 7;
    return () => (a = (Math.imul(a, 1103515245) + 12345) >>> 0) / 4294967296;
  })();
  const pool: Buffer[] = [];
  for (let i = 0; i < 512; i++) {
    const parts: string[] = [];
    const n = 1 + Math.floor(random() * 6);
    for (let j = 0; j < n; j++) parts.push(words[Math.floor(random() * words.length)]);
    pool.push(encryptMessageText(`${parts.join(', ')} (${i})`));
  }
  return pool;
}

const SINGLE_COLUMNS = ['id', 'relateId', 'fromId', 'toId', 'msgId', 'content', 'type', 'status', 'created', 'updated'];
const GROUP_COLUMNS = ['id', 'groupId', 'userId', 'msgId', 'content', 'type', 'status', 'created', 'updated'];
const RELATION_COLUMNS = ['id', 'smallId', 'bigId', 'status', 'created', 'updated'];
const SESSION_COLUMNS = ['userId', 'peerId', 'type', 'status', 'created', 'updated'];

/** Generates the messages chunk by chunk while the previous chunk loads. */
async function loadMessages(loader: RowLoader, model: HistoryModel, ids: FirstIds, opts: PrefillOptions): Promise<{ single: number; group: number }> {
  const pool = contentPool();
  const counts = { single: 0, group: 0 };
  const singles = Array.from({ length: opts.tableCount }, () => new TsvWriter());
  const groups = Array.from({ length: opts.tableCount }, () => new TsvWriter());
  const relations = new TsvWriter();
  // Explicit, dense row ids (the tables are empty): MAX(id) stays the row count.
  const singleIds = new Array<number>(opts.tableCount).fill(0);
  const groupIds = new Array<number>(opts.tableCount).fill(0);
  let loading: Promise<void> = Promise.resolve();
  let lastReport = Date.now();
  for (;;) {
    let n = 0;
    while (n < CHUNK_MESSAGES) {
      const m = model.next();
      if (m === null) break;
      const content = pool[n & 511];
      if (m.group) {
        const gid = ids.group + m.conversation;
        groups[gid % opts.tableCount].int(++groupIds[gid % opts.tableCount]).int(gid).int(ids.user + m.from).int(m.msgId).bytes(content).int(17).int(0).int(m.created).int(m.created, true);
        counts.group++;
      } else {
        const rid = ids.relation + m.conversation;
        if (m.firstContact) {
          relations.int(rid).int(ids.user + Math.min(m.from, m.to)).int(ids.user + Math.max(m.from, m.to)).int(0).int(m.created).int(m.created, true);
        }
        singles[rid % opts.tableCount].int(++singleIds[rid % opts.tableCount]).int(rid).int(ids.user + m.from).int(ids.user + m.to).int(m.msgId).bytes(content).int(1).int(0).int(m.created).int(m.created, true);
        counts.single++;
      }
      n++;
      // Let the load of the previous chunk progress.
      if ((n & 16383) === 0) await nextTurn();
    }
    await loading;
    if (n === 0) break;
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      opts.log(`  ${model.count} / ${opts.messages} messages (${model.relations} relations)`);
    }
    const batch: LoadJob[] = [];
    singles.forEach((w, i) => batch.push([`IMMessage_${i}`, SINGLE_COLUMNS, w.take()]));
    groups.forEach((w, i) => batch.push([`IMGroupMessage_${i}`, GROUP_COLUMNS, w.take()]));
    batch.push(['IMRelationShip', RELATION_COLUMNS, relations.take()]);
    loading = loader.loadAll(batch);
    // Awaited before the next chunk is handed over; until then a failure must not count as unhandled.
    loading.catch(() => undefined);
  }
  await loading;
  return counts;
}

async function insertGroups(conn: mysql.Connection, model: HistoryModel, ids: FirstIds, created: number): Promise<void> {
  for (let g = 0; g < model.groups; g++) {
    const gid = ids.group + g;
    const { first, size } = model.groupMembers(g);
    await conn.query(
      'INSERT INTO IMGroup (id, name, avatar, creator, type, userCnt, status, version, lastChated, created, updated) VALUES (?, ?, ?, ?, 1, ?, 0, 1, ?, ?, ?)',
      [gid, `team ${g}`, '', ids.user + first, size, model.groupLast[g], created, created],
    );
    const members: unknown[][] = [];
    for (let u = first; u < first + size; u++) members.push([gid, ids.user + u, 0, created, created]);
    await conn.query('INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES ?', [members]);
  }
}

/** Both sides' single sessions of every relation, every member's group session. */
async function loadSessions(loader: RowLoader, model: HistoryModel, ids: FirstIds, created: number): Promise<number> {
  const rows = new TsvWriter();
  let count = 0;
  const flush = async () => {
    count += rows.rows;
    await loader.load('IMRecentSession', SESSION_COLUMNS, rows.take());
  };
  for (let g = 0; g < model.groups; g++) {
    if (model.groupMsgId[g] === 0) continue;
    const { first, size } = model.groupMembers(g);
    for (let u = first; u < first + size; u++) rows.int(ids.user + u).int(ids.group + g).int(2).int(0).int(created).int(model.groupLast[g], true);
  }
  const small = model.relationSmall.data;
  const big = model.relationBig.data;
  const firstAt = model.relationFirst.data;
  const lastAt = model.relationLast.data;
  for (let r = 0; r < model.relations; r++) {
    const a = ids.user + small[r];
    const b = ids.user + big[r];
    rows.int(a).int(b).int(1).int(0).int(firstAt[r]).int(lastAt[r], true);
    rows.int(b).int(a).int(1).int(0).int(firstAt[r]).int(lastAt[r], true);
    if (rows.rows >= 2 * CHUNK_MESSAGES) await flush();
  }
  await flush();
  return count;
}

// ---------------------------------------------------------------- Redis

/** Counters, unread counts and groups, in pipelined batches. Returns the conversations with unread messages. */
async function writeRedis(redis: Redis, model: HistoryModel, ids: FirstIds, joined: number): Promise<number> {
  const BATCH = 5000;
  let pipeline = redis.pipeline();
  let queued = 0;
  const flush = async (force = false) => {
    if (queued === 0 || (!force && queued < BATCH)) return;
    const results = (await pipeline.exec()) ?? [];
    for (const [err] of results) if (err) throw err;
    pipeline = redis.pipeline();
    queued = 0;
  };
  for (let u = 0; u < model.shape.users; u++) {
    pipeline.del(RedisKeys.unread(ids.user + u));
    queued++;
    await flush();
  }
  for (let g = 0; g < model.groups; g++) {
    const gid = ids.group + g;
    const { first, size } = model.groupMembers(g);
    const members: Record<string, string> = {};
    for (let u = first; u < first + size; u++) members[String(ids.user + u)] = String(joined);
    pipeline.del(RedisKeys.groupMembers(gid));
    pipeline.hset(RedisKeys.groupMembers(gid), members);
    pipeline.set(RedisKeys.groupMsgId(gid), String(model.groupMsgId[g]));
    pipeline.hset(RedisKeys.groupMsgCount(gid), 'count', String(model.groupMsgId[g]));
    for (let u = first; u < first + size; u++) pipeline.hset(RedisKeys.userGroupCount(ids.user + u, gid), 'count', String(model.groupReadUpTo[g]));
    queued += 4 + size;
    await flush();
  }
  let unread = 0;
  const msgIds = model.relationMsgId.data;
  const tailSender = model.relationTailSender.data;
  const tailUnread = model.relationTailUnread.data;
  const small = model.relationSmall.data;
  const big = model.relationBig.data;
  for (let r = 0; r < model.relations; r++) {
    pipeline.set(RedisKeys.msgId(ids.relation + r), String(msgIds[r]));
    queued++;
    if (tailUnread[r] > 0) {
      const sender = tailSender[r];
      const receiver = sender === small[r] ? big[r] : small[r];
      pipeline.hincrby(RedisKeys.unread(ids.user + receiver), String(ids.user + sender), tailUnread[r]);
      queued++;
      unread++;
    }
    await flush();
  }
  await flush(true);
  return unread;
}
