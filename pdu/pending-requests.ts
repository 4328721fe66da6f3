/**
 * Request/reply bookkeeping of one PduConnection: the seq_num each outstanding
 * request went out with, the reply command it expects and when it gives up.
 * Seq numbers of timed-out requests stay reserved until their late reply comes
 * (it is dropped), so a late reply is never taken for the answer to a newer
 * request. Pure logic: no sockets, no timers (the connection's sweep calls expire()).
 */
import type { Pdu } from './frame';
import { ConnectionClosedError, RequestTimeoutError } from '../lib/errors';

export interface PendingRequest {
  expectCommandId: number;
  deadline: number;
  /** The request's command name, for errors. */
  what: string;
  resolve(pdu: Pdu): void;
  reject(err: Error): void;
}

export class PendingRequests {
  private readonly pending = new Map<number, PendingRequest>();
  private expired: Set<number> | null = null;
  private nextSeq = 1;
  /** Replies that arrived after their request had timed out (dropped). */
  lateReplies = 0;

  /** Requests waiting for their reply. */
  get size(): number {
    return this.pending.size;
  }

  /** Seq numbers held by requests that timed out and whose reply never came. */
  get expiredCount(): number {
    return this.expired?.size ?? 0;
  }

  /** Registers a request under a free seq_num (never 0, never one in use or held) and returns it. */
  add(request: PendingRequest): number {
    const expired = this.expired;
    let seq = this.nextSeq;
    while (seq === 0 || this.pending.has(seq) || (expired !== null && expired.has(seq))) seq = (seq + 1) & 0xffff;
    this.nextSeq = (seq + 1) & 0xffff;
    this.pending.set(seq, request);
    return seq;
  }

  /**
   * Takes `pdu` if it answers a request: resolves that request, or drops the late
   * reply of one that timed out. Returns false for anything else (a push or a request).
   */
  settle(pdu: Pdu): boolean {
    if (pdu.seqNum === 0) return false;
    const request = this.pending.get(pdu.seqNum);
    if (request !== undefined && request.expectCommandId === pdu.commandId) {
      this.pending.delete(pdu.seqNum);
      request.resolve(pdu);
      return true;
    }
    if (this.expired !== null && this.expired.delete(pdu.seqNum)) {
      this.lateReplies++;
      return true;
    }
    return false;
  }

  /** Rejects the requests whose deadline passed (they share one timeout, so insertion order is deadline order). */
  expire(now: number, timeoutMs: number): void {
    for (const [seq, request] of this.pending) {
      if (request.deadline > now) break;
      this.pending.delete(seq);
      (this.expired ??= new Set()).add(seq);
      request.reject(new RequestTimeoutError(request.what, timeoutMs));
    }
  }

  /** The connection closed: every waiting request fails with `reason`. */
  rejectAll(reason: string): void {
    if (this.pending.size === 0) return;
    const requests = [...this.pending.values()];
    this.pending.clear();
    for (const request of requests) request.reject(new ConnectionClosedError(request.what, reason));
  }
}
