/**
 * `npm run users -- COMMAND ...`: accounts for operators, without writing SQL.
 *
 *   users add NAME --password P [--nick N] [--depart ID]
 *   users passwd NAME --password P
 *   users disable NAME          (IMUser.status = 3: hidden by clients, cannot log in)
 *   users enable NAME           (status back to 0)
 *   users list [--prefix P] [--limit N]
 *   users bulk --prefix P --count N --password X [--depart ID]   (idempotent)
 *   users departments
 *   users add-depart NAME [--parent ID]
 *
 * Talks to MYSQL_URL (database taken from the URL, "teamtalk" when it names none),
 * or to the local MariaDB that `npm start` uses. Migrates first, so it works on an
 * empty server. Exit codes: 0 done, 1 refused (bad value, unknown user...), 2 usage.
 */
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import { errorMessage } from '../lib/errors';
import { parseMysqlUrl, redactUrl, withDatabase } from '../lib/mysql-url';
import {
  AccountError,
  UserStatus,
  addDepartment,
  addUser,
  bulkAddUsers,
  defaultDepartment,
  listDepartments,
  listUsers,
  setPassword,
  setUserStatus,
} from './db/accounts';
import { migrate, migrateServers } from './db/migrate';
import { readRunningCluster } from './cluster/running';
import { openDeployment } from './topology/deployment';
import { provisionStorage, type Storage } from './infra/provision';

const USAGE = `usage: npm run users -- COMMAND [options]

  add NAME --password P [--nick N] [--depart ID]   create a user (department: the first one when omitted)
  passwd NAME --password P                         set a new password
  disable NAME                                     status 3: clients hide the user, login is refused
  enable NAME                                      status 0 again
  list [--prefix P] [--limit N]                    users as a table
  bulk --prefix P --count N --password X [--depart ID]
                                                   users P0..P(N-1); existing ones are left alone
  departments                                      departments as a table
  add-depart NAME [--parent ID]                    create a department

Database: MYSQL_URL (mysql://user:pass@host:port/db); else the main database of --topology NAME|FILE
[--port-base N], or of the topology the running npm start uses; else the local MariaDB of npm start.`;

/** Options every command takes. */
const GLOBAL_OPTIONS: string[] = ['help', 'topology', 'port-base'];

/** Wrong command line: exit 2 with the usage text. */
class UsageError extends Error {}

const OPTIONS = {
  password: { type: 'string' },
  nick: { type: 'string' },
  depart: { type: 'string' },
  prefix: { type: 'string' },
  count: { type: 'string' },
  limit: { type: 'string' },
  parent: { type: 'string' },
  topology: { type: 'string' },
  'port-base': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Options = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** Which options each command accepts (anything else is a usage error, not silently ignored). */
const COMMANDS: Record<string, { args: number; options: Array<keyof typeof OPTIONS>; required: Array<keyof typeof OPTIONS> }> = {
  add: { args: 1, options: ['password', 'nick', 'depart'], required: ['password'] },
  passwd: { args: 1, options: ['password'], required: ['password'] },
  disable: { args: 1, options: [], required: [] },
  enable: { args: 1, options: [], required: [] },
  list: { args: 0, options: ['prefix', 'limit'], required: [] },
  bulk: { args: 0, options: ['prefix', 'count', 'password', 'depart'], required: ['prefix', 'count', 'password'] },
  departments: { args: 0, options: [], required: [] },
  'add-depart': { args: 1, options: ['parent'], required: [] },
};

function parseCommandLine(argv: string[]): { command: string; args: string[]; options: Options } {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
  const [command, ...args] = parsed.positionals;
  const options = parsed.values as Options;
  if (options.help || command === 'help') throw new UsageError('');
  if (command === undefined) throw new UsageError('a command is needed');
  const spec = COMMANDS[command];
  if (!spec) throw new UsageError(`unknown command "${command}"`);
  if (args.length !== spec.args) {
    throw new UsageError(`"${command}" takes ${spec.args === 0 ? 'no argument' : 'one argument (a name)'}, got ${args.length}`);
  }
  for (const key of Object.keys(options) as Array<keyof typeof OPTIONS>) {
    if (!GLOBAL_OPTIONS.includes(key) && !spec.options.includes(key)) throw new UsageError(`"${command}" does not take --${key}`);
  }
  for (const key of spec.required) {
    if (options[key] === undefined) throw new UsageError(`"${command}" needs --${key}`);
  }
  return { command, args, options };
}

/** A whole positive number from an option, or a usage error naming the option. */
function positiveInt(option: string, value: string | undefined, max = 2 ** 31 - 1): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
    throw new UsageError(`--${option} must be a whole number from 1 to ${max}, got "${value}"`);
  }
  return Number(value);
}

/** Terminal columns a string takes (CJK characters are two wide: department and nick names are often Chinese). */
function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    width += (code >= 0x1100 && code <= 0x115f) || (code >= 0x2e80 && code <= 0xa4cf) || (code >= 0xac00 && code <= 0xd7a3) ||
      (code >= 0xf900 && code <= 0xfaff) || (code >= 0xfe30 && code <= 0xfe4f) || (code >= 0xff00 && code <= 0xff60) ||
      (code >= 0xffe0 && code <= 0xffe6)
      ? 2
      : 1;
  }
  return width;
}

export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i]))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i] - displayWidth(c))))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n';
}

function statusText(status: number): string {
  if (status === UserStatus.ACTIVE) return 'active';
  if (status === UserStatus.DISABLED) return 'disabled';
  return `status ${status}`;
}

async function openDatabase(log: (line: string) => void, options: Options): Promise<{ pool: mysql.Pool; close(): Promise<void> }> {
  let url: string;
  let storage: Storage | null = null;
  if (process.env.MYSQL_URL) {
    url = process.env.MYSQL_URL;
    if (!parseMysqlUrl(url).database) url = withDatabase(url, 'teamtalk');
  } else if (options.topology !== undefined || readRunningCluster()?.topology) {
    // A topology's main database (its servers migrated together: message tables may be elsewhere).
    const deployment = await openDeployment({ topology: options.topology, portBase: options['port-base'], log });
    try {
      await migrateServers(deployment.admin, deployment.layout);
    } catch (err) {
      await deployment.stop();
      throw new Error(`cannot prepare the databases of ${deployment.name}: ${errorMessage(err)}`);
    }
    const pool = mysql.createPool({ ...parseMysqlUrl(deployment.mainUrl), connectionLimit: 2 });
    return {
      pool,
      close: async () => {
        await pool.end();
        await deployment.stop();
      },
    };
  } else {
    // Only MySQL is needed here: a placeholder REDIS_URL keeps provisioning from starting Redis.
    storage = await provisionStorage({
      database: process.env.TT_DB_NAME ?? 'teamtalk',
      log,
      env: { ...process.env, REDIS_URL: 'redis://unused-by-users' },
    });
    url = storage.mysqlUrl;
  }
  try {
    await migrate(url);
  } catch (err) {
    await storage?.stop();
    throw new Error(`cannot prepare the database at ${redactUrl(url)}: ${errorMessage(err)}`);
  }
  const pool = mysql.createPool({ ...parseMysqlUrl(url), connectionLimit: 2 });
  return {
    pool,
    close: async () => {
      await pool.end();
      await storage?.stop();
    },
  };
}

async function run(command: string, args: string[], options: Options, pool: mysql.Pool, out: (text: string) => void, log: (line: string) => void): Promise<void> {
  switch (command) {
    case 'add': {
      if (options.nick !== undefined && options.nick.length === 0) throw new AccountError('--nick must not be empty');
      let departId = positiveInt('depart', options.depart);
      if (departId === undefined) {
        const depart = await defaultDepartment(pool);
        if (depart.created) log(`no department existed: created "Default" (id ${depart.id})`);
        departId = depart.id;
      }
      const id = await addUser(pool, { name: args[0], password: options.password as string, nick: options.nick, departId });
      out(`created user ${args[0]} (id ${id}, department ${departId})\n`);
      return;
    }
    case 'passwd':
      await setPassword(pool, args[0], options.password as string);
      out(`password of ${args[0]} changed\n`);
      return;
    case 'disable':
    case 'enable': {
      const status = command === 'disable' ? UserStatus.DISABLED : UserStatus.ACTIVE;
      const before = await setUserStatus(pool, args[0], status);
      out(before === status ? `${args[0]} was already ${statusText(status)}\n` : `${args[0]} is now ${statusText(status)}\n`);
      return;
    }
    case 'list': {
      const users = await listUsers(pool, { prefix: options.prefix, limit: positiveInt('limit', options.limit) });
      out(
        formatTable(
          ['id', 'name', 'nick', 'department', 'status'],
          users.map((u) => [String(u.id), u.name, u.nick, `${u.departId} ${u.departName ?? '(missing)'}`, statusText(u.status)]),
        ),
      );
      out(`${users.length} user${users.length === 1 ? '' : 's'}\n`);
      return;
    }
    case 'bulk': {
      const count = positiveInt('count', options.count, 1_000_000) as number;
      const started = Date.now();
      const result = await bulkAddUsers(pool, options.prefix as string, count, options.password as string, positiveInt('depart', options.depart));
      out(
        `users ${options.prefix}0..${options.prefix}${count - 1}: ${result.created} created, ${result.existing} already there (${Date.now() - started} ms)\n`,
      );
      return;
    }
    case 'departments': {
      const departs = await listDepartments(pool);
      out(
        formatTable(
          ['id', 'name', 'parent', 'priority', 'users', 'status'],
          departs.map((d) => [String(d.id), d.name, String(d.parentId), String(d.priority), String(d.users), d.status === 0 ? 'active' : 'deleted']),
        ),
      );
      return;
    }
    case 'add-depart': {
      const parent = options.parent === undefined || options.parent === '0' ? 0 : (positiveInt('parent', options.parent) as number);
      const id = await addDepartment(pool, args[0], parent);
      out(`created department ${args[0]} (id ${id}${parent ? `, parent ${parent}` : ''})\n`);
      return;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

async function main(argv: string[]): Promise<number> {
  const log = (line: string) => process.stderr.write(`[users] ${line}\n`);
  let parsed;
  try {
    parsed = parseCommandLine(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    if (err.message) process.stderr.write(`users: ${err.message}\n\n`);
    process.stderr.write(USAGE + '\n');
    return err.message ? 2 : 0;
  }
  const db = await openDatabase(log, parsed.options);
  try {
    await run(parsed.command, parsed.args, parsed.options, db.pool, (text) => process.stdout.write(text), log);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`users: ${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    throw err;
  } finally {
    await db.close();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      const refused = err instanceof AccountError;
      process.stderr.write(`users: ${refused ? '' : 'failed: '}${errorMessage(err)}\n`);
      process.exitCode = 1;
    },
  );
}
