/**
 * Promises that all resolve together when something becomes true, e.g. "some
 * db-proxy link is up". The owner calls release() when it happens.
 */
export class Waiters {
  private pending: Array<() => void> = [];

  /** Resolves true when released, or false after `timeoutMs` (no timeout: waits until released). */
  wait(timeoutMs?: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (timeoutMs === undefined) {
        this.pending.push(() => resolve(true));
        return;
      }
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.pending = this.pending.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      this.pending.push(done);
    });
  }

  release(): void {
    const pending = this.pending;
    this.pending = [];
    for (const resolve of pending) resolve();
  }
}
