/**
 * The db-proxy's Prometheus metrics (served by its admin endpoint):
 *
 *   teamtalk_db_proxy_requests_total{command,result}    requests answered: ok, refused, storage_error, busy, bad_request
 *   teamtalk_db_proxy_request_seconds{command}          arrival to answer; command="CID_MSG_DATA" is the message-store latency
 *   teamtalk_db_proxy_store_batch_messages              messages per store transaction (histogram)
 *   teamtalk_db_proxy_store_batch_seconds{result}       one store batch, from its first statement to its answers
 *   teamtalk_db_proxy_store_step_seconds{step}          where a batch's time goes: authorize, relations, ids, transaction, counters
 *   teamtalk_db_proxy_requests_in_flight                accepted, not yet answered
 *   teamtalk_db_proxy_msg_server_connections            connected msg servers' links
 *   teamtalk_db_proxy_storage_up{store}                 1 while MySQL / Redis is usable
 *   teamtalk_db_proxy_storage_errors_total{store}       failed statements / commands and connection errors
 *   teamtalk_db_proxy_storage_outages_total{store}      times a store went down
 *   teamtalk_db_proxy_storage_retries_total{store}      work run again after a deadlock
 *   teamtalk_db_proxy_deferred_counter_updates          stored messages whose unread-count update waits for Redis
 *   teamtalk_db_proxy_deferred_counter_updates_dropped_total  ... dropped because too many waited
 *   teamtalk_db_proxy_all_users_shared_total          first-sync user lists answered from a shared snapshot
 *   teamtalk_db_proxy_latest_messages_total{source}    newest messages shown (recent sessions, unread): source="copy" from the copy in Redis, "tables" from the message tables
 *   teamtalk_db_proxy_pdus_*                            msg-server link traffic by command (lib/metrics.ts)
 */
import type { Histogram } from 'prom-client';
import { PduFlag } from '../../pdu/frame';
import { ServiceMetrics, commandLabel, snapshotHistogram, type HistogramSnapshot } from '../../lib/metrics';
import type { AllUsersSnapshot } from './all-users-snapshot';
import type { DbRequest } from './db-request';
import type { MessageReader } from './message-reader';
import type { MessageStore } from './message-store';
import type { MysqlGateway } from './mysql-gateway';
import type { RedisGateway } from './redis-gateway';

const RESULTS: Record<number, string> = {
  [PduFlag.NONE]: 'ok',
  [PduFlag.STORAGE_ERROR]: 'storage_error',
  [PduFlag.BUSY]: 'busy',
  [PduFlag.BAD_REQUEST]: 'refused',
};
const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

export interface DbProxySources {
  mysql: MysqlGateway;
  redis: RedisGateway;
  inFlight(): number;
  connections(): number;
}

export class DbProxyMetrics {
  readonly metrics = new ServiceMetrics('db-proxy');
  private readonly requests = new Map<string, number>();
  private readonly latency: Histogram<'command'>;
  private readonly batchSize: Histogram<string>;
  private readonly batchSeconds: Histogram<'result'>;
  private readonly stepSeconds: Histogram<'step'>;
  private store: MessageStore | null = null;
  private allUsers: AllUsersSnapshot | null = null;
  private reader: MessageReader | null = null;

  constructor(sources: DbProxySources) {
    const m = this.metrics;
    const requests = this.requests;
    m.counterFrom('requests_total', 'requests from msg servers, by command and how they were answered', ['command', 'result'], function* () {
      for (const [key, n] of requests) {
        const [command, result] = key.split(' ');
        yield [{ command, result }, n];
      }
    });
    this.latency = m.histogram('request_seconds', 'time from a request\'s arrival to its answer; command="CID_MSG_DATA" is the message-store latency', ['command']);
    this.batchSize = m.histogram('store_batch_messages', 'messages stored by one transaction', [], BATCH_SIZE_BUCKETS);
    this.batchSeconds = m.histogram('store_batch_seconds', 'one message-store batch: ids, transaction, counters', ['result']);
    this.stepSeconds = m.histogram('store_step_seconds', 'one step of a message-store batch (authorize, relations, ids, transaction, counters)', ['step']);
    m.gaugeFrom('requests_in_flight', 'requests accepted and not yet answered', [], () => [[{}, sources.inFlight()]]);
    m.gaugeFrom('msg_server_connections', 'connected msg-server links', [], () => [[{}, sources.connections()]]);
    const stores = [
      ['mysql', sources.mysql],
      ['redis', sources.redis],
    ] as const;
    m.gaugeFrom('storage_up', '1 while the store is usable, 0 while requests fail fast', ['store'], () => stores.map(([store, g]) => [{ store }, g.isUp ? 1 : 0] as const));
    m.counterFrom('storage_errors_total', 'failed MySQL statements or Redis errors, connection errors included', ['store'], () =>
      stores.map(([store, g]) => [{ store }, g.stats.errors] as const),
    );
    m.counterFrom('storage_outages_total', 'times the store went from usable to down', ['store'], () => stores.map(([store, g]) => [{ store }, g.stats.outages] as const));
    m.counterFrom('storage_retries_total', 'MySQL work run again after InnoDB chose it as a deadlock victim', ['store'], () => [
      [{ store: 'mysql' }, sources.mysql.stats.deadlockRetries + (this.store?.deadlockRetries ?? 0)],
    ]);
    m.gaugeFrom('deferred_counter_updates', 'stored messages whose unread-count update waits for Redis to answer again', [], () => [
      [{}, this.store?.deferredCounters.stats.waiting ?? 0],
    ]);
    m.counterFrom('all_users_shared_total', 'first-sync user lists (IMAllUserReq, time 0) answered from a list read for another request (allUsersSnapshotMs)', [], () => [
      [{}, this.allUsers?.hits ?? 0],
    ]);
    m.counterFrom('latest_messages_total', 'newest messages of conversations read for recent sessions and unread counts, by source: copy (the copy in Redis) or tables (the message tables, when no current copy was there)', ['source'], () => [
      [{ source: 'copy' }, this.reader?.stats.fromCopy ?? 0],
      [{ source: 'tables' }, this.reader?.stats.fromTables ?? 0],
    ]);
    m.counterFrom('deferred_counter_updates_dropped_total', 'deferred unread-count updates dropped because too many waited (deferredCounterUpdatesMax)', [], () => [
      [{}, this.store?.deferredCounters.stats.dropped ?? 0],
    ]);
  }

  /** The message store whose deadlock retries are counted too, the shared user list and the message reader. */
  watchStore(store: MessageStore, allUsers: AllUsersSnapshot, reader: MessageReader): void {
    this.store = store;
    this.allUsers = allUsers;
    this.reader = reader;
  }

  requestDone(req: DbRequest): void {
    const command = commandLabel(req.pdu.commandId);
    const result = RESULTS[req.flag] ?? 'failed';
    const key = `${command} ${result}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    this.latency.observe({ command }, (performance.now() - req.startedAt) / 1000);
  }

  /** A request refused before it was started (queue full). */
  busy(commandId: number): void {
    const key = `${commandLabel(commandId)} busy`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  batchDone(messages: number, seconds: number, stored: boolean): void {
    this.batchSize.observe(messages);
    this.batchSeconds.observe({ result: stored ? 'stored' : 'failed' }, seconds);
  }

  batchStep(step: string, seconds: number): void {
    this.stepSeconds.observe({ step }, seconds);
  }

  /** The message-store latency so far, for the console's chart. */
  storeLatency(): Promise<HistogramSnapshot> {
    return snapshotHistogram(this.latency, (labels) => labels.command === 'CID_MSG_DATA');
  }
}
