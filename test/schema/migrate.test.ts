/** The migrator against real MariaDB: idempotent, complete, with the indexes queries rely on. */
import t from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import { migrate } from '../../scripts/db/migrate';
import { isEmpty, seedDemo, DEMO_USERS } from '../../scripts/db/seed';
import { storedPassword, clientPasswordDigest } from '../../lib/password';
import { freshDatabase } from '../helpers/storage';

t.test('migrate creates everything once and is a no-op the second time', async (t) => {
  const db = await freshDatabase(t, { migrate: false });
  const first = await migrate(db.url);
  t.same(first.applied, ['001_initial.sql', '002_conversation_keys.sql', '003_recent_sessions_covering.sql']);
  const second = await migrate(db.url);
  t.same(second.applied, [], 'nothing applied twice');
  t.same(second.alreadyApplied, ['001_initial.sql', '002_conversation_keys.sql', '003_recent_sessions_covering.sql']);

  const [tables] = await db.pool.query<RowDataPacket[]>(
    'SELECT TABLE_NAME AS name, TABLE_COLLATION AS collation FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?',
    [db.name],
  );
  const names = tables.map((r) => String(r.name)).sort();
  for (let i = 0; i < 8; i++) {
    t.ok(names.includes(`IMMessage_${i}`), `IMMessage_${i}`);
    t.ok(names.includes(`IMGroupMessage_${i}`), `IMGroupMessage_${i}`);
  }
  for (const table of ['IMAdmin', 'IMAudio', 'IMDepart', 'IMDiscovery', 'IMGroup', 'IMGroupMember', 'IMRecentSession', 'IMRelationShip', 'IMUser', 'IMTransmitFile']) {
    t.ok(names.includes(table), table);
  }
  t.equal(names.filter((n) => /^IM(Group)?Message_\d$/.test(n)).length, 16, 'exactly 16 message tables');
  for (const row of tables) {
    if (String(row.name).startsWith('IM')) t.match(String(row.collation), /^utf8mb4/, `${row.name} is utf8mb4`);
  }
});

t.test('message tables are keyed by conversation and msgId, with the index the original names', async (t) => {
  const db = await freshDatabase(t);
  const [rows] = await db.pool.query<RowDataPacket[]>(
    `SELECT TABLE_NAME AS tbl, INDEX_NAME AS idx, NON_UNIQUE AS nonUnique,
            GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) AS cols
       FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ?
      GROUP BY TABLE_NAME, INDEX_NAME, NON_UNIQUE`,
    [db.name],
  );
  const index = (tbl: string, idx: string) => rows.find((r) => r.tbl === tbl && r.idx === idx);
  for (let i = 0; i < 8; i++) {
    t.match(index(`IMMessage_${i}`, 'PRIMARY'), { cols: 'relateId,msgId', nonUnique: 0 });
    t.match(index(`IMMessage_${i}`, 'uk_id'), { cols: 'id', nonUnique: 0 });
    t.equal(index(`IMMessage_${i}`, 'idx_relateId_status_created')?.cols, 'relateId,status,created,id');
    t.match(index(`IMGroupMessage_${i}`, 'PRIMARY'), { cols: 'groupId,msgId', nonUnique: 0 });
    t.match(index(`IMGroupMessage_${i}`, 'uk_id'), { cols: 'id', nonUnique: 0 });
    t.equal(index(`IMGroupMessage_${i}`, 'idx_groupId_status_created')?.cols, 'groupId,status,created,id');
    t.equal(rows.filter((r) => r.tbl === `IMMessage_${i}`).length, 3, `IMMessage_${i}: no other index to update on every store`);
    t.equal(rows.filter((r) => r.tbl === `IMGroupMessage_${i}`).length, 3, `IMGroupMessage_${i}: no other index`);
  }
  t.match(index('IMRelationShip', 'uk_smallId_bigId'), { cols: 'smallId,bigId', nonUnique: 0 });
  t.match(index('IMRecentSession', 'uk_userId_peerId_type'), { cols: 'userId,peerId,type', nonUnique: 0 });
  t.match(index('IMGroupMember', 'uk_groupId_userId'), { cols: 'groupId,userId', nonUnique: 0 });
  t.match(index('IMUser', 'uk_name'), { cols: 'name', nonUnique: 0 });
  const [cols] = await db.pool.query<RowDataPacket[]>(
    "SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'IMUser'",
    [db.name],
  );
  t.match(cols.find((c) => c.name === 'sign_info'), { type: 'varchar(128)' });
  t.match(cols.find((c) => c.name === 'push_shield_status'), { type: /tinyint/ });
});

t.test('the seeder stores TeamTalk passwords and is idempotent', async (t) => {
  const db = await freshDatabase(t);
  t.ok(await isEmpty(db.pool));
  const first = await seedDemo(db.pool);
  t.same(first.created, DEMO_USERS.map((u) => u.name));
  const second = await seedDemo(db.pool);
  t.same(second.created, []);
  t.same(second.existing, DEMO_USERS.map((u) => u.name));
  t.notOk(await isEmpty(db.pool));
  const [rows] = await db.pool.query<RowDataPacket[]>('SELECT name, password, salt, departId FROM IMUser ORDER BY id');
  t.equal(rows.length, DEMO_USERS.length);
  for (const row of rows) {
    t.equal(row.password, storedPassword(clientPasswordDigest(first.password), String(row.salt)), `${row.name} password rule`);
    t.equal(String(row.salt).length, 4);
  }
  const [departs] = await db.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM IMDepart');
  t.equal(Number(departs[0].n), 3, 'company + two departments, not duplicated');
});

t.test('two migrations started at once apply each file once', async (t) => {
  const db = await freshDatabase(t, { migrate: false });
  const [a, b] = await Promise.all([migrate(db.url), migrate(db.url)]);
  const files = [...a.applied, ...b.applied].sort();
  t.same(files, [...new Set(files)], 'no file applied by both');
  t.same(new Set([...a.applied, ...a.alreadyApplied]), new Set([...b.applied, ...b.alreadyApplied]), 'both end with every file applied');
  t.ok(a.applied.length === 0 || b.applied.length === 0, 'one of them did all the work, the other waited for the lock and found it done');
  const [rows] = await db.pool.query<RowDataPacket[]>('SELECT version, COUNT(*) AS n FROM tt_schema_migrations GROUP BY version HAVING n > 1');
  t.same(rows, [], 'each file recorded once');
});
