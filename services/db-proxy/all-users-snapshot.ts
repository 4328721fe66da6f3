/**
 * The whole-company user list (IMAllUserReq with latest_update_time 0), read
 * and encoded once and shared by the requests of the next `ttlMs`. Every client
 * asks for it at login; a login storm, or a client asking again and again, then
 * costs one query and one encoding per `ttlMs` instead of one per request (the
 * list is 100 KB per thousand users).
 *
 * Staleness is bounded and harmless: a snapshot is at most `ttlMs` old, and a
 * client's next incremental request (updated >= the snapshot's
 * latest_update_time) picks up whatever changed after it was read. Changes made
 * through this db-proxy (avatar, signature) drop the snapshot at once.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { IM } from '../../pdu/commands';
import { encodeBody } from '../../pdu/encode';
import { userInfoOf } from './user-info';

export interface UserListSnapshot {
  /** Newest IMUser.updated in the list: the reply's latest_update_time. */
  latest: number;
  /** The encoded user_list entries of IMAllUserRsp (protobuf fields, appended to the reply's other fields). */
  encodedList: Uint8Array;
  users: number;
}

export class AllUsersSnapshot {
  private current: (UserListSnapshot & { at: number }) | null = null;
  private loading: Promise<UserListSnapshot> | null = null;
  /** Bumped by invalidate(): a read that started before it is not kept. */
  private generation = 0;
  /** Requests answered from a snapshot another request read (metrics). */
  hits = 0;

  constructor(
    private readonly readRows: () => Promise<RowDataPacket[]>,
    private readonly ttlMs: number,
  ) {}

  async get(): Promise<UserListSnapshot> {
    if (this.ttlMs === 0) return this.read();
    if (this.current !== null && Date.now() - this.current.at < this.ttlMs) {
      this.hits++;
      return this.current;
    }
    if (this.loading !== null) {
      this.hits++;
      return this.loading;
    }
    const generation = this.generation;
    const at = Date.now();
    this.loading = this.read().then(
      (snapshot) => {
        this.loading = null;
        if (generation === this.generation) this.current = { ...snapshot, at };
        return snapshot;
      },
      (err: unknown) => {
        this.loading = null;
        throw err;
      },
    );
    return this.loading;
  }

  /** A user's listed fields changed: the next request reads the list again. */
  invalidate(): void {
    this.generation++;
    this.current = null;
    this.loading = null;
  }

  private async read(): Promise<UserListSnapshot> {
    const rows = await this.readRows();
    const latest = rows.reduce((max, r) => Math.max(max, Number(r.updated)), 0);
    return { latest, encodedList: encodeUserList(rows.map(userInfoOf)), users: rows.length };
  }
}

/**
 * The bytes of IMAllUserRsp's user_list field alone. The generated encoder
 * writes fields in field-number order and user_list comes after the two
 * scalars, so the reply with the list, less the same reply without it, is the
 * list's bytes.
 */
export function encodeUserList(users: IM.BaseDefine.IUserInfo[]): Uint8Array {
  const head = { user_id: 0, latest_update_time: 0 };
  const without = encodeBody(IM.Buddy.IMAllUserRsp, { ...head, user_list: [] });
  const full = encodeBody(IM.Buddy.IMAllUserRsp, { ...head, user_list: users });
  if (!Buffer.from(full.subarray(0, without.length)).equals(Buffer.from(without))) {
    throw new Error('IMAllUserRsp encoding does not start with its scalar fields; cannot split out user_list');
  }
  return full.subarray(without.length);
}
