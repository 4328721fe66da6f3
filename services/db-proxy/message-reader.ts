/**
 * Reading stored messages back: history pages, messages by id, the newest
 * message of many conversations at once (for unread counts and recent
 * sessions), and audio rebuilt from IMAudio.
 *
 * Every read goes to the server holding the table (the shard map), and may be
 * served by its replicas (DatabaseServer.read: never missing an acknowledged write).
 *
 * Order is by msgId (newest first). The original sorts by `created`, which is
 * the same order as long as msg servers' clocks agree; msgId is the order the
 * conversation really had, and it is what msg_id_begin pages on.
 *
 * Every query here is a range of the message tables' primary key
 * (conversation, msgId) (schema/002_conversation_keys.sql): a page of history
 * is one or two adjacent pages of the table, however large the table is. The
 * newest message of many conversations comes from copies in Redis where they
 * are current (latest-messages.ts).
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { IM } from '../../pdu/commands';
import { isAudioType, isGroupType, isSingleType, joinAudio } from './message-content';
import type { AudioFiles } from './audio-files';
import type { DatabaseServers } from './database-servers';
import type { MessageTables } from './message-tables';
import { GROUP_CONVERSATION, SINGLE_CONVERSATION, latestRowOf, type ConversationKind, type LatestCopies, type LatestRow } from './latest-messages';

/** Largest page a history request gets, whatever msg_cnt asks for (bounds the reply size). */
export const MAX_PAGE = 500;
/** As the original: at most 100 messages by id. */
export const MAX_BY_ID = 100;
/** Conversations per statement when reading their newest messages (UNION ALL of one-row lookups). */
const LATEST_PER_QUERY = 100;

export interface LatestMessage {
  msgId: number;
  type: number;
  /** Text as stored; for audio the encrypted "[语音]" placeholder. */
  data: Uint8Array;
  /** Real sender (single conversations report the peer instead, see the callers). */
  fromId: number;
}

type MsgInfo = IM.BaseDefine.IMsgInfo;

/** Where newest messages came from: `tables` once any came from a message table (not from its copy). */
export interface LatestSources {
  tables: boolean;
}

export class MessageReader {
  private readonly tables: MessageTables;
  /** Newest messages answered from their copies in Redis, and from the message tables (metrics). */
  readonly stats = { fromCopy: 0, fromTables: 0 };

  constructor(
    private readonly databases: DatabaseServers,
    /** latest_msg_data of audio messages: the clients' encryption of "[语音]". */
    private readonly audioPlaceholder: Uint8Array,
    /** Reads the bytes of voice messages kept in msfs (IMAudio.path set, data NULL). */
    private readonly audioFiles: AudioFiles | null = null,
    /** Newest-message copies in Redis (null: always read from the message tables). */
    private readonly copies: LatestCopies | null = null,
  ) {
    this.tables = databases.tables;
  }

  /** A read of message table `table`, on its server (or that server's replicas). */
  private read(table: string, sql: string, values: unknown[]): Promise<RowDataPacket[]> {
    return this.databases.forTable(table).read<RowDataPacket[]>(sql, values);
  }

  // ---- newest message of many conversations ----

  /** `seen.tables` is set when some conversation's newest message had to come from its table. */
  latestOfRelations(relationIds: readonly number[], seen?: LatestSources): Promise<Map<number, LatestMessage>> {
    return this.latestOf(SINGLE_CONVERSATION, relationIds, seen);
  }

  latestOfGroups(groupIds: readonly number[], seen?: LatestSources): Promise<Map<number, LatestMessage>> {
    return this.latestOf(GROUP_CONVERSATION, groupIds, seen);
  }

  /**
   * From the copies in Redis where current (a copy's msgId is the conversation's
   * msg-id counter: latest-messages.ts), else from the message tables, copying
   * what they gave for the next reader.
   */
  private async latestOf(kind: ConversationKind, ids: readonly number[], seen?: LatestSources): Promise<Map<number, LatestMessage>> {
    const result = new Map<number, LatestMessage>();
    const unique = [...new Set(ids)];
    if (unique.length === 0) return result;
    const { copies, counters } = this.copies === null ? { copies: new Map<number, LatestRow>(), counters: new Map<number, number>() } : await this.copies.read(kind, unique);
    const elsewhere: number[] = [];
    for (const id of unique) {
      const copy = copies.get(id);
      if (copy !== undefined && copy.msgId === counters.get(id)) result.set(id, this.toLatest(copy));
      else elsewhere.push(id);
    }
    this.stats.fromCopy += unique.length - elsewhere.length;
    this.stats.fromTables += elsewhere.length;
    if (elsewhere.length === 0) return result;
    if (seen) seen.tables = true;
    const found = await this.latestFromTables(kind, elsewhere);
    for (const row of found) result.set(row.conversationId, this.toLatest(row));
    // Only what is still the newest by the counter read before: a message stored meanwhile
    // has a higher id, and its own copy must not be overwritten by this older one.
    const current = found.filter((row) => row.msgId === counters.get(row.conversationId));
    if (this.copies !== null && current.length > 0) this.copies.write(current).catch(() => undefined);
    return result;
  }

  /** The newest row of each conversation, from the message tables. */
  private async latestFromTables(kind: ConversationKind, ids: readonly number[]): Promise<LatestRow[]> {
    const group = kind === GROUP_CONVERSATION;
    const column = group ? 'groupId' : 'relateId';
    const sender = group ? 'userId' : 'fromId';
    const byTable = new Map<string, number[]>();
    for (const id of ids) {
      const table = group ? this.tables.group(id) : this.tables.single(id);
      const list = byTable.get(table);
      if (list) list.push(id);
      else byTable.set(table, [id]);
    }
    const queries: Array<{ table: string; sql: string; values: number[] }> = [];
    for (const [table, list] of byTable) {
      // One backward step on the primary key (conversation, msgId) per conversation: the
      // newest row that is not deleted. (MAX(msgId) ... WHERE status = 0 would read every
      // row of each conversation, as status is not in the key.)
      for (let i = 0; i < list.length; i += LATEST_PER_QUERY) {
        const chunk = list.slice(i, i + LATEST_PER_QUERY);
        const one = `(SELECT ${kind} AS sessionType, ${column} AS conversationId, msgId, type, ${sender} AS fromId, content, created FROM ${table}
                       WHERE ${column} = ? AND status = 0 ORDER BY msgId DESC LIMIT 1)`;
        queries.push({ table, sql: chunk.map(() => one).join(' UNION ALL '), values: chunk });
      }
    }
    const found = await Promise.all(queries.map(({ table, sql, values }) => this.read(table, sql, values)));
    return found.flat().map(latestRowOf);
  }

  private toLatest(row: LatestRow): LatestMessage {
    return {
      msgId: row.msgId,
      type: row.type,
      data: isAudioType(row.type) ? this.audioPlaceholder : Buffer.from(row.content, 'utf8'),
      fromId: row.fromId,
    };
  }

  // ---- single conversations ----

  async pageOfRelation(relationId: number, beginMsgId: number, count: number): Promise<MsgInfo[]> {
    const limit = Math.min(count, MAX_PAGE);
    if (limit === 0) return [];
    const table = this.tables.single(relationId);
    const rows = await this.read(
      table,
      `SELECT msgId, fromId AS sender, type, content, created FROM ${table}
        WHERE relateId = ? AND status = 0 ${beginMsgId > 0 ? 'AND msgId <= ?' : ''}
        ORDER BY msgId DESC LIMIT ?`,
      beginMsgId > 0 ? [relationId, beginMsgId, limit] : [relationId, limit],
    );
    return this.toMsgInfos(rows, isSingleType);
  }

  async byIdsOfRelation(relationId: number, msgIds: readonly number[]): Promise<MsgInfo[]> {
    if (msgIds.length === 0) return [];
    const table = this.tables.single(relationId);
    const rows = await this.read(
      table,
      `SELECT msgId, fromId AS sender, type, content, created FROM ${table}
        WHERE relateId = ? AND status = 0 AND msgId IN (?) ORDER BY msgId DESC LIMIT ${MAX_BY_ID}`,
      [relationId, uniqueIds(msgIds)],
    );
    return this.toMsgInfos(rows, isSingleType);
  }

  async latestIdOfRelation(relationId: number): Promise<number> {
    const table = this.tables.single(relationId);
    const rows = await this.read(
      table,
      `SELECT msgId AS top FROM ${table} WHERE relateId = ? AND status = 0 ORDER BY msgId DESC LIMIT 1`,
      [relationId],
    );
    return Number(rows[0]?.top ?? 0);
  }

  // ---- groups (a member sees messages from their join time on) ----

  async pageOfGroup(groupId: number, beginMsgId: number, count: number, since: number): Promise<MsgInfo[]> {
    const limit = Math.min(count, MAX_PAGE);
    if (limit === 0) return [];
    const table = this.tables.group(groupId);
    const rows = await this.read(
      table,
      `SELECT msgId, userId AS sender, type, content, created FROM ${table}
        WHERE groupId = ? AND status = 0 AND created >= ? ${beginMsgId > 0 ? 'AND msgId <= ?' : ''}
        ORDER BY msgId DESC LIMIT ?`,
      beginMsgId > 0 ? [groupId, since, beginMsgId, limit] : [groupId, since, limit],
    );
    return this.toMsgInfos(rows, isGroupType);
  }

  async byIdsOfGroup(groupId: number, msgIds: readonly number[], since: number): Promise<MsgInfo[]> {
    if (msgIds.length === 0) return [];
    const table = this.tables.group(groupId);
    const rows = await this.read(
      table,
      `SELECT msgId, userId AS sender, type, content, created FROM ${table}
        WHERE groupId = ? AND status = 0 AND created >= ? AND msgId IN (?) ORDER BY msgId DESC LIMIT ${MAX_BY_ID}`,
      [groupId, since, uniqueIds(msgIds)],
    );
    return this.toMsgInfos(rows, isGroupType);
  }

  async latestIdOfGroup(groupId: number): Promise<number> {
    const table = this.tables.group(groupId);
    const rows = await this.read(
      table,
      `SELECT msgId AS top FROM ${table} WHERE groupId = ? AND status = 0 ORDER BY msgId DESC LIMIT 1`,
      [groupId],
    );
    return Number(rows[0]?.top ?? 0);
  }

  /** Rows -> MsgInfo, audio rebuilt from IMAudio; rows of unknown type or with lost audio are left out. */
  private async toMsgInfos(rows: RowDataPacket[], typeFits: (type: number) => boolean): Promise<MsgInfo[]> {
    const wanted = rows.filter((r) => typeFits(Number(r.type)));
    const audioIds = wanted.filter((r) => isAudioType(Number(r.type))).map((r) => Number(r.content));
    const audio = new Map<number, Buffer>();
    if (audioIds.length > 0) {
      const clips = await this.databases.main.read<RowDataPacket[]>('SELECT id, duration, data, path, size FROM IMAudio WHERE id IN (?)', [
        audioIds,
      ]);
      const inMsfs = clips.filter((c) => c.data === null && String(c.path ?? '') !== '' && Number(c.duration) > 0 && Number(c.size) > 0);
      const fetched = this.audioFiles === null ? [] : await this.audioFiles.downloadAll(inMsfs.map((c) => ({ url: String(c.path), size: Number(c.size) })));
      const bytesOf = new Map(inMsfs.map((c, i) => [Number(c.id), fetched[i] ?? null]));
      for (const clip of clips) {
        // As the original: a clip msfs cannot give back with its recorded size is left out.
        const data = clip.data !== null ? (clip.data as Buffer) : bytesOf.get(Number(clip.id));
        if (data === null || data === undefined) continue;
        audio.set(Number(clip.id), joinAudio(Number(clip.duration), data));
      }
    }
    const out: MsgInfo[] = [];
    for (const row of wanted) {
      const type = Number(row.type);
      let data: Uint8Array;
      if (isAudioType(type)) {
        const clip = audio.get(Number(row.content));
        if (clip === undefined) continue;
        data = clip;
      } else {
        data = Buffer.from(String(row.content ?? ''), 'utf8');
      }
      out.push({
        msg_id: Number(row.msgId),
        from_session_id: Number(row.sender),
        create_time: Number(row.created),
        msg_type: type,
        msg_data: data,
      });
    }
    return out;
  }
}

/** Ids asked for in one request: duplicates dropped, at most 1000 (the reply holds 100). */
function uniqueIds(ids: readonly number[]): number[] {
  return [...new Set(ids)].slice(0, 1000);
}
