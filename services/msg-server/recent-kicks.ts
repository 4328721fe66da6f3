/**
 * Kicks ("a newer login of this user and client class exists") heard from
 * other msg servers in the last few seconds, so that a login still being
 * validated when its kick arrives is not missed: when its validation completes,
 * a recorded kick from a newer login ends it at once.
 *
 * Which login is newer is decided by the login order the db-proxy assigns at
 * validation (Redis: max(previous + 1, now in ms) per user), carried in the
 * kick. A kick without one (from an original msg server, or a phone kicking the
 * PC) counts as issued when it arrived.
 */
import { isMobileClient } from './client-session';

interface Kick {
  order: number;
  at: number;
}

/** Kicks kept per user and client class. */
const PER_KEY = 4;

export class RecentKicks {
  private readonly kicks = new Map<number, Kick[]>();

  constructor(
    /** Longer than any validation takes (login timeout + request timeout). */
    private readonly keepMs: number,
    private readonly maxKeys = 100_000,
  ) {}

  get size(): number {
    return this.kicks.size;
  }

  record(userId: number, clientType: number, order: number, now: number): void {
    const key = RecentKicks.key(userId, clientType);
    const list = (this.kicks.get(key) ?? []).filter((k) => now - k.at < this.keepMs);
    list.push({ order, at: now });
    if (list.length > PER_KEY) list.shift();
    this.kicks.delete(key);
    this.kicks.set(key, list);
    if (this.kicks.size > this.maxKeys) this.kicks.delete(this.kicks.keys().next().value as number);
  }

  /**
   * Whether a kick that arrived at or after `since` (when the login's
   * validation started) comes from a login newer than `order` (0: the login's
   * order is unknown, then any such kick does).
   */
  supersedes(userId: number, clientType: number, order: number, since: number): boolean {
    const list = this.kicks.get(RecentKicks.key(userId, clientType));
    return list !== undefined && list.some((k) => k.at >= since && (order === 0 || k.order > order));
  }

  /** Drops what is too old to matter (called once a second). */
  prune(now: number): void {
    for (const [key, list] of this.kicks) {
      const kept = list.filter((k) => now - k.at < this.keepMs);
      if (kept.length === 0) this.kicks.delete(key);
      else if (kept.length !== list.length) this.kicks.set(key, kept);
    }
  }

  private static key(userId: number, clientType: number): number {
    return userId * 2 + (isMobileClient(clientType) ? 1 : 0);
  }
}
