/**
 * IMLatestMessage (schema/003_latest_messages.sql): the newest message of each
 * conversation, so recent sessions and unread counts read one small row per
 * conversation instead of a page of a message table larger than memory.
 *
 * Writers: the message store upserts one row per conversation of a batch, in
 * the batch's transaction on main (tables on other servers: right after their
 * transaction committed; a failure there only costs readers a detour). An
 * upsert never moves a row back to an older message, so writers racing each
 * other (or a reader filling a row, below) need no ordering.
 *
 * Readers (MessageReader.latestOf*) trust a row only while its msgId equals the
 * conversation's msg-id counter in Redis, the highest id given out: then no
 * newer message can be stored. Anything else (no row, a message of the
 * conversation being stored at this moment, a message written by the original
 * db_proxy, Redis restarted) is read from the message table as before, and the
 * answer is put here for the next reader.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { IM } from '../../pdu/commands';

const { SessionType } = IM.BaseDefine;

export type ConversationKind = IM.BaseDefine.SessionType.SESSION_TYPE_SINGLE | IM.BaseDefine.SessionType.SESSION_TYPE_GROUP;
export const SINGLE_CONVERSATION: ConversationKind = SessionType.SESSION_TYPE_SINGLE;
export const GROUP_CONVERSATION: ConversationKind = SessionType.SESSION_TYPE_GROUP;

/** One row of IMLatestMessage. */
export interface LatestRow {
  kind: ConversationKind;
  conversationId: number;
  msgId: number;
  type: number;
  fromId: number;
  /** As in the message table: the text, or the IMAudio id of a voice message. */
  content: string;
  created: number;
}

export const LATEST_COLUMNS = 'sessionType, conversationId, msgId, type, fromId, content, created';

/**
 * Multi-row upsert that only ever moves a row forward. MariaDB applies the
 * assignments left to right, each seeing the ones before: msgId goes last so
 * the others still compare against the old one. (An equal msgId replaces the
 * row: an id given back after a failed store is given out again.)
 */
export const UPSERT_LATEST = `INSERT INTO IMLatestMessage (${LATEST_COLUMNS}) VALUES ?
  ON DUPLICATE KEY UPDATE
    type = IF(VALUES(msgId) >= msgId, VALUES(type), type),
    fromId = IF(VALUES(msgId) >= msgId, VALUES(fromId), fromId),
    content = IF(VALUES(msgId) >= msgId, VALUES(content), content),
    created = IF(VALUES(msgId) >= msgId, VALUES(created), created),
    msgId = GREATEST(msgId, VALUES(msgId))`;

/**
 * The newest of `rows` per conversation, as upsert values in key order (so
 * concurrent batches lock shared rows, busy groups, in one order).
 */
export function upsertValues(rows: Iterable<LatestRow>): unknown[][] {
  const newest = new Map<string, LatestRow>();
  for (const row of rows) {
    const key = `${row.kind}:${row.conversationId}`;
    const seen = newest.get(key);
    if (seen === undefined || row.msgId >= seen.msgId) newest.set(key, row);
  }
  return [...newest.values()]
    .sort((a, b) => a.kind - b.kind || a.conversationId - b.conversationId)
    .map((r) => [r.kind, r.conversationId, r.msgId, r.type, r.fromId, r.content, r.created]);
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

/** Runs one statement (on the server holding the tables named in it) and gives its rows. */
export type Query = (sql: string, values?: unknown[]) => Promise<RowDataPacket[]>;

/**
 * Fills IMLatestMessage from message tables that hold a history already (the
 * prefill; an operator who wants the first reads after migration 003 fast):
 * the newest row of each conversation, found with one step per conversation on
 * the tables' primary key (conversation, msgId), in chunks of conversations.
 * `readTable` reads the server holding the table; `writeMain` writes main.
 * Returns how many conversations it wrote.
 */
export async function backfillLatestMessages(
  tables: ReadonlyArray<{ name: string; kind: ConversationKind }>,
  readTable: (table: string) => Query,
  writeMain: Query,
  chunk = 5000,
): Promise<number> {
  let written = 0;
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
      await writeMain(UPSERT_LATEST, [upsertValues(rows.map(latestRowOf))]);
      written += rows.length;
    }
  }
  return written;
}
