/**
 * `npm run users`: the real CLI as a child process against a fresh database:
 * rows and password hashes it writes, validation errors and exit codes, and
 * bulk creation that can be run twice.
 */
import t, { type Test } from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import { clientPasswordDigest, storedPassword } from '../../lib/password';
import { freshDatabase, type TestDatabase } from '../helpers/storage';
import { runCli } from './run-cli';

function users(db: TestDatabase, ...args: string[]) {
  return runCli('scripts/users.js', args, { MYSQL_URL: db.url });
}

async function userRow(db: TestDatabase, name: string): Promise<RowDataPacket | undefined> {
  const [rows] = await db.pool.query<RowDataPacket[]>('SELECT * FROM IMUser WHERE name = ?', [name]);
  return rows[0];
}

function checkPassword(t: Test, row: RowDataPacket, plain: string) {
  t.equal(String(row.salt).length, 4, 'salt has 4 characters');
  t.equal(row.password, storedPassword(clientPasswordDigest(plain), String(row.salt)), 'password stored as md5(md5(plain) + salt)');
}

t.test('add, passwd, disable, enable and list', async (t) => {
  const db = await freshDatabase(t);

  const depart = await users(db, 'add-depart', '研发部');
  t.equal(depart.code, 0, depart.stderr);
  t.match(depart.stdout, /created department 研发部 \(id (\d+)\)/);
  const departId = Number(/id (\d+)/.exec(depart.stdout)?.[1]);

  const sub = await users(db, 'add-depart', 'Backend', '--parent', String(departId));
  t.equal(sub.code, 0, sub.stderr);
  const [departs] = await db.pool.query<RowDataPacket[]>('SELECT departName, parentId FROM IMDepart ORDER BY id');
  t.same(
    departs.map((d) => [d.departName, Number(d.parentId)]),
    [
      ['研发部', 0],
      ['Backend', departId],
    ],
  );

  const add = await users(db, 'add', 'alice', '--password', 's3cret', '--nick', 'Alice', '--depart', String(departId));
  t.equal(add.code, 0, add.stderr);
  t.match(add.stdout, /created user alice \(id \d+, department \d+\)/);
  const alice = await userRow(db, 'alice');
  t.ok(alice, 'row written');
  if (!alice) return;
  t.equal(alice.nick, 'Alice');
  t.equal(Number(alice.departId), departId);
  t.equal(Number(alice.status), 0);
  checkPassword(t, alice, 's3cret');

  const passwd = await users(db, 'passwd', 'alice', '--password', 'n3w-pass');
  t.equal(passwd.code, 0, passwd.stderr);
  const changed = await userRow(db, 'alice');
  if (!changed) return;
  checkPassword(t, changed, 'n3w-pass');
  t.not(changed.password, alice.password, 'hash changed');

  // Make `updated` visibly move: the row was written within this second.
  await db.pool.query('UPDATE IMUser SET updated = 1000 WHERE name = ?', ['alice']);
  const disable = await users(db, 'disable', 'alice');
  t.equal(disable.code, 0, disable.stderr);
  t.match(disable.stdout, /alice is now disabled/);
  const disabled = await userRow(db, 'alice');
  t.equal(Number(disabled?.status), 3, 'status 3: hidden by clients, login refused');
  t.ok(Number(disabled?.updated) > 1000, 'updated bumped');
  const again = await users(db, 'disable', 'alice');
  t.equal(again.code, 0);
  t.match(again.stdout, /already disabled/);

  const bob = await users(db, 'add', 'bob', '--password', 'pw');
  t.equal(bob.code, 0, bob.stderr);
  t.equal(Number((await userRow(db, 'bob'))?.departId), departId, 'without --depart the first department is used');

  const list = await users(db, 'list');
  t.equal(list.code, 0, list.stderr);
  const lines = list.stdout.trimEnd().split('\n');
  t.match(lines[0], /^id\s+name\s+nick\s+department\s+status$/);
  t.match(list.stdout, new RegExp(`\\d+\\s+alice\\s+Alice\\s+${departId} 研发部\\s+disabled`));
  t.match(list.stdout, new RegExp(`\\d+\\s+bob\\s+bob\\s+${departId} 研发部\\s+active`));
  t.match(lines[lines.length - 1], /^2 users$/);

  const some = await users(db, 'list', '--prefix', 'al', '--limit', '5');
  t.equal(some.code, 0, some.stderr);
  t.match(some.stdout, /alice/);
  t.notMatch(some.stdout, /bob/);
  t.match(some.stdout, /\n1 user\n$/);
  const limited = await users(db, 'list', '--limit', '1');
  t.match(limited.stdout, /\n1 user\n$/);
  t.match((await users(db, 'list', '--prefix', 'a_')).stdout, /\n0 users\n$/, '"_" in a prefix is a literal');

  const enable = await users(db, 'enable', 'alice');
  t.equal(enable.code, 0);
  t.equal(Number((await userRow(db, 'alice'))?.status), 0);

  const departments = await users(db, 'departments');
  t.equal(departments.code, 0, departments.stderr);
  t.match(departments.stdout, new RegExp(`${departId}\\s+研发部\\s+0\\s+0\\s+2\\s+active`));
});

t.test('add on an empty server creates a default department', async (t) => {
  const db = await freshDatabase(t);
  const add = await users(db, 'add', 'first', '--password', 'pw');
  t.equal(add.code, 0, add.stderr);
  t.match(add.stderr, /created "Default"/);
  const [departs] = await db.pool.query<RowDataPacket[]>('SELECT id, departName FROM IMDepart');
  t.same(departs.map((d) => d.departName), ['Default']);
  t.equal(Number((await userRow(db, 'first'))?.departId), Number(departs[0].id));
});

t.test('bad input: clear errors, non-zero exit, nothing written', async (t) => {
  const db = await freshDatabase(t);
  await users(db, 'add-depart', 'Ops');

  const cases: Array<{ args: string[]; code: number; message: RegExp }> = [
    { args: ['add', 'bad name!', '--password', 'x'], code: 1, message: /user name "bad name!" must be 1 to 32 characters/ },
    { args: ['add', 'a'.repeat(33), '--password', 'x'], code: 1, message: /must be 1 to 32 characters/ },
    { args: ['add', 'carol', '--password', ''], code: 1, message: /password must be 1 to 128 characters/ },
    { args: ['add', 'carol', '--password', 'x'.repeat(129)], code: 1, message: /password must be 1 to 128 characters/ },
    { args: ['add', 'carol', '--password', 'x', '--depart', '999'], code: 1, message: /department 999 does not exist/ },
    { args: ['add', 'carol', '--password', 'x', '--depart', 'abc'], code: 2, message: /--depart must be a whole number/ },
    { args: ['add', 'carol', '--password', 'x', '--nick', 'n'.repeat(33)], code: 1, message: /nick must be at most 32/ },
    { args: ['add', 'carol'], code: 2, message: /"add" needs --password/ },
    { args: ['add', 'carol', '--password', 'x', '--count', '3'], code: 2, message: /"add" does not take --count/ },
    { args: ['passwd', 'nobody', '--password', 'x'], code: 1, message: /user "nobody" does not exist/ },
    { args: ['disable', 'nobody'], code: 1, message: /user "nobody" does not exist/ },
    { args: ['add-depart', 'Sub', '--parent', '4242'], code: 1, message: /parent department 4242 does not exist/ },
    { args: ['bulk', '--prefix', 'x y', '--count', '3', '--password', 'p'], code: 1, message: /user name "x y2"/ },
    { args: ['bulk', '--prefix', 'u', '--count', '0', '--password', 'p'], code: 2, message: /--count must be a whole number/ },
    { args: ['frobnicate'], code: 2, message: /unknown command "frobnicate"/ },
    { args: [], code: 2, message: /a command is needed/ },
    { args: ['list', '--bogus'], code: 2, message: /Unknown option '--bogus'/ },
  ];
  for (const c of cases) {
    const res = await users(db, ...c.args);
    t.equal(res.code, c.code, `exit ${c.code}: users ${c.args.join(' ')}`);
    t.match(res.stderr, c.message, `message: users ${c.args.join(' ')}`);
  }
  const dup1 = await users(db, 'add', 'dave', '--password', 'x');
  t.equal(dup1.code, 0, dup1.stderr);
  const dup2 = await users(db, 'add', 'dave', '--password', 'y');
  t.equal(dup2.code, 1);
  t.match(dup2.stderr, /user "dave" already exists/);
  const dave = await userRow(db, 'dave');
  if (dave) checkPassword(t, dave, 'x');

  const [rows] = await db.pool.query<RowDataPacket[]>('SELECT name FROM IMUser ORDER BY id');
  t.same(rows.map((r) => r.name), ['dave'], 'refused commands wrote nothing');
  const [departs] = await db.pool.query<RowDataPacket[]>('SELECT departName FROM IMDepart ORDER BY id');
  t.same(departs.map((r) => r.departName), ['Ops']);
});

t.test('bulk is idempotent and stores real TeamTalk hashes', async (t) => {
  const db = await freshDatabase(t);
  const first = await users(db, 'bulk', '--prefix', 'load', '--count', '2500', '--password', 'bench-pw');
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /users load0\.\.load2499: 2500 created, 0 already there/);

  // A few users already there, one with another password: left alone.
  await db.pool.query('DELETE FROM IMUser WHERE name IN (?, ?)', ['load7', 'load2499']);
  const second = await users(db, 'bulk', '--prefix', 'load', '--count', '2600', '--password', 'bench-pw');
  t.equal(second.code, 0, second.stderr);
  t.match(second.stdout, /load0\.\.load2599: 102 created, 2498 already there/);

  const [count] = await db.pool.query<RowDataPacket[]>("SELECT COUNT(*) AS n, COUNT(DISTINCT departId) AS d FROM IMUser WHERE name LIKE 'load%'");
  t.equal(Number(count[0].n), 2600);
  t.equal(Number(count[0].d), 1, 'all in one department');
  const sample = await userRow(db, 'load2599');
  if (sample) checkPassword(t, sample, 'bench-pw');
  const [salts] = await db.pool.query<RowDataPacket[]>("SELECT COUNT(DISTINCT salt) AS n FROM IMUser WHERE name LIKE 'load%'");
  t.ok(Number(salts[0].n) > 2000, 'every user gets its own salt');
});
