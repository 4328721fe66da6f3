/**
 * The only door to MySQL: a mysql2 pool with a circuit breaker. While MySQL is
 * known to be down, requests fail at once (StorageUnavailableError) instead of
 * each waiting for a connect timeout; a probe runs every half second and closes
 * the breaker when MySQL answers and the schema is complete. Down/up changes are
 * logged once each, not once per failed request.
 */
import mysql, { type Pool, type PoolConnection } from 'mysql2/promise';
import type { PoolConnection as CorePoolConnection } from 'mysql2';
import type { Logger } from '../../lib/log';
import { parseMysqlUrl, redactUrl } from '../../lib/mysql-url';
import {
  CommitOutcomeUnknownError,
  DEADLOCK_ATTEMPTS,
  MysqlErrno,
  SchemaError,
  StorageUnavailableError,
  deadlockRetryPause,
  isDeadlock,
  isMysqlConnectionError,
  missingTableOf,
  mysqlErrno,
} from './storage-errors';

export interface MysqlGatewayOptions {
  url: string;
  poolSize: number;
  /** Per statement; a slower one fails (and its connection is dropped). */
  timeoutMs: number;
  connectTimeoutMs: number;
  /** Tables that must exist; checked at start and before the breaker closes again (asked each time: tables can move between servers). */
  requiredTables: string[] | (() => string[]);
  /** Told the name of a table a statement found missing (a message table moved to another server). */
  onMissingTable?: (table: string) => void;
  /** A replica: missing tables at start only mean it has not caught up yet (it is probed until they are there). */
  lenientSchema?: boolean;
  /**
   * Connections that may carry several statements in one query (scripts:
   * `script()`, transactions opened with `{ script: true }`), for the message
   * store; 0: none, scripts run statement by statement.
   */
  scriptPoolSize?: number;
}

/** One statement of a script: SQL from constants and checked table names, every value a placeholder. */
export interface Statement {
  sql: string;
  values: unknown[];
}

export type SettleQuery = (sql: string, values: unknown[]) => Promise<mysql.RowDataPacket[]>;

/** One transaction on one pooled connection. */
export interface Transaction {
  query<T = mysql.RowDataPacket[]>(sql: string, values?: unknown[]): Promise<T>;
  /**
   * Several statements, in order, with their results: one round trip on a
   * script transaction (the first also carries the BEGIN), else one each. The
   * first statement that fails stops the rest and throws (the transaction then
   * rolls back as usual).
   */
  queryMany(statements: readonly Statement[]): Promise<unknown[]>;
}

const PROBE_INTERVAL_MS = 500;
/**
 * Time allowed to settle an unknown COMMIT outcome. Added to a statement that
 * already timed out (storageTimeoutMs, 5 s by default), it stays inside the msg
 * server's 10 s request timeout: a late answer would come after it gave up.
 */
export const SETTLE_BUDGET_MS = 2_000;
/** mysql2 refused to send the query on a connection it already knew was dead: nothing reached the server. */

/** Plain counters for the metrics (services/db-proxy/metrics.ts). */
export interface StorageStats {
  /** Failed statements and connection errors (not requests refused while known down). */
  errors: number;
  /** Times it went from up to down. */
  outages: number;
  /** Statements run again after InnoDB chose them as deadlock victims. */
  deadlockRetries: number;
}

export class MysqlGateway {
  readonly pool: Pool;
  /**
   * multipleStatements connections (scriptPoolSize), kept apart from the pool
   * every other query uses: only the message store's scripts run here, built
   * from constant SQL, table names from MessageTables and placeholders (mysql2
   * escapes each value; nothing a client sent is ever part of the SQL text).
   * A round trip costs two process wake-ups on a loaded machine; a store
   * transaction of a dozen statements is two round trips here, not a dozen.
   */
  private readonly scriptPool: Pool | null;
  readonly stats: StorageStats = { errors: 0, outages: 0, deadlockRetries: 0 };
  private up = true;
  private downReason = '';
  private probeTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly options: MysqlGatewayOptions,
    private readonly logger: Logger,
  ) {
    const poolOptions = {
      ...parseMysqlUrl(options.url),
      // The request gate bounds how much work waits for a connection.
      queueLimit: 0,
      connectTimeout: options.connectTimeoutMs,
      charset: 'utf8mb4_bin',
      enableKeepAlive: true,
      supportBigNumbers: true,
      bigNumberStrings: false,
    };
    // One statement per query (mysql2's default, stated here on purpose): values
    // always go through placeholders, and even a mistake there could not chain statements.
    this.pool = mysql.createPool({ ...poolOptions, connectionLimit: options.poolSize, multipleStatements: false });
    const scripts = options.scriptPoolSize ?? 0;
    this.scriptPool = scripts > 0 ? mysql.createPool({ ...poolOptions, connectionLimit: scripts, multipleStatements: true }) : null;
    // Lock waits end inside MySQL (error 1205, a clean rollback) before our own
    // statement timeout gives up on a statement whose outcome it then cannot know.
    const lockWaitSeconds = Math.max(1, Math.floor(options.timeoutMs / 1000) - 1);
    for (const pool of [this.pool, this.scriptPool]) {
      pool?.on('connection', (promiseTyped) => {
        // mysql2 passes its callback-style connection here, whatever the promise typings say.
        const conn = promiseTyped as unknown as CorePoolConnection;
        // A pooled connection that dies while idle reports here; the pool drops it.
        conn.on('error', () => {});
        // Queued ahead of the first query the pool hands this connection to.
        conn.query(`SET SESSION innodb_lock_wait_timeout = ${lockWaitSeconds}`, () => {});
      });
    }
  }

  get isUp(): boolean {
    return this.up;
  }

  /**
   * Checks the connection and the schema. MySQL being unreachable is not fatal
   * (the service starts and recovers later); missing tables are.
   */
  async start(): Promise<void> {
    try {
      await this.checkSchema();
      this.logger.info({ mysql: redactUrl(this.options.url) }, 'MySQL connected');
    } catch (err) {
      if (!isMysqlConnectionError(err) && !(this.options.lenientSchema && err instanceof SchemaError)) throw err;
      this.markDown(err);
    }
  }

  /**
   * One statement in autocommit. A statement InnoDB rolled back as a deadlock
   * victim (concurrent relation or session upserts) is run again: it had no effect.
   */
  async query<T = mysql.RowDataPacket[]>(sql: string, values: unknown[] = []): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      this.assertUp();
      try {
        const [rows] = await this.pool.query({ sql, values, timeout: this.options.timeoutMs });
        return rows as T;
      } catch (err) {
        if (isDeadlock(err) && attempt < DEADLOCK_ATTEMPTS) {
          this.stats.deadlockRetries++;
          await deadlockRetryPause(attempt);
          continue;
        }
        this.noteError(err);
        throw err;
      }
    }
  }

  /**
   * Statements in autocommit, in order, with their results: one round trip on
   * a script connection (else one each). Stops at the first that fails; those
   * before it took effect. Not retried: the caller knows which are safe to repeat.
   */
  async script(statements: readonly Statement[]): Promise<unknown[]> {
    if (statements.length === 0) return [];
    if (this.scriptPool === null || statements.length === 1) {
      const out: unknown[] = [];
      for (const st of statements) out.push(await this.query<unknown>(st.sql, st.values));
      return out;
    }
    this.assertUp();
    try {
      const [results] = await this.scriptPool.query({ sql: joinStatements(this.scriptPool, statements), timeout: this.options.timeoutMs });
      return results as unknown as unknown[];
    } catch (err) {
      this.noteError(err);
      throw err;
    }
  }

  /** script(), run again after a deadlock: for scripts whose statements are all safe to repeat. */
  async scriptWithRetry(statements: readonly Statement[]): Promise<unknown[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.script(statements);
      } catch (err) {
        if (!isDeadlock(err) || attempt >= DEADLOCK_ATTEMPTS) throw err;
        this.stats.deadlockRetries++;
        await deadlockRetryPause(attempt);
      }
    }
  }

  /** Where this gateway points, for logs (no password). */
  get description(): string {
    return redactUrl(this.options.url);
  }

  /** A pooled connection for a transaction (the pool being down is noted and rethrown). */
  private async connection(script: boolean): Promise<PoolConnection> {
    this.assertUp();
    try {
      return await (script && this.scriptPool !== null ? this.scriptPool : this.pool).getConnection();
    } catch (err) {
      this.noteError(err);
      throw err;
    }
  }

  /**
   * Runs `work` inside BEGIN ... COMMIT on one connection. Any error before
   * COMMIT rolls back; an error at COMMIT is reported as CommitOutcomeUnknownError.
   * `script`: on a script connection, where tx.queryMany is one round trip
   * (the BEGIN travels with the first statements).
   */
  async transaction<T>(work: (tx: Transaction) => Promise<T>, { script = false }: { script?: boolean } = {}): Promise<T> {
    const conn = await this.connection(script);
    const multi = script && this.scriptPool !== null;
    const timeout = this.options.timeoutMs;
    let reusable = true;
    let begun = false;
    const begin = async () => {
      if (begun) return;
      begun = true;
      await conn.query({ sql: 'BEGIN', timeout });
    };
    const tx: Transaction = {
      query: async <R>(sql: string, values: unknown[] = []) => {
        await begin();
        const [rows] = await conn.query({ sql, values, timeout });
        return rows as R;
      },
      queryMany: async (statements) => {
        if (statements.length === 0) return [];
        if (!multi) {
          const out: unknown[] = [];
          for (const st of statements) out.push(await tx.query<unknown>(st.sql, st.values));
          return out;
        }
        const withBegin = !begun;
        begun = true;
        const sql = (withBegin ? 'BEGIN;\n' : '') + joinStatements(conn, statements);
        const [results] = await conn.query({ sql, timeout });
        // A single statement's result is not wrapped in a list.
        const list = withBegin || statements.length > 1 ? (results as unknown as unknown[]) : [results];
        return withBegin ? list.slice(1) : list;
      },
    };
    try {
      let result: T;
      try {
        result = await work(tx);
      } catch (err) {
        try {
          await conn.query({ sql: 'ROLLBACK', timeout });
        } catch {
          reusable = false;
        }
        throw err;
      }
      await begin(); // a transaction that ran no statement still commits (nothing)
      try {
        await conn.query({ sql: 'COMMIT', timeout });
      } catch (err) {
        reusable = false;
        this.noteError(err);
        throw new CommitOutcomeUnknownError(err, conn.threadId);
      }
      return result;
    } catch (err) {
      if (isMysqlConnectionError(err)) reusable = false;
      this.noteError(err);
      throw err;
    } finally {
      if (reusable) conn.release();
      else conn.destroy();
    }
  }

  /**
   * After a COMMIT with an unknown outcome: ends the server thread that ran the
   * transaction (KILL, on a fresh connection, since the pool may be stuck), waits
   * until it is gone, so the transaction is committed or rolled back for good,
   * then runs `check` to see which. Null when MySQL cannot be asked in time.
   */
  async settleUnknownCommit<T>(err: CommitOutcomeUnknownError, check: (query: SettleQuery) => Promise<T>): Promise<T | null> {
    const deadline = Date.now() + SETTLE_BUDGET_MS;
    const remaining = () => Math.max(1, deadline - Date.now());
    let conn: mysql.Connection | null = null;
    try {
      conn = await mysql.createConnection({
        ...parseMysqlUrl(this.options.url),
        connectTimeout: Math.min(this.options.connectTimeoutMs, SETTLE_BUDGET_MS),
        charset: 'utf8mb4_bin',
        supportBigNumbers: true,
        bigNumberStrings: false,
      });
      conn.on('error', () => {});
      const open = conn;
      const query: SettleQuery = async (sql, values) => {
        const [rows] = await open.query({ sql, values, timeout: remaining() });
        return rows as mysql.RowDataPacket[];
      };
      try {
        await query('KILL ?', [err.threadId]);
      } catch (killErr) {
        if (mysqlErrno(killErr) !== MysqlErrno.NO_SUCH_THREAD) throw killErr;
      }
      // KILL only flags the thread; it may still be finishing a statement.
      while ((await query('SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = ?', [err.threadId])).length > 0) {
        if (Date.now() > deadline) return null;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return await check(query);
    } catch (settleErr) {
      this.logger.warn({ threadId: err.threadId, err: (settleErr as Error).message }, 'could not settle an unknown COMMIT outcome');
      return null;
    } finally {
      conn?.destroy();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = null;
    await Promise.all([this.pool.end().catch(() => {}), this.scriptPool?.end().catch(() => {})]);
  }

  /** Throws at once while MySQL is known to be down. */
  assertUp(): void {
    if (!this.up) throw new StorageUnavailableError('MySQL', this.downReason);
  }

  private noteError(err: unknown): void {
    if (err instanceof StorageUnavailableError || err instanceof CommitOutcomeUnknownError) return;
    this.stats.errors++;
    if (isMysqlConnectionError(err)) this.markDown(err);
    const missing = missingTableOf(err);
    if (missing !== null) this.options.onMissingTable?.(missing);
  }

  private markDown(err: unknown): void {
    if (!this.up || this.closed) return;
    this.up = false;
    this.stats.outages++;
    this.downReason = (err as { code?: string }).code ?? (err as Error).message ?? String(err);
    this.logger.error(
      { mysql: redactUrl(this.options.url), err: this.downReason },
      'MySQL unavailable: requests fail with a storage error until it is back',
    );
    this.scheduleProbe(0);
  }

  private scheduleProbe(delayMs: number): void {
    if (this.closed || this.probeTimer) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      void this.probe();
    }, delayMs);
    this.probeTimer.unref();
  }

  private async probe(): Promise<void> {
    try {
      await this.checkSchema();
    } catch (err) {
      if (!isMysqlConnectionError(err)) {
        this.downReason = (err as Error).message;
      }
      this.scheduleProbe(PROBE_INTERVAL_MS);
      return;
    }
    if (this.closed) return;
    this.up = true;
    this.logger.info({ mysql: redactUrl(this.options.url) }, 'MySQL available again');
  }

  private async checkSchema(): Promise<void> {
    const [rows] = await this.pool.query<mysql.RowDataPacket[]>({
      sql: 'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE()',
      timeout: this.options.timeoutMs,
    });
    const present = new Set(rows.map((r) => String(r.name)));
    const required = typeof this.options.requiredTables === 'function' ? this.options.requiredTables() : this.options.requiredTables;
    const missing = required.filter((t) => !present.has(t));
    if (missing.length > 0) {
      throw new SchemaError(
        `database ${redactUrl(this.options.url)} lacks table(s) ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}` +
          ' (run "npm run db:migrate", or set messageTableCount to the number of IMMessage_N tables you have)',
      );
    }
  }
}

/** Statements as one multi-statement query text, each value escaped by mysql2 as in a single query. */
function joinStatements(formatter: { format(sql: string, values?: unknown[]): string }, statements: readonly Statement[]): string {
  return statements.map((st) => formatter.format(st.sql, st.values)).join(';\n');
}
