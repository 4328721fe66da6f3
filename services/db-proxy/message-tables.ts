/**
 * Which table holds a conversation's messages, which database server holds
 * that table (the shard map), and the clock the tables use.
 *
 * Table index N = relationId % count (IMMessage_N) or groupId % count
 * (IMGroupMessage_N). The shard map assigns indexes to database servers:
 * IMMessage_N and IMGroupMessage_N always live together, on `main` unless the
 * map names another server. Users, groups, relations, sessions, audio and
 * files always live on `main`.
 */
import { ConfigError } from '../../lib/errors';

/** The main database's server name in shard maps. */
export const MAIN_SERVER = 'main';

/** The tables on `main` that are not message tables. */
export const MAIN_TABLES = [
  'IMUser',
  'IMDepart',
  'IMRelationShip',
  'IMRecentSession',
  'IMGroup',
  'IMGroupMember',
  'IMAudio',
  'IMTransmitFile',
] as const;

const MESSAGE_TABLE = /^IM(Group)?Message_(\d+)$/;

export class MessageTables {
  /** Server name per table index. */
  private readonly serverOfIndex: string[];

  /**
   * `shardMap`: "N" or "FROM-TO" (table indexes) -> server name; unlisted
   * indexes are on main. Checked: indexes in range, no index listed twice,
   * names among `servers` (when given).
   */
  constructor(
    readonly count: number,
    shardMap: Readonly<Record<string, string>> = {},
    servers: readonly string[] | null = null,
  ) {
    this.serverOfIndex = new Array<string>(count).fill(MAIN_SERVER);
    const assigned = new Map<number, string>();
    for (const [range, server] of Object.entries(shardMap)) {
      const m = /^(\d+)(?:-(\d+))?$/.exec(range.trim());
      if (m === null) throw new ConfigError(`db-proxy config: key "shardMap": "${range}" is not a table index or a range FROM-TO`);
      const from = Number(m[1]);
      const to = m[2] === undefined ? from : Number(m[2]);
      if (to < from || to >= count) {
        throw new ConfigError(`db-proxy config: key "shardMap": "${range}" is outside the tables 0-${count - 1} (messageTableCount ${count})`);
      }
      if (servers !== null && server !== MAIN_SERVER && !servers.includes(server)) {
        throw new ConfigError(`db-proxy config: key "shardMap": "${range}" names server "${server}", which is not in "mysqlServers" (known: ${[MAIN_SERVER, ...servers].join(', ')})`);
      }
      for (let i = from; i <= to; i++) {
        const before = assigned.get(i);
        if (before !== undefined) throw new ConfigError(`db-proxy config: key "shardMap": table ${i} is given twice ("${before}" and "${server}")`);
        assigned.set(i, server);
        this.serverOfIndex[i] = server;
      }
    }
  }

  /** IMMessage_<relationId % count>. */
  single(relationId: number): string {
    return `IMMessage_${relationId % this.count}`;
  }

  /** IMGroupMessage_<groupId % count>. */
  group(groupId: number): string {
    return `IMGroupMessage_${groupId % this.count}`;
  }

  /** Whether `name` is one of the message tables (names read back from Redis are checked before use in SQL). */
  isMessageTable(name: string): boolean {
    const index = MessageTables.indexOf(name);
    return index !== null && index < this.count;
  }

  /** N of IMMessage_N / IMGroupMessage_N, or null for other names. */
  static indexOf(name: string): number | null {
    const m = MESSAGE_TABLE.exec(name);
    return m === null ? null : Number(m[2]);
  }

  /** The server the shard map names for a message table. */
  mappedServer(table: string): string {
    const index = MessageTables.indexOf(table);
    if (index === null || index >= this.count) throw new Error(`not a message table: ${table}`);
    return this.serverOfIndex[index];
  }

  /** Every message table, both kinds. */
  all(): string[] {
    const tables: string[] = [];
    for (let i = 0; i < this.count; i++) tables.push(`IMMessage_${i}`, `IMGroupMessage_${i}`);
    return tables;
  }

  /** Servers the shard map uses, main first. */
  servers(): string[] {
    return [...new Set([MAIN_SERVER, ...this.serverOfIndex])];
  }

  /** Every table the service reads or writes (all on one server); they must all exist. */
  required(): string[] {
    return [...MAIN_TABLES, ...this.all()];
  }
}

/** Unix seconds, the unit of every created/updated column. */
export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}
