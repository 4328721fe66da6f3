/**
 * Least privilege: the services' MariaDB account may read and write rows of
 * the cluster's database and nothing else, and the db-proxy runs on it.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { IM } from '../../pdu/commands';
import { formatMysqlUrl, parseMysqlUrl } from '../../lib/mysql-url';
import { grantAppAccess } from '../../scripts/infra/mariadb';
import { connectTo, harness, startProxy } from '../db-proxy/harness';

t.test('the services account: rows of one database, no schema changes, no other databases', async (t) => {
  const h = await harness(t);
  const admin = parseMysqlUrl(h.db.url);
  const user = `tt_app_${randomBytes(3).toString('hex')}`;
  const password = randomBytes(12).toString('base64url');
  const root = await mysql.createConnection({ ...admin, database: undefined });
  await root.query('CREATE USER ?@? IDENTIFIED BY ?', [user, '%', password]);
  t.teardown(async () => {
    await root.query('DROP USER ?@?', [user, '%']);
    await root.end();
  });
  await grantAppAccess(h.db.url, user, '%', h.db.name);
  const appUrl = formatMysqlUrl({ ...admin, user, password });
  const app = await mysql.createConnection(parseMysqlUrl(appUrl));
  t.teardown(() => app.end());

  await app.query('SELECT COUNT(*) FROM IMUser');
  await app.query("INSERT INTO IMDepart (departName, priority, parentId, status, created, updated) VALUES ('x', 0, 0, 0, 0, 0)");
  await app.query("UPDATE IMDepart SET departName = 'y' WHERE departName = 'x'");
  await app.query("DELETE FROM IMDepart WHERE departName = 'y'");
  t.pass('SELECT, INSERT, UPDATE, DELETE work');
  for (const sql of [
    'CREATE TABLE evil (id int)',
    'DROP TABLE IMUser',
    'ALTER TABLE IMUser ADD COLUMN evil int',
    'TRUNCATE TABLE IMMessage_0',
    `CREATE DATABASE ${user}_other`,
    'SELECT user, password FROM mysql.user',
    "SELECT LOAD_FILE('/etc/passwd') IS NULL AS denied, 1 FROM IMUser WHERE 0 = 1 UNION SELECT 1, 1 INTO OUTFILE '/tmp/evil'",
  ]) {
    await t.rejects(app.query(sql), { code: /^ER_/ }, `denied: ${sql.slice(0, 40)}`);
  }
  const [grants] = await app.query<mysql.RowDataPacket[]>('SHOW GRANTS');
  t.ok(
    grants.every((g) => !/ALL PRIVILEGES|GRANT OPTION|FILE|PROCESS|SUPER/.test(String(Object.values(g)[0]))),
    'no global or dangerous privilege',
  );

  // A db-proxy on the same database works on that account alone.
  const proxy = await startProxy(t, h.config({ mysqlUrl: appUrl }));
  const conn = await connectTo(t, proxy.port);
  const [a, b] = await h.addUsers('ann', 'ben');
  const reply = await conn.request(
    IM.Message.IMMsgData,
    { from_user_id: a, to_session_id: b, msg_id: 0, create_time: 1, msg_type: 1, msg_data: Buffer.from('hi') },
    IM.Message.IMMsgData,
  );
  t.equal(reply.msg_id, 1, 'a message is stored through the least-privileged account');
});
