/**
 * Keeps group members' recent sessions in step with group activity, as the
 * original's background thread does every 5 s: for every group that chatted
 * since the last pass, each member's group session gets updated = lastChated
 * (removed sessions stay removed, only their time moves) and members without a
 * session row get an active one. The message path touches only the sender's
 * row, so a group with many members costs one pass, not one write per member
 * per message.
 *
 * Existing rows are updated with UPDATE and only missing ones inserted, so the
 * pass burns no AUTO_INCREMENT values on rows that already exist.
 *
 * lastChated is written with the time a store batch started, and becomes
 * visible only at its COMMIT, possibly after a pass already looked: so each
 * pass looks back a margin further, and skips groups it already synced at
 * their current lastChated.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { Logger } from '../../lib/log';
import { IM } from '../../pdu/commands';
import { LogThrottle } from '../../lib/log-throttle';
import { unixNow } from './message-tables';
import type { MysqlGateway } from './mysql-gateway';
import type { RedisGateway } from './redis-gateway';
import { isStorageError } from './storage-errors';

const GROUP = IM.BaseDefine.SessionType.SESSION_TYPE_GROUP;
/** Members per statement. */
const CHUNK = 500;
/** Longer than any store transaction can take between choosing lastChated and committing it. */
const LOOK_BACK_S = 30;

export class GroupSessionSync {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  /** Groups with lastChated >= this are synced next pass; null until read from Redis. */
  private since: number | null = null;
  private readonly throttle = new LogThrottle(60_000);
  /** group id -> the lastChated its members' sessions were last synced to. */
  private readonly synced = new Map<number, number>();

  constructor(
    private readonly mysql: MysqlGateway,
    private readonly redis: RedisGateway,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.running === null) {
        this.running = this.runOnce().finally(() => {
          this.running = null;
        });
      }
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One pass; failures are logged and the same window is retried next time. */
  async runOnce(): Promise<void> {
    if (!this.mysql.isUp || !this.redis.isUp) return;
    try {
      const startedAt = unixNow();
      if (this.since === null) {
        // Resume where the last pass of any db-proxy stopped, so activity while we were down is not skipped.
        const last = Number(await this.redis.client.get(this.redis.keys.lastGroupSync()));
        this.since = last > 0 ? last : startedAt;
      }
      const from = this.since - LOOK_BACK_S;
      const groups = await this.mysql.query<RowDataPacket[]>(
        'SELECT id, lastChated FROM IMGroup WHERE status = 0 AND lastChated >= ?',
        [from],
      );
      for (const g of groups) {
        const id = Number(g.id);
        const lastChated = Number(g.lastChated);
        if (this.synced.get(id) === lastChated) continue;
        await this.syncGroup(id, lastChated);
        this.synced.set(id, lastChated);
      }
      for (const [id, lastChated] of this.synced) if (lastChated < from) this.synced.delete(id);
      this.since = startedAt;
      await this.redis.client.set(this.redis.keys.lastGroupSync(), String(startedAt));
    } catch (err) {
      if (!isStorageError(err)) {
        this.logger.error({ err }, 'group session sync failed');
        return;
      }
      this.throttle.run('sync', (suppressed) =>
        this.logger.warn({ err: (err as Error).message, similarNotLogged: suppressed }, 'group session sync failed; retrying next pass'),
      );
    }
  }

  private async syncGroup(groupId: number, lastChated: number): Promise<void> {
    const members = Object.keys(await this.redis.client.hgetall(this.redis.keys.groupMembers(groupId))).map(Number);
    for (let i = 0; i < members.length; i += CHUNK) {
      const chunk = members.slice(i, i + CHUNK);
      await this.mysql.query(
        'UPDATE IMRecentSession SET updated = GREATEST(updated, ?) WHERE userId IN (?) AND peerId = ? AND type = ?',
        [lastChated, chunk, groupId, GROUP],
      );
      const present = await this.mysql.query<RowDataPacket[]>(
        'SELECT userId FROM IMRecentSession WHERE userId IN (?) AND peerId = ? AND type = ?',
        [chunk, groupId, GROUP],
      );
      const have = new Set(present.map((r) => Number(r.userId)));
      const missing = chunk.filter((uid) => !have.has(uid));
      if (missing.length > 0) {
        await this.mysql.query(
          'INSERT IGNORE INTO IMRecentSession (userId, peerId, type, status, created, updated) VALUES ?',
          [missing.map((uid) => [uid, groupId, GROUP, 0, lastChated, lastChated])],
        );
      }
    }
  }
}
