/**
 * How storage failures are told apart: an outage (the request fails fast and
 * the gateway starts probing for recovery) versus a statement that failed on
 * its own (duplicate key, deadlock) on a healthy server.
 */
import { TTError } from '../../lib/errors';

/** MySQL or Redis is known to be down: the request was not attempted. */
export class StorageUnavailableError extends TTError {
  constructor(store: 'MySQL' | 'Redis', detail: string) {
    super('TT_ERR_STORAGE_UNAVAILABLE', `${store} is unavailable (${detail}); the request was not attempted`);
  }
}

/**
 * COMMIT was sent but its outcome is unknown (the connection broke or timed
 * out): the rows may or may not be stored. MysqlGateway.settleUnknownCommit can
 * often still tell, through the server thread that ran it.
 */
export class CommitOutcomeUnknownError extends TTError {
  constructor(
    cause: unknown,
    /** The MySQL connection (server thread) id the transaction ran on. */
    readonly threadId: number,
  ) {
    super('TT_ERR_COMMIT_UNKNOWN', `COMMIT failed, outcome unknown: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/** The schema misses tables this service needs. */
export class SchemaError extends TTError {
  constructor(message: string) {
    super('TT_ERR_SCHEMA', message);
  }
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'ER_SERVER_SHUTDOWN',
  'ER_CON_COUNT_ERROR',
  'ER_NET_READ_ERROR',
  'ER_NET_READ_INTERRUPTED',
  'ER_NET_WRITE_INTERRUPTED',
  'ER_NET_ERROR_ON_WRITE',
]);

/** A MySQL error that says the server or the link is gone, as opposed to a failed statement. */
export function isMysqlConnectionError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { fatal?: boolean; code?: string };
  return e.fatal === true || (typeof e.code === 'string' && CONNECTION_ERROR_CODES.has(e.code));
}

/** MySQL error numbers the store path reacts to. */
export const MysqlErrno = {
  NO_SUCH_THREAD: 1094,
  DUP_ENTRY: 1062,
  LOCK_WAIT_TIMEOUT: 1205,
  LOCK_DEADLOCK: 1213,
  NO_SUCH_TABLE: 1146,
} as const;

/** The table an ER_NO_SUCH_TABLE error names ("Table 'db.IMMessage_3' doesn't exist"), or null. */
export function missingTableOf(err: unknown): string | null {
  if (mysqlErrno(err) !== MysqlErrno.NO_SUCH_TABLE) return null;
  const m = /Table '(?:[^'.]*\.)?([^'.]+)' doesn't exist/.exec((err as Error).message ?? '');
  return m === null ? null : m[1];
}

export function mysqlErrno(err: unknown): number | undefined {
  return err && typeof err === 'object' ? (err as { errno?: number }).errno : undefined;
}

/**
 * InnoDB chose this transaction as a deadlock victim and rolled it back:
 * running it again is safe, and usually succeeds at once. (A lock wait timeout
 * is not retried: it already took seconds, and the msg server is waiting.)
 */
export function isDeadlock(err: unknown): boolean {
  return mysqlErrno(err) === MysqlErrno.LOCK_DEADLOCK;
}

/**
 * Attempts for work that InnoDB rolled back as a deadlock victim. Each retry
 * waits a short random time first, or the same concurrent transactions meet
 * again in the same order and deadlock again.
 */
export const DEADLOCK_ATTEMPTS = 6;
export const deadlockRetryPause = (attempt: number) => new Promise<void>((resolve) => setTimeout(resolve, attempt * 5 + Math.random() * 20));

/** Errors that come from MySQL or Redis (as opposed to a bug in this service). */
export function isStorageError(err: unknown): boolean {
  if (err instanceof StorageUnavailableError || err instanceof CommitOutcomeUnknownError) return true;
  if (!err || typeof err !== 'object') return false;
  const e = err as { errno?: unknown; sqlState?: unknown; code?: unknown; name?: string; command?: unknown };
  if (typeof e.sqlState === 'string' || typeof e.errno === 'number') return true;
  if (isMysqlConnectionError(err)) return true;
  // ioredis: ReplyError / MaxRetriesPerRequestError / "Stream isn't writeable" / command timeout.
  return (
    e.name === 'ReplyError' ||
    e.name === 'MaxRetriesPerRequestError' ||
    e.command !== undefined ||
    /Stream isn't writeable|Connection is closed|Command timed out/.test((err as Error).message ?? '')
  );
}
