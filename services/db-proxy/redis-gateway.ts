/**
 * The only door to Redis: one ioredis client (it pipelines everything sent in
 * the same tick) that fails fast while disconnected instead of queueing, and
 * reconnects by itself. Every (re)connection starts a new `epoch`: Redis may
 * have restarted and lost the last second of its append-only file, so counters
 * verified against MySQL in an earlier epoch must be verified again.
 */
import Redis from 'ioredis';
import type { Logger } from '../../lib/log';
import { redactUrl } from '../../lib/mysql-url';
import type { StorageStats } from './mysql-gateway';
import { StorageUnavailableError } from './storage-errors';
import { SCRIPTS, type ScriptedRedis } from './redis-scripts';

export interface RedisGatewayOptions {
  url: string;
  keyPrefix: string;
  timeoutMs: number;
  connectTimeoutMs: number;
}

export class RedisGateway {
  readonly client: ScriptedRedis;
  /** Bumped on every successful (re)connection. */
  epoch = 0;
  /** For the metrics; Redis work is never retried (deadlockRetries stays 0). */
  readonly stats: StorageStats = { errors: 0, outages: 0, deadlockRetries: 0 };
  private up = false;
  private everUp = false;
  /** The current outage was logged (one line per outage, not per failed command). */
  private downLogged = false;
  private closed = false;

  constructor(
    private readonly options: RedisGatewayOptions,
    private readonly logger: Logger,
  ) {
    const client = new Redis(options.url, {
      keyPrefix: options.keyPrefix,
      lazyConnect: true,
      // Fail fast while disconnected: the request gets a storage error now rather
      // than waiting in an unbounded offline queue.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.timeoutMs,
      connectTimeout: options.connectTimeoutMs,
      retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
    });
    for (const [name, lua] of Object.entries(SCRIPTS)) client.defineCommand(name, { lua });
    this.client = client as ScriptedRedis;
    client.on('ready', () => this.onReady());
    client.on('close', () => this.onDown('connection closed'));
    client.on('error', (err: Error) => {
      this.stats.errors++;
      this.onDown(err.message);
    });
  }

  get isUp(): boolean {
    return this.up;
  }

  /** Connects, waiting at most the connect timeout; a Redis that is down is retried in the background. */
  async start(): Promise<void> {
    const ready = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.options.connectTimeoutMs);
      this.client.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.client.connect().catch(() => {
      // Reported through the 'error' event; ioredis keeps reconnecting.
    });
    await ready;
    if (!this.up) this.onDown('not reachable at start-up');
  }

  /** Throws at once while Redis is known to be down. */
  assertUp(): void {
    if (!this.up) throw new StorageUnavailableError('Redis', 'not connected');
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.client.status === 'ready') await this.client.quit().catch(() => {});
    this.client.disconnect();
  }

  private onReady(): void {
    this.epoch++;
    this.up = true;
    this.downLogged = false;
    if (this.everUp) this.logger.info({ redis: redactUrl(this.options.url) }, 'Redis available again; msg-id counters will be re-verified');
    else this.logger.info({ redis: redactUrl(this.options.url) }, 'Redis connected');
    this.everUp = true;
  }

  private onDown(reason: string): void {
    if (this.up) this.stats.outages++;
    this.up = false;
    if (this.closed || this.downLogged) return;
    this.downLogged = true;
    this.logger.error(
      { redis: redactUrl(this.options.url), err: reason },
      'Redis unavailable: requests fail with a storage error until it is back',
    );
  }
}
