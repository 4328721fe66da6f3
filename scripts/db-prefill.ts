/**
 * `npm run db:prefill -- --messages N [--users U] [--mysql-url URL]`: fills the
 * database `npm start` uses (or --mysql-url) with a realistic history, fast
 * (see scripts/db/prefill.ts). Migrates first. Prints a JSON summary.
 */
import { parseArgs } from 'node:util';
import { errorMessage } from '../lib/errors';
import { redactUrl } from '../lib/mysql-url';
import { DEFAULT_CLUSTER_CONFIG_FILE, clusterConfig } from './cluster/config';
import { migrate } from './db/migrate';
import { PREFILL_DEFAULTS, PrefillError, defaultUserCount, prefillHistory } from './db/prefill';
import { provisionStorage, type Storage } from './infra/provision';

const USAGE = `usage: npm run db:prefill -- --messages N [options]

  --messages N        messages to store (single and group), required
  --users U           users (default: one per 2 000 messages, at least 1 000)
  --prefix P          login names P0 .. P(U-1) (default "${PREFILL_DEFAULTS.userPrefix}")
  --password X        their password (default "${PREFILL_DEFAULTS.password}")
  --days D            how far back the history goes (default ${PREFILL_DEFAULTS.days})
  --group-share F     share of group messages, 0..1 (default ${PREFILL_DEFAULTS.groupShare})
  --seed S            another seed gives another history of the same shape
  --mysql-url URL     database to fill, as an account that may ALTER tables
                      (default: MYSQL_URL, or the local MariaDB of npm start, database from config/cluster.json)
  --redis-url URL     Redis of the db-proxy (default: REDIS_URL, or the local Redis)
  --redis-prefix P    the db-proxy's redisKeyPrefix (default: config/cluster.json's redisKeyPrefix)
`;

function number(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isFinite(n)) throw new PrefillError(`--${name} must be a number, got "${raw}"`);
  return n;
}

async function main(): Promise<void> {
  const log = (line: string) => process.stderr.write(`[db:prefill] ${line}\n`);
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        messages: { type: 'string' },
        users: { type: 'string' },
        prefix: { type: 'string' },
        password: { type: 'string' },
        days: { type: 'string' },
        'group-share': { type: 'string' },
        seed: { type: 'string' },
        'mysql-url': { type: 'string' },
        'redis-url': { type: 'string' },
        'redis-prefix': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${errorMessage(err)}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help || values.messages === undefined) {
    process.stderr.write(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  const messages = number(values.messages, 'messages', 0);
  const cluster = clusterConfig.load({ file: process.env.TT_CLUSTER_CONFIG ?? DEFAULT_CLUSTER_CONFIG_FILE });
  let storage: Storage | null = null;
  let mysqlUrl = values['mysql-url'];
  let redisUrl = values['redis-url'];
  try {
    if (mysqlUrl === undefined || redisUrl === undefined) {
      storage = await provisionStorage({ database: cluster.database, log, env: { ...process.env, ...(mysqlUrl ? { MYSQL_URL: mysqlUrl } : {}), ...(redisUrl ? { REDIS_URL: redisUrl } : {}) } });
      mysqlUrl ??= storage.mysqlAdminUrl;
      redisUrl ??= storage.redisUrl;
    }
    await migrate(mysqlUrl);
    log(`filling ${redactUrl(mysqlUrl)}`);
    const summary = await prefillHistory({
      mysqlUrl,
      redisUrl,
      redisKeyPrefix: values['redis-prefix'] ?? cluster.redisKeyPrefix,
      messages,
      users: number(values.users, 'users', defaultUserCount(messages)),
      userPrefix: values.prefix ?? PREFILL_DEFAULTS.userPrefix,
      password: values.password ?? PREFILL_DEFAULTS.password,
      days: number(values.days, 'days', PREFILL_DEFAULTS.days),
      groupShare: number(values['group-share'], 'group-share', PREFILL_DEFAULTS.groupShare),
      seed: number(values.seed, 'seed', PREFILL_DEFAULTS.seed),
      tableCount: PREFILL_DEFAULTS.tableCount,
      log,
    });
    log(`done in ${summary.seconds} s (${summary.messagesPerSecond} messages/s); log in as ${values.prefix ?? PREFILL_DEFAULTS.userPrefix}0 .. with password "${values.password ?? PREFILL_DEFAULTS.password}"`);
    process.stdout.write(JSON.stringify(summary) + '\n');
  } finally {
    await storage?.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`[db:prefill] failed: ${errorMessage(err)}\n`);
  process.exit(1);
});
