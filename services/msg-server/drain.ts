/**
 * Draining a msg server: moving its clients to the others before it stops
 * (a rolling restart, taking a host out). Asked for through the admin endpoint
 * (the web console, `npm run msg-server -- drain PORT`).
 *
 *   1. the login servers are told our capacity is 0: no new client is sent here
 *      (an original login server sees us as full and does the same);
 *   2. the client port stops accepting: a client that connects directly is
 *      refused and asks the login server;
 *   3. every drainIntervalMs, drainBatchSize client connections are closed, so
 *      their clients reconnect through the login server to another msg server
 *      a few at a time instead of all at once. A connection is first told
 *      nothing but stops being served (what it sends now is neither stored nor
 *      acked, so its client sends it again after reconnecting: never twice),
 *      and is closed one step later, once what it sent before has been stored
 *      and acked. Nothing is lost: what a client had not acked is in storage
 *      (unread counts, history);
 *   4. once no connection is left, `finished` resolves: the process stops and
 *      exits 0 (under a supervisor it is started again, which is a restart).
 */
import type { Requester } from '../../lib/admin-server';
import type { Logger } from '../../lib/log';
import type { PduServer } from '../../pdu/server';
import { Phase, type ClientConn } from './client-session';
import type { LoginLinks } from './links/login-links';

export const DRAIN_CLOSE_REASON = 'msg server is draining: reconnect through the login server';

export type DrainState = 'active' | 'draining' | 'drained';

export interface DrainOptions {
  batchSize: number;
  intervalMs: number;
}

export interface DrainStatus {
  state: DrainState;
  startedAt: string | null;
  by: string | null;
  /** Client connections closed by the drain so far. */
  closed: number;
  /** Client connections still open. */
  remaining: number;
}

export class Drain {
  state: DrainState = 'active';
  /** Resolves once the drain is complete (every client connection gone). */
  readonly finished: Promise<string>;
  private resolveFinished!: (reason: string) => void;
  private startedAt: number | null = null;
  private by: string | null = null;
  private closed = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Connections no longer served, to be closed at the next step. */
  private closing: ClientConn[] = [];

  constructor(
    private readonly server: PduServer<unknown>,
    private readonly logins: LoginLinks,
    private readonly options: DrainOptions,
    private readonly logger: Logger,
  ) {
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
  }

  get draining(): boolean {
    return this.state !== 'active';
  }

  /** Starts draining; false when a drain is already under way (or done). */
  start(requester: Requester): boolean {
    if (this.state !== 'active') return false;
    this.state = 'draining';
    this.startedAt = Date.now();
    this.by = requester.by;
    this.logins.announce();
    this.server.stopAccepting();
    this.logger.warn(
      { by: requester.by, certificate: requester.certificate, connections: this.server.connections.size, ...this.options },
      'draining: no new clients; closing client connections in batches so they reconnect elsewhere',
    );
    // The first batch waits one interval: by then the login servers have taken our new capacity.
    this.timer = setInterval(() => this.step(), this.options.intervalMs);
    this.timer.unref();
    if (this.server.connections.size === 0) this.step();
    return true;
  }

  status(): DrainStatus {
    return {
      state: this.state,
      startedAt: this.startedAt === null ? null : new Date(this.startedAt).toISOString(),
      by: this.by,
      closed: this.closed,
      remaining: this.server.connections.size,
    };
  }

  /** The service is stopping: no more steps. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private step(): void {
    for (const conn of this.closing) conn.close(DRAIN_CLOSE_REASON);
    this.closed += this.closing.length;
    if (this.closing.length > 0) this.logger.info({ closed: this.closing.length, remaining: this.server.connections.size }, 'draining: client connections closed');
    this.closing = [];
    if (this.server.connections.size === 0) {
      this.stop();
      this.state = 'drained';
      this.logger.warn({ closed: this.closed, tookMs: Date.now() - (this.startedAt ?? Date.now()) }, 'drained: no client connection left; stopping');
      this.resolveFinished('drained');
      return;
    }
    for (const conn of this.server.connections) {
      if (this.closing.length >= this.options.batchSize) break;
      const client = conn as ClientConn;
      if (!client.isOpen || client.phase === Phase.Closing) continue;
      // No longer served: what the client sends from now on is not stored, so not
      // stored twice (unacked, its client sends it again after reconnecting).
      client.phase = Phase.Closing;
      this.closing.push(client);
    }
  }
}
