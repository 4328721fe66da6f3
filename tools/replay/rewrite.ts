/**
 * What a replay must change in recorded client PDUs (and in the recorded
 * replies it compares against), because the live system is not the recorded one:
 *
 * - ids the server assigns: the user ids of whoever logged in (learned from the
 *   recorded vs the live IMLoginRes user_info.user_id), of other users (their
 *   profiles in IMAllUserRsp / IMUsersInfoRsp, paired by login name), group
 *   ids (from IMGroupCreateRsp group_id) and department ids (IMDepartmentRsp,
 *   paired by name). Provisioning (provision.ts) knows them all before the
 *   replay starts. Known ids are substituted in the fields below; unknown ids
 *   are left alone.
 * - credentials: with --as, IMLoginReq gets another user name and the md5 of
 *   another password, exactly what a client would send; but only for logins
 *   that succeeded in the recording. A login that failed there gets a password
 *   that cannot be right (failedLoginDigest), so it fails again.
 *
 * Works on the plain objects of format.ts DECODE_OPTIONS (enums as names).
 */
import { randomBytes } from 'node:crypto';
import { CID } from '../../pdu/commands';
import { clientPasswordDigest, md5Hex } from '../../lib/password';

/** Fields that always hold user ids (single values or lists). */
export const USER_ID_FIELDS: ReadonlySet<string> = new Set([
  'user_id',
  'from_user_id',
  'to_user_id',
  'user_id_list',
  'member_id_list',
  'cur_user_id_list',
  'chg_user_id_list',
  'changed_user_id',
  'latest_msg_from_user_id',
  'group_creator_id',
  'group_member_list',
  'from_session_id',
]);

export const GROUP_ID_FIELDS: ReadonlySet<string> = new Set(['group_id']);

export const DEPARTMENT_ID_FIELDS: ReadonlySet<string> = new Set(['department_id', 'dept_id', 'parent_dept_id']);

/** Peer user id or group id, depending on a sibling session_type / msg_type. */
export const SESSION_ID_FIELDS: ReadonlySet<string> = new Set(['session_id', 'to_session_id']);

export type IdKind = 'user' | 'group' | 'depart';

/** Recorded id -> id in the target, of each kind, as the provision and replay reports list them. */
export interface IdPairs {
  userIds: Array<[number, number]>;
  groupIds: Array<[number, number]>;
  departmentIds: Array<[number, number]>;
}

export class IdMaps {
  readonly user = new Map<number, number>();
  readonly group = new Map<number, number>();
  readonly depart = new Map<number, number>();
  readonly conflicts: string[] = [];

  get empty(): boolean {
    return this.user.size === 0 && this.group.size === 0 && this.depart.size === 0;
  }

  learn(kind: IdKind, recorded: unknown, live: unknown): boolean {
    if (typeof recorded !== 'number' || typeof live !== 'number' || recorded === 0 || live === 0) return false;
    const map = this[kind];
    const known = map.get(recorded);
    if (known === undefined) {
      map.set(recorded, live);
      return true;
    }
    if (known !== live) {
      const what = kind === 'depart' ? 'department' : kind;
      this.conflicts.push(`recorded ${what} id ${recorded} came back as ${live} after ${known}; keeping ${known}`);
    }
    return false;
  }
}

function sessionKind(obj: Record<string, unknown>): 'user' | 'group' | null {
  const type = obj.session_type;
  if (type === 'SESSION_TYPE_SINGLE' || type === 1) return 'user';
  if (type === 'SESSION_TYPE_GROUP' || type === 2) return 'group';
  const msgType = obj.msg_type;
  if (msgType === 'MSG_TYPE_SINGLE_TEXT' || msgType === 'MSG_TYPE_SINGLE_AUDIO' || msgType === 1 || msgType === 2) return 'user';
  if (msgType === 'MSG_TYPE_GROUP_TEXT' || msgType === 'MSG_TYPE_GROUP_AUDIO' || msgType === 17 || msgType === 18) return 'group';
  return null;
}

function mapValue(value: unknown, map: ReadonlyMap<number, number>): unknown {
  if (typeof value === 'number') return map.get(value) ?? value;
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'number' ? (map.get(v) ?? v) : v));
  return value;
}

/** A copy of `value` with known recorded ids replaced by live ones. */
export function mapIds<T>(value: T, maps: IdMaps): T {
  if (maps.empty) return value;
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v !== 'object' || v === null) return v;
    const obj = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    const session = sessionKind(obj);
    for (const [key, field] of Object.entries(obj)) {
      if (USER_ID_FIELDS.has(key)) out[key] = mapValue(field, maps.user);
      else if (GROUP_ID_FIELDS.has(key)) out[key] = mapValue(field, maps.group);
      else if (DEPARTMENT_ID_FIELDS.has(key)) out[key] = mapValue(field, maps.depart);
      else if (SESSION_ID_FIELDS.has(key) && session !== null) out[key] = mapValue(field, maps[session]);
      else out[key] = walk(field);
    }
    return out;
  };
  return walk(value) as T;
}

/**
 * Learns id pairs from a recorded reply and the live one it was paired with.
 * Returns a line per new pair, for the log.
 */
export function learnIds(commandId: number, recorded: Record<string, unknown>, live: Record<string, unknown>, maps: IdMaps): string[] {
  const learned: string[] = [];
  if (commandId === CID.LOGIN_RES_USERLOGIN) {
    const r = (recorded.user_info as Record<string, unknown> | undefined)?.user_id;
    const l = (live.user_info as Record<string, unknown> | undefined)?.user_id;
    if (maps.learn('user', r, l)) learned.push(`user id ${String(r)} -> ${String(l)}`);
  } else if (commandId === CID.GROUP_CREATE_RESPONSE) {
    if (maps.learn('group', recorded.group_id, live.group_id)) learned.push(`group id ${String(recorded.group_id)} -> ${String(live.group_id)}`);
  } else if (commandId === CID.BUDDY_LIST_ALL_USER_RESPONSE || commandId === CID.BUDDY_LIST_USER_INFO_RESPONSE) {
    // Other users (chat peers) never log in on a recorded connection; their
    // profiles pair up by login name (user_real_name is IMUser.name, unique).
    const key = commandId === CID.BUDDY_LIST_ALL_USER_RESPONSE ? 'user_list' : 'user_info_list';
    const liveIds = new Map<string, unknown>();
    for (const u of (live[key] as Array<Record<string, unknown>> | undefined) ?? []) liveIds.set(String(u.user_real_name), u.user_id);
    for (const u of (recorded[key] as Array<Record<string, unknown>> | undefined) ?? []) {
      const liveId = liveIds.get(String(u.user_real_name));
      if (liveId !== undefined && maps.learn('user', u.user_id, liveId)) learned.push(`user id ${String(u.user_id)} -> ${String(liveId)} (${String(u.user_real_name)})`);
    }
  } else if (commandId === CID.BUDDY_LIST_DEPARTMENT_RESPONSE) {
    // Departments pair up by name, where the name is unique on both sides.
    const byName = (list: unknown) => {
      const ids = new Map<string, unknown>();
      for (const d of (list as Array<Record<string, unknown>> | undefined) ?? []) {
        const name = String(d.dept_name);
        ids.set(name, ids.has(name) ? null : d.dept_id);
      }
      return ids;
    };
    const liveIds = byName(live.dept_list);
    for (const [name, recordedId] of byName(recorded.dept_list)) {
      const liveId = liveIds.get(name);
      if (recordedId !== null && liveId !== undefined && liveId !== null && maps.learn('depart', recordedId, liveId)) {
        learned.push(`department id ${String(recordedId)} -> ${String(liveId)} (${name})`);
      }
    }
  }
  return learned;
}

export interface ReplayCredentials {
  user: string;
  /** Plain text; sent as its md5 hex, like a client. */
  password: string;
  /** Only logins recorded under this name; all logins when absent. */
  recordedUser?: string;
}

/** "USER:PASSWORD" or "RECORDED=USER:PASSWORD" (the password may contain ":"). */
export function parseCredentials(text: string): ReplayCredentials {
  const m = /^(?:([^=:]+)=)?([^:]+):(.*)$/s.exec(text);
  if (!m || !m[3]) throw new Error(`--as must be USER:PASSWORD or RECORDED_USER=USER:PASSWORD, got "${text}"`);
  return { user: m[2], password: m[3], ...(m[1] ? { recordedUser: m[1] } : {}) };
}

/** The credentials to use for a login recorded under `recordedUser`, if any apply. */
export function credentialsFor(recordedUser: string, all: readonly ReplayCredentials[]): ReplayCredentials | undefined {
  return all.find((c) => c.recordedUser === recordedUser) ?? all.find((c) => c.recordedUser === undefined);
}

/** IMLoginReq with other credentials. */
export function withCredentials(login: Record<string, unknown>, credentials: ReplayCredentials): Record<string, unknown> {
  return { ...login, user_name: credentials.user, password: clientPasswordDigest(credentials.password) };
}

/**
 * A password digest no account has: what a replay sends for a login that
 * failed in the recording (fresh per replay, so it cannot be anybody's password).
 */
export function failedLoginDigest(): string {
  return md5Hex(`replay: recorded as a failed login ${randomBytes(16).toString('hex')}`);
}
