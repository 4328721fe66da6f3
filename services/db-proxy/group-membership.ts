/**
 * Group membership, which TeamTalk keeps only in Redis: hash
 * group_member_<gid> maps each member's user id to the unix time they joined
 * (the start of the history they may read). A group whose hash is gone does
 * not exist as far as messaging is concerned.
 */
import type { RedisGateway } from './redis-gateway';

export class GroupMembership {
  constructor(private readonly redis: RedisGateway) {}

  /** Member id -> join time, or null when the group does not exist. */
  async members(groupId: number): Promise<Map<number, number> | null> {
    this.redis.assertUp();
    const hash = await this.redis.client.hgetall(this.redis.keys.groupMembers(groupId));
    const entries = Object.entries(hash);
    if (entries.length === 0) return null;
    return new Map(entries.map(([uid, joined]) => [Number(uid), Number(joined) || 0]));
  }

  /** Sorted member ids (the order replies list them in). */
  static sortedIds(members: Map<number, number>): number[] {
    return [...members.keys()].sort((a, b) => a - b);
  }

  /** When the user joined the group, or null when they are not a member (or there is no such group). */
  async joinTime(groupId: number, userId: number): Promise<number | null> {
    this.redis.assertUp();
    const joined = await this.redis.client.hget(this.redis.keys.groupMembers(groupId), String(userId));
    return joined === null ? null : Number(joined) || 0;
  }

  /** Which of the groups exist, in order. */
  async exist(groupIds: readonly number[]): Promise<boolean[]> {
    if (groupIds.length === 0) return [];
    const results = await this.redis.commands(groupIds.map((gid) => ['exists', this.redis.keys.groupMembers(gid)]));
    return results.map((n) => Number(n) > 0);
  }
}
