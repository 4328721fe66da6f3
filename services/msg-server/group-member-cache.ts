/**
 * Group member lists for fanning out group messages, asked from the db-proxy
 * (CID_GROUP_INFO_REQUEST, as the original msg_server does) and cached briefly:
 * a member change (ours or relayed by the route server) drops the entry at once.
 * At most `maxEntries` lists are kept; the least recently used go first.
 */
import { IM } from '../../pdu/commands';
import type { DbProxyLinks } from './links/db-proxy-links';

interface Entry {
  members: number[];
  fetchedAt: number;
}

export class GroupMemberCache {
  private readonly cache = new Map<number, Entry>();
  private readonly inFlight = new Map<number, Promise<number[] | null>>();

  constructor(
    private readonly db: DbProxyLinks,
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  get size(): number {
    return this.cache.size;
  }

  /** Current members, or null when the group does not exist. */
  members(groupId: number, askingUserId: number): Promise<number[] | null> {
    const hit = this.cache.get(groupId);
    if (hit !== undefined && Date.now() - hit.fetchedAt < this.ttlMs) {
      // Map order is recency order: move the hit to the end.
      this.cache.delete(groupId);
      this.cache.set(groupId, hit);
      return Promise.resolve(hit.members);
    }
    const pending = this.inFlight.get(groupId);
    if (pending !== undefined) return pending;
    const fetch = this.fetch(groupId, askingUserId).finally(() => this.inFlight.delete(groupId));
    this.inFlight.set(groupId, fetch);
    return fetch;
  }

  invalidate(groupId: number): void {
    this.cache.delete(groupId);
  }

  private async fetch(groupId: number, askingUserId: number): Promise<number[] | null> {
    const reply = await this.db.request(
      IM.Group.IMGroupInfoListReq,
      { user_id: askingUserId, group_version_list: [{ group_id: groupId, version: 0 }] },
      IM.Group.IMGroupInfoListRsp,
    );
    const info = reply.group_info_list.find((g) => g.group_id === groupId);
    if (info === undefined) {
      this.cache.delete(groupId);
      return null;
    }
    const members = [...(info.group_member_list ?? [])];
    if (this.ttlMs > 0) {
      this.cache.delete(groupId);
      this.cache.set(groupId, { members, fetchedAt: Date.now() });
      if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value as number);
    }
    return members;
  }
}
