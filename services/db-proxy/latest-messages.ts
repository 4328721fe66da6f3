/**
 * Each conversation's newest message, copied to Redis, so recent sessions and
 * unread counts (up to 100 conversations each) do not step into message tables
 * far larger than memory once the history is: one MGET instead of up to 100
 * pages read from disk.
 *
 * A copy is a string next to the conversation's msg-id counter (RedisKeys
 * latestMsg / groupLatestMsg): "<msgId>|<type>|<fromId>|<created>|<content>",
 * content as in the message table (the text, or the IMAudio id of a voice
 * message). The message store writes the copies of a batch after its COMMIT,
 * with the unread counters (LatestCopies.write); a reader that had to go to a
 * message table writes what it found.
 *
 * Readers trust a copy only while its msgId equals the conversation's msg-id
 * counter, the highest id given out: then no newer message can be stored.
 * Anything else (no copy yet, a message of the conversation being stored at this
 * moment, two batches' copies written out of order, a message written by the
 * original db_proxy, which knows nothing of copies, Redis restarted) is read from
 * the message table as before. So copies need no backfill and no migration, and
 * losing one costs only a slower read.
 *
 * Memory is bounded: a message longer than latestCopyMaxBytes gets no copy, and
 * a copy expires latestCopyTtlSec after its message (a conversation quiet for
 * that long is read from its table).
 */
import type { RowDataPacket } from 'mysql2/promise';
import { IM } from '../../pdu/commands';
import type { RedisKeyNames } from './redis-keys';
import type { ExpiringValue, RedisCommand, RedisGateway } from './redis-gateway';

const { SessionType } = IM.BaseDefine;

export type ConversationKind = IM.BaseDefine.SessionType.SESSION_TYPE_SINGLE | IM.BaseDefine.SessionType.SESSION_TYPE_GROUP;
export const SINGLE_CONVERSATION: ConversationKind = SessionType.SESSION_TYPE_SINGLE;
export const GROUP_CONVERSATION: ConversationKind = SessionType.SESSION_TYPE_GROUP;

/** A conversation's newest message. */
export interface LatestRow {
  kind: ConversationKind;
  /** IMRelationShip.id (single) or IMGroup.id. */
  conversationId: number;
  msgId: number;
  type: number;
  /** The real sender. */
  fromId: number;
  /** As in the message table: the text, or the IMAudio id of a voice message. */
  content: string;
  created: number;
}

export interface CopyLimits {
  /** Longest content copied, in bytes (0: no copies at all). */
  maxBytes: number;
  ttlSec: number;
}

/** The db-proxy's defaults (keys latestCopyMaxBytes, latestCopyTtlSec). */
export const DEFAULT_COPY_LIMITS: CopyLimits = { maxBytes: 1024, ttlSec: 30 * 86400 };

export function encodeCopy(row: LatestRow): string {
  return `${row.msgId}|${row.type}|${row.fromId}|${row.created}|${row.content}`;
}

export function decodeCopy(kind: ConversationKind, conversationId: number, value: string | null): LatestRow | null {
  if (value === null) return null;
  const parts = value.split('|', 4);
  if (parts.length < 4) return null;
  const [msgId, type, fromId, created] = parts.map(Number);
  if (![msgId, type, fromId, created].every(Number.isSafeInteger)) return null;
  const content = value.slice(parts.join('|').length + 1);
  return { kind, conversationId, msgId, type, fromId, created, content };
}

export function copyKey(keys: RedisKeyNames, kind: ConversationKind, conversationId: number): string {
  return kind === GROUP_CONVERSATION ? keys.groupLatestMsg(conversationId) : keys.latestMsg(conversationId);
}

export function counterKey(keys: RedisKeyNames, kind: ConversationKind, conversationId: number): string {
  return kind === GROUP_CONVERSATION ? keys.groupMsgId(conversationId) : keys.msgId(conversationId);
}

/**
 * SET commands for the copies of `rows`: the newest per conversation, content
 * within the limit, expiring ttlSec after the message was created.
 */
export function copyCommands(keys: RedisKeyNames, rows: Iterable<LatestRow>, limits: CopyLimits, nowSec: number): RedisCommand[] {
  return copyValues(keys, rows, limits, nowSec).map(({ key, value, ttlSec }) => ['set', key, value, 'EX', String(ttlSec)]);
}

/** The same as key, value and lifetime (RedisGateway.setManyEx). */
export function copyValues(keys: RedisKeyNames, rows: Iterable<LatestRow>, limits: CopyLimits, nowSec: number): ExpiringValue[] {
  if (limits.maxBytes <= 0) return [];
  const newest = new Map<string, LatestRow>();
  for (const row of rows) {
    const key = copyKey(keys, row.kind, row.conversationId);
    const seen = newest.get(key);
    if (seen === undefined || row.msgId >= seen.msgId) newest.set(key, row);
  }
  const values: ExpiringValue[] = [];
  for (const [key, row] of newest) {
    if (Buffer.byteLength(row.content, 'utf8') > limits.maxBytes) continue;
    const ttlSec = row.created + limits.ttlSec - nowSec;
    if (ttlSec <= 0) continue;
    values.push({ key, value: encodeCopy(row), ttlSec });
  }
  return values;
}

/** Copies and msg-id counters of some conversations, as read together. */
export interface CopiesAndCounters {
  copies: Map<number, LatestRow>;
  counters: Map<number, number>;
}

export class LatestCopies {
  constructor(
    private readonly redis: RedisGateway,
    private readonly limits: CopyLimits,
  ) {}

  /** Writes copies of `rows` (newest per conversation). */
  async write(rows: readonly LatestRow[]): Promise<void> {
    if (rows.length === 0 || !this.redis.isUp) return;
    await this.redis.setManyEx(copyValues(this.redis.keys, rows, this.limits, Math.floor(Date.now() / 1000)));
  }

  /** Every copy and counter of the conversations, in one MGET (one per slot in a cluster); empty if Redis cannot answer. */
  async read(kind: ConversationKind, ids: readonly number[]): Promise<CopiesAndCounters> {
    const out: CopiesAndCounters = { copies: new Map(), counters: new Map() };
    if (ids.length === 0 || !this.redis.isUp) return out;
    const keys = this.redis.keys;
    let values: Array<string | null>;
    try {
      values = await this.redis.mget([...ids.map((id) => counterKey(keys, kind, id)), ...(this.limits.maxBytes > 0 ? ids.map((id) => copyKey(keys, kind, id)) : [])]);
    } catch {
      return out; // every conversation is then read from its message table
    }
    ids.forEach((id, i) => {
      const counter = values[i];
      if (counter !== null) out.counters.set(id, Number(counter));
      const copy = decodeCopy(kind, id, values[ids.length + i] ?? null);
      if (copy !== null) out.copies.set(id, copy);
    });
    return out;
  }
}

export function latestRowOf(row: RowDataPacket): LatestRow {
  return {
    kind: Number(row.sessionType) as ConversationKind,
    conversationId: Number(row.conversationId),
    msgId: Number(row.msgId),
    type: Number(row.type),
    fromId: Number(row.fromId),
    content: String(row.content ?? ''),
    created: Number(row.created),
  };
}

/** Runs one statement on the server holding the table named in it and gives its rows. */
export type Query = (sql: string, values?: unknown[]) => Promise<RowDataPacket[]>;

/**
 * Copies for message tables that hold a history already (the prefill; an
 * operator who wants the first reads after an upgrade fast; never needed for
 * correctness): the newest row of each conversation, found with one step per
 * conversation on the primary key (conversation, msgId), in chunks of
 * conversations; `write` gets each chunk's rows. Returns how many it found.
 */
export async function forEachNewestMessage(
  tables: ReadonlyArray<{ name: string; kind: ConversationKind }>,
  readTable: (table: string) => Query,
  write: (rows: LatestRow[]) => Promise<void>,
  chunk = 5000,
): Promise<number> {
  let found = 0;
  for (const { name, kind } of tables) {
    const column = kind === GROUP_CONVERSATION ? 'groupId' : 'relateId';
    const sender = kind === GROUP_CONVERSATION ? 'userId' : 'fromId';
    const read = readTable(name);
    for (let after = -1; ; ) {
      const tops = await read(
        `SELECT ${column} AS cid, MAX(msgId) AS top FROM ${name} WHERE ${column} > ? GROUP BY ${column} ORDER BY ${column} LIMIT ${chunk}`,
        [after],
      );
      if (tops.length === 0) break;
      after = Number(tops[tops.length - 1].cid);
      const rows = await read(
        `SELECT ${kind} AS sessionType, ${column} AS conversationId, msgId, type, ${sender} AS fromId, content, created
           FROM ${name} WHERE (${column}, msgId) IN (?) AND status = 0`,
        [tops.map((r) => [Number(r.cid), Number(r.top)])],
      );
      if (rows.length === 0) continue; // (newest rows deleted: those conversations are left to the readers)
      await write(rows.map(latestRowOf));
      found += rows.length;
    }
  }
  return found;
}
