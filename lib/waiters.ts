/**
 * Promises that all resolve together when something becomes true, e.g. "some
 * db-proxy link is up". The owner calls release() when it happens.
 */
export class Waiters {
  private pending: Array<() => void> = [];

  wait(): Promise<void> {
    return new Promise((resolve) => this.pending.push(resolve));
  }

  release(): void {
    const pending = this.pending;
    this.pending = [];
    for (const resolve of pending) resolve();
  }
}
