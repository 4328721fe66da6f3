/**
 * Passwords for the local MariaDB and Redis: generated on first use and kept
 * in .run/credentials.json (mode 600), never in the repository. MariaDB has two
 * accounts: the services' (SELECT/INSERT/UPDATE/DELETE on the cluster's
 * database only) and an admin one for migrations and tests.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

export function localCredentials(runDir: string): LocalCredentials {
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const file = join(runDir, 'credentials.json');
  const secret = () => randomBytes(18).toString('base64url');
  const defaults: LocalCredentials = {
    mysqlUser: 'teamtalk',
    mysqlPassword: secret(),
    mysqlAdminUser: 'teamtalk_admin',
    mysqlAdminPassword: secret(),
    mysqlReplicationUser: 'teamtalk_repl',
    mysqlReplicationPassword: secret(),
    redisPassword: secret(),
  };
  const stored = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<LocalCredentials> & Record<string, unknown>) : {};
  // Other tools keep their secrets in the same file: what is there is kept, what is missing is added.
  const creds = { ...defaults, ...stored } as LocalCredentials & Record<string, unknown>;
  if (Object.keys(defaults).some((k) => !(k in stored))) writeFileSync(file, JSON.stringify(creds, null, 2) + '\n', { mode: 0o600 });
  return creds;
}
