/**
 * Who is who: the user list (IMAllUserReq, fetched once and then only what
 * changed) and the groups we know of (normal groups from the group list,
 * temporary ones from recent sessions, messages and what we created), so that
 * ids on the wire can be shown as names and names typed can be turned into ids.
 */
import { IM } from '../../../pdu/commands';
import type { ImClient } from '../im-client';

const { SessionType } = IM.BaseDefine;

/** IMUser.status 3: the person left the company; hidden like real clients do. */
const USER_LEFT = 3;

export interface Group {
  id: number;
  name: string;
  members: number[];
}

export class Directory {
  private readonly users = new Map<number, IM.BaseDefine.IUserInfo>();
  private readonly groups = new Map<number, Group>();
  private usersUpdatedAt = 0;

  constructor(private readonly client: Pick<ImClient, 'allUsers' | 'normalGroups' | 'recentSessions' | 'groupInfo'>) {}

  userName(id: number): string {
    return this.users.get(id)?.user_real_name || `user#${id}`;
  }

  groupName(id: number): string {
    return this.groups.get(id)?.name ?? `group#${id}`;
  }

  knowsUser(id: number): boolean {
    return this.users.has(id);
  }

  knowsGroup(id: number): boolean {
    return this.groups.has(id);
  }

  /** Everyone still with the company, by name. */
  activeUsers(): IM.BaseDefine.IUserInfo[] {
    return [...this.users.values()].filter((u) => u.status !== USER_LEFT).sort((a, b) => a.user_real_name.localeCompare(b.user_real_name));
  }

  allGroups(): Group[] {
    return [...this.groups.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** By login name, else by nick name (case-insensitive); refreshes the list once if unknown. */
  async findUser(name: string): Promise<IM.BaseDefine.IUserInfo | undefined> {
    const lookup = () => {
      const lower = name.toLowerCase();
      const active = this.activeUsers();
      return active.find((u) => u.user_real_name.toLowerCase() === lower) ?? active.find((u) => u.user_nick_name.toLowerCase() === lower);
    };
    const found = lookup();
    if (found) return found;
    await this.refreshUsers();
    return lookup();
  }

  /** By id or name (case-insensitive); refreshes the groups once if unknown. */
  async findGroup(nameOrId: string): Promise<Group | undefined> {
    const lookup = () => {
      const lower = nameOrId.toLowerCase();
      return this.groups.get(Number(nameOrId)) ?? this.allGroups().find((g) => g.name.toLowerCase() === lower);
    };
    const found = lookup();
    if (found) return found;
    await this.refreshGroups(/^\d+$/.test(nameOrId) ? [Number(nameOrId)] : []);
    return lookup();
  }

  async refreshUsers(): Promise<void> {
    const rsp = await this.client.allUsers(this.usersUpdatedAt);
    for (const u of rsp.user_list) this.users.set(u.user_id, u);
    this.usersUpdatedAt = rsp.latest_update_time;
  }

  /** Normal groups, temporary groups of recent sessions, and `extra` ids. */
  async refreshGroups(extra: number[] = []): Promise<void> {
    const ids = new Set<number>([...extra, ...this.groups.keys()]);
    const [normal, recent] = await Promise.all([this.client.normalGroups(), this.client.recentSessions(0)]);
    for (const g of normal.group_version_list) ids.add(g.group_id);
    for (const s of recent.contact_session_list) if (s.session_type === SessionType.SESSION_TYPE_GROUP) ids.add(s.session_id);
    await this.loadGroups([...ids]);
  }

  /** Group info for these ids (version 0: always the full info). */
  async loadGroups(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    const info = await this.client.groupInfo(ids);
    for (const g of info.group_info_list) {
      this.groups.set(g.group_id, { id: g.group_id, name: g.group_name, members: [...(g.group_member_list ?? [])] });
    }
  }
}
