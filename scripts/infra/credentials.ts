/**
 * Passwords for the local MariaDB and Redis: generated on first use and kept
 * in .run/credentials.json (mode 600), never in the repository.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface LocalCredentials {
  mysqlUser: string;
  mysqlPassword: string;
  redisPassword: string;
}

export function localCredentials(runDir: string): LocalCredentials {
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const file = join(runDir, 'credentials.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as LocalCredentials;
  const creds: LocalCredentials = {
    mysqlUser: 'teamtalk',
    mysqlPassword: randomBytes(18).toString('base64url'),
    redisPassword: randomBytes(18).toString('base64url'),
  };
  writeFileSync(file, JSON.stringify(creds, null, 2) + '\n', { mode: 0o600 });
  return creds;
}
