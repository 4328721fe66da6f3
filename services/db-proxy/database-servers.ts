/**
 * The database servers a db-proxy uses: `main` (mysqlUrl: users, groups,
 * relations, sessions, and the message tables the shard map leaves there) and
 * the servers of `mysqlServers` (message tables only). Each is a primary,
 * written and read through a MysqlGateway, with optional replicas for reads
 * (replica-reads.ts).
 *
 * Where a message table is: the shard map says, and the servers are asked at
 * start. A table found on another configured server than the map names (it was
 * moved: `npm run storage -- move-table`) is used there, with a warning to
 * update the map; a statement that finds a table missing (moved while we run)
 * makes the db-proxy look for it again, so it follows a move without a restart.
 * A table found on two servers, or on none, stops the start-up.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { Logger } from '../../lib/log';
import { SchemaError } from './storage-errors';
import { MAIN_SERVER, MAIN_TABLES, MessageTables } from './message-tables';
import { MysqlGateway } from './mysql-gateway';
import { Replica, type ReplicaReadOptions, type ReplicaStatus } from './replica-reads';

export interface ServerSpec {
  name: string;
  url: string;
  replicaUrls: readonly string[];
}

export interface DatabaseServersOptions {
  servers: readonly ServerSpec[];
  poolSize: number;
  /** Primaries' multi-statement connections, for the message store (MysqlGateway scriptPoolSize). */
  scriptPoolSize: number;
  timeoutMs: number;
  connectTimeoutMs: number;
  replicas: ReplicaReadOptions;
}

export interface ServerStatus {
  name: string;
  url: string;
  up: boolean;
  messageTables: string[];
  /** Reads served by the primary although a replica was configured (it was not there in time, or unusable). */
  primaryFallbackReads: number;
  replicas: ReplicaStatus[];
}

/** A primary and its replicas. */
export class DatabaseServer {
  readonly primary: MysqlGateway;
  readonly replicas: Replica[];
  primaryFallbackReads = 0;
  private nextReplica = 0;
  private positionFetch: Promise<string> | null = null;

  constructor(
    readonly name: string,
    url: string,
    replicaUrls: readonly string[],
    requiredTables: () => string[],
    onMissingTable: (table: string) => void,
    private readonly options: DatabaseServersOptions,
    logger: Logger,
  ) {
    const gatewayOptions = { poolSize: options.poolSize, timeoutMs: options.timeoutMs, connectTimeoutMs: options.connectTimeoutMs };
    this.primary = new MysqlGateway({ ...gatewayOptions, url, requiredTables, onMissingTable, scriptPoolSize: options.scriptPoolSize }, logger);
    this.replicas = replicaUrls.map(
      (replicaUrl) =>
        new Replica(
          new MysqlGateway({ ...gatewayOptions, url: replicaUrl, requiredTables, onMissingTable, lenientSchema: true }, logger),
          () => this.primaryPosition(),
          options.replicas,
          logger,
        ),
    );
  }

  async start(): Promise<void> {
    await Promise.all([this.primary.start(), ...this.replicas.map((r) => r.gateway.start())]);
    for (const r of this.replicas) r.start();
  }

  async close(): Promise<void> {
    for (const r of this.replicas) r.close();
    await Promise.all([this.primary.close(), ...this.replicas.map((r) => r.gateway.close())]);
  }

  /**
   * A read that may be served by a replica, never missing a write acknowledged
   * before it was asked (see replica-reads.ts); on the primary when there is no
   * usable replica.
   */
  async read<T = RowDataPacket[]>(sql: string, values: unknown[] = []): Promise<T> {
    const replica = this.pickReplica();
    if (replica === null) return this.primary.query<T>(sql, values);
    const position = await this.primaryPosition();
    if (await replica.waitFor(position, this.options.replicas.waitMs)) {
      try {
        const rows = await replica.gateway.query<T>(sql, values);
        replica.reads++;
        return rows;
      } catch (err) {
        if (replica.gateway.isUp) throw err; // the statement failed, not the replica
      }
    }
    this.primaryFallbackReads++;
    return this.primary.query<T>(sql, values);
  }

  /**
   * The primary's GTID position, fetched after the caller asked: callers of the
   * same event-loop turn share one fetch.
   */
  primaryPosition(): Promise<string> {
    this.positionFetch ??= new Promise<string>((resolve, reject) => {
      setImmediate(() => {
        this.positionFetch = null;
        this.primary.query<Array<{ pos: string | null }>>('SELECT @@GLOBAL.gtid_binlog_pos AS pos').then(
          (rows) => resolve(String(rows[0]?.pos ?? '')),
          reject,
        );
      });
    });
    return this.positionFetch;
  }

  private pickReplica(): Replica | null {
    for (let i = 0; i < this.replicas.length; i++) {
      const replica = this.replicas[(this.nextReplica + i) % this.replicas.length];
      if (replica.healthy) {
        this.nextReplica = (this.nextReplica + i + 1) % this.replicas.length;
        return replica;
      }
    }
    return null;
  }
}

export class DatabaseServers {
  readonly main: DatabaseServer;
  private readonly byName = new Map<string, DatabaseServer>();
  /** Message table -> the server it is on now. */
  private readonly location = new Map<string, DatabaseServer>();
  private relocating: Promise<void> | null = null;
  /** Until the tables were located at start, only main's own tables are required. */
  private located = false;

  constructor(
    readonly tables: MessageTables,
    options: DatabaseServersOptions,
    private readonly logger: Logger,
  ) {
    for (const spec of options.servers) {
      const server = new DatabaseServer(
        spec.name,
        spec.url,
        spec.replicaUrls,
        () => this.requiredOn(spec.name),
        (table) => this.tableMissing(table),
        options,
        logger,
      );
      this.byName.set(spec.name, server);
    }
    const main = this.byName.get(MAIN_SERVER);
    if (!main) throw new Error('the main database server is not configured');
    this.main = main;
    for (const table of tables.all()) this.location.set(table, this.serverNamed(tables.mappedServer(table)));
  }

  get all(): DatabaseServer[] {
    return [...this.byName.values()];
  }

  /** The server holding a message table now. */
  forTable(table: string): DatabaseServer {
    const server = this.location.get(table);
    if (server === undefined) throw new Error(`not a message table: ${table}`);
    return server;
  }

  /**
   * Connects every server and checks where each message table is (a server
   * that is down is checked when it is back; missing or doubled tables stop the
   * start-up with a SchemaError).
   */
  async start(): Promise<void> {
    await Promise.all(this.all.map((s) => s.start()));
    await this.locateTables(true);
    this.located = true;
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((s) => s.close()));
  }

  status(): ServerStatus[] {
    return this.all.map((s) => ({
      name: s.name,
      url: s.primary.description,
      up: s.primary.isUp,
      messageTables: [...this.location].filter(([, server]) => server === s).map(([table]) => table),
      primaryFallbackReads: s.primaryFallbackReads,
      replicas: s.replicas.map((r) => r.status()),
    }));
  }

  private serverNamed(name: string): DatabaseServer {
    const server = this.byName.get(name);
    if (!server) throw new Error(`shard map names server "${name}", which is not configured`);
    return server;
  }

  /** The tables a server must hold: main's own tables, and the message tables located on it. */
  private requiredOn(name: string): string[] {
    const own: string[] = name === MAIN_SERVER ? [...MAIN_TABLES] : [];
    if (!this.located) return own;
    for (const [table, server] of this.location) if (server.name === name) own.push(table);
    return own;
  }

  /** A statement found a table missing: if it is a message table, look where it went (once at a time). */
  private tableMissing(table: string): void {
    if (MessageTables.indexOf(table) === null || !this.tables.isMessageTable(table) || this.relocating) return;
    this.relocating = this.locateTables(false)
      .catch((err: Error) => this.logger.error({ err: err.message }, 'could not locate the message tables'))
      .finally(() => {
        this.relocating = null;
      });
  }

  /** Asks every reachable server which message tables it holds, and routes each to where it is. */
  private async locateTables(atStart: boolean): Promise<void> {
    const holders = new Map<string, string[]>();
    const unreachable: string[] = [];
    await Promise.all(
      this.all.map(async (server) => {
        if (!server.primary.isUp) {
          unreachable.push(server.name);
          return;
        }
        let rows: RowDataPacket[];
        try {
          rows = await server.primary.query<RowDataPacket[]>(
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name REGEXP '^IM(Group)?Message_[0-9]+$'",
          );
        } catch {
          unreachable.push(server.name);
          return;
        }
        for (const row of rows) {
          const table = String(row.name);
          if (!this.tables.isMessageTable(table)) continue;
          holders.set(table, [...(holders.get(table) ?? []), server.name]);
        }
      }),
    );
    const problems: string[] = [];
    for (const table of this.tables.all()) {
      const mapped = this.tables.mappedServer(table);
      const found = (holders.get(table) ?? []).sort();
      if (found.length > 1) {
        problems.push(`${table} exists on ${found.join(' and ')} (finish or undo its move: npm run storage -- move-table; or drop the stale copy)`);
        continue;
      }
      if (found.length === 0) {
        // Not found: on a server we could not ask, or really missing (it must exist somewhere).
        if (unreachable.length === 0 && atStart) problems.push(`${table} exists on no server (run "npm run db:migrate" / "npm run storage -- migrate")`);
        continue;
      }
      const current = this.location.get(table);
      if (current?.name === found[0]) continue;
      this.location.set(table, this.serverNamed(found[0]));
      this.logger.warn(
        { table, mapped, server: found[0], before: current?.name },
        found[0] === mapped ? `${table} is on ${found[0]} again` : `${table} is on server ${found[0]}, not on ${mapped} as the shard map says: used there (update "shardMap")`,
      );
    }
    if (problems.length > 0) throw new SchemaError(`message tables: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; ...' : ''}`);
  }
}
