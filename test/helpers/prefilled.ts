/**
 * Tests of a migration on a populated database: a fresh database and Redis
 * prefix holding a prefilled history under an older schema (only the given
 * files of schema/ applied), and the migration to today's schema run while
 * messages are being stored.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import { encodeHandleAttach } from '../../pdu/attach';
import { IM } from '../../pdu/commands';
import type { PduConnection } from '../../pdu/connection';
import { schemaDir } from '../../lib/paths';
import { addUser } from '../../scripts/db/accounts';
import { migrate, type MigrationResult } from '../../scripts/db/migrate';
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

/** What migrateWhileChatting saw: the migration's result and the msg ids acknowledged meanwhile. */
export interface ChattedMigration {
  result: MigrationResult;
  ann: number;
  ben: number;
  acked: number[];
}

/**
 * Migrates the database with every schema file while two users of their own
 * ("ann", "ben") keep chatting through `conn` (a db-proxy link), at least five
 * messages: what a migration that is online must allow.
 */
export async function migrateWhileChatting(db: TestDatabase, conn: PduConnection): Promise<ChattedMigration> {
  const [[depart]] = await db.pool.query<RowDataPacket[]>('SELECT id FROM IMDepart LIMIT 1');
  const ann = await addUser(db.pool, { name: 'ann', password: 'pw', departId: Number(depart.id) });
  const ben = await addUser(db.pool, { name: 'ben', password: 'pw', departId: Number(depart.id) });
  const acked: number[] = [];
  let storing = true;
  const chatting = (async () => {
    for (let i = 0; storing || i < 5; i++) {
      const stored = await conn.request(
        IM.Message.IMMsgData,
        { from_user_id: i % 2 ? ben : ann, to_session_id: i % 2 ? ann : ben, msg_id: 0, create_time: Math.floor(Date.now() / 1000), msg_type: IM.BaseDefine.MsgType.MSG_TYPE_SINGLE_TEXT, msg_data: Buffer.from(`during ${i}`), attach_data: encodeHandleAttach(7) },
        IM.Message.IMMsgData,
      );
      acked.push(stored.msg_id);
    }
  })();
  try {
    return { result: await migrate(db.url), ann, ben, acked };
  } finally {
    storing = false;
    await chatting;
  }
}
