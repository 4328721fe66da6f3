/**
 * IMRelationShip ids: one per unordered user pair (smallId, bigId), the key of
 * a single conversation (its msg-id counter and its message shard). An id never
 * changes once created, so ids are cached for the life of the process.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { MysqlGateway } from './mysql-gateway';
import { unixNow } from './message-tables';

export type UserPair = readonly [number, number];

export class Relations {
  private readonly cache = new Map<string, number>();

  constructor(
    private readonly mysql: MysqlGateway,
    private readonly maxCached = 500_000,
  ) {}

  static key(a: number, b: number): string {
    return a < b ? `${a}:${b}` : `${b}:${a}`;
  }

  /** The relation of an existing conversation, or null (reads never create one). */
  async find(a: number, b: number): Promise<number | null> {
    return (await this.findMany([[a, b]])).get(Relations.key(a, b)) ?? null;
  }

  /** Existing relations among `pairs`, by Relations.key. */
  async findMany(pairs: readonly UserPair[]): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    const missing = this.fromCache(pairs, found);
    if (missing.length > 0) {
      const rows = await this.mysql.query<RowDataPacket[]>(
        'SELECT id, smallId, bigId FROM IMRelationShip WHERE (smallId, bigId) IN (?) AND status = 0',
        [missing],
      );
      for (const row of rows) this.remember(Number(row.smallId), Number(row.bigId), Number(row.id), found);
    }
    return found;
  }

  /**
   * Relations for every pair, creating missing ones. The unique key makes
   * concurrent creation by several db-proxies safe: all end up with one row.
   * A relation marked deleted is reactivated, as the original does. Rows are
   * looked up before inserting, so existing pairs burn no AUTO_INCREMENT values.
   * `created` receives the keys of pairs that had no row before this call.
   */
  async getOrCreateMany(pairs: readonly UserPair[], created?: Set<string>): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    let missing = this.fromCache(pairs, found);
    if (missing.length === 0) return found;
    const now = unixNow();
    const existing = await this.mysql.query<RowDataPacket[]>(
      'SELECT id, smallId, bigId, status FROM IMRelationShip WHERE (smallId, bigId) IN (?)',
      [missing],
    );
    const inactive = existing.filter((r) => Number(r.status) !== 0).map((r) => Number(r.id));
    if (inactive.length > 0) {
      await this.mysql.query('UPDATE IMRelationShip SET status = 0, updated = ? WHERE id IN (?)', [now, inactive]);
    }
    for (const row of existing) this.remember(Number(row.smallId), Number(row.bigId), Number(row.id), found);
    missing = missing.filter(([s, b]) => !found.has(`${s}:${b}`));
    if (missing.length === 0) return found;
    // Sorted, so two batches creating overlapping pairs lock rows in the same order.
    missing.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    // The INSERT and the read of the new ids in one round trip. Should the INSERT
    // fail (a deadlock with another db-proxy creating the same pairs), both are run
    // again: the INSERT changed nothing then, and it is idempotent anyway.
    const [, inserted] = await this.mysql.scriptWithRetry([
      {
        sql: `INSERT INTO IMRelationShip (smallId, bigId, status, created, updated) VALUES ?
       ON DUPLICATE KEY UPDATE updated = IF(status = 0, updated, VALUES(updated)), status = 0`,
        values: [missing.map(([s, b]) => [s, b, 0, now, now])],
      },
      { sql: 'SELECT id, smallId, bigId FROM IMRelationShip WHERE (smallId, bigId) IN (?)', values: [missing] },
    ]);
    for (const row of inserted as RowDataPacket[]) this.remember(Number(row.smallId), Number(row.bigId), Number(row.id), found);
    for (const [small, big] of missing) created?.add(`${small}:${big}`);
    return found;
  }

  /** Fills `found` from the cache; returns the (small, big) pairs it lacks, deduplicated. */
  private fromCache(pairs: readonly UserPair[], found: Map<string, number>): [number, number][] {
    const missing: [number, number][] = [];
    const asked = new Set<string>();
    for (const [a, b] of pairs) {
      const key = Relations.key(a, b);
      if (asked.has(key)) continue;
      asked.add(key);
      const id = this.cache.get(key);
      if (id !== undefined) found.set(key, id);
      else missing.push(a < b ? [a, b] : [b, a]);
    }
    return missing;
  }

  private remember(small: number, big: number, id: number, found: Map<string, number>): void {
    const key = `${small}:${big}`;
    found.set(key, id);
    if (this.cache.size >= this.maxCached) {
      // Drop the oldest tenth; they are re-read from MySQL if needed again.
      let drop = Math.ceil(this.maxCached / 10);
      for (const k of this.cache.keys()) {
        this.cache.delete(k);
        if (--drop === 0) break;
      }
    }
    this.cache.set(key, id);
  }
}
