/**
 * The message-store path (CID_MSG_DATA), the throughput figure of the system.
 * Messages that arrive while the event loop turns are stored together:
 *
 *   1. messages nobody may receive are refused before anything is written:
 *      single messages need an existing, enabled sender and receiver
 *      (UserDirectory), group messages a sender who is a member (Redis);
 *   2. relation ids of single conversations (cached; created on first message:
 *      the INSERT and the read of the new ids in one round trip), while the
 *      store tokens are checked for retries;
 *   3. msg ids: one Lua call allocates for every conversation in the batch,
 *      checking each counter against MySQL once per Redis epoch (MsgIdCounters);
 *      the store tokens are recorded while step 4 runs, and before its COMMIT;
 *   4. ONE transaction on the main database: audio rows, one multi-row INSERT
 *      per message table it holds, the recent-session touches of both sides
 *      (coalesced, RecentSessionTouches) and groups' lastChated, all sent with
 *      the BEGIN as one multi-statement query on a connection kept for such
 *      scripts (MysqlGateway scriptPool), then COMMIT: two round trips however
 *      many tables the batch touches. Message tables on other servers (the
 *      shard map): once main has committed, one transaction per such server,
 *      in parallel, holding only its message rows;
 *   5. one Lua call for the unread counters (single: receiver's hash; group:
 *      group count + sender's copy), and with it each conversation's newest
 *      message copied to Redis (LatestCopies, for recent sessions and unread);
 *   6. only then the replies, with the msg ids.
 *
 * Store tokens: a msg server gives every message a token, the same on every
 * attempt. The token is recorded in Redis (RedisKeys.storeToken) with the msg
 * id it got before the batch is written; a later attempt with a recorded token
 * (the msg server's db-proxy died or did not answer, and it tried again here or
 * on another db-proxy) waits until the first attempt can no longer be in
 * progress, then answers the first attempt's msg id if its row is there, or
 * stores the message afresh if it is not. So a store whose outcome was unknown
 * is never stored twice.
 *
 * If any step fails, every message of the batch is answered with msg_id 0 and
 * PduFlag.STORAGE_ERROR: a message is acknowledged only when its row and its
 * counters are written. Across servers a batch is not one transaction, so the
 * rule is applied per server: main first (if it fails, nothing was written
 * anywhere), then each other server; a message whose server failed after main
 * committed is answered as failed, the others as stored. A failed message may
 * leave a touched session or an IMAudio row behind, never a row without an
 * ack that a retry would not recognise: its store token names its table and
 * msg id, and a retry looks on the server holding that table. (A COMMIT whose answer was lost is looked up first:
 * storedDespite.) Several batches run at once on different connections
 * (storeBatchConcurrency); while all are busy, new messages wait and form the
 * next, larger batch, which is what keeps the cost per message low under load.
 */
import { IM } from '../../pdu/commands';
import { PduFlag } from '../../pdu/frame';
import { errorMessage } from '../../lib/errors';
import type { Logger } from '../../lib/log';
import { LogThrottle } from '../../lib/log-throttle';
import {
  MAX_AUDIO_BYTES,
  isAudioType,
  isGroupType,
  isSingleType,
  splitAudio,
  textContent,
  type AudioClip,
} from './message-content';
import type { AudioFiles } from './audio-files';
import { GROUP_CONVERSATION, SINGLE_CONVERSATION, type LatestCopies, type LatestRow } from './latest-messages';
import { DeferredCounterUpdates, type CounterSubject } from './deferred-counters';
import { unixNow, type MessageTables } from './message-tables';
import type { Conversation, MsgIdCounters } from './msg-id-counters';
import type { DatabaseServer, DatabaseServers } from './database-servers';
import type { SettleQuery, Transaction } from './mysql-gateway';
import type { RecentSessionTouches, SessionKey, TouchPlan } from './recent-session-touches';
import type { RedisGateway } from './redis-gateway';
import type { UserDirectory } from './user-directory';
import { Relations } from './relations';
import {
  CommitOutcomeUnknownError,
  DEADLOCK_ATTEMPTS,
  MysqlErrno,
  StorageUnavailableError,
  isDeadlock,
  isStorageError,
  deadlockRetryPause,
  mysqlErrno,
} from './storage-errors';

const { SessionType } = IM.BaseDefine;

/** The newest-message copy a stored message makes (latest-messages.ts). */
function latestRowOfMessage(m: PendingMessage): LatestRow {
  return {
    kind: m.group ? GROUP_CONVERSATION : SINGLE_CONVERSATION,
    conversationId: (m.conversation as Conversation).id,
    msgId: m.msgId,
    type: m.msg.msg_type,
    fromId: m.msg.from_user_id,
    content: m.content,
    created: m.createdAt,
  };
}

/** How often deferred counter updates try Redis again. */
const COUNTER_RETRY_MS = 1_000;

export interface StoreResult {
  /** 0 when the message was not stored. */
  msgId: number;
  flag: number;
}

interface PendingMessage {
  readonly msg: IM.Message.IMMsgData;
  readonly group: boolean;
  readonly createdAt: number;
  readonly audio: AudioClip | null;
  /** Where msfs keeps the audio bytes (IMAudio.path); null: they go into IMAudio.data. */
  readonly audioUrl: string | null;
  /** Text as stored, or (audio) the IMAudio id once inserted. */
  content: string;
  conversation: Conversation | null;
  /** Its relation was created by this batch (a single message to someone new). */
  firstContact: boolean;
  msgId: number;
  /** The msg server's store token ('' from peers that send none). */
  readonly token: string;
  /** The token was looked up already (a retry whose first attempt stored nothing). */
  tokenChecked: boolean;
  readonly resolve: (result: StoreResult) => void;
}

/** The messages of one batch that share a conversation (in arrival order) and their block of ids. */
interface IdBlock {
  readonly conversation: Conversation;
  readonly messages: PendingMessage[];
  /** Highest id allocated to them (ids are high - n + 1 .. high). */
  high: number;
}

/** The part of a batch one database server stores, in one transaction. */
interface ServerPart {
  readonly server: DatabaseServer;
  /** The messages whose table is on this server. */
  readonly messages: PendingMessage[];
  readonly blocks: IdBlock[];
}

/** A batch's statements and, once run, their results. */
interface RowStatements {
  statements: Array<{ sql: string; values: unknown[] }>;
  /** Index of the UPDATE of known session rows, -1 if none. */
  updateAt: number;
  results: unknown[];
}

export interface MessageStoreOptions {
  maxBatch: number;
  concurrency: number;
  /** How long an attempt may still be in progress (statement timeout + commit settling). */
  settleMs: number;
  /** How long store tokens are kept. */
  tokenTtlSec: number;
  /** Messages whose counter updates may wait for Redis after their COMMIT (DeferredCounterUpdates). */
  deferredCountersMax: number;
  /** Told about every batch (metrics): how many messages, how long it took, whether they were stored. */
  onBatch?(messages: number, seconds: number, stored: boolean): void;
  /** Told how long each step of a stored batch took (metrics: where a batch's time goes). */
  onStep?(step: StoreStep, seconds: number): void;
}

/** The steps of a store batch, in order (metrics label `step`). */
export type StoreStep = 'authorize' | 'relations' | 'ids' | 'transaction' | 'counters';

export interface MessageStoreStats {
  /** Retried stores answered with the msg id of their first attempt. */
  retriesAlreadyStored: number;
  /** Retried stores whose first attempt had stored nothing. */
  retriesStoredAgain: number;
}

export class MessageStore {
  readonly stats: MessageStoreStats = { retriesAlreadyStored: 0, retriesStoredAgain: 0 };
  private queue: PendingMessage[] = [];
  private running = 0;
  private scheduled = false;
  private readonly throttle = new LogThrottle();
  /** Store transactions run again after a deadlock (metrics). */
  deadlockRetries = 0;
  /** Counter updates of committed messages waiting for Redis. */
  readonly deferredCounters: DeferredCounterUpdates;

  constructor(
    private readonly databases: DatabaseServers,
    private readonly redis: RedisGateway,
    private readonly relations: Relations,
    private readonly counters: MsgIdCounters,
    private readonly touches: RecentSessionTouches,
    private readonly users: UserDirectory,
    private readonly tables: MessageTables,
    private readonly options: MessageStoreOptions,
    private readonly logger: Logger,
    /** Each conversation's newest message, copied to Redis for recent sessions and unread counts. */
    private readonly latestCopies: LatestCopies,
    /** Voice messages go to msfs when set (db-proxy key msfsUrl), else into IMAudio.data. */
    private readonly audioFiles: AudioFiles | null = null,
  ) {
    this.deferredCounters = new DeferredCounterUpdates((subjects) => this.bumpCounters(subjects), options.deferredCountersMax, COUNTER_RETRY_MS, logger);
  }

  /**
   * Stores one message. Resolves with its msg id, or msg id 0 and a flag:
   * BAD_REQUEST when the message is invalid (never retried), STORAGE_ERROR when
   * storage failed.
   */
  store(msg: IM.Message.IMMsgData): Promise<StoreResult> {
    const refuse = (why: string) => this.refuse(msg, why);
    const type = msg.msg_type;
    const group = isGroupType(type);
    if (!group && !isSingleType(type)) return refuse(`unknown msg_type ${type}`);
    if (msg.msg_data.length === 0) return refuse('empty msg_data');
    if (msg.from_user_id === 0 || msg.to_session_id === 0) return refuse('zero sender or receiver id');
    if (!group && msg.from_user_id === msg.to_session_id) return refuse('a user cannot message themselves');
    let audio: AudioClip | null = null;
    let content = '';
    if (isAudioType(type)) {
      audio = splitAudio(msg.msg_data);
      if (audio === null) return refuse('audio message without audio bytes');
      if (audio.data.length > MAX_AUDIO_BYTES) return refuse('audio message too large');
    } else {
      const text = textContent(msg.msg_data);
      if ('problem' in text) return refuse(text.problem);
      content = text.text;
    }
    if (audio !== null && this.audioFiles !== null) {
      // The bytes are in msfs before the message is queued: a row never points at nothing.
      return this.audioFiles.upload(audio.data).then(
        (url) => this.enqueue(msg, group, audio, url, content),
        (err: Error) => {
          this.throttle.run('audio-upload', (suppressed) => this.logger.warn({ err: err.message, similarNotLogged: suppressed }, 'voice message not stored'));
          return { msgId: 0, flag: PduFlag.STORAGE_ERROR };
        },
      );
    }
    return this.enqueue(msg, group, audio, null, content);
  }

  private enqueue(msg: IM.Message.IMMsgData, group: boolean, audio: AudioClip | null, audioUrl: string | null, content: string): Promise<StoreResult> {
    return new Promise<StoreResult>((resolve) => {
      this.queue.push({
        msg,
        group,
        createdAt: msg.create_time || unixNow(),
        audio,
        audioUrl,
        content,
        conversation: null,
        firstContact: false,
        msgId: 0,
        token: msg.store_token ?? '',
        tokenChecked: false,
        resolve,
      });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running >= this.options.concurrency || this.queue.length === 0) return;
    this.scheduled = true;
    // Wait for the rest of this event-loop turn: PDUs read together are stored together.
    setImmediate(() => {
      this.scheduled = false;
      while (this.running < this.options.concurrency && this.queue.length > 0) {
        const batch = this.queue.length <= this.options.maxBatch ? this.queue : this.queue.slice(0, this.options.maxBatch);
        this.queue = batch === this.queue ? [] : this.queue.slice(batch.length);
        this.running++;
        const started = performance.now();
        void this.storeBatch(batch)
          .then((stored) => this.options.onBatch?.(batch.length, (performance.now() - started) / 1000, stored))
          .finally(() => {
            this.running--;
            this.schedule();
          });
      }
    });
  }

  /** Resolves whether the batch was stored (a refused message does not count as a failure). */
  private async storeBatch(batch: PendingMessage[]): Promise<boolean> {
    const now = unixNow();
    let live = batch;
    let notStored = new Set<PendingMessage>();
    let someOnServerDown = false;
    let stepStart = performance.now();
    const stepDone = (step: StoreStep) => {
      const t = performance.now();
      this.options.onStep?.(step, (t - stepStart) / 1000);
      stepStart = t;
    };
    try {
      // Both stores are needed; failing before the first write keeps counters untouched.
      this.databases.main.primary.assertUp();
      this.redis.assertUp();
      live = await this.refuseUnauthorized(batch);
      stepDone('authorize');
      // Retries are recognised while the relations are looked up (a retry's relation exists: harmless).
      const [firstAttempts] = await Promise.all([this.setAsideRetries(live), this.assignConversations(live)]);
      live = firstAttempts;
      stepDone('relations');
      if (live.length === 0) return true;
      const reachable = this.failOnServersDown(live);
      someOnServerDown = reachable.length < live.length;
      live = reachable;
      if (live.length === 0) return false;
      const blocks = await this.allocateIds(live);
      stepDone('ids');
      // Recorded while the transaction's statements run; awaited before its COMMIT.
      const tokens = this.recordTokens(live);
      tokens.catch(() => undefined);
      // Both session rows of a conversation older than this batch are presumed to exist.
      const olderPairs = new Set(live.filter((m) => !m.group && !m.firstContact).map((m) => Relations.key(m.msg.from_user_id, m.msg.to_session_id)));
      const plan = this.touches.plan(
        now,
        sessionsTouchedBy(live),
        live.filter((m) => m.group).map((m) => m.msg.to_session_id),
        (s) => s.type === SessionType.SESSION_TYPE_SINGLE && olderPairs.has(Relations.key(s.userId, s.peerId)),
      );
      notStored = await this.writeRows(live, blocks, plan, now, tokens);
      this.touches.committed(now, plan);
      stepDone('transaction');
      // After COMMIT the messages are stored whatever happens to Redis now: a failed
      // counter update waits for Redis (DeferredCounterUpdates) instead of failing
      // messages whose retry could not be recognised without Redis. Messages whose
      // shard server failed after main committed are not stored and count nowhere.
      const stored = live.filter((m) => !notStored.has(m));
      const subjects = stored.map((m): CounterSubject => ({ group: m.group, from: m.msg.from_user_id, to: m.msg.to_session_id }));
      await Promise.all([
        this.bumpCounters(subjects).catch((err: unknown) => {
          this.deferredCounters.add(subjects);
          this.throttle.run('counters-deferred', (suppressed) =>
            this.logger.warn(
              { err: errorMessage(err), messages: subjects.length, similarNotLogged: suppressed },
              'messages stored; their unread counts are updated once Redis answers again',
            ),
          );
        }),
        // Best effort: a copy not written only sends readers to the message table.
        this.latestCopies.write(stored.map(latestRowOfMessage)).catch(() => undefined),
      ]);
      stepDone('counters');
    } catch (err) {
      this.reportFailure(err, live.length);
      for (const m of live) m.resolve({ msgId: 0, flag: PduFlag.STORAGE_ERROR });
      return false;
    }
    for (const m of live) m.resolve(notStored.has(m) ? { msgId: 0, flag: PduFlag.STORAGE_ERROR } : { msgId: m.msgId, flag: PduFlag.NONE });
    return notStored.size === 0 && !someOnServerDown;
  }

  /** Messages whose table is on a database server known to be down fail now, before ids are allocated for them. */
  private failOnServersDown(live: PendingMessage[]): PendingMessage[] {
    const down = live.filter((m) => !this.databases.forTable((m.conversation as Conversation).table).primary.isUp);
    if (down.length === 0) return live;
    for (const m of down) m.resolve({ msgId: 0, flag: PduFlag.STORAGE_ERROR });
    return live.filter((m) => !down.includes(m));
  }

  /**
   * Messages nobody may receive get msg id 0 and no row: a single message needs
   * an existing, enabled sender and receiver; a group message (behaviour §7) a
   * group that exists and a sender who is a member.
   */
  private async refuseUnauthorized(batch: PendingMessage[]): Promise<PendingMessage[]> {
    const refused = new Set<PendingMessage>();
    const singles = batch.filter((m) => !m.group);
    if (singles.length > 0) {
      const enabled = await this.users.enabled(singles.flatMap((m) => [m.msg.from_user_id, m.msg.to_session_id]));
      for (const m of singles) {
        if (!enabled.has(m.msg.to_session_id) || !enabled.has(m.msg.from_user_id)) refused.add(m);
      }
    }
    const groupMessages = batch.filter((m) => m.group);
    if (groupMessages.length > 0) {
      const results = await this.redis.commands(
        groupMessages.map((m) => ['hget', this.redis.keys.groupMembers(m.msg.to_session_id), String(m.msg.from_user_id)]),
      );
      groupMessages.forEach((m, i) => {
        if (results[i] === null) refused.add(m);
      });
    }
    if (refused.size === 0) return batch;
    for (const m of refused) {
      this.throttle.run('refused:no receiver', (suppressed) =>
        this.logger.info(
          { from: m.msg.from_user_id, to: m.msg.to_session_id, group: m.group, similarNotLogged: suppressed },
          m.group ? 'message refused: the group does not exist or the sender is not a member' : 'message refused: the receiver (or sender) is not an enabled user',
        ),
      );
      m.resolve({ msgId: 0, flag: PduFlag.BAD_REQUEST });
    }
    return batch.filter((m) => !refused.has(m));
  }

  /**
   * Messages whose token is recorded are retries: taken out of the batch and
   * settled on their own (settleRetry), so the batch does not wait for them.
   */
  private async setAsideRetries(live: PendingMessage[]): Promise<PendingMessage[]> {
    const tokened = live.filter((m) => m.token !== '' && !m.tokenChecked);
    if (tokened.length === 0) return live;
    const recorded = await this.redis.mget(tokened.map((m) => this.redis.keys.storeToken(m.token)));
    const retries = new Map<PendingMessage, string>();
    tokened.forEach((m, i) => {
      const value = recorded[i];
      if (value !== null) retries.set(m, value);
    });
    for (const [m, value] of retries) void this.settleRetry(m, value);
    return retries.size === 0 ? live : live.filter((m) => !retries.has(m));
  }

  /**
   * A retried store: once the attempt its token names is over for sure, either
   * that attempt's msg id, or a fresh store. Several retries of one token (a
   * msg server that timed out again, on this db-proxy or another) settle one
   * after the other: the one that finds nothing stored claims the token in
   * Redis (compare-and-set, ttClaimStoreToken) before storing afresh; the
   * others see the claim and settle on the claimant's attempt.
   */
  private async settleRetry(m: PendingMessage, firstRecord: string): Promise<void> {
    const key = this.redis.keys.storeToken(m.token);
    let recorded = firstRecord;
    try {
      for (;;) {
        const [at, table, column, id, msgId] = recorded.split('|');
        if (!this.tables.isMessageTable(table) || (column !== 'relateId' && column !== 'groupId')) throw new Error(`bad store token record "${recorded}"`);
        const wait = Number(at) + this.options.settleMs - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        this.redis.assertUp();
        const current = await this.redis.client.get(key);
        if (current !== null && current !== recorded) {
          recorded = current; // another attempt took over meanwhile: settle on it
          continue;
        }
        // On the primary holding the table now (it may have moved since the first attempt).
        // The row must be this message, not only its id: a first attempt that failed
        // before COMMIT gave its id back, and another message may hold it now.
        const sender = column === 'groupId' ? 'userId' : 'fromId';
        const sameText = m.audio === null ? ' AND content = ?' : '';
        const rows =
          Number(msgId) > 0
            ? await this.databases
                .forTable(table)
                .primary.query<Array<{ n: number }>>(`SELECT COUNT(*) AS n FROM ${table} WHERE ${column} = ? AND msgId = ? AND ${sender} = ? AND created = ?${sameText}`, [
                Number(id),
                Number(msgId),
                m.msg.from_user_id,
                m.createdAt,
                ...(m.audio === null ? [m.content] : []),
              ])
            : [];
        if (Number(rows[0]?.n ?? 0) > 0) {
          this.stats.retriesAlreadyStored++;
          this.logger.info({ from: m.msg.from_user_id, to: m.msg.to_session_id, msgId: Number(msgId) }, 'retried store: the first attempt had stored it; answered with its msg id');
          m.resolve({ msgId: Number(msgId), flag: PduFlag.NONE });
          return;
        }
        // Nothing stored: claim the token (msg id 0 until this attempt records its own) unless another retry did.
        const claim = `${Date.now()}|${table}|${column}|${id}|0`;
        if (Number(await this.redis.client.ttClaimStoreToken(1, key, current ?? '', claim, this.options.tokenTtlSec)) !== 1) {
          recorded = (await this.redis.client.get(key)) ?? claim;
          continue;
        }
        this.stats.retriesStoredAgain++;
        m.tokenChecked = true;
        this.queue.push(m);
        this.schedule();
        return;
      }
    } catch (err) {
      this.reportFailure(err, 1);
      m.resolve({ msgId: 0, flag: PduFlag.STORAGE_ERROR });
    }
  }

  /** Each message's token with the msg id it is about to be stored under, before anything is written. */
  private async recordTokens(live: PendingMessage[]): Promise<void> {
    const tokened = live.filter((m) => m.token !== '');
    if (tokened.length === 0) return;
    const now = Date.now();
    await this.redis.setManyEx(
      tokened.map((m) => {
        const c = m.conversation as Conversation;
        return { key: this.redis.keys.storeToken(m.token), value: `${now}|${c.table}|${c.column}|${c.id}|${m.msgId}`, ttlSec: this.options.tokenTtlSec };
      }),
    );
  }

  private async assignConversations(live: PendingMessage[]): Promise<void> {
    const singles = live.filter((m) => !m.group);
    const created = new Set<string>();
    const relations =
      singles.length > 0
        ? await this.relations.getOrCreateMany(
            singles.map((m) => [m.msg.from_user_id, m.msg.to_session_id]),
            created,
          )
        : new Map<string, number>();
    for (const m of live) {
      if (m.group) {
        const gid = m.msg.to_session_id;
        m.conversation = { counterKey: this.redis.keys.groupMsgId(gid), table: this.tables.group(gid), column: 'groupId', id: gid };
      } else {
        const key = Relations.key(m.msg.from_user_id, m.msg.to_session_id);
        const rid = relations.get(key);
        if (rid === undefined) throw new Error(`relation of ${m.msg.from_user_id} and ${m.msg.to_session_id} was not created`);
        m.conversation = { counterKey: this.redis.keys.msgId(rid), table: this.tables.single(rid), column: 'relateId', id: rid };
        // A first contact: no stored message to check its counter against.
        m.firstContact = created.has(key);
        if (m.firstContact) this.counters.trustNew(m.conversation.counterKey);
      }
    }
  }

  private async allocateIds(live: PendingMessage[]): Promise<IdBlock[]> {
    const byKey = new Map<string, IdBlock>();
    for (const m of live) {
      const c = m.conversation as Conversation;
      const block = byKey.get(c.counterKey);
      if (block) block.messages.push(m);
      else byKey.set(c.counterKey, { conversation: c, messages: [m], high: 0 });
    }
    const blocks = [...byKey.values()];
    await this.assignIds(blocks, false);
    return blocks;
  }

  private async assignIds(blocks: IdBlock[], reverify: boolean): Promise<void> {
    const highs = await this.counters.allocate(
      blocks.map((b) => ({ conversation: b.conversation, count: b.messages.length })),
      reverify,
    );
    blocks.forEach((b, i) => {
      b.high = highs[i];
      let id = b.high - b.messages.length;
      for (const m of b.messages) m.msgId = ++id;
    });
  }

  /**
   * Writes the batch: on main, one transaction with the audio rows, the rows of
   * message tables main holds, the session touches and groups' lastChated; once
   * that committed, one transaction per other server holding some of the
   * batch's tables, in parallel. Throws when main failed (nothing is stored);
   * returns the messages whose server failed afterwards (not stored).
   */
  private async writeRows(live: PendingMessage[], blocks: IdBlock[], plan: TouchPlan, now: number, tokens: Promise<void>): Promise<Set<PendingMessage>> {
    const [main, ...others] = this.partsByServer(live, blocks);
    try {
      await this.writePart(main, live, plan, now, tokens);
    } catch (err) {
      // Nothing was written on the other servers: their ids go back.
      await this.releaseIds(others.flatMap((p) => p.blocks)).catch(() => undefined);
      throw err;
    }
    const notStored = new Set<PendingMessage>();
    await Promise.all(
      others.map(async (part) => {
        try {
          await this.writePart(part, [], null, now, tokens);
        } catch (err) {
          this.reportFailure(err, part.messages.length);
          for (const m of part.messages) notStored.add(m);
        }
      }),
    );
    return notStored;
  }

  /** The batch split by the server holding each message's table: main first (always, it holds the sessions). */
  private partsByServer(live: PendingMessage[], blocks: IdBlock[]): ServerPart[] {
    const parts = new Map<DatabaseServer, ServerPart>([[this.databases.main, { server: this.databases.main, messages: [], blocks: [] }]]);
    const partOf = (c: Conversation) => {
      const server = this.databases.forTable(c.table);
      let part = parts.get(server);
      if (!part) parts.set(server, (part = { server, messages: [], blocks: [] }));
      return part;
    };
    for (const m of live) partOf(m.conversation as Conversation).messages.push(m);
    for (const b of blocks) partOf(b.conversation).blocks.push(b);
    return [...parts.values()];
  }

  /**
   * One server's transaction (main's also inserts `audio` rows and applies the
   * touch plan), retried on deadlock, and once with fresh ids if a counter
   * turned out to be behind. A COMMIT with an unknown outcome is looked up.
   * `tokens`: the store tokens being recorded; a message is never committed
   * before its token is (a retry must find where its first attempt went).
   */
  private async writePart(part: ServerPart, audio: PendingMessage[], plan: TouchPlan | null, now: number, tokens: Promise<void>): Promise<void> {
    const nothingToDo = part.messages.length === 0 && audio.every((m) => m.audio === null) && (plan === null || plan.update.length + plan.upsert.length + plan.groups.length === 0);
    if (nothingToDo) return;
    let reallocated = false;
    for (let attempt = 1; ; attempt++) {
      try {
        await part.server.primary.transaction(async (tx) => {
          // Audio rows first: the message rows hold their ids.
          await this.insertAudio(tx, audio);
          const rows = this.rowStatements(part.messages, plan, now);
          // One round trip for all of them (and the BEGIN), then one for the COMMIT.
          rows.results.push(...(await tx.queryMany(rows.statements)));
          if (plan !== null) await this.recreateMissingSessions(rows, plan, now, tx);
          await tokens;
        }, { script: true });
        return;
      } catch (err) {
        const errno = mysqlErrno(err);
        // Concurrent batches creating the same new session rows can deadlock on InnoDB's gap locks even with rows sorted.
        if (isDeadlock(err) && attempt < DEADLOCK_ATTEMPTS) {
          this.deadlockRetries++;
          this.throttle.run('store:lock-retry', (suppressed) =>
            this.logger.info({ errno, attempt, messages: part.messages.length, server: part.server.name, similarNotLogged: suppressed }, 'message store transaction was a deadlock victim; retrying'),
          );
          await deadlockRetryPause(attempt);
          continue;
        }
        if (errno === MysqlErrno.DUP_ENTRY && !reallocated) {
          reallocated = true;
          this.logger.warn({ err: (err as Error).message, server: part.server.name }, 'msg id already stored: counter was behind MySQL; re-verifying and retrying');
          await this.reallocateConflicting(part.blocks);
          // The retry of a token must look for the ids the messages are stored under now.
          await this.recordTokens(part.messages);
          continue;
        }
        if (err instanceof CommitOutcomeUnknownError) {
          if (await this.storedDespite(err, part)) return;
          throw err;
        }
        await this.releaseIds(part.blocks);
        throw err;
      }
    }
  }

  /**
   * The connection broke (or timed out) around COMMIT. Rather than answer
   * "failed" for messages that may be stored (the client would send them again,
   * as duplicates), the server is asked once the transaction's thread has ended.
   * Stored: the part goes on to its counters and acks. Not stored, or it cannot
   * tell (also: a main transaction without message rows, which leaves nothing to
   * count): it fails, and ids of a part known not stored are given back.
   */
  private async storedDespite(err: CommitOutcomeUnknownError, part: ServerPart): Promise<boolean> {
    if (part.messages.length === 0) return false;
    const found = await part.server.primary.settleUnknownCommit(err, (query) => this.countStoredRows(query, part.messages));
    const outcome = found === null ? 'unknown' : found === part.messages.length ? 'stored' : found === 0 ? 'not stored' : 'partly stored';
    this.logger.warn(
      { threadId: err.threadId, server: part.server.name, messages: part.messages.length, found, outcome, err: err.message },
      'message store: COMMIT outcome was unknown; checked in MySQL',
    );
    if (found === 0) await this.releaseIds(part.blocks).catch(() => undefined);
    return outcome === 'stored';
  }

  /** How many of the part's message rows are in MySQL (all or none: they were one transaction). */
  private async countStoredRows(query: SettleQuery, messages: PendingMessage[]): Promise<number> {
    const keysByTable = new Map<string, { column: string; keys: number[][] }>();
    for (const m of messages) {
      const c = m.conversation as Conversation;
      const entry = keysByTable.get(c.table) ?? { column: c.column, keys: [] };
      entry.keys.push([c.id, m.msgId]);
      keysByTable.set(c.table, entry);
    }
    let found = 0;
    for (const [table, { column, keys }] of keysByTable) {
      const rows = await query(`SELECT COUNT(*) AS n FROM ${table} WHERE (${column}, msgId) IN (?)`, [keys]);
      found += Number(rows[0]?.n ?? 0);
    }
    return found;
  }

  private async insertAudio(tx: Transaction, live: PendingMessage[]): Promise<void> {
    for (const m of live) {
      if (m.audio === null) continue;
      const res = await tx.query<{ insertId: number }>(
        'INSERT INTO IMAudio (fromId, toId, path, size, duration, created, data) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [m.msg.from_user_id, m.msg.to_session_id, m.audioUrl ?? '', m.audio.data.length, m.audio.duration, m.createdAt, m.audioUrl === null ? m.audio.data : null],
      );
      m.content = String(res.insertId);
    }
  }

  /**
   * One multi-row INSERT per message table, then the session touches and
   * groups' lastChated: contended rows last, so their locks are held for the
   * shortest time.
   */
  private rowStatements(live: PendingMessage[], plan: TouchPlan | null, now: number): RowStatements {
    const statements: RowStatements['statements'] = [];
    const rowsByTable = new Map<string, unknown[][]>();
    for (const m of live) {
      const c = m.conversation as Conversation;
      const row = m.group
        ? [c.id, m.msg.from_user_id, m.msgId, m.content, m.msg.msg_type, 0, m.createdAt, m.createdAt]
        : [c.id, m.msg.from_user_id, m.msg.to_session_id, m.msgId, m.content, 0, m.msg.msg_type, m.createdAt, m.createdAt];
      const rows = rowsByTable.get(c.table);
      if (rows) rows.push(row);
      else rowsByTable.set(c.table, [row]);
    }
    for (const [table, rows] of rowsByTable) {
      statements.push({
        sql: table.startsWith('IMGroupMessage_')
          ? `INSERT INTO ${table} (groupId, userId, msgId, content, type, status, created, updated) VALUES ?`
          : `INSERT INTO ${table} (relateId, fromId, toId, msgId, content, status, type, created, updated) VALUES ?`,
        values: [rows],
      });
    }
    let updateAt = -1;
    if (plan === null) return { statements, updateAt, results: [] };
    if (plan.update.length > 0) {
      updateAt = statements.length;
      // Joined with the rows as a derived table, not `(userId, peerId, type) IN (...)`: MariaDB
      // plans such a list as one range per tuple, which cost ~6x the CPU for a few hundred rows.
      const keys = plan.update.map(() => 'SELECT ? AS u, ? AS p, ? AS t').join(' UNION ALL ');
      statements.push({
        sql: `UPDATE IMRecentSession s JOIN (${keys}) k ON s.userId = k.u AND s.peerId = k.p AND s.type = k.t SET s.status = 0, s.updated = ?`,
        values: [...plan.update.flatMap((s) => [s.userId, s.peerId, s.type]), now],
      });
    }
    if (plan.upsert.length > 0) {
      statements.push({ sql: UPSERT_SESSIONS, values: [plan.upsert.map((s) => [s.userId, s.peerId, s.type, 0, now, now])] });
    }
    if (plan.groups.length > 0) {
      statements.push({ sql: 'UPDATE IMGroup SET lastChated = ? WHERE id IN (?)', values: [now, plan.groups] });
    }
    return { statements, updateAt, results: [] };
  }

  /** Session rows believed to exist were not found by the UPDATE (deleted by hand): create them in the same transaction. */
  private async recreateMissingSessions(rows: RowStatements, plan: TouchPlan, now: number, tx: Transaction): Promise<void> {
    if (rows.updateAt < 0) return;
    const found = (rows.results[rows.updateAt] as { affectedRows?: number } | undefined)?.affectedRows ?? 0;
    if (found >= plan.update.length) return;
    this.touches.notExisting(plan.update);
    await tx.query(UPSERT_SESSIONS, [plan.update.map((s) => [s.userId, s.peerId, s.type, 0, now, now])]);
  }

  /** After a duplicate msg id: fresh ids, checked against MySQL, for the conversations whose counter was behind. */
  private async reallocateConflicting(blocks: IdBlock[]): Promise<void> {
    const stored = await this.counters.highestStored(blocks.map((b) => b.conversation));
    const behind = blocks.filter((b) => b.high - b.messages.length + 1 <= (stored.get(b.conversation.counterKey) ?? 0));
    await this.assignIds(behind.length > 0 ? behind : blocks, true);
  }

  /** A rolled-back batch gives its ids back where nobody allocated after it, so ids stay dense. */
  private async releaseIds(blocks: IdBlock[]): Promise<void> {
    await this.counters.release(
      blocks.map((b) => ({
        counterKey: b.conversation.counterKey,
        expected: b.high,
        restoreTo: b.high - b.messages.length,
      })),
    );
  }

  /**
   * Unread counters of the receivers, and group counts: one atomic script call
   * on one Redis; one per hash slot in a cluster (a group's count and its
   * sender's copy share the group's hash tag, so they always move together).
   */
  private async bumpCounters(live: readonly CounterSubject[]): Promise<void> {
    if (live.length === 0) return;
    const keys = this.redis.keys;
    /** Per receiver and sender: how many messages. */
    const unread = new Map<string, { key: string; field: string; n: number }>();
    /** Per group message, in order: the group's counter key and the sender's copy. */
    const groupOps: Array<{ count: string; copy: string }> = [];
    for (const m of live) {
      if (m.group) {
        groupOps.push({ count: keys.groupMsgCount(m.to), copy: keys.userGroupCount(m.from, m.to) });
      } else {
        const id = `${m.to}:${m.from}`;
        const entry = unread.get(id);
        if (entry) entry.n++;
        else unread.set(id, { key: keys.unread(m.to), field: String(m.from), n: 1 });
      }
    }
    const unreadOps = [...unread.values()];
    const opKeys = [...unreadOps.map((u) => u.key), ...groupOps.map((g) => g.count)];
    this.redis.assertUp();
    await Promise.all(
      this.redis.slotGroups(opKeys).map((group) => {
        const scriptKeys: string[] = [];
        const keyIndex = new Map<string, number>();
        const indexOf = (key: string) => {
          let i = keyIndex.get(key);
          if (i === undefined) {
            scriptKeys.push(key);
            i = scriptKeys.length;
            keyIndex.set(key, i);
          }
          return i;
        };
        const unreadArgs: Array<string | number> = [];
        const groupArgs: number[] = [];
        for (const i of group) {
          if (i < unreadOps.length) {
            const u = unreadOps[i];
            unreadArgs.push(indexOf(u.key), u.field, u.n);
          } else {
            const g = groupOps[i - unreadOps.length];
            groupArgs.push(indexOf(g.count), indexOf(g.copy));
          }
        }
        const args = [unreadArgs.length / 3, ...unreadArgs, groupArgs.length / 2, ...groupArgs];
        return this.redis.client.ttAfterStore(scriptKeys.length, ...scriptKeys, ...args);
      }),
    );
  }

  private refuse(msg: IM.Message.IMMsgData, why: string): Promise<StoreResult> {
    this.throttle.run(`refused:${why}`, (suppressed) =>
      this.logger.warn(
        { from: msg.from_user_id, to: msg.to_session_id, msgType: msg.msg_type, similarNotLogged: suppressed },
        `message refused: ${why}`,
      ),
    );
    return Promise.resolve({ msgId: 0, flag: PduFlag.BAD_REQUEST });
  }

  private reportFailure(err: unknown, count: number): void {
    if (err instanceof StorageUnavailableError) return; // the gateway logged the outage once
    if (!isStorageError(err)) {
      this.logger.error({ err, messages: count }, 'message store batch failed on an unexpected error');
      return;
    }
    this.throttle.run(`store:${(err as { code?: string }).code ?? (err as Error).message}`, (suppressed) =>
      this.logger.warn(
        { err: (err as Error).message, messages: count, similarNotLogged: suppressed },
        'message store batch failed; its messages were answered with a storage error',
      ),
    );
  }
}

const UPSERT_SESSIONS =
  'INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) VALUES ? ' +
  'ON DUPLICATE KEY UPDATE status = 0, updated = VALUES(updated)';

/** Both sides' single sessions, the sender's group session. */
function sessionsTouchedBy(live: PendingMessage[]): SessionKey[] {
  const sessions: SessionKey[] = [];
  for (const m of live) {
    const from = m.msg.from_user_id;
    const to = m.msg.to_session_id;
    if (m.group) {
      sessions.push({ userId: from, peerId: to, type: SessionType.SESSION_TYPE_GROUP });
    } else {
      sessions.push({ userId: from, peerId: to, type: SessionType.SESSION_TYPE_SINGLE });
      sessions.push({ userId: to, peerId: from, type: SessionType.SESSION_TYPE_SINGLE });
    }
  }
  return sessions;
}
