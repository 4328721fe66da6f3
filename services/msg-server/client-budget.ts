/**
 * What one client connection may ask of the cluster.
 *
 * 1. A token bucket per connection: every command costs tokens (COMMAND_COSTS;
 *    the expensive ones cost more); the bucket refills at clientBudgetPerSecond
 *    up to clientBudgetBurst. A command that finds the bucket short is refused:
 *    not served, counted, logged once per connection per window. A connection
 *    that keeps sending while refused (more than clientBudgetMaxRefusedPerSecond
 *    refusals in one second) is disconnected, and its user cannot log in on
 *    this msg server again for clientBudgetLoginBanMs: a flooder that just
 *    reconnects would otherwise make every online user hear of each of its
 *    logins and logouts.
 * 2. A cap on requests in flight per connection (clientMaxRequestsInFlight):
 *    work waiting for the db-proxy or route server on behalf of one connection.
 * 3. A cap on expensive reads in flight for the whole msg server
 *    (HeavyRequests): all-user lists, departments, group info, history pages
 *    queue behind each other instead of crowding out message stores at the
 *    db-proxy.
 *
 * The state lives in fields of the connection (ClientConn): no allocation per
 * command.
 */
import { CID } from '../../pdu/commands';
import { LinkUnavailableError } from '../../lib/errors';
import type { Logger } from '../../lib/log';
import type { ClientConn } from './client-session';

/** Tokens a command costs (default 1). The table the README documents. */
export const COMMAND_COSTS: ReadonlyMap<number, number> = new Map([
  [CID.BUDDY_LIST_ALL_USER_REQUEST, 50], // the whole company
  [CID.BUDDY_LIST_DEPARTMENT_REQUEST, 20],
  [CID.BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST, 10],
  [CID.GROUP_INFO_REQUEST, 10],
  [CID.GROUP_NORMAL_LIST_REQUEST, 5],
  [CID.GROUP_CREATE_REQUEST, 20],
  [CID.GROUP_CHANGE_MEMBER_REQUEST, 10],
  [CID.BUDDY_LIST_USERS_STATUS_REQUEST, 5],
  [CID.BUDDY_LIST_USER_INFO_REQUEST, 5],
  [CID.MSG_LIST_REQUEST, 5],
  [CID.MSG_GET_BY_MSG_ID_REQ, 5],
  [CID.MSG_UNREAD_CNT_REQUEST, 5],
  [CID.MSG_GET_LATEST_MSG_ID_REQ, 2],
  [CID.SWITCH_P2P_CMD, 2], // relayed to every msg server
  [CID.BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST, 20], // broadcast to every online user
  [CID.BUDDY_LIST_CHANGE_AVATAR_REQUEST, 20],
  [CID.BUDDY_LIST_REMOVE_SESSION_REQ, 2],
  [CID.FILE_REQUEST, 10],
  [CID.FILE_HAS_OFFLINE_REQ, 5],
  [CID.FILE_ADD_OFFLINE_REQ, 5],
  [CID.LOGIN_REQ_DEVICETOKEN, 5],
  [CID.LOGIN_REQ_PUSH_SHIELD, 5],
  [CID.LOGIN_REQ_QUERY_PUSH_SHIELD, 2],
]);

/** Commands that are expensive reads at the db-proxy: they share HeavyRequests. */
export const HEAVY_COMMANDS: ReadonlySet<number> = new Set([
  CID.BUDDY_LIST_ALL_USER_REQUEST,
  CID.BUDDY_LIST_DEPARTMENT_REQUEST,
  CID.BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST,
  CID.GROUP_INFO_REQUEST,
  CID.MSG_LIST_REQUEST,
  CID.MSG_GET_BY_MSG_ID_REQ,
  CID.BUDDY_LIST_USER_INFO_REQUEST,
]);

export interface BudgetOptions {
  perSecond: number;
  burst: number;
  maxRefusedPerSecond: number;
  maxInFlight: number;
  /** After a budget disconnect, the user's logins here are refused this long (0: never). */
  loginBanMs: number;
}

export interface BudgetStats {
  /** Commands refused because the connection's bucket was empty. */
  budgetRefused: number;
  /** Requests refused because the connection had too many in flight. */
  inFlightRefused: number;
  /** Connections closed for staying over budget. */
  budgetDisconnects: number;
  /** Logins refused because the user was disconnected for its budget moments ago. */
  loginsRefusedAfterDisconnect: number;
}

/** How often a connection that is refused gets a log line. */
const LOG_EVERY_MS = 10_000;
/** Entries (user ids and login names) kept in the login ban list at most (the oldest go first). */
const MAX_BANNED_LOGINS = 200_000;
/** Longest login name remembered for a ban (IMUser.name is varchar(32): longer names never log in). */
export const MAX_BANNED_NAME = 64;

export class ClientBudget {
  readonly stats: BudgetStats = { budgetRefused: 0, inFlightRefused: 0, budgetDisconnects: 0, loginsRefusedAfterDisconnect: 0 };
  private readonly perMs: number;
  /**
   * "id:<user id>" and "name:<login name>" -> until when logins are refused
   * (insertion order = oldest first). By name, a reconnect is refused before its
   * validation costs the db-proxy anything; by id, also under another name.
   */
  private readonly loginBans = new Map<string, number>();

  constructor(
    private readonly options: BudgetOptions,
    private readonly logger: Logger,
  ) {
    this.perMs = options.perSecond / 1000;
  }

  /** Milliseconds the user's logins are still refused after a budget disconnect (0: none); counts a refusal. */
  loginBannedFor(userId: number, now: number): number {
    return this.bannedFor(`id:${userId}`, now);
  }

  /** The same, by the user_name a login request gives: checked before the login is validated. */
  loginNameBannedFor(name: string, now: number): number {
    return name === '' ? 0 : this.bannedFor(`name:${name}`, now);
  }

  private bannedFor(key: string, now: number): number {
    const until = this.loginBans.get(key);
    if (until === undefined) return 0;
    if (until <= now) {
      this.loginBans.delete(key);
      return 0;
    }
    this.stats.loginsRefusedAfterDisconnect++;
    return until - now;
  }

  private ban(key: string, until: number): void {
    this.loginBans.delete(key);
    this.loginBans.set(key, until);
    if (this.loginBans.size > MAX_BANNED_LOGINS) this.loginBans.delete(this.loginBans.keys().next().value as string);
  }

  /** A new connection starts with a full bucket. */
  open(conn: ClientConn, now: number): void {
    conn.budgetTokens = this.options.burst;
    conn.budgetAt = now;
  }

  /** Charges `conn` for one command; false when it is over budget (the command must not be served). */
  admit(conn: ClientConn, commandId: number, now: number): boolean {
    const cost = COMMAND_COSTS.get(commandId) ?? 1;
    const tokens = Math.min(this.options.burst, conn.budgetTokens + (now - conn.budgetAt) * this.perMs);
    conn.budgetAt = now;
    if (tokens >= cost) {
      conn.budgetTokens = tokens - cost;
      return true;
    }
    conn.budgetTokens = tokens;
    this.stats.budgetRefused++;
    this.refused(conn, now, 'over its command budget', commandId);
    return false;
  }

  /** Takes an in-flight slot for a request of `conn`; false (refused) when it has too many. */
  begin(conn: ClientConn, commandId: number, now: number): boolean {
    if (conn.inFlight >= this.options.maxInFlight) {
      this.stats.inFlightRefused++;
      this.refused(conn, now, `more than ${this.options.maxInFlight} requests in flight`, commandId);
      return false;
    }
    conn.inFlight++;
    return true;
  }

  end(conn: ClientConn): void {
    conn.inFlight--;
  }

  private refused(conn: ClientConn, now: number, why: string, commandId: number): void {
    const second = Math.floor(now / 1000);
    if (conn.refusedSecond !== second) {
      conn.refusedSecond = second;
      conn.refusedInSecond = 0;
    }
    conn.refusedInSecond++;
    if (now - conn.refusedLoggedAt >= LOG_EVERY_MS) {
      conn.refusedLoggedAt = now;
      this.logger.warn(
        { conn: conn.id, userId: conn.userId, why, cmd: `0x${commandId.toString(16).padStart(4, '0')}`, refusedThisSecond: conn.refusedInSecond },
        'client command refused',
      );
    }
    if (conn.refusedInSecond > this.options.maxRefusedPerSecond && conn.isOpen) {
      this.stats.budgetDisconnects++;
      this.logger.warn({ conn: conn.id, userId: conn.userId, peer: conn.remoteAddress, why }, 'client disconnected: it kept sending over its budget');
      conn.destroy(`kept sending over its budget (${why})`);
      if (conn.userId > 0 && this.options.loginBanMs > 0) {
        this.ban(`id:${conn.userId}`, now + this.options.loginBanMs);
        if (conn.loginAs !== '') this.ban(`name:${conn.loginAs}`, now + this.options.loginBanMs);
      }
    }
  }
}

/**
 * A bounded pool for expensive reads: at most `concurrency` run at once for the
 * whole msg server, up to `maxQueued` wait (FIFO); beyond that, refused.
 */
export class HeavyRequests {
  private running = 0;
  private readonly queue: Array<() => void> = [];
  refused = 0;

  constructor(
    private readonly concurrency: number,
    private readonly maxQueued: number,
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running < this.concurrency) return this.start(work);
    if (this.queue.length >= this.maxQueued) {
      this.refused++;
      return Promise.reject(new LinkUnavailableError('TT_ERR_HEAVY_QUEUE_FULL', `${this.maxQueued} expensive requests already wait; refused`));
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push(() => this.start(work).then(resolve, reject));
    });
  }

  private start<T>(work: () => Promise<T>): Promise<T> {
    this.running++;
    return work().finally(() => {
      this.running--;
      this.queue.shift()?.();
    });
  }
}
