/**
 * The route server's global online map: for every user, which msg-server links
 * report them online, and how many devices of each client type on each link.
 *
 * The original kept one set of links and one client-type count per user across
 * all links, so when a msg server dropped, the counts of its users could not be
 * taken back (behaviour.md §18 bug 10: stale "online" users). Here every count
 * belongs to one (user, link, client type), so removing a link removes exactly
 * the devices it reported.
 */

/** PC or mobile, as TeamTalk decides it everywhere: bit 0x10 of client_type set = mobile (iOS 0x11, Android 0x12). */
export function isPcClientType(clientType: number): boolean {
  return (clientType & 0x10) === 0;
}

export interface Device {
  userId: number;
  clientType: number;
}

/** How one user's PC presence changed when a whole link's report changed. */
export interface PresenceChange {
  userId: number;
  hadPc: boolean;
  hasPc: boolean;
  /** The user still has at least one device (PC or mobile) anywhere. */
  stillOnline: boolean;
}

/** Read-only view for status pages and tests. */
export interface OnlineUsersView {
  /** Users with at least one device anywhere. */
  readonly size: number;
  /**
   * What a users-status query answers. Only PC devices count: a user online on
   * mobile only reads as offline. That is what the original route server
   * answered, and clients rely on it (a mobile-only user still gets pushes and
   * offline file transfers instead of online ones).
   */
  isOnline(userId: number): boolean;
  hasPcDevice(userId: number): boolean;
  /** The user has a device (PC or mobile) on some link. */
  hasUser(userId: number): boolean;
  /** Devices per client type, summed over all links. */
  deviceCounts(userId: number): Map<number, number>;
  /** Devices per client type on each link (by connection id). */
  devicesByLink(userId: number): Map<number, Map<number, number>>;
  /** Users a link currently reports. */
  usersOnLink(linkId: number): number;
}

type TypeCounts = Map<number, number>;

export class OnlineUserMap implements OnlineUsersView {
  /** user id -> link id -> client type -> devices */
  private readonly users = new Map<number, Map<number, TypeCounts>>();
  /** link id -> users it reports (so a link's departure touches only its users) */
  private readonly linkUsers = new Map<number, Set<number>>();

  get size(): number {
    return this.users.size;
  }

  isOnline(userId: number): boolean {
    return this.hasPcDevice(userId);
  }

  hasPcDevice(userId: number): boolean {
    const links = this.users.get(userId);
    if (links === undefined) return false;
    for (const types of links.values()) {
      for (const clientType of types.keys()) if (isPcClientType(clientType)) return true;
    }
    return false;
  }

  hasUser(userId: number): boolean {
    return this.users.has(userId);
  }

  deviceCounts(userId: number): Map<number, number> {
    const total = new Map<number, number>();
    for (const types of this.users.get(userId)?.values() ?? []) {
      for (const [clientType, count] of types) total.set(clientType, (total.get(clientType) ?? 0) + count);
    }
    return total;
  }

  devicesByLink(userId: number): Map<number, Map<number, number>> {
    const copy = new Map<number, Map<number, number>>();
    for (const [linkId, types] of this.users.get(userId) ?? []) copy.set(linkId, new Map(types));
    return copy;
  }

  usersOnLink(linkId: number): number {
    return this.linkUsers.get(linkId)?.size ?? 0;
  }

  /** One more device of `clientType` for the user on this link. */
  addDevice(userId: number, linkId: number, clientType: number): void {
    let links = this.users.get(userId);
    if (links === undefined) {
      links = new Map();
      this.users.set(userId, links);
    }
    let types = links.get(linkId);
    if (types === undefined) {
      types = new Map();
      links.set(linkId, types);
      let onLink = this.linkUsers.get(linkId);
      if (onLink === undefined) {
        onLink = new Set();
        this.linkUsers.set(linkId, onLink);
      }
      onLink.add(userId);
    }
    types.set(clientType, (types.get(clientType) ?? 0) + 1);
  }

  /**
   * One device of `clientType` went offline on this link. Returns false (and
   * changes nothing) when the link had reported no such device: a late or
   * duplicate OFFLINE must not take away a device another link reported.
   */
  removeDevice(userId: number, linkId: number, clientType: number): boolean {
    const links = this.users.get(userId);
    const types = links?.get(linkId);
    const count = types?.get(clientType);
    if (links === undefined || types === undefined || count === undefined) return false;
    if (count > 1) {
      types.set(clientType, count - 1);
      return true;
    }
    types.delete(clientType);
    if (types.size === 0) this.forget(userId, linkId, links);
    return true;
  }

  /**
   * Replaces everything a link reported with a fresh snapshot (a msg server
   * sends its whole online list on every connect). Returns the users whose PC
   * presence may have changed, with before/after.
   */
  replaceLink(linkId: number, devices: readonly Device[]): PresenceChange[] {
    const touched = new Set<number>(this.linkUsers.get(linkId) ?? []);
    for (const device of devices) touched.add(device.userId);
    const hadPc = new Map<number, boolean>();
    for (const userId of touched) hadPc.set(userId, this.hasPcDevice(userId));
    this.dropLink(linkId);
    for (const device of devices) this.addDevice(device.userId, linkId, device.clientType);
    return this.changes(hadPc);
  }

  /** A link went away: all devices it reported are gone. */
  removeLink(linkId: number): PresenceChange[] {
    const hadPc = new Map<number, boolean>();
    for (const userId of this.linkUsers.get(linkId) ?? []) hadPc.set(userId, this.hasPcDevice(userId));
    this.dropLink(linkId);
    return this.changes(hadPc);
  }

  private dropLink(linkId: number): void {
    for (const userId of this.linkUsers.get(linkId) ?? []) {
      const links = this.users.get(userId);
      if (links === undefined) continue;
      links.delete(linkId);
      if (links.size === 0) this.users.delete(userId);
    }
    this.linkUsers.delete(linkId);
  }

  private forget(userId: number, linkId: number, links: Map<number, TypeCounts>): void {
    links.delete(linkId);
    if (links.size === 0) this.users.delete(userId);
    const onLink = this.linkUsers.get(linkId);
    if (onLink !== undefined) {
      onLink.delete(userId);
      if (onLink.size === 0) this.linkUsers.delete(linkId);
    }
  }

  private changes(hadPc: Map<number, boolean>): PresenceChange[] {
    const out: PresenceChange[] = [];
    for (const [userId, before] of hadPc) {
      out.push({ userId, hadPc: before, hasPc: this.hasPcDevice(userId), stillOnline: this.users.has(userId) });
    }
    return out;
  }
}
