/**
 * Multi-statement scripts on the db-proxy's MySQL gateway (services/db-proxy/
 * mysql-gateway.ts), against a real MariaDB: a script transaction sends its
 * BEGIN and statements in one query and still rolls back as a whole; an
 * autocommit script stops at the first failing statement; the ordinary pool
 * still refuses to chain statements.
 */
import t from 'tap';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { createLogger } from '../../lib/log';
import { MysqlGateway } from '../../services/db-proxy/mysql-gateway';
import { freshDatabase } from '../helpers/storage';

t.test('script transactions and autocommit scripts', async (t) => {
  const db = await freshDatabase(t);
  const gateway = new MysqlGateway(
    { url: db.url, poolSize: 2, scriptPoolSize: 2, timeoutMs: 5000, connectTimeoutMs: 2000, requiredTables: ['IMUser'] },
    createLogger('db-proxy', 'silent'),
  );
  t.teardown(() => gateway.close());
  await gateway.start();
  const count = async (where: string) => Number((await db.pool.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM IMDepart WHERE ${where}`))[0][0].n);
  const insert = (name: string) => ({ sql: 'INSERT INTO IMDepart (departName, priority, parentId, status, created, updated) VALUES (?, 0, 0, 0, 1, 1)', values: [name] });

  await t.test('queryMany: every statement\'s result, in order, committed together', async (t) => {
    const results = await gateway.transaction(
      async (tx) =>
        tx.queryMany([insert('d1'), insert("d2'; DROP TABLE IMUser; --"), { sql: 'UPDATE IMDepart SET priority = ? WHERE departName LIKE ?', values: [7, 'd%'] }, { sql: 'SELECT COUNT(*) AS n FROM IMDepart WHERE priority = ?', values: [7] }]),
      { script: true },
    );
    t.equal(results.length, 4);
    t.equal((results[0] as ResultSetHeader).affectedRows, 1);
    t.equal((results[2] as ResultSetHeader).affectedRows, 2, 'the UPDATE saw both inserted rows');
    t.equal(Number((results[3] as RowDataPacket[])[0].n), 2, 'the SELECT ran last, inside the transaction');
    t.equal(await count("departName = 'd2''; DROP TABLE IMUser; --'"), 1, 'a value with SQL in it is stored as text');
    await t.resolves(db.pool.query('SELECT 1 FROM IMUser LIMIT 1'), 'IMUser is still there');
  });

  await t.test('a failing statement stops the script and the whole transaction rolls back', async (t) => {
    await t.rejects(
      gateway.transaction(async (tx) => tx.queryMany([insert('r1'), { sql: 'INSERT INTO IMDepart (id, departName, priority, parentId, status, created, updated) SELECT id, ?, 0, 0, 0, 1, 1 FROM IMDepart LIMIT 1', values: ['dup'] }, insert('r2')]), { script: true }),
      { code: 'ER_DUP_ENTRY' },
    );
    t.equal(await count("departName IN ('r1', 'r2', 'dup')"), 0, 'nothing of it was committed');
    const after = await gateway.transaction(async (tx) => tx.queryMany([insert('r3')]), { script: true });
    t.equal((after[0] as ResultSetHeader).affectedRows, 1, 'the connection is usable again');
    t.equal(await count("departName = 'r3'"), 1);
  });

  await t.test('an autocommit script keeps what ran before the failing statement, and nothing after it', async (t) => {
    await t.rejects(gateway.script([insert('a1'), { sql: 'SELECT * FROM no_such_table', values: [] }, insert('a2')]), { code: 'ER_NO_SUCH_TABLE' });
    t.equal(await count("departName = 'a1'"), 1);
    t.equal(await count("departName = 'a2'"), 0);
    const [, rows] = await gateway.scriptWithRetry([insert('a3'), { sql: 'SELECT departName FROM IMDepart WHERE departName = ?', values: ['a3'] }]);
    t.same((rows as RowDataPacket[]).map((r) => r.departName), ['a3'], 'a later statement sees the earlier one');
  });

  await t.test('the ordinary pool and transactions without { script } refuse chained statements', async (t) => {
    await t.rejects(gateway.query('SELECT 1; SELECT 2'), { code: 'ER_PARSE_ERROR' });
    await t.rejects(gateway.transaction(async (tx) => tx.query('SELECT 1; SELECT 2')), { code: 'ER_PARSE_ERROR' });
    const plain = await gateway.transaction(async (tx) => tx.queryMany([insert('p1'), insert('p2')]));
    t.equal(plain.length, 2, 'queryMany still works there, one statement at a time');
  });
});
