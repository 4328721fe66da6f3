/**
 * Wrong-password counting per login name, in Redis so every db-proxy sees the
 * same count (the original kept it in one process's memory). Counting starts a
 * window (loginFailureWindowSec) at the first failure; more than maxFailures
 * failures in the window lock the name until the window ends. A successful
 * login clears the count.
 */
import type { RedisGateway } from './redis-gateway';

export class LoginFailures {
  constructor(
    private readonly redis: RedisGateway,
    private readonly maxFailures: number,
    private readonly windowSec: number,
  ) {}

  async isLocked(userName: string): Promise<boolean> {
    this.redis.assertUp();
    const count = await this.redis.client.get(this.redis.keys.loginFailures(userName));
    return Number(count ?? 0) > this.maxFailures;
  }

  /** Counts one failure; returns the failures in the current window. */
  async record(userName: string): Promise<number> {
    this.redis.assertUp();
    const key = this.redis.keys.loginFailures(userName);
    return Number(await this.redis.client.ttCountLoginFailure(1, key, this.windowSec));
  }

  async clear(userName: string): Promise<void> {
    this.redis.assertUp();
    await this.redis.client.del(this.redis.keys.loginFailures(userName));
  }
}
