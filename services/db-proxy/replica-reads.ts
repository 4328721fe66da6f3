/**
 * Reads from MariaDB replicas without ever missing a write that was
 * acknowledged before the read arrived (read-your-writes, across sessions and
 * db-proxies).
 *
 * A read that may go to a replica first asks the primary for its GTID position
 * (`@@gtid_binlog_pos`: everything committed so far), then waits until the
 * replica has applied it (`MASTER_GTID_WAIT(pos, replicaWaitMs)`), and only
 * then runs on the replica. Reads that arrive together share one position
 * fetch (started after the last of them arrived) and one wait per replica, so
 * under load the primary answers one tiny query per event-loop turn instead of
 * the reads themselves. A replica that does not get there in time, is down, or
 * lags more than `replicaMaxLagMs`, is skipped: the read goes to the primary.
 *
 * Lag is measured, not read from Seconds_Behind_Master: every
 * `replicaLagProbeMs` the primary's position is taken and timed until the
 * replica has applied it. A replica that stops applying shows a lag that grows
 * from the first position it did not reach.
 *
 * MariaDB GTIDs only (MySQL's GTID sets are another format).
 */
import type { Logger } from '../../lib/log';
import type { MysqlGateway } from './mysql-gateway';

export interface ReplicaReadOptions {
  /** How long a read waits for a replica to reach the primary's position before it goes to the primary. */
  waitMs: number;
  /** A replica lagging more than this is not read from (until it catches up). */
  maxLagMs: number;
  /** How often lag is measured. */
  probeIntervalMs: number;
  /**
   * How long one measurement waits for the replica: below the query timeout,
   * so a replica far behind is measured as lagging, not taken for a server
   * that is down. Lag keeps growing across measurements until it catches up.
   */
  probeWaitMs: number;
}

/** domain id -> sequence number of a GTID position "0-1-100,1-2-7". */
export function parseGtidPosition(position: string): Map<number, bigint> {
  const out = new Map<number, bigint>();
  for (const part of position.split(',')) {
    const m = /^\s*(\d+)-\d+-(\d+)\s*$/.exec(part);
    if (m === null) continue;
    const domain = Number(m[1]);
    const seq = BigInt(m[2]);
    if ((out.get(domain) ?? -1n) < seq) out.set(domain, seq);
  }
  return out;
}

/** Whether a server at position `at` has applied everything of `target`. */
export function gtidReached(at: string, target: string): boolean {
  const have = parseGtidPosition(at);
  for (const [domain, seq] of parseGtidPosition(target)) if ((have.get(domain) ?? -1n) < seq) return false;
  return true;
}

/** The later of two positions, domain by domain. */
export function gtidMax(a: string, b: string): string {
  const merged = parseGtidPosition(a);
  for (const [domain, seq] of parseGtidPosition(b)) if ((merged.get(domain) ?? -1n) < seq) merged.set(domain, seq);
  // The server-id part does not matter to MASTER_GTID_WAIT's comparison within a domain.
  return [...merged].map(([domain, seq]) => `${domain}-0-${seq}`).join(',');
}

export interface ReplicaStatus {
  url: string;
  up: boolean;
  /** Last measured lag (ms); null before the first measurement. */
  lagMs: number | null;
  /** Reads it served / reads that went to the primary because it was not there in time or not usable. */
  reads: number;
}

/** One replica: its pool, what it is known to have applied, its measured lag. */
export class Replica {
  lagMs: number | null = null;
  reads = 0;
  /** A position the replica is known to have applied. */
  private reached = '';
  private readonly waits = new Map<string, Promise<boolean>>();
  private probeTimer: NodeJS.Timeout | null = null;
  private probing = false;
  /** Start of the first probe whose position the replica has not reached yet. */
  private behindSince: number | null = null;
  private healthyBefore = true;
  private closed = false;

  constructor(
    readonly gateway: MysqlGateway,
    private readonly primaryPosition: () => Promise<string>,
    private readonly options: ReplicaReadOptions,
    private readonly logger: Logger,
  ) {}

  /** Usable for reads: connected and, once measured, within replicaMaxLagMs. */
  get healthy(): boolean {
    return this.gateway.isUp && (this.lagMs === null || this.lagMs <= this.options.maxLagMs);
  }

  start(): void {
    const tick = () => {
      this.probeTimer = setTimeout(() => {
        void this.probe().finally(() => {
          if (!this.closed) tick();
        });
      }, this.options.probeIntervalMs);
      this.probeTimer.unref();
    };
    tick();
  }

  close(): void {
    this.closed = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
  }

  /**
   * True once the replica has applied `position` (at once when known), false
   * when it does not within `timeoutMs` or cannot be asked. Concurrent waits
   * for a position another wait covers share it.
   */
  async waitFor(position: string, timeoutMs: number): Promise<boolean> {
    if (gtidReached(this.reached, position)) return true;
    for (const [target, wait] of this.waits) if (gtidReached(target, position)) return wait;
    const wait = this.gtidWait(position, timeoutMs).finally(() => this.waits.delete(position));
    this.waits.set(position, wait);
    return wait;
  }

  status(): ReplicaStatus {
    return { url: this.gateway.description, up: this.gateway.isUp, lagMs: this.lagMs, reads: this.reads };
  }

  /** Measures the lag once: how long until a position the primary holds now is applied here. */
  async probe(): Promise<void> {
    if (this.probing || this.closed) return;
    this.probing = true;
    try {
      const started = Date.now();
      let position: string;
      try {
        position = await this.primaryPosition();
      } catch {
        return; // the primary is down: nothing new to lag behind
      }
      const reached = this.gateway.isUp && (await this.waitFor(position, Math.min(this.options.maxLagMs, this.options.probeWaitMs)));
      const now = Date.now();
      if (reached) {
        this.behindSince = null;
        this.lagMs = now - started;
      } else {
        this.behindSince ??= started;
        this.lagMs = now - this.behindSince;
      }
      const healthy = this.healthy;
      if (healthy !== this.healthyBefore) {
        this.healthyBefore = healthy;
        if (healthy) this.logger.info({ replica: this.gateway.description, lagMs: this.lagMs }, 'replica caught up: reads go to it again');
        else this.logger.warn({ replica: this.gateway.description, lagMs: this.lagMs, maxLagMs: this.options.maxLagMs }, 'replica lags too far behind (or is down): its reads go to the primary');
      }
    } finally {
      this.probing = false;
    }
  }

  private async gtidWait(position: string, timeoutMs: number): Promise<boolean> {
    if (!this.gateway.isUp) return false;
    try {
      const rows = await this.gateway.query<Array<{ r: number | null }>>('SELECT MASTER_GTID_WAIT(?, ?) AS r', [position, timeoutMs / 1000]);
      const ok = Number(rows[0]?.r) === 0 && rows[0]?.r !== null;
      if (ok) this.reached = gtidMax(this.reached, position);
      return ok;
    } catch {
      return false;
    }
  }
}
