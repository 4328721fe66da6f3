/**
 * Secrets of the local cluster, generated on first use and kept in
 * .run/credentials.json (mode 600), never in the repository: the passwords of
 * the local MariaDB and Redis, and the web console's operators. MariaDB has two
 * accounts: the services' (SELECT/INSERT/UPDATE/DELETE on the cluster's
 * database only) and an admin one for migrations and tests.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface LocalCredentials {
  /** The services' account: rows only, on the databases it was granted. */
  mysqlUser: string;
  mysqlPassword: string;
  /** Schema changes, creating and dropping databases (migrations, tests, benches). */
  mysqlAdminUser: string;
  mysqlAdminPassword: string;
  redisPassword: string;
}

/** An operator of the web console (services/console): signs in with this name and password. */
export interface ConsoleOperator {
  name: string;
  password: string;
}

type CredentialsFile = Partial<LocalCredentials> & { consoleOperators?: ConsoleOperator[] } & Record<string, unknown>;

export function credentialsFile(runDir: string): string {
  return join(runDir, 'credentials.json');
}

const secret = () => randomBytes(18).toString('base64url');

/** Reads the file, lets `fill` add what is missing, and writes it back (mode 600) only if something was added. */
function withCredentials<T>(runDir: string, fill: (c: CredentialsFile) => { value: T; changed: boolean }): T {
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const file = credentialsFile(runDir);
  const current = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as CredentialsFile) : {};
  const { value, changed } = fill(current);
  if (changed || !existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(current, null, 2) + '\n', { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  }
  return value;
}

export function localCredentials(runDir: string): LocalCredentials {
  return withCredentials(runDir, (c) => {
    const changed =
      c.mysqlUser === undefined || c.mysqlPassword === undefined || c.mysqlAdminUser === undefined || c.mysqlAdminPassword === undefined || c.redisPassword === undefined;
    c.mysqlUser ??= 'teamtalk';
    c.mysqlPassword ??= secret();
    c.mysqlAdminUser ??= 'teamtalk_admin';
    c.mysqlAdminPassword ??= secret();
    c.redisPassword ??= secret();
    return {
      value: { mysqlUser: c.mysqlUser, mysqlPassword: c.mysqlPassword, mysqlAdminUser: c.mysqlAdminUser, mysqlAdminPassword: c.mysqlAdminPassword, redisPassword: c.redisPassword },
      changed,
    };
  });
}

/** The console's operators; on first use one, "admin", with a new random password. */
export function consoleOperators(runDir: string): ConsoleOperator[] {
  return withCredentials(runDir, (c) => {
    const changed = !Array.isArray(c.consoleOperators) || c.consoleOperators.length === 0;
    if (changed) c.consoleOperators = [{ name: 'admin', password: secret() }];
    return { value: c.consoleOperators as ConsoleOperator[], changed };
  });
}
