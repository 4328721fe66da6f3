/**
 * Demo data for `npm start` and `npm run db:seed`: two departments and a few
 * users who can log in at once. Idempotent: existing users are left alone.
 */
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { addDepartment, addUser } from './accounts';

export const DEMO_PASSWORD = 'teamtalk';

export const DEMO_USERS = [
  { name: 'alice', nick: 'Alice', depart: 'Engineering', sex: 2 as const },
  { name: 'bob', nick: 'Bob', depart: 'Engineering', sex: 1 as const },
  { name: 'carol', nick: 'Carol', depart: 'Sales', sex: 2 as const },
  { name: 'dave', nick: 'Dave', depart: 'Sales', sex: 1 as const },
];

export interface SeedResult {
  created: string[];
  existing: string[];
  password: string;
}

export async function isEmpty(db: Pool): Promise<boolean> {
  const [rows] = await db.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM IMUser');
  return Number(rows[0].n) === 0;
}

async function departmentId(db: Pool, name: string, parentId: number): Promise<number> {
  const [rows] = await db.query<RowDataPacket[]>('SELECT id FROM IMDepart WHERE departName = ? AND status = 0', [name]);
  if (rows.length > 0) return Number(rows[0].id);
  return addDepartment(db, name, parentId);
}

export async function seedDemo(db: Pool, password = DEMO_PASSWORD): Promise<SeedResult> {
  const company = await departmentId(db, 'Company', 0);
  const departs = new Map<string, number>();
  for (const name of new Set(DEMO_USERS.map((u) => u.depart))) departs.set(name, await departmentId(db, name, company));
  const result: SeedResult = { created: [], existing: [], password };
  for (const u of DEMO_USERS) {
    const [rows] = await db.query<RowDataPacket[]>('SELECT id FROM IMUser WHERE name = ?', [u.name]);
    if (rows.length > 0) {
      result.existing.push(u.name);
      continue;
    }
    await addUser(db, {
      name: u.name,
      nick: u.nick,
      password,
      departId: departs.get(u.depart) as number,
      sex: u.sex,
      email: `${u.name}@example.invalid`,
    });
    result.created.push(u.name);
  }
  return result;
}
