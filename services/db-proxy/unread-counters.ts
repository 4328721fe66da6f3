/**
 * Unread counts, kept in Redis as TeamTalk does:
 *  - single: hash unread_<user>, field <peer> -> count, +1 per message, deleted on read;
 *  - group: the group's message count (<gid>_im_group_msg) minus the user's copy
 *    of it taken at their last read (<uid>_<gid>_im_user_group), never negative.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { IM } from '../../pdu/commands';
import type { MessageReader } from './message-reader';
import type { DatabaseServer } from './database-servers';
import type { RedisCommand, RedisGateway } from './redis-gateway';
import { Relations } from './relations';

const { SessionType } = IM.BaseDefine;

export interface UnreadSummary {
  total: number;
  list: IM.BaseDefine.IUnreadInfo[];
}

export class UnreadCounters {
  constructor(
    private readonly redis: RedisGateway,
    /** The main database (group memberships are read from it, or from its replicas). */
    private readonly main: DatabaseServer,
    private readonly relations: Relations,
    private readonly reader: MessageReader,
  ) {}

  /** Every conversation of the user with unread messages, each with its newest message. */
  async summaryOf(userId: number): Promise<UnreadSummary> {
    this.redis.assertUp();
    const [singles, groupIds] = await Promise.all([
      this.redis.client.hgetall(this.redis.keys.unread(userId)),
      this.activeGroupsOf([userId]).then((m) => m.get(userId) ?? []),
    ]);
    const peers = Object.entries(singles)
      .map(([peer, n]) => [Number(peer), Number(n)] as const)
      .filter(([peer, n]) => peer > 0 && n > 0);
    const [groupCounts, relations] = await Promise.all([this.groupUnread(userId, groupIds), this.relations.findMany(peers.map(([peer]) => [userId, peer]))]);

    // The counts are read again after the newest messages: a message is committed
    // before its count goes up, so each count now includes every message up to
    // latest_msg_id (a reconnecting client relies on that to know when it has
    // found all it missed). Read only before, a message stored in between would
    // be the newest but not yet counted. On one Redis the second reading is sent
    // right behind the copies' MGET, on the same connection: Redis runs it after
    // the MGET, which saves a round trip. Newest messages that had to come from
    // a message table (no current copy) were read later than that, so then the
    // counts are read once more.
    const countsAfter = () =>
      Promise.all([this.redis.client.hgetall(this.redis.keys.unread(userId)), this.groupUnread(userId, [...groupCounts.keys()])]);
    const sources = { tables: false };
    const latest = Promise.all([
      this.reader.latestOfRelations([...relations.values()], sources),
      this.reader.latestOfGroups([...groupCounts.keys()], sources),
    ]);
    // Plain commands keep the order they are issued in; a pipeline object
    // (RedisGateway.commands) would be written at once, ahead of the MGET.
    const early = this.redis.mode === 'cluster' ? null : Promise.all([this.redis.client.hgetall(this.redis.keys.unread(userId)), this.groupUnreadInOrder(userId, [...groupCounts.keys()])]);
    early?.catch(() => undefined);
    const [latestSingle, latestGroup] = await latest;
    const [singlesAfter, groupCountsAfter] = early !== null && !sources.tables ? await early : await countsAfter();

    const list: IM.BaseDefine.IUnreadInfo[] = [];
    let total = 0;
    for (const [peer] of peers) {
      const count = Number(singlesAfter[String(peer)] ?? 0);
      if (!(count > 0)) continue; // read meanwhile
      const relationId = relations.get(Relations.key(userId, peer));
      const latest = relationId === undefined ? undefined : latestSingle.get(relationId);
      if (latest === undefined) continue; // no stored message: nothing to show, not counted
      total += count;
      list.push({
        session_id: peer,
        session_type: SessionType.SESSION_TYPE_SINGLE,
        unread_cnt: count,
        latest_msg_id: latest.msgId,
        latest_msg_data: latest.data,
        latest_msg_type: latest.type,
        // As the original: the peer, not the real sender of the newest message.
        latest_msg_from_user_id: peer,
      });
    }
    for (const groupId of groupCounts.keys()) {
      const count = groupCountsAfter.get(groupId);
      if (count === undefined) continue; // read meanwhile
      const latest = latestGroup.get(groupId);
      if (latest === undefined) continue;
      total += count;
      list.push({
        session_id: groupId,
        session_type: SessionType.SESSION_TYPE_GROUP,
        unread_cnt: count,
        latest_msg_id: latest.msgId,
        latest_msg_data: latest.data,
        latest_msg_type: latest.type,
        latest_msg_from_user_id: latest.fromId,
      });
    }
    return { total, list };
  }

  /** Total unread (single + group) per user: the badge count of a push. */
  async totalsOf(userIds: readonly number[]): Promise<Map<number, number>> {
    const totals = new Map<number, number>();
    if (userIds.length === 0) return totals;
    this.redis.assertUp();
    const groupsByUser = await this.activeGroupsOf(userIds);
    const keys = this.redis.keys;
    const commands: RedisCommand[] = userIds.map((uid) => ['hvals', keys.unread(uid)]);
    const pairs: Array<[number, number]> = [];
    for (const uid of userIds) {
      for (const gid of groupsByUser.get(uid) ?? []) {
        commands.push(['hget', keys.groupMsgCount(gid), 'count'], ['hget', keys.userGroupCount(uid, gid), 'count']);
        pairs.push([uid, gid]);
      }
    }
    const results = await this.redis.commands(commands);
    let i = 0;
    for (const uid of userIds) {
      const values = results[i++] as string[];
      totals.set(uid, values.reduce((sum, v) => sum + Math.max(0, Number(v) || 0), 0));
    }
    for (const [uid] of pairs) {
      const groupCount = results[i++];
      const userCount = results[i++];
      totals.set(uid, (totals.get(uid) ?? 0) + Math.max(0, Number(groupCount ?? 0) - Number(userCount ?? 0)));
    }
    return totals;
  }

  /** Read ack / removed session of a single conversation: the whole count goes. */
  async clearSingle(userId: number, peerId: number): Promise<void> {
    this.redis.assertUp();
    await this.redis.client.hdel(this.redis.keys.unread(userId), String(peerId));
  }

  /** The users have read everything in the group so far. */
  async markGroupRead(userIds: readonly number[], groupId: number): Promise<void> {
    if (userIds.length === 0) return;
    this.redis.assertUp();
    // One slot in a cluster: every key carries the group's hash tag.
    const keys = [this.redis.keys.groupMsgCount(groupId), ...userIds.map((uid) => this.redis.keys.userGroupCount(uid, groupId))];
    await this.redis.client.ttCopyGroupCount(keys.length, ...keys);
  }

  /** As groupUnread, as single commands sent in the order asked (on one connection, behind any sent before). */
  private async groupUnreadInOrder(userId: number, groupIds: readonly number[]): Promise<Map<number, number>> {
    const keys = this.redis.keys;
    const client = this.redis.client;
    const results = await Promise.all(groupIds.flatMap((gid) => [client.hget(keys.groupMsgCount(gid), 'count'), client.hget(keys.userGroupCount(userId, gid), 'count')]));
    return groupCountsOf(groupIds, results);
  }

  /** group id -> unread count (> 0 only). */
  private async groupUnread(userId: number, groupIds: readonly number[]): Promise<Map<number, number>> {
    if (groupIds.length === 0) return new Map();
    const keys = this.redis.keys;
    const results = await this.redis.commands(
      groupIds.flatMap((gid): RedisCommand[] => [
        ['hget', keys.groupMsgCount(gid), 'count'],
        ['hget', keys.userGroupCount(userId, gid), 'count'],
      ]),
    );
    return groupCountsOf(groupIds, results);
  }

  /** The groups each user is an active member of (IMGroupMember status 0, as the original reads them). */
  async activeGroupsOf(userIds: readonly number[]): Promise<Map<number, number[]>> {
    const byUser = new Map<number, number[]>();
    if (userIds.length === 0) return byUser;
    const rows = await this.main.read<RowDataPacket[]>(
      'SELECT userId, groupId FROM IMGroupMember WHERE userId IN (?) AND status = 0',
      [[...new Set(userIds)]],
    );
    for (const row of rows) {
      const uid = Number(row.userId);
      const list = byUser.get(uid);
      if (list) list.push(Number(row.groupId));
      else byUser.set(uid, [Number(row.groupId)]);
    }
    return byUser;
  }
}

/** Per group, the pair (group's count, user's copy) at 2i, 2i+1: group id -> unread count (> 0 only). */
function groupCountsOf(groupIds: readonly number[], results: readonly unknown[]): Map<number, number> {
  const counts = new Map<number, number>();
  groupIds.forEach((gid, i) => {
    const unread = Number(results[2 * i] ?? 0) - Number(results[2 * i + 1] ?? 0);
    if (unread > 0) counts.set(gid, unread);
  });
  return counts;
}
