/**
 * At most one log line per kind of event per interval, with a count of the
 * lines left out: a flood of bad PDUs or busy replies must not flood the log.
 */
export class LogThrottle {
  private readonly seen = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly intervalMs = 10_000) {}

  /** Calls `log` now, or counts the event if `key` was logged within the interval. */
  run(key: string, log: (suppressed: number) => void): void {
    const now = Date.now();
    const entry = this.seen.get(key);
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    if (this.seen.size > 1000) this.seen.clear();
    this.seen.set(key, { at: now, suppressed: 0 });
    log(entry?.suppressed ?? 0);
  }
}
