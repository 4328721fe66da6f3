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
  /** Replicas connect to their primary with it (REPLICATION SLAVE only). */
  mysqlReplicationUser: string;
  mysqlReplicationPassword: string;
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
    const defaults: LocalCredentials = {
      mysqlUser: 'teamtalk',
      mysqlPassword: secret(),
      mysqlAdminUser: 'teamtalk_admin',
      mysqlAdminPassword: secret(),
      mysqlReplicationUser: 'teamtalk_repl',
      mysqlReplicationPassword: secret(),
      redisPassword: secret(),
    };
    const keys = Object.keys(defaults) as Array<keyof LocalCredentials>;
    // What is there is kept, what is missing is added (older files have no replication account).
    const changed = keys.some((k) => c[k] === undefined);
    for (const k of keys) c[k] ??= defaults[k];
    return { value: Object.fromEntries(keys.map((k) => [k, c[k]])) as unknown as LocalCredentials, changed };
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
