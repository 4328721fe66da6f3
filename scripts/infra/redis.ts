/**
 * A local Redis for development and tests: bound to 127.0.0.1 on a non-default
 * port with a generated password, AOF persistence (appendfsync everysec) under
 * .run/redis, run as a child process; reused if this checkout's Redis already runs.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { localCredentials } from './credentials';
import type { LocalServer } from './mariadb';
import { InfraError, findExecutable, isAlive, portAcceptsConnections, readPidFile, sleep, stopProcess, tail } from './system';

export const DEFAULT_LOCAL_REDIS_PORT = 36379;

export async function startLocalRedis(opts: {
  runDir: string;
  port: number;
  log: (line: string) => void;
  /** Keep running after this process exits (`npm run infra -- start`). */
  keepRunning?: boolean;
}): Promise<LocalServer> {
  const dir = join(opts.runDir, 'redis');
  const pidFile = join(dir, 'redis.pid');
  const logFile = join(dir, 'redis.log');
  const creds = localCredentials(opts.runDir);
  const url = `redis://:${encodeURIComponent(creds.redisPassword)}@127.0.0.1:${opts.port}/0`;

  const runningPid = readPidFile(pidFile);
  if (runningPid !== null && isAlive(runningPid) && (await portAcceptsConnections('127.0.0.1', opts.port))) {
    return { url, owned: false, pid: runningPid, stop: async () => {} };
  }
  if (await portAcceptsConnections('127.0.0.1', opts.port)) {
    throw new InfraError(
      `port ${opts.port} is already used by another program, not by this checkout's Redis; ` +
        'set TT_LOCAL_REDIS_PORT to a free port, or REDIS_URL to use that server',
    );
  }
  const redisServer = findExecutable(['redis-server']);
  if (!redisServer) throw new InfraError('redis-server not found (install redis-server)');

  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const confFile = join(dir, 'redis.conf');
  // The password lives in a mode-600 file, not on the command line where `ps` shows it.
  writeFileSync(
    confFile,
    [
      `port ${opts.port}`,
      'bind 127.0.0.1',
      'protected-mode yes',
      `requirepass ${creds.redisPassword}`,
      `dir ${dir}`,
      `pidfile ${pidFile}`,
      `logfile ${logFile}`,
      'daemonize no',
      'appendonly yes',
      'appendfsync everysec',
      'save ""',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  opts.log(`starting Redis on 127.0.0.1:${opts.port} (AOF in ${dir})`);
  // Its own process group: a Ctrl-C in the terminal reaches only our process,
  // which stops the services first and the storage last.
  const child = spawn(redisServer, [confFile], { stdio: 'ignore', detached: true });
  if (opts.keepRunning) child.unref();
  let exited: string | null = null;
  child.once('exit', (code, signal) => {
    exited = `exit code ${code ?? signal}`;
  });
  const until = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new InfraError(`Redis exited during start-up (${exited}); last lines of ${logFile}:\n${tail(logFile)}`);
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new InfraError(`Redis did not answer PING within 30 s; see ${logFile}:\n${tail(logFile)}`);
    }
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.ping();
      client.disconnect();
      break;
    } catch {
      client.disconnect();
      await sleep(100);
    }
  }
  const pid = child.pid as number;
  return { url, owned: true, pid, stop: () => stopProcess(pid) };
}

/** Deletes every key starting with `prefix` (what a test or bench run wrote), a SCAN page at a time. */
export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}
