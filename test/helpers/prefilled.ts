/**
 * A database that holds a prefilled history under an older schema (only the
 * given files of schema/ applied), for tests of a migration on a populated
 * database: fresh database and Redis prefix, the files, then the prefill.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { schemaDir } from '../../lib/paths';
import { migrate } from '../../scripts/db/migrate';
import { PREFILL_DEFAULTS, prefillHistory, type PrefillSummary } from '../../scripts/db/prefill';
import { freshDatabase, freshRedis, type TestDatabase, type TestRedis } from './storage';

export interface PrefilledDatabase {
  db: TestDatabase;
  redis: TestRedis;
  summary: PrefillSummary;
}

/** Users are named `old_0`, `old_1`, ... with password "pw"; three days of history. */
export async function historyUnder(
  t: Test,
  schemaFiles: readonly string[],
  history: { messages: number; users: number; groupShare: number },
): Promise<PrefilledDatabase> {
  const db = await freshDatabase(t, { migrate: false });
  const redis = await freshRedis(t);
  const older = mkdtempSync(join(tmpdir(), 'tt-schema-'));
  t.teardown(() => rmSync(older, { recursive: true, force: true }));
  for (const file of schemaFiles) copyFileSync(join(schemaDir, file), join(older, file));
  await migrate(db.url, older);
  const summary = await prefillHistory({
    mysqlUrl: db.url,
    redisUrl: redis.url,
    redisKeyPrefix: redis.prefix,
    ...history,
    userPrefix: 'old_',
    password: 'pw',
    days: 3,
    seed: PREFILL_DEFAULTS.seed,
    tableCount: 8,
    log: () => {},
  });
  return { db, redis, summary };
}
