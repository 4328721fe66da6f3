/**
 * Delivery tracking: every single-chat message pushed to a client waits in that
 * connection's pending list until the client acks it (CID_MSG_DATA_ACK) or
 * read-acks the session. TeamTalk only logged a miss after 15 s; here an
 * unacked delivery is resent with the same msg id (clients dedupe by msg id),
 * with a doubling delay, a few times, and only then counted as missed. The
 * message is in storage either way: the client also finds it through unread
 * counts and history.
 */
import type { Logger } from '../../lib/log';
import { type ClientConn } from './client-session';

export interface PendingDelivery {
  msgId: number;
  /** The sender: what the client's ack names as session_id. */
  fromId: number;
  /** The PDU as delivered (resent byte for byte). */
  frame: Buffer;
  /** When the next resend (or the miss) is due. */
  dueAt: number;
  resends: number;
}

export interface DeliveryOptions {
  ackTimeoutMs: number;
  retries: number;
  maxPerConnection: number;
}

export interface DeliveryStats {
  delivered: number;
  acked: number;
  resent: number;
  missed: number;
}

export class DeliveryTracker {
  readonly stats: DeliveryStats = { delivered: 0, acked: 0, resent: 0, missed: 0 };
  /** Connections with something pending: the only ones the periodic check visits. */
  private readonly waiting = new Set<ClientConn>();

  constructor(
    private readonly options: DeliveryOptions,
    private readonly logger: Logger,
  ) {}

  /** Sends `frame` to `conn` and remembers it until acked. */
  deliver(conn: ClientConn, msgId: number, fromId: number, frame: Buffer, now: number): void {
    if (!conn.sendFrame(frame)) return;
    this.stats.delivered++;
    const pending = (conn.unacked ??= []);
    if (pending.length >= this.options.maxPerConnection) {
      const dropped = pending.shift() as PendingDelivery;
      this.miss(conn, dropped, 'too many unacked deliveries on this connection');
    }
    pending.push({ msgId, fromId, frame, dueAt: now + this.options.ackTimeoutMs, resends: 0 });
    this.waiting.add(conn);
  }

  /** The client acked (msg_id, from): forget it. */
  ack(conn: ClientConn, msgId: number, fromId: number): void {
    const pending = conn.unacked;
    if (pending === null) return;
    const i = pending.findIndex((p) => p.msgId === msgId && p.fromId === fromId);
    if (i < 0) return;
    pending.splice(i, 1);
    this.stats.acked++;
    if (pending.length === 0) this.waiting.delete(conn);
  }

  /** A read ack for a session covers every delivery from that peer up to msgId. */
  ackUpTo(conn: ClientConn, msgId: number, fromId: number): void {
    const pending = conn.unacked;
    if (pending === null) return;
    const before = pending.length;
    const kept = pending.filter((p) => !(p.fromId === fromId && p.msgId <= msgId));
    this.stats.acked += before - kept.length;
    conn.unacked = kept;
    if (kept.length === 0) this.waiting.delete(conn);
  }

  /** The connection is gone: what it had not acked stays in storage (unread counts, history). */
  forget(conn: ClientConn): void {
    const pending = conn.unacked;
    if (pending !== null && pending.length > 0) {
      this.logger.debug({ conn: conn.id, userId: conn.userId, unacked: pending.length }, 'connection closed with unacked deliveries');
    }
    conn.unacked = null;
    this.waiting.delete(conn);
  }

  /** Periodic: resend what is overdue, count as missed what ran out of retries. */
  check(now: number): void {
    for (const conn of this.waiting) {
      const pending = conn.unacked;
      if (pending === null || !conn.isOpen) {
        this.waiting.delete(conn);
        continue;
      }
      for (let i = 0; i < pending.length; ) {
        const p = pending[i];
        if (p.dueAt > now) {
          i++;
          continue;
        }
        if (p.resends >= this.options.retries) {
          pending.splice(i, 1);
          this.miss(conn, p, `no ack after ${p.resends} resends`);
          continue;
        }
        p.resends++;
        p.dueAt = now + this.options.ackTimeoutMs * 2 ** p.resends;
        this.stats.resent++;
        conn.sendFrame(p.frame);
        i++;
      }
      if (pending.length === 0) this.waiting.delete(conn);
    }
  }

  private miss(conn: ClientConn, p: PendingDelivery, why: string): void {
    this.stats.missed++;
    this.logger.warn(
      { conn: conn.id, userId: conn.userId, msgId: p.msgId, fromId: p.fromId, why },
      'delivery missed (the message stays in storage)',
    );
  }
}
