/**
 * Which user ids are accounts that may receive messages (exist, IMUser.status
 * 0), for the authorization checks: messages, group members and offline files
 * to anyone else are refused without writing a row. Answers are cached for
 * `ttlMs` (a user disabled with `npm run users -- disable` stops receiving
 * within that time), at most `maxEntries` ids (least recently checked go first).
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { MysqlGateway } from './mysql-gateway';

interface Entry {
  enabled: boolean;
  at: number;
}

export class UserDirectory {
  private readonly cache = new Map<number, Entry>();

  constructor(
    private readonly mysql: MysqlGateway,
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  /** The ids among `ids` that belong to existing, enabled users (one query for the ones not cached). */
  async enabled(ids: Iterable<number>): Promise<Set<number>> {
    const now = Date.now();
    const yes = new Set<number>();
    const missing: number[] = [];
    for (const id of new Set(ids)) {
      const hit = this.cache.get(id);
      if (hit !== undefined && now - hit.at < this.ttlMs) {
        if (hit.enabled) yes.add(id);
      } else if (id > 0 && id <= 0xffffffff) {
        missing.push(id);
      }
    }
    if (missing.length > 0) {
      const rows = await this.mysql.query<RowDataPacket[]>('SELECT id FROM IMUser WHERE id IN (?) AND status = 0', [missing]);
      const found = new Set(rows.map((r) => Number(r.id)));
      for (const id of missing) {
        this.remember(id, { enabled: found.has(id), at: now });
        if (found.has(id)) yes.add(id);
      }
    }
    return yes;
  }

  /** Forget what is known about `id` (its status changed through this db-proxy). */
  forget(id: number): void {
    this.cache.delete(id);
  }

  private remember(id: number, entry: Entry): void {
    this.cache.delete(id);
    this.cache.set(id, entry);
    if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value as number);
  }
}
