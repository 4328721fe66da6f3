/**
 * The logged-in users of this msg server (TeamTalk's CImUser map): by user id
 * and by login name, each holding its connections, one per device.
 */
import { isMobileClient, type ClientConn } from './client-session';

export class OnlineUser {
  /** Created with the first connection: an exact one-slot array (push on [] reserves 17). */
  readonly connections: ClientConn[];
  /** From the route server (0x070e): whether a PC client of this user is online anywhere. */
  pcOnlineSomewhere = false;

  constructor(
    readonly userId: number,
    readonly loginName: string,
    first: ClientConn,
  ) {
    this.connections = [first];
  }

  /** The first other connection of the same class (PC or mobile) as `clientType`. */
  sameClassConnection(clientType: number, except?: ClientConn): ClientConn | undefined {
    return this.connections.find(
      (c) => c !== except && isMobileClient(c.clientType) === isMobileClient(clientType),
    );
  }
}

export class OnlineUsers {
  private readonly byId = new Map<number, OnlineUser>();
  private readonly byName = new Map<string, OnlineUser>();
  private connectionCount = 0;

  get userCount(): number {
    return this.byId.size;
  }

  /** Logged-in connections (what the login server is told as the current load). */
  get onlineConnections(): number {
    return this.connectionCount;
  }

  get(userId: number): OnlineUser | undefined {
    return this.byId.get(userId);
  }

  getByName(loginName: string): OnlineUser | undefined {
    return this.byName.get(loginName);
  }

  /** Adds a freshly logged-in connection to its user (created if needed). */
  add(conn: ClientConn): OnlineUser {
    let user = this.byId.get(conn.userId);
    if (user === undefined) {
      user = new OnlineUser(conn.userId, conn.loginName, conn);
      this.byId.set(conn.userId, user);
      this.byName.set(conn.loginName, user);
    } else {
      user.connections.push(conn);
    }
    conn.user = user;
    this.connectionCount++;
    return user;
  }

  /** Removes a connection; drops the user when it was the last one. Returns whether it was registered. */
  remove(conn: ClientConn): boolean {
    const user = conn.user;
    if (user === null) return false;
    const i = user.connections.indexOf(conn);
    if (i < 0) return false;
    user.connections.splice(i, 1);
    this.connectionCount--;
    if (user.connections.length === 0) {
      this.byId.delete(user.userId);
      if (this.byName.get(user.loginName) === user) this.byName.delete(user.loginName);
    }
    return true;
  }

  /** Every connection of the given users (each user once). */
  connectionsOf(userIds: Iterable<number>): ClientConn[] {
    const out: ClientConn[] = [];
    const seen = new Set<number>();
    for (const id of userIds) {
      if (seen.has(id)) continue;
      seen.add(id);
      const user = this.byId.get(id);
      if (user !== undefined) out.push(...user.connections);
    }
    return out;
  }

  users(): IterableIterator<OnlineUser> {
    return this.byId.values();
  }
}
