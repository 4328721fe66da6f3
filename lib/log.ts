/**
 * Structured logs (pino, one JSON line per event). Every service logs with a
 * `service` field; connection and user ids go in as `conn` and `userId`.
 */
import pino from 'pino';
import { FrameError } from './errors';

export type Logger = pino.Logger;

export function createLogger(service: string, level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service, pid: process.pid, ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
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
      const level = readLevel();
      if (level !== logger.level) {
        logger.level = level;
        logger.info({ level }, 'log level changed');
      }
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
