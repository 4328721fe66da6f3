/**
 * Counter updates (unread counts, group counts) that failed after their
 * messages were committed: Redis went away between the COMMIT and the update.
 *
 * Answering such messages "failed" would make the msg server retry them, and a
 * retry is only recognised through its store token, which lives in the same
 * Redis. So the messages are answered as stored (they are, in MySQL) and their
 * counter updates wait here, in order, and are applied once Redis answers
 * again. Bounded: beyond maxMessages the oldest waiting updates are dropped
 * with an error log (those messages stay in history but do not count as
 * unread). An update whose outcome was unknown (Redis died while running it)
 * may be applied twice: an unread count one too high, never a message missed.
 */
import type { Logger } from '../../lib/log';

/** What a counter update needs of one message. */
export interface CounterSubject {
  readonly group: boolean;
  readonly from: number;
  readonly to: number;
}

export interface DeferredCounterStats {
  /** Messages whose counter update is waiting for Redis now. */
  waiting: number;
  /** Messages whose counter update was deferred (since start). */
  deferred: number;
  /** Messages whose deferred update was dropped because too many were waiting. */
  dropped: number;
}

export class DeferredCounterUpdates {
  readonly stats: DeferredCounterStats = { waiting: 0, deferred: 0, dropped: 0 };
  private readonly batches: CounterSubject[][] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing = false;

  constructor(
    /** Applies one batch's updates (throws while Redis is down). */
    private readonly apply: (subjects: CounterSubject[]) => Promise<void>,
    private readonly maxMessages: number,
    private readonly retryMs: number,
    private readonly logger: Logger,
  ) {}

  add(subjects: CounterSubject[]): void {
    if (subjects.length === 0) return;
    this.batches.push(subjects);
    this.stats.waiting += subjects.length;
    this.stats.deferred += subjects.length;
    while (this.stats.waiting > this.maxMessages && this.batches.length > 1) {
      const dropped = this.batches.shift() as CounterSubject[];
      this.stats.waiting -= dropped.length;
      this.stats.dropped += dropped.length;
      this.logger.error(
        { messages: dropped.length, waiting: this.stats.waiting, max: this.maxMessages },
        'deferred unread-count updates dropped (Redis down too long): these messages are stored but will not show as unread',
      );
    }
    this.arm();
  }

  /** Applies what waits, oldest first, until one fails (then tries again later). */
  async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.batches.length > 0) {
        const next = this.batches[0];
        try {
          await this.apply(next);
        } catch {
          this.arm();
          return;
        }
        // add() may have dropped it meanwhile.
        if (this.batches[0] === next) {
          this.batches.shift();
          this.stats.waiting -= next.length;
        }
      }
      this.logger.info('deferred unread-count updates applied');
    } finally {
      this.flushing = false;
    }
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.retryMs);
    this.timer.unref();
  }
}
