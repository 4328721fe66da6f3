/**
 * `npm run infra -- start|stop|status`: the local MariaDB and Redis under .run/,
 * kept running between commands (npm start and npm test reuse them when up).
 */
import { join } from 'node:path';
import { redactUrl } from '../lib/mysql-url';
import { runDir } from '../lib/paths';
import { UsageError, parseChoiceOption, parseCommandLine, runMain } from '../lib/cli';
import { provisionStorage } from './infra/provision';
import { isAlive, readPidFile, stopProcess } from './infra/system';

const PID_FILES = {
  mariadb: join(runDir, 'mariadb', 'mariadb.pid'),
  redis: join(runDir, 'redis', 'redis.pid'),
};

async function main(command: 'start' | 'stop' | 'status'): Promise<void> {
  const log = (line: string) => process.stderr.write(`[infra] ${line}\n`);
  switch (command) {
    case 'start': {
      const storage = await provisionStorage({ database: 'teamtalk', log, keepRunning: true });
      // Printed without passwords (they are in .run/credentials.json, mode 600); npm start and npm test find them there.
      log(`running: ${redactUrl(storage.mysqlAdminUrl)} (admin), ${redactUrl(storage.mysqlUrl)} (services), ${redactUrl(storage.redisUrl)}`);
      log(`passwords: ${join(runDir, 'credentials.json')}; stop with: npm run infra -- stop`);
      return;
    }
    case 'stop':
      for (const [name, file] of Object.entries(PID_FILES)) {
        const pid = readPidFile(file);
        if (pid !== null && isAlive(pid)) {
          await stopProcess(pid);
          log(`${name} stopped (pid ${pid})`);
        } else {
          log(`${name} was not running`);
        }
      }
      return;
    case 'status':
      for (const [name, file] of Object.entries(PID_FILES)) {
        const pid = readPidFile(file);
        log(`${name}: ${pid !== null && isAlive(pid) ? `running (pid ${pid})` : 'stopped'}`);
      }
      return;
  }
}

const USAGE = 'usage: npm run infra -- start|stop|status   (default: status)';

runMain('infra', USAGE, async () => {
  const { positionals } = parseCommandLine(process.argv.slice(2), {});
  if (positionals.length > 1) throw new UsageError(`one command at most, got ${positionals.length}`);
  await main(parseChoiceOption('COMMAND', positionals[0], ['start', 'stop', 'status']) ?? 'status');
  return 0;
});
