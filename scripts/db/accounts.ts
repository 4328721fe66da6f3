/**
 * User accounts in IMUser, with passwords stored the TeamTalk way
 * (md5(md5(plain) + salt)). Shared by the seeder and `npm run users`.
 */
import type { Pool, PoolConnection, Connection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { TTError } from '../../lib/errors';
import { hashForStorage } from '../../lib/password';

export class AccountError extends TTError {
  constructor(message: string) {
    super('TT_ERR_ACCOUNT', message);
  }
}

type Db = Pool | PoolConnection | Connection;

export interface NewUser {
  name: string;
  password: string;
  nick?: string;
  departId: number;
  sex?: 0 | 1 | 2;
  email?: string;
  phone?: string;
  /** Pinyin / search key; defaults to the name. */
  domain?: string;
}

/** Login names: 1-32 characters of letters, digits, "_", "." and "-". */
export function validateUserName(name: string): void {
  if (!/^[A-Za-z0-9_.-]{1,32}$/.test(name)) {
    throw new AccountError(`user name "${name}" must be 1 to 32 characters of letters, digits, "_", "." or "-"`);
  }
}

export function validatePassword(password: string): void {
  if (password.length < 1 || password.length > 128) {
    throw new AccountError('password must be 1 to 128 characters');
  }
}

export async function departmentExists(db: Db, departId: number): Promise<boolean> {
  const [rows] = await db.query<RowDataPacket[]>('SELECT id FROM IMDepart WHERE id = ? AND status = 0', [departId]);
  return rows.length > 0;
}

/** Inserts a user and returns its id; fails clearly on a bad or taken name or unknown department. */
export async function addUser(db: Db, user: NewUser): Promise<number> {
  validateUserName(user.name);
  validatePassword(user.password);
  if (user.nick !== undefined && user.nick.length > 32) throw new AccountError('nick must be at most 32 characters');
  if (!(await departmentExists(db, user.departId))) {
    throw new AccountError(`department ${user.departId} does not exist (list them with: npm run users -- departments)`);
  }
  const { salt, password } = hashForStorage(user.password);
  const now = Math.floor(Date.now() / 1000);
  try {
    const [res] = await db.query<ResultSetHeader>(
      `INSERT INTO IMUser (name, domain, nick, password, salt, sex, phone, email, avatar, departId, status, sign_info, created, updated)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?, 0, '', ?, ?)`,
      [
        user.name,
        user.domain ?? user.name,
        user.nick ?? user.name,
        password,
        salt,
        user.sex ?? 0,
        user.phone ?? '',
        user.email ?? '',
        user.departId,
        now,
        now,
      ],
    );
    return res.insertId;
  } catch (err) {
    if ((err as { code?: string }).code === 'ER_DUP_ENTRY') throw new AccountError(`user "${user.name}" already exists`);
    throw err;
  }
}

export async function addDepartment(db: Db, name: string, parentId = 0, priority = 0): Promise<number> {
  if (name.length < 1 || name.length > 64) throw new AccountError('department name must be 1 to 64 characters');
  const now = Math.floor(Date.now() / 1000);
  const [res] = await db.query<ResultSetHeader>(
    'INSERT INTO IMDepart (departName, priority, parentId, status, created, updated) VALUES (?, ?, ?, 0, ?, ?)',
    [name, priority, parentId, now, now],
  );
  return res.insertId;
}

/**
 * Users PREFIX0 .. PREFIX(count-1), all with the same password, in department
 * `departId` (or a "Load test" department created for them). Idempotent: existing
 * names are left alone. Fast: multi-row INSERT IGNORE in chunks.
 */
export async function bulkAddUsers(
  db: Db,
  prefix: string,
  count: number,
  password: string,
  departId?: number,
): Promise<{ created: number; existing: number }> {
  validateUserName(`${prefix}${Math.max(0, count - 1)}`);
  validatePassword(password);
  let depart = departId;
  if (depart === undefined) {
    const [rows] = await db.query<RowDataPacket[]>("SELECT id FROM IMDepart WHERE departName = 'Load test' AND status = 0 LIMIT 1");
    depart = rows.length > 0 ? Number(rows[0].id) : await addDepartment(db, 'Load test');
  } else if (!(await departmentExists(db, depart))) {
    throw new AccountError(`department ${depart} does not exist`);
  }
  const now = Math.floor(Date.now() / 1000);
  let created = 0;
  const CHUNK = 1000;
  for (let start = 0; start < count; start += CHUNK) {
    const values: unknown[][] = [];
    for (let i = start; i < Math.min(count, start + CHUNK); i++) {
      const { salt, password: stored } = hashForStorage(password);
      const name = `${prefix}${i}`;
      values.push([name, name, name, stored, salt, depart, now, now]);
    }
    const [res] = await db.query<ResultSetHeader>(
      'INSERT IGNORE INTO IMUser (name, domain, nick, password, salt, departId, created, updated) VALUES ?',
      [values],
    );
    created += res.affectedRows;
  }
  return { created, existing: count - created };
}
