/**
 * Structured logs (pino, one JSON line per event). Every service logs with a
 * `service` field; connection and user ids go in as `conn` and `userId`.
 */
import pino from 'pino';

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
