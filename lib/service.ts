/**
 * The shared `main` of every service: load and validate its config (exit 2 with
 * the bad key named), create the logger, start, and stop cleanly on SIGTERM /
 * SIGINT. A service's main.ts is one call to runService.
 */
import { ConfigError } from './errors';
import { UsageError, configFileFromArgs } from './cli';
import { type ConfigOf, type ServiceConfig, type Spec } from './config';
import { createLogger, reloadLogLevelOnSighup, type Logger } from './log';

export interface RunningService {
  /** Stops accepting work, closes links and listeners. */
  stop(reason?: string): Promise<void>;
  /**
   * Resolves (with the reason) when the service has finished its work on its own,
   * e.g. a msg server whose drain is complete: it is then stopped and exits 0.
   */
  done?: Promise<string>;
}

export async function runService<S extends Spec & { logLevel: unknown }>(
  definition: ServiceConfig<S>,
  start: (config: ConfigOf<S>, logger: Logger) => Promise<RunningService>,
): Promise<void> {
  let file: string | null;
  let config: ConfigOf<S>;
  try {
    file = configFileFromArgs(process.argv.slice(2));
    config = definition.load({ file });
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError) {
      process.stderr.write(`${definition.service}: ${err.message}${err instanceof UsageError ? ' (usage: [--config FILE])' : ''}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(definition.service, String(config.logLevel));
  reloadLogLevelOnSighup(logger, () => String(definition.load({ file }).logLevel));
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception, exiting');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled promise rejection, exiting');
    process.exit(1);
  });
  let running: RunningService;
  try {
    running = await start(config, logger);
  } catch (err) {
    logger.fatal({ err }, 'start-up failed');
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    running.stop(`received ${signal}`).then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  void running.done?.then((reason) => shutdown(reason));
  if (process.env.TT_SUPERVISED === '1') {
    // Under `npm start`: if the supervisor dies without stopping us (SIGKILL), stop
    // too instead of living on as an orphan holding the ports.
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) shutdown('supervisor gone');
    }, 1000).unref();
  }
}
