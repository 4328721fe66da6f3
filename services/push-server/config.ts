/**
 * push-server configuration (env prefix TT_PUSH). msg servers connect over
 * mutual TLS (role msg-server) and send 0x070f; every notification is POSTed
 * as JSON to webhookUrl, the bridge to APNs, FCM or anything else.
 */
import { join, relative } from 'node:path';
import { defineConfig, field, heartbeatWithinTimeout, urlOrNull, type ConfigOf } from '../../lib/config';
import { ConfigError } from '../../lib/errors';
import { internalTlsSpec } from '../../lib/internal-tls';
import { projectRoot, runDir } from '../../lib/paths';

const run = relative(projectRoot, runDir) || '.';

const spec = {
  logLevel: field.logLevel(),
  listenHost: field.host('127.0.0.1', 'address msg servers connect to (internal: keep it private)'),
  listenPort: field.port(8500, 'port msg servers connect to (mutual TLS)'),
  maxMsgServers: field.int(1000, 'msg-server connections accepted at most', { min: 1 }),
  heartbeatIntervalMs: field.int(5_000, 'heartbeat to msg servers after this much silence', { min: 10 }),
  linkTimeoutMs: field.int(30_000, 'close a msg-server link after this long without data (the original: 30 s)', { min: 50 }),
  maxPduBytes: field.int(4 * 1024 * 1024, 'largest PDU a msg server may send (a push request for many recipients); a bigger one closes the link', { min: 64 * 1024 }),
  webhookUrl: field.string('', 'where each notification is POSTed as JSON (http or https); empty: notifications go to the dead-letter file with reason "no webhook"'),
  webhookSecret: field.string('', 'when set, each POST carries X-TeamTalk-Signature: sha256=<HMAC-SHA256 of the body with this secret, hex>'),
  webhookTimeoutMs: field.int(5_000, 'a webhook call without a complete answer by then counts as failed', { min: 100 }),
  webhookRetries: field.int(3, 'retries of a failed call (network error, timeout, 408, 429, 5xx) before the notification is dead-lettered; other 4xx are not retried', { min: 0, max: 20 }),
  webhookBackoffMs: field.int(500, 'wait before the first retry; doubles each time, with jitter', { min: 1 }),
  webhookMaxBackoffMs: field.int(30_000, 'longest wait between retries', { min: 1 }),
  webhookConcurrency: field.int(8, 'webhook calls in flight at once', { min: 1, max: 256 }),
  maxQueuedPushes: field.int(10_000, 'notifications waiting for the webhook at most; more are dead-lettered with reason "queue full"', { min: 1 }),
  deadLetterFile: field.file(join(run, 'push-server', 'dead-letter.jsonl'), 'notifications that could not be delivered, one JSON line each (time, reason, attempts, notification)'),
  deadLetterMaxBytes: field.int(64 * 1024 * 1024, 'the dead-letter file grows to this size at most; beyond it dead letters are only logged', { min: 0 }),
  notificationTitle: field.string('TeamTalk', 'the "title" of every notification'),
  maxTokenLength: field.int(512, 'longest device token accepted (iOS: 64 hex characters; FCM tokens are longer)', { min: 8 }),
  ...internalTlsSpec('push-server'),
};

export const pushServerConfig = defineConfig('push-server', 'TT_PUSH', spec, [heartbeatWithinTimeout('push-server', 'heartbeatIntervalMs', 'linkTimeoutMs'), checkPushServerConfig]);
export type PushServerConfig = ConfigOf<typeof spec>;

export function checkPushServerConfig(config: PushServerConfig): void {
  if (config.webhookUrl !== '') {
    const url = urlOrNull(config.webhookUrl);
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new ConfigError(`push-server config: key "webhookUrl" must be an http(s) URL or empty, got ${JSON.stringify(config.webhookUrl)}`);
    }
  }
  if (config.webhookMaxBackoffMs < config.webhookBackoffMs) throw new ConfigError('push-server config: key "webhookMaxBackoffMs" must not be below "webhookBackoffMs"');
}
