/**
 * Delivery of notifications to the webhook: a bounded queue, a few calls at a
 * time, bounded retries with doubling backoff and jitter, and a dead-letter file
 * (JSON lines) for what could not be delivered. Each notification has an id
 * (also in the X-TeamTalk-Push-Id header) so a receiver can drop a duplicate
 * after a retry whose first answer was lost.
 */
import { createHmac } from 'node:crypto';
import { appendFile, mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../../lib/log';

/** What the webhook receives (README: push-server). */
export interface Notification {
  id: string;
  user_id: number;
  client_type: 'ios' | 'android';
  token: string;
  title: string;
  body: string;
  unread_count: number;
  /** "alert" (shown) or "silent" (badge only). */
  push_type: 'alert' | 'silent';
  /** What the app needs to open the conversation: from_id, msg_type, group_id. */
  data: Record<string, unknown>;
  created_at: string;
}

export interface WebhookOptions {
  url: string;
  secret: string;
  timeoutMs: number;
  retries: number;
  backoffMs: number;
  maxBackoffMs: number;
  concurrency: number;
  maxQueued: number;
  deadLetterFile: string;
  deadLetterMaxBytes: number;
}

export interface DeliveryStats {
  accepted: number;
  delivered: number;
  retried: number;
  deadLettered: number;
}

interface Job {
  notification: Notification;
  attempts: number;
}

export class WebhookDelivery {
  readonly stats: DeliveryStats = { accepted: 0, delivered: 0, retried: 0, deadLettered: 0 };
  private readonly queue: Job[] = [];
  private running = 0;
  /** Jobs waiting for their retry timer. */
  private readonly waiting = new Map<NodeJS.Timeout, Job>();
  private stopped = false;
  /** Aborts the calls in flight when the push server stops. */
  private readonly stopping = new AbortController();
  private deadLetters: Promise<void> = Promise.resolve();

  constructor(
    private readonly options: WebhookOptions,
    private readonly logger: Logger,
  ) {}

  /** Notifications queued, in flight or waiting for a retry. */
  get pending(): number {
    return this.queue.length + this.running + this.waiting.size;
  }

  async open(): Promise<void> {
    await mkdir(dirname(this.options.deadLetterFile), { recursive: true, mode: 0o700 });
  }

  /** Queues one notification; a full queue dead-letters it at once. */
  submit(notification: Notification): void {
    this.stats.accepted++;
    if (this.options.url === '') return this.deadLetter({ notification, attempts: 0 }, 'no webhook configured (webhookUrl)');
    if (this.pending >= this.options.maxQueued) return this.deadLetter({ notification, attempts: 0 }, `queue full (${this.options.maxQueued})`);
    this.queue.push({ notification, attempts: 0 });
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.running < this.options.concurrency && this.queue.length > 0) {
      const job = this.queue.shift() as Job;
      this.running++;
      void this.attempt(job).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async attempt(job: Job): Promise<void> {
    job.attempts++;
    const outcome = await this.call(job.notification);
    if (outcome === 'ok') {
      this.stats.delivered++;
      this.logger.info({ id: job.notification.id, userId: job.notification.user_id, attempts: job.attempts }, 'notification delivered to the webhook');
      return;
    }
    if (outcome.retry && job.attempts <= this.options.retries && !this.stopped) {
      this.stats.retried++;
      const ceiling = Math.min(this.options.maxBackoffMs, this.options.backoffMs * 2 ** (job.attempts - 1));
      const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
      this.logger.warn({ id: job.notification.id, attempt: job.attempts, why: outcome.why, retryInMs: delay }, 'webhook call failed; will retry');
      const timer = setTimeout(() => {
        this.waiting.delete(timer);
        this.queue.push(job);
        this.pump();
      }, delay);
      this.waiting.set(timer, job);
      return;
    }
    this.deadLetter(job, outcome.why);
  }

  private async call(n: Notification): Promise<'ok' | { retry: boolean; why: string }> {
    const body = JSON.stringify(n);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-teamtalk-push-id': n.id };
    if (this.options.secret !== '') headers['x-teamtalk-signature'] = `sha256=${createHmac('sha256', this.options.secret).update(body).digest('hex')}`;
    try {
      const res = await fetch(this.options.url, { method: 'POST', headers, body, signal: AbortSignal.any([AbortSignal.timeout(this.options.timeoutMs), this.stopping.signal]), redirect: 'error' });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return 'ok';
      const retry = res.status === 408 || res.status === 429 || res.status >= 500;
      return { retry, why: `webhook answered HTTP ${res.status}` };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      if (this.stopped) return { retry: false, why: 'push server stopped before delivery' };
      return { retry: true, why: e.name === 'TimeoutError' ? `no answer within ${this.options.timeoutMs} ms` : `webhook unreachable (${e.cause?.code ?? e.message})` };
    }
  }

  private deadLetter(job: Job, reason: string): void {
    this.stats.deadLettered++;
    const line = JSON.stringify({ time: new Date().toISOString(), reason, attempts: job.attempts, notification: job.notification }) + '\n';
    this.logger.warn({ id: job.notification.id, userId: job.notification.user_id, attempts: job.attempts, reason }, 'notification dead-lettered');
    this.deadLetters = this.deadLetters.then(async () => {
      const size = (await stat(this.options.deadLetterFile).catch(() => null))?.size ?? 0;
      if (size + line.length > this.options.deadLetterMaxBytes) {
        this.logger.error({ id: job.notification.id, file: this.options.deadLetterFile }, 'dead-letter file full (deadLetterMaxBytes): notification only logged');
        return;
      }
      await appendFile(this.options.deadLetterFile, line, { mode: 0o600 }).catch((err: unknown) =>
        this.logger.error({ err, file: this.options.deadLetterFile }, 'dead-letter file not writable: notification only logged'),
      );
    });
  }

  /** Stops retries; what is still pending is dead-lettered with reason "shutdown". */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    for (const [timer, job] of this.waiting) {
      clearTimeout(timer);
      this.queue.push(job);
    }
    this.waiting.clear();
    for (const job of this.queue.splice(0)) this.deadLetter(job, 'push server stopped before delivery');
    while (this.running > 0) await new Promise((r) => setTimeout(r, 10));
    await this.deadLetters;
  }

  /** Resolves once the dead-letter writes so far are on disk (tests). */
  flushed(): Promise<void> {
    return this.deadLetters;
  }
}
