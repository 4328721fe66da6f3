/**
 * Structured logs (pino, one JSON line per event). Every service logs with a
 * `service` field; connection and user ids go in as `conn` and `userId`.
 */
import pino from 'pino';
import { FrameError } from './errors';

export type Logger = pino.Logger;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A warning or error a service logged, as its admin endpoint shows it (GET /warnings). */
export interface LoggedWarning {
  time: string;
  level: 'warn' | 'error' | 'fatal';
  msg: string;
  /** The line's fields that say who and what (conn, userId, peer, err, ...), as text, size-capped. */
  fields: Record<string, string>;
}

/** How many recent warnings each logger keeps for its admin endpoint. */
export const RECENT_WARNINGS = 100;
const WARN_LEVEL = 40;
const recent = new WeakMap<Logger, LoggedWarning[]>();

/**
 * The service's logger. `destination` replaces stdout (tests capture lines).
 * Every logger keeps its last RECENT_WARNINGS warnings and errors in memory
 * (recentWarnings()), for operators who look before they grep.
 */
export function createLogger(service: string, level: string, base: Record<string, unknown> = {}, destination?: pino.DestinationStream): Logger {
  const ring: LoggedWarning[] = [];
  const options: pino.LoggerOptions = {
    level,
    base: { service, pid: process.pid, ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    hooks: {
      logMethod(args, method, levelValue) {
        if (levelValue >= WARN_LEVEL) remember(ring, levelValue, args);
        method.apply(this, args);
      },
    },
  };
  const logger = destination === undefined ? pino(options) : pino(options, destination);
  recent.set(logger, ring);
  return logger;
}

/** The logger's recent warnings and errors, oldest first (empty for loggers not made by createLogger). */
export function recentWarnings(logger: Logger): readonly LoggedWarning[] {
  return recent.get(logger) ?? [];
}

function remember(ring: LoggedWarning[], levelValue: number, args: unknown[]): void {
  const [first, second] = args;
  const fields: Record<string, string> = {};
  let msg = '';
  if (typeof first === 'string') {
    msg = first;
  } else {
    msg = typeof second === 'string' ? second : '';
    if (first instanceof Error) {
      fields.err = first.message;
    } else if (first !== null && typeof first === 'object') {
      for (const [key, value] of Object.entries(first).slice(0, 12)) {
        const text = value instanceof Error ? value.message : typeof value === 'string' ? value : JSON.stringify(value);
        if (text !== undefined) fields[key] = text.length > 200 ? `${text.slice(0, 199)}…` : text;
      }
    }
  }
  ring.push({ time: new Date().toISOString(), level: levelValue >= 60 ? 'fatal' : levelValue >= 50 ? 'error' : 'warn', msg, fields });
  if (ring.length > RECENT_WARNINGS) ring.shift();
}

/**
 * Sets a running logger's level (admin endpoint, SIGHUP). Returns the level it
 * had; logs the change with who made it.
 */
export function changeLogLevel(logger: Logger, level: string, by: Record<string, unknown>): string {
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new Error(`log level must be one of ${LOG_LEVELS.join(', ')}`);
  const before = logger.level;
  if (level === before) return before;
  // Said at the old and the new level, so a change to "silent" or from "error" is still on record.
  logger.level = 'info';
  logger.info({ from: before, to: level, ...by }, 'log level changed');
  logger.level = level;
  return before;
}

/** A logger that drops everything (unit tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Lets an operator change the log level of a running process: on SIGHUP the
 * level is read again (config file + environment) and applied.
 */
export function reloadLogLevelOnSighup(logger: Logger, readLevel: () => string): () => void {
  const onHup = () => {
    try {
      changeLogLevel(logger, readLevel(), { by: 'SIGHUP' });
    } catch (err) {
      logger.error({ err }, 'log level reload failed; keeping the current level');
    }
  };
  process.on('SIGHUP', onHup);
  return () => process.off('SIGHUP', onHup);
}

/**
 * The onError of a PDU connection, as every service logs it: a framing error
 * (length < 16 or over the limit; the connection layer closes that connection
 * only) is the peer's fault and a warning; anything else is ours and an error.
 */
export function logConnectionError(logger: Logger, peerKind: string, conn: { id: number; remoteAddress: string }, err: Error): void {
  if (err instanceof FrameError) {
    logger.warn({ conn: conn.id, peer: conn.remoteAddress, code: err.code, err: err.message }, `bad PDU from ${peerKind}; closing its connection`);
  } else {
    logger.error({ conn: conn.id, peer: conn.remoteAddress, err }, `error on ${peerKind} connection`);
  }
}

/**
 * A string a client chose, made fit for a log line: at most `max` characters
 * (a 1 MiB "user name" must not become a 1 MiB log line), control characters
 * shown as escapes.
 */
export function clip(text: string, max = 64): string {
  const printable = text.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return printable.length <= max ? printable : `${printable.slice(0, max)}…(${text.length} chars)`;
}
