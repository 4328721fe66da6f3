/**
 * Msg ids come from Redis counters (INCR per conversation, as TeamTalk does),
 * but a counter is never trusted blindly: Redis may have restarted and lost its
 * last second of writes, or someone reset a key. Before the first allocation for
 * a conversation in each Redis connection epoch, the counter is checked against
 * the highest msgId in MySQL and raised atomically if it is behind. The
 * primary key (conversation, msgId) of the message tables is the last guard
 * (see MessageStore: a duplicate key re-verifies and retries).
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { DatabaseServers } from './database-servers';
import type { RedisGateway } from './redis-gateway';

/** A conversation's counter key and where its messages are stored. */
export interface Conversation {
  /** Redis key of the counter (without the prefix). */
  readonly counterKey: string;
  readonly table: string;
  readonly column: 'relateId' | 'groupId';
  readonly id: number;
}

/** Conversations per statement when reading their highest msg ids. */
const HIGHEST_PER_QUERY = 100;

export interface Allocation {
  readonly conversation: Conversation;
  readonly count: number;
}

export class MsgIdCounters {
  /** Counter key -> Redis epoch in which it was last verified against MySQL. */
  private readonly verified = new Map<string, number>();

  constructor(
    private readonly redis: RedisGateway,
    private readonly databases: DatabaseServers,
    private readonly maxTracked = 1_000_000,
  ) {}

  /**
   * Allocates `count` consecutive ids per conversation (one entry per
   * conversation). Returns the highest id of each; the ids are hi-count+1 .. hi.
   * `reverify` forces the MySQL check even for conversations verified this epoch.
   */
  async allocate(allocations: readonly Allocation[], reverify = false): Promise<number[]> {
    if (allocations.length === 0) return [];
    const epoch = this.redis.epoch;
    this.redis.assertUp();
    const unverified = allocations
      .map((a) => a.conversation)
      .filter((c) => reverify || this.verified.get(c.counterKey) !== epoch);
    const floors = unverified.length > 0 ? await this.highestStored(unverified) : new Map<string, number>();
    this.redis.assertUp();
    // One script call for the whole batch on one Redis; one per hash slot in a cluster.
    const highs = new Array<number>(allocations.length).fill(0);
    await Promise.all(
      this.redis.slotGroups(allocations.map((a) => a.conversation.counterKey)).map(async (group) => {
        const keys: string[] = [];
        const args: number[] = [];
        for (const i of group) {
          const a = allocations[i];
          keys.push(a.conversation.counterKey);
          const floor = floors.get(a.conversation.counterKey);
          args.push(a.count, floor === undefined ? -1 : floor);
        }
        const values = await this.redis.client.ttAllocMsgIds(keys.length, ...keys, ...args);
        group.forEach((i, j) => (highs[i] = Number(values[j])));
      }),
    );
    for (const c of unverified) this.markVerified(c.counterKey, epoch);
    return highs;
  }

  /**
   * The conversation has just been created (its relation row did not exist a
   * moment ago): MySQL holds none of its messages that Redis could have lost,
   * so its first allocation needs no check. (Should another db-proxy race us
   * and Redis lose its increments in that instant, the primary key refuses the
   * duplicate and the batch re-verifies.)
   */
  trustNew(counterKey: string): void {
    this.markVerified(counterKey, this.redis.epoch);
  }

  /**
   * Gives ids of a rolled-back batch back (best effort): each counter returns to
   * `restoreTo` only if it still stands at `expected`, i.e. nobody allocated since.
   */
  async release(entries: readonly { counterKey: string; expected: number; restoreTo: number }[]): Promise<void> {
    if (entries.length === 0 || !this.redis.isUp) return;
    await Promise.all(
      this.redis.slotGroups(entries.map((e) => e.counterKey)).map((group) => {
        const keys = group.map((i) => entries[i].counterKey);
        const args = group.flatMap((i) => [entries[i].expected, entries[i].restoreTo]);
        return this.redis.client.ttReleaseMsgIds(keys.length, ...keys, ...args).catch(() => 0);
      }),
    );
  }

  /** MAX(msgId) stored per conversation (0 when none), by counter key: asked of each table's primary. */
  async highestStored(conversations: readonly Conversation[]): Promise<Map<string, number>> {
    const result = new Map<string, number>();
    const byTable = new Map<string, Conversation[]>();
    for (const c of conversations) {
      result.set(c.counterKey, 0);
      const key = `${c.table}.${c.column}`;
      const list = byTable.get(key);
      if (list) list.push(c);
      else byTable.set(key, [c]);
    }
    const queries: Conversation[][] = [];
    for (const list of byTable.values()) for (let i = 0; i < list.length; i += HIGHEST_PER_QUERY) queries.push(list.slice(i, i + HIGHEST_PER_QUERY));
    await Promise.all(
      queries.map(async (list) => {
        const { table, column } = list[0];
        // One step back from the end of each conversation on the primary key (conversation, msgId).
        const one = `(SELECT ${column} AS id, msgId AS top FROM ${table} WHERE ${column} = ? ORDER BY msgId DESC LIMIT 1)`;
        const rows = await this.databases.forTable(table).primary.query<RowDataPacket[]>(list.map(() => one).join(' UNION ALL '), list.map((c) => c.id));
        const byId = new Map(list.map((c) => [c.id, c]));
        for (const row of rows) {
          const c = byId.get(Number(row.id));
          if (c) result.set(c.counterKey, Number(row.top));
        }
      }),
    );
    return result;
  }

  private markVerified(key: string, epoch: number): void {
    if (this.verified.size >= this.maxTracked && !this.verified.has(key)) {
      let drop = Math.ceil(this.maxTracked / 10);
      for (const k of this.verified.keys()) {
        this.verified.delete(k);
        if (--drop === 0) break;
      }
    }
    this.verified.set(key, epoch);
  }
}
