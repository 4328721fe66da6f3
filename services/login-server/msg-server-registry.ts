/**
 * The msg servers registered with this login server and their loads
 * (behaviour.md §2.2, §2.3). One entry per msg-server link, kept in
 * registration order; the entry goes away the moment its link does.
 */

export interface MsgServerRegistration {
  /** Address clients are told to try first (the original's IpAddr1, "telecom"). */
  ip1: string;
  /** Alternative address (IpAddr2, "unicom"); the original sends IpAddr1 again when unset. */
  ip2: string;
  /** Client port. */
  port: number;
  maxConnections: number;
  currentConnections: number;
  hostName: string;
  /** WebSocket URL for browsers ('' = none; only msg servers of this implementation send one). */
  wsUrl: string;
  /** https URL of its admin endpoint (teamtalk-ts msg servers say it; null for the original's). */
  adminUrl?: string | null;
}

export interface MsgServerEntry extends MsgServerRegistration {
  /** Connection id of the msg server's link (log field `conn`). */
  linkId: number;
  /** Where the link comes from. */
  peer: string;
  connectedSince: number;
  registeredAt: number;
}

export type MsgServerChoice =
  | { kind: 'chosen'; server: MsgServerEntry }
  /** Nothing registered. */
  | { kind: 'none' }
  /** Every registered msg server is at its connection limit. */
  | { kind: 'full' };

export class MsgServerRegistry {
  private readonly entries = new Map<number, MsgServerEntry>();

  get size(): number {
    return this.entries.size;
  }

  get totalUsers(): number {
    let total = 0;
    for (const entry of this.entries.values()) total += entry.currentConnections;
    return total;
  }

  /**
   * A msg server that reports a capacity of 0 is draining (moving its clients
   * off before it stops): it gets no new clients, here or at an original login
   * server, which sees it as full.
   */
  static isDraining(entry: MsgServerEntry): boolean {
    return entry.maxConnections === 0;
  }

  list(): MsgServerEntry[] {
    return [...this.entries.values()];
  }

  get(linkId: number): MsgServerEntry | undefined {
    return this.entries.get(linkId);
  }

  /** A msg server (re)announced itself on a link; a repeat on the same link updates its entry in place. */
  register(linkId: number, peer: string, connectedSince: number, registration: MsgServerRegistration): MsgServerEntry {
    const existing = this.entries.get(linkId);
    if (existing !== undefined) {
      Object.assign(existing, registration);
      return existing;
    }
    const entry: MsgServerEntry = { ...registration, linkId, peer, connectedSince, registeredAt: Date.now() };
    this.entries.set(linkId, entry);
    return entry;
  }

  /**
   * One user logged in (+1) or out (-1) on that msg server. Returns the entry,
   * or undefined when the link never registered. The count never goes below
   * zero, whatever order updates arrive in.
   */
  userCountChanged(linkId: number, loggedIn: boolean): MsgServerEntry | undefined {
    const entry = this.entries.get(linkId);
    if (entry === undefined) return undefined;
    entry.currentConnections = loggedIn ? entry.currentConnections + 1 : Math.max(0, entry.currentConnections - 1);
    return entry;
  }

  remove(linkId: number): MsgServerEntry | undefined {
    const entry = this.entries.get(linkId);
    this.entries.delete(linkId);
    return entry;
  }

  /**
   * The least-loaded msg server below its limit; ties go to the earliest
   * registered. `usable` can veto entries whose link is already closing.
   */
  choose(usable: (entry: MsgServerEntry) => boolean = () => true): MsgServerChoice {
    let best: MsgServerEntry | null = null;
    let candidates = 0;
    for (const entry of this.entries.values()) {
      if (!usable(entry)) continue;
      candidates++;
      if (entry.currentConnections >= entry.maxConnections) continue;
      if (best === null || entry.currentConnections < best.currentConnections) best = entry;
    }
    if (best !== null) return { kind: 'chosen', server: best };
    return candidates === 0 ? { kind: 'none' } : { kind: 'full' };
  }
}
