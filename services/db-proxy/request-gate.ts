/**
 * Bounds the work a db-proxy holds: requests accepted but not yet answered,
 * per msg-server connection and in total. A request beyond either limit is
 * answered at once with a BUSY reply instead of queueing without bound.
 */
import type { PduConnection } from '../../pdu/connection';

/** State of one msg-server connection. */
export interface LinkState {
  inFlight: number;
}

export type MsgServerConn = PduConnection<LinkState>;

export class RequestGate {
  private total = 0;
  private drainWaiters: Array<() => void> = [];

  constructor(
    readonly maxTotal: number,
    readonly maxPerConnection: number,
  ) {}

  get inFlight(): number {
    return this.total;
  }

  /** Takes a slot for a request from `conn`; false when a limit is reached. */
  tryEnter(conn: MsgServerConn): boolean {
    const state = conn.context as LinkState;
    if (state.inFlight >= this.maxPerConnection || this.total >= this.maxTotal) return false;
    state.inFlight++;
    this.total++;
    return true;
  }

  leave(conn: MsgServerConn): void {
    (conn.context as LinkState).inFlight--;
    this.total--;
    if (this.total === 0 && this.drainWaiters.length > 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Resolves true once nothing is in flight, or false after timeoutMs. */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.total === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.drainWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
