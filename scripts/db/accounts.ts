/**
 * User accounts in IMUser, with passwords stored the TeamTalk way
 * (md5(md5(plain) + salt)), and departments in IMDepart. Shared by the seeder,
 * `npm run users` and `npm run replay -- --provision`.
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
  if (parentId !== 0 && !(await departmentExists(db, parentId))) {
    throw new AccountError(`parent department ${parentId} does not exist (list them with: npm run users -- departments)`);
  }
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

/** IMUser.status values that matter to the servers: only 0 may log in. */
export const UserStatus = {
  ACTIVE: 0,
  /** "Left the company": TeamTalk clients hide such users, and login requires status 0. */
  DISABLED: 3,
} as const;

function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

/** Sets a new password (and a new salt); fails clearly when the user does not exist. */
export async function setPassword(db: Db, name: string, plain: string): Promise<void> {
  validatePassword(plain);
  const { salt, password } = hashForStorage(plain);
  const [res] = await db.query<ResultSetHeader>('UPDATE IMUser SET password = ?, salt = ?, updated = ? WHERE name = ?', [
    password,
    salt,
    unixNow(),
    name,
  ]);
  if (res.affectedRows === 0) throw new AccountError(`user "${name}" does not exist`);
}

/**
 * Sets IMUser.status (UserStatus.DISABLED hides the user and blocks login) and
 * bumps `updated` so clients that sync by update time see the change.
 * Returns the previous status.
 */
export async function setUserStatus(db: Db, name: string, status: number): Promise<number> {
  const [rows] = await db.query<RowDataPacket[]>('SELECT status FROM IMUser WHERE name = ?', [name]);
  if (rows.length === 0) throw new AccountError(`user "${name}" does not exist`);
  await db.query('UPDATE IMUser SET status = ?, updated = ? WHERE name = ?', [status, unixNow(), name]);
  return Number(rows[0].status);
}

/**
 * The department `users add` uses when none is given: the oldest active one, or
 * a new "Default" department on an empty server.
 */
export async function defaultDepartment(db: Db): Promise<{ id: number; created: boolean }> {
  const [rows] = await db.query<RowDataPacket[]>('SELECT id FROM IMDepart WHERE status = 0 ORDER BY id LIMIT 1');
  if (rows.length > 0) return { id: Number(rows[0].id), created: false };
  return { id: await addDepartment(db, 'Default'), created: true };
}

export interface UserRow {
  id: number;
  name: string;
  nick: string;
  departId: number;
  /** null when the department row is gone. */
  departName: string | null;
  status: number;
}

/** Users ordered by id, optionally only names starting with `prefix`. */
export async function listUsers(db: Db, opts: { prefix?: string; limit?: number } = {}): Promise<UserRow[]> {
  const where = opts.prefix ? 'WHERE u.name LIKE ?' : '';
  const params: unknown[] = opts.prefix ? [opts.prefix.replace(/[\\%_]/g, (c) => `\\${c}`) + '%'] : [];
  const limit = opts.limit !== undefined ? `LIMIT ${Math.max(0, Math.floor(opts.limit))}` : '';
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT u.id, u.name, u.nick, u.departId, d.departName, u.status
       FROM IMUser u LEFT JOIN IMDepart d ON d.id = u.departId
       ${where} ORDER BY u.id ${limit}`,
    params,
  );
  return rows.map((r) => ({
    id: Number(r.id),
    name: String(r.name),
    nick: String(r.nick),
    departId: Number(r.departId),
    departName: r.departName === null ? null : String(r.departName),
    status: Number(r.status),
  }));
}

export interface DepartmentRow {
  id: number;
  name: string;
  parentId: number;
  priority: number;
  status: number;
  users: number;
}

export async function listDepartments(db: Db): Promise<DepartmentRow[]> {
  const [rows] = await db.query<RowDataPacket[]>(
    `SELECT d.id, d.departName, d.parentId, d.priority, d.status,
            (SELECT COUNT(*) FROM IMUser u WHERE u.departId = d.id) AS users
       FROM IMDepart d ORDER BY d.id`,
  );
  return rows.map((r) => ({
    id: Number(r.id),
    name: String(r.departName),
    parentId: Number(r.parentId),
    priority: Number(r.priority),
    status: Number(r.status),
    users: Number(r.users),
  }));
}

/** A whole IMUser profile, as the protocol's UserInfo shows it. */
export interface UserProfile {
  name: string;
  nick: string;
  sex: number;
  departId: number;
  email: string;
  phone: string;
  domain: string;
  avatar: string;
  signInfo: string;
  /** IMUser.status: 0 may log in, 3 left the company. */
  status: number;
}

/** IMUser column sizes (characters). */
const USER_COLUMN_LIMITS: ReadonlyArray<[keyof UserProfile, string, number]> = [
  ['name', 'name', 32],
  ['nick', 'nick', 32],
  ['domain', 'domain', 32],
  ['phone', 'phone', 11],
  ['email', 'email', 64],
  ['avatar', 'avatar', 255],
  ['signInfo', 'sign info', 128],
];

const characters = (text: string) => [...text].length;

async function departmentRowExists(db: Db, departId: number): Promise<boolean> {
  const [rows] = await db.query<RowDataPacket[]>('SELECT id FROM IMDepart WHERE id = ?', [departId]);
  return rows.length > 0;
}

/**
 * Creates the user, or brings the existing one of that name to this profile
 * and password; `updated` (default now) becomes IMUser.updated. Unlike addUser
 * any name that fits IMUser.name is accepted, because the profile comes from a
 * deployment where it exists (replay provisioning), and the department may be
 * one marked deleted.
 */
export async function upsertUser(
  db: Db,
  profile: UserProfile,
  password: string,
  updated = unixNow(),
): Promise<{ id: number; created: boolean }> {
  if (profile.name === '' || /[\u0000-\u001f]/.test(profile.name)) throw new AccountError(`user name ${JSON.stringify(profile.name)} cannot be stored`);
  for (const [key, what, max] of USER_COLUMN_LIMITS) {
    if (characters(profile[key] as string) > max) throw new AccountError(`${what} of user "${profile.name}" is longer than ${max} characters`);
  }
  validatePassword(password);
  if (!(await departmentRowExists(db, profile.departId))) throw new AccountError(`department ${profile.departId} of user "${profile.name}" does not exist`);
  const { salt, password: stored } = hashForStorage(password);
  const columns = [profile.domain, profile.nick, stored, salt, profile.sex, profile.phone, profile.email, profile.avatar, profile.departId, profile.status, profile.signInfo];
  const [rows] = await db.query<RowDataPacket[]>('SELECT id FROM IMUser WHERE name = ?', [profile.name]);
  if (rows.length > 0) {
    const id = Number(rows[0].id);
    await db.query(
      `UPDATE IMUser SET domain = ?, nick = ?, password = ?, salt = ?, sex = ?, phone = ?, email = ?, avatar = ?, departId = ?, status = ?,
              sign_info = ?, updated = ? WHERE id = ?`,
      [...columns, updated, id],
    );
    return { id, created: false };
  }
  const [res] = await db.query<ResultSetHeader>(
    `INSERT INTO IMUser (name, domain, nick, password, salt, sex, phone, email, avatar, departId, status, sign_info, created, updated)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [profile.name, ...columns, updated, updated],
  );
  return { id: res.insertId, created: true };
}

export interface DepartmentProfile {
  name: string;
  parentId: number;
  priority: number;
  deleted: boolean;
}

/**
 * The department of that name under that parent, created or brought to this
 * priority and status. IMDepart.updated becomes `updated` when given, else now
 * when something changed.
 */
export async function upsertDepartment(db: Db, department: DepartmentProfile, updated?: number): Promise<{ id: number; created: boolean }> {
  if (department.name.length < 1 || characters(department.name) > 64) throw new AccountError('department name must be 1 to 64 characters');
  if (department.parentId !== 0 && !(await departmentRowExists(db, department.parentId))) {
    throw new AccountError(`parent department ${department.parentId} of "${department.name}" does not exist`);
  }
  const status = department.deleted ? 1 : 0;
  const [rows] = await db.query<RowDataPacket[]>(
    'SELECT id, priority, status FROM IMDepart WHERE departName = ? AND parentId = ? ORDER BY id LIMIT 1',
    [department.name, department.parentId],
  );
  if (rows.length > 0) {
    const id = Number(rows[0].id);
    const changed = Number(rows[0].priority) !== department.priority || Number(rows[0].status) !== status;
    if (changed || updated !== undefined) {
      await db.query('UPDATE IMDepart SET priority = ?, status = ?, updated = ? WHERE id = ?', [department.priority, status, updated ?? unixNow(), id]);
    }
    return { id, created: false };
  }
  const now = updated ?? unixNow();
  const [res] = await db.query<ResultSetHeader>(
    'INSERT INTO IMDepart (departName, priority, parentId, status, created, updated) VALUES (?, ?, ?, ?, ?, ?)',
    [department.name, department.priority, department.parentId, status, now, now],
  );
  return { id: res.insertId, created: true };
}
