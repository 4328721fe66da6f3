/**
 * `--provision`: before a replay, the target deployment is given the state the
 * capture shows (capture-facts.ts), so that recorded answers can be answered
 * again the same way:
 *
 *   1. departments (matched by name and parent) and users (matched by login
 *      name; created or updated to the recorded profile, password --password),
 *      through the accounts tool's code (scripts/db/accounts.ts); the users'
 *      failed-login counters are cleared;
 *   2. groups with their members, created through the db-proxy's own group
 *      handler (as a msg server would ask for it), with the recorded version;
 *   3. the messages the recorded replies show from before the capture (history,
 *      the newest message of unread counts and recent sessions), stored through
 *      the db-proxy's message store with the recorded msg ids; each
 *      conversation's msg-id counter then stands where the capture's own
 *      messages start, so the replay's messages get their recorded ids too;
 *   4. each user's recent sessions as their first recorded reply lists them
 *      (recorded update times and order), and unread counters as their first
 *      recorded unread reply shows them, less what the capture itself sent.
 *
 * A database that already holds messages is refused unless `force`: the
 * capture's msg ids and counts would not come out as recorded.
 */
import { randomBytes } from 'node:crypto';
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import { IM } from '../../pdu/commands';
import { TTError, errorMessage } from '../../lib/errors';
import { clientPasswordDigest } from '../../lib/password';
import { defaultDepartment, upsertDepartment, upsertUser, type UserProfile } from '../../scripts/db/accounts';
import { joinAudio } from '../../services/db-proxy/message-content';
import type { RedisCommand } from '../../services/db-proxy/redis-gateway';
import { Relations } from '../../services/db-proxy/relations';
import { conversationKey, type CaptureFacts, type RecordedMessage } from './capture-facts';
import { credentialsFor, type IdPairs, type ReplayCredentials } from './rewrite';
import type { TargetStorage } from './target-storage';

const { GroupModifyType, SessionType } = IM.BaseDefine;

export interface ProvisionOptions {
  /** Password of every provisioned user (plain text). */
  password: string;
  /** Provision even when the database already holds messages. */
  force?: boolean;
  log?: (line: string) => void;
}

/** What was provisioned, with the ids each recorded department, user and group has in the target. */
export interface ProvisionReport extends IdPairs {
  departments: { created: number; existing: number };
  users: { created: number; existing: number; placeholders: number };
  groups: { created: number; existing: number };
  messages: number;
  /** Users whose recent sessions / unread counters were set as recorded. */
  recentSessions: number;
  unreadCounters: number;
  /**
   * Recorded user ids whose earlier state now matches the recording: for them,
   * differences in unread counts, recent sessions and history are real mismatches.
   */
  recreated: { unread: number[]; recent: number[]; history: boolean };
  notes: string[];
  durationMs: number;
}

/** The target cannot be provisioned as asked (it holds messages, without --force). */
export class ProvisionRefusedError extends TTError {
  constructor(message: string) {
    super('TT_ERR_PROVISION_REFUSED', message);
  }
}

/**
 * How long to let a group-session sync pass of the target's db-proxy finish
 * after groups' lastChated was put back (see recreateRecentSessions).
 */
const SYNC_PASS_SETTLE_MS = 500;
/** Users created or updated per transaction. */
const USERS_PER_TRANSACTION = 500;

const isGroupSession = (type: number) => type === SessionType.SESSION_TYPE_GROUP;

/** A conversation of the target: where its msg-id counter is, what it has stored. */
interface LiveConversation {
  counterKey: string;
  /** Single conversations. */
  relationId?: number;
  highestStored(): Promise<number>;
}

class Provisioner {
  private readonly users = new Map<number, number>();
  private readonly groups = new Map<number, number>();
  private readonly departments = new Map<number, number>();
  private readonly report: ProvisionReport = {
    departments: { created: 0, existing: 0 },
    users: { created: 0, existing: 0, placeholders: 0 },
    groups: { created: 0, existing: 0 },
    messages: 0,
    recentSessions: 0,
    unreadCounters: 0,
    userIds: [],
    groupIds: [],
    departmentIds: [],
    recreated: { unread: [], recent: [], history: true },
    notes: [],
    durationMs: 0,
  };
  private readonly log: (line: string) => void;

  constructor(
    private readonly facts: CaptureFacts,
    private readonly storage: TargetStorage,
    private readonly options: ProvisionOptions,
  ) {
    this.log = options.log ?? (() => {});
  }

  private get ctx() {
    return this.storage.ctx;
  }

  private get pool() {
    return this.storage.ctx.mysql.pool;
  }

  private note(line: string): void {
    this.report.notes.push(line);
    this.log(line);
  }

  async run(): Promise<ProvisionReport> {
    const started = Date.now();
    this.report.notes.push(...this.facts.notes);
    await this.refuseIfMessages();
    await this.provisionDepartments();
    await this.provisionUsers();
    await this.provisionGroups();
    const groupsWithMessages = await this.provisionMessages();
    await this.recreateRecentSessions(groupsWithMessages);
    await this.recreateUnread();
    this.report.userIds = [...this.users];
    this.report.groupIds = [...this.groups];
    this.report.departmentIds = [...this.departments];
    this.report.durationMs = Date.now() - started;
    return this.report;
  }

  private async refuseIfMessages(): Promise<void> {
    const tables: string[] = [];
    for (let i = 0; i < this.ctx.tables.count; i++) tables.push(this.ctx.tables.single(i), this.ctx.tables.group(i));
    const holding: string[] = [];
    for (const table of tables) {
      const rows = await this.ctx.databases.forTable(table).primary.query<RowDataPacket[]>(`SELECT 1 FROM ${table} LIMIT 1`);
      if (rows.length > 0) holding.push(table);
    }
    if (holding.length === 0) {
      await this.refuseIfCountersLeftOver();
      return;
    }
    const where = `${holding.slice(0, 3).join(', ')}${holding.length > 3 ? ', ...' : ''}`;
    if (!this.options.force) {
      throw new ProvisionRefusedError(
        `the target database already holds messages (${where}): the capture's msg ids, unread counts and history would not come out as ` +
          'recorded. Provision an empty database, or give --force to provision anyway',
      );
    }
    this.note(`the target already held messages (${where}); provisioned anyway (--force): msg ids and counts may differ from the recording`);
  }

  /**
   * An empty database whose Redis prefix still holds msg-id counters: the Redis
   * state of another database (a database made anew, the Redis prefix kept).
   * Its group and unread counters would leak into the replay.
   */
  private async refuseIfCountersLeftOver(): Promise<void> {
    const prefix = this.ctx.config.redisKeyPrefix;
    const literal = prefix.replace(/[*?[\]\\{}]/g, '\\$&');
    const keys = this.ctx.redis.keys;
    // Counter names with the id as a wildcard ("msg_id_*", "group_msg_id_{*}" in a cluster).
    for (const pattern of [keys.msgId(0), keys.groupMsgId(0)].map((k) => `${literal}${k.replace(/[{}]/g, '\\$&').replace(/0(\\})?$/, '*$1')}`)) {
      let found: string | null = null;
      await this.ctx.redis.scan(pattern, async (page) => {
        found = page[0];
        return false;
      });
      if (found !== null) {
        const message =
          `the target database holds no messages, but its Redis (key prefix "${prefix}") holds msg-id counters (${found}): ` +
          'left over from another database? Use a fresh Redis key prefix with a fresh database';
        if (!this.options.force) throw new ProvisionRefusedError(`${message}, or give --force to provision anyway`);
        this.note(`${message}; provisioned anyway (--force)`);
        return;
      }
    }
  }

  // ---- 1. departments and users ----

  private async provisionDepartments(): Promise<void> {
    const recorded = this.facts.departments;
    // Parents first.
    const pending = [...recorded.values()].sort((a, b) => a.id - b.id);
    while (pending.length > 0) {
      const i = pending.findIndex((d) => d.parentId === 0 || this.departments.has(d.parentId) || !recorded.has(d.parentId));
      const [department] = pending.splice(i >= 0 ? i : 0, 1);
      const parentId = department.parentId === 0 ? 0 : await this.departmentFor(department.parentId);
      const result = await upsertDepartment(
        this.pool,
        { name: department.name, parentId, priority: department.priority, deleted: department.deleted },
        this.facts.departUpdated.get(department.id),
      );
      this.departments.set(department.id, result.id);
      this.report.departments[result.created ? 'created' : 'existing']++;
    }
  }

  /**
   * The live department of a recorded id. One whose name the capture never
   * showed keeps the department the target gives `keep` (an existing user's),
   * or gets a stand-in.
   */
  private async departmentFor(recordedId: number, keep?: number): Promise<number> {
    const known = this.departments.get(recordedId);
    if (known !== undefined) return known;
    let live = keep;
    if (live === undefined) {
      const name = `department ${recordedId} (not in the capture)`;
      live = (await upsertDepartment(this.pool, { name, parentId: 0, priority: 0, deleted: false })).id;
      this.note(`department ${recordedId} appears in the capture without its name: created as "${name}"`);
    }
    this.departments.set(recordedId, live);
    return live;
  }

  private async provisionUsers(): Promise<void> {
    const users = [...this.facts.users.values()].sort((a, b) => a.id - b.id);
    for (let start = 0; start < users.length; start += USERS_PER_TRANSACTION) {
      const chunk = users.slice(start, start + USERS_PER_TRANSACTION);
      const present = await this.ctx.mysql.query<RowDataPacket[]>('SELECT name, departId FROM IMUser WHERE name IN (?)', [chunk.map((u) => u.name)]);
      const departmentNow = new Map(present.map((r) => [String(r.name), Number(r.departId)]));
      const profiles: UserProfile[] = [];
      for (const user of chunk) {
        profiles.push({
          name: user.name,
          nick: user.nick,
          sex: user.gender,
          departId: await this.departmentFor(user.departId, departmentNow.get(user.name)),
          email: user.email,
          phone: user.phone,
          domain: user.domain,
          avatar: user.avatar,
          signInfo: user.signInfo,
          status: user.status,
        });
      }
      // One transaction per chunk: one log flush for many users (a directory may hold thousands).
      await this.inTransaction(async (db) => {
        for (const [i, user] of chunk.entries()) {
          const result = await upsertUser(db, profiles[i], this.options.password, this.facts.userUpdated.get(user.id));
          this.users.set(user.id, result.id);
          this.report.users[result.created ? 'created' : 'existing']++;
        }
      });
      // Accounts of the replay: earlier runs' recorded failed logins must not add up to a lock.
      await Promise.all(chunk.map((user) => this.ctx.loginFailures.clear(user.name)));
    }
    let standInDepartment: number | undefined;
    for (const id of [...this.facts.usersWithoutProfile].sort((a, b) => a - b)) {
      // An enabled account (the recording shows messages to and from it, and only enabled
      // accounts may have those) with a password nobody knows, so nobody logs in as it.
      const name = `replay_user_${id}`;
      standInDepartment ??= (await defaultDepartment(this.pool)).id;
      const result = await upsertUser(
        this.pool,
        { name, nick: name, sex: 0, departId: standInDepartment, email: '', phone: '', domain: name, avatar: '', signInfo: '', status: 0 },
        randomBytes(16).toString('hex'),
      );
      this.users.set(id, result.id);
      this.report.users.placeholders++;
      this.note(`user ${id} appears in the capture (group member, peer or sender) without a profile: created as ${name} (no one knows its password)`);
    }
  }

  private async inTransaction(work: (db: PoolConnection) => Promise<void>): Promise<void> {
    const db = await this.pool.getConnection();
    try {
      await db.beginTransaction();
      try {
        await work(db);
        await db.commit();
      } catch (err) {
        await db.rollback().catch(() => undefined);
        throw err;
      }
    } finally {
      db.release();
    }
  }

  // ---- 2. groups ----

  private async provisionGroups(): Promise<void> {
    for (const group of [...this.facts.groups.values()].sort((a, b) => a.id - b.id)) {
      const creator = this.users.get(group.creatorId);
      const members = group.members.map((m) => this.users.get(m)).filter((m): m is number => m !== undefined);
      if (creator === undefined) {
        this.note(`group ${group.id} (${group.name}): its creator ${group.creatorId} is unknown: not provisioned`);
        continue;
      }
      const existing = await this.ctx.mysql.query<RowDataPacket[]>(
        'SELECT id FROM IMGroup WHERE name = ? AND creator = ? AND type = ? AND status = 0 ORDER BY id LIMIT 1',
        [group.name, creator, group.type],
      );
      let groupId: number;
      if (existing.length > 0) {
        groupId = Number(existing[0].id);
        const current = (await this.ctx.members.members(groupId)) ?? new Map<number, number>();
        await this.changeMembers(creator, groupId, GroupModifyType.GROUP_MODIFY_TYPE_ADD, members.filter((m) => !current.has(m)));
        await this.changeMembers(creator, groupId, GroupModifyType.GROUP_MODIFY_TYPE_DEL, [...current.keys()].filter((m) => !members.includes(m)));
        this.report.groups.existing++;
      } else {
        const { body, flag } = await this.storage.request(
          IM.Group.IMGroupCreateReq,
          { user_id: creator, group_type: group.type, group_name: group.name, group_avatar: group.avatar, member_id_list: members },
          IM.Group.IMGroupCreateRsp,
        );
        if (flag !== 0 || body.result_code !== 0 || !body.group_id) {
          this.note(`group ${group.id} (${group.name}): the db-proxy refused to create it (result ${body.result_code}): not provisioned`);
          continue;
        }
        groupId = body.group_id;
        // The db-proxy always makes the creator a member; the recording may show otherwise.
        if (!members.includes(creator)) await this.changeMembers(creator, groupId, GroupModifyType.GROUP_MODIFY_TYPE_DEL, [creator]);
        this.report.groups.created++;
      }
      await this.ctx.mysql.query('UPDATE IMGroup SET version = ? WHERE id = ?', [group.version, groupId]);
      this.groups.set(group.id, groupId);
    }
  }

  private async changeMembers(requester: number, groupId: number, changeType: number, ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    const { body, flag } = await this.storage.request(
      IM.Group.IMGroupChangeMemberReq,
      { user_id: requester, change_type: changeType, group_id: groupId, member_id_list: ids },
      IM.Group.IMGroupChangeMemberRsp,
    );
    if (flag !== 0 || body.result_code !== 0) this.note(`group ${groupId}: member change refused by the db-proxy (result ${body.result_code})`);
  }

  // ---- 3. messages ----

  /**
   * Returns the live ids of groups that got messages. A conversation's
   * messages with consecutive recorded ids form a run: its counter is placed
   * once, before its first message. The next run of every conversation is
   * stored in one round, all at once, so that the message store writes them in
   * one transaction (a round stays within its batch size, so one conversation's
   * messages are never split over batches that could take ids out of order).
   */
  private async provisionMessages(): Promise<Set<number>> {
    const groupsWithMessages = new Set<number>();
    const runs = new Map<string, Array<Array<{ m: RecordedMessage; from: number; to: number }>>>();
    const maxRun = this.ctx.config.storeBatchMaxMessages;
    for (const m of this.facts.messages) {
      const from = this.users.get(m.fromId);
      const to = m.group ? this.groups.get(m.toId) : this.users.get(m.toId);
      if (from === undefined || to === undefined) {
        this.note(`message ${m.msgId} of ${conversationKey(m.group, m.fromId, m.toId)}: its sender or receiver is not provisioned: left out`);
        this.report.recreated.history = false;
        continue;
      }
      const key = conversationKey(m.group, m.fromId, m.toId);
      const list = runs.get(key) ?? [];
      const last = list[list.length - 1];
      if (last && last.length < maxRun && last[last.length - 1].m.msgId + 1 === m.msgId) last.push({ m, from, to });
      else list.push([{ m, from, to }]);
      runs.set(key, list);
    }
    while (runs.size > 0) {
      const round: Array<{ m: RecordedMessage; from: number; to: number }> = [];
      for (const [key, list] of runs) {
        if (round.length > 0 && round.length + list[0].length > maxRun) break;
        const run = list.shift() as typeof round;
        if (list.length === 0) runs.delete(key);
        round.push(...(await this.prepareRun(run)));
      }
      const results = await Promise.all(round.map(({ m, from, to }) => this.storeMessage(m, from, to)));
      results.forEach((stored, i) => {
        if (!stored) return;
        this.report.messages++;
        if (round[i].m.group) groupsWithMessages.add(round[i].to);
      });
    }
    // Messages the replay will send start where the capture's did.
    for (const [conversation, first] of this.facts.firstCaptureMsgId) {
      const [kind, a, b] = conversation.split(':');
      const group = kind === 'group';
      if (group && this.facts.groupsCreatedInCapture.has(Number(a))) continue;
      const live = await this.conversation(group, group ? undefined : this.users.get(Number(a)), group ? this.groups.get(Number(a)) : this.users.get(Number(b)));
      if (live !== null && !(await this.placeCounter(live, first - 1))) {
        this.note(`${conversation} already has messages past msg id ${first - 1}: the replay's messages there get other ids than recorded`);
      }
    }
    return groupsWithMessages;
  }

  /** A live conversation (single: `a` and `b` are users; group: `b` is the group), its relation created if need be. */
  private async conversation(group: boolean, a: number | undefined, b: number | undefined): Promise<LiveConversation | null> {
    if (b === undefined) return null;
    if (group) return { counterKey: this.ctx.redis.keys.groupMsgId(b), highestStored: () => this.ctx.reader.latestIdOfGroup(b) };
    if (a === undefined) return null;
    const relation = (await this.ctx.relations.getOrCreateMany([[a, b]])).get(Relations.key(a, b));
    if (relation === undefined) return null;
    return { counterKey: this.ctx.redis.keys.msgId(relation), relationId: relation, highestStored: () => this.ctx.reader.latestIdOfRelation(relation) };
  }

  /**
   * Sets the conversation's msg-id counter, so the next message gets `value + 1`.
   * Any value at or above the highest stored msg id is safe (the db-proxy only
   * needs the counter not behind MySQL), lower ones are refused: false.
   */
  private async placeCounter(conversation: LiveConversation, value: number): Promise<boolean> {
    if ((await conversation.highestStored()) > value) return false;
    await this.ctx.redis.client.set(conversation.counterKey, String(value));
    return true;
  }

  /**
   * A run's messages that the target does not hold yet, its counter placed
   * before the first of them (a run broken by messages already there is
   * stored from its first missing one; later ids may then differ, as noted).
   */
  private async prepareRun(
    run: Array<{ m: RecordedMessage; from: number; to: number }>,
  ): Promise<Array<{ m: RecordedMessage; from: number; to: number }>> {
    const { m: first, from, to } = run[0];
    const conversation = (await this.conversation(first.group, from, to)) as LiveConversation;
    const ids = run.map((r) => r.m.msgId);
    const existing =
      conversation.relationId === undefined
        ? await this.ctx.reader.byIdsOfGroup(to, ids, 0)
        : await this.ctx.reader.byIdsOfRelation(conversation.relationId, ids);
    const held = new Map(existing.map((e) => [Number(e.msg_id), Buffer.from(e.msg_data as Uint8Array).toString('base64')]));
    const missing = run.filter(({ m }) => {
      const data = held.get(m.msgId);
      if (data !== undefined && data !== m.data) this.note(`message ${m.msgId} of ${conversationKey(m.group, m.fromId, m.toId)}: the target holds another message with that id: kept`);
      return data === undefined;
    });
    if (missing.length > 0) await this.placeCounter(conversation, missing[0].m.msgId - 1);
    return missing;
  }

  /** One message through the db-proxy's store; true when stored (with its recorded msg id, or a note). */
  private async storeMessage(m: RecordedMessage, from: number, to: number): Promise<boolean> {
    const where = `message ${m.msgId} of ${conversationKey(m.group, m.fromId, m.toId)}`;
    // Audio seen only as a session's newest message comes without its bytes: one silent byte stands in.
    const audio = m.type === IM.BaseDefine.MsgType.MSG_TYPE_SINGLE_AUDIO || m.type === IM.BaseDefine.MsgType.MSG_TYPE_GROUP_AUDIO;
    const data = audio && m.summaryOnly ? joinAudio(0, Buffer.alloc(1)) : Buffer.from(m.data, 'base64');
    let stored;
    try {
      stored = await this.storage.request(
        IM.Message.IMMsgData,
        { from_user_id: from, to_session_id: to, msg_id: 0, create_time: 0, msg_type: m.type, msg_data: data },
        IM.Message.IMMsgData,
      );
    } catch (err) {
      this.note(`${where}: not stored (${errorMessage(err)})`);
      this.report.recreated.history = false;
      return false;
    }
    if (stored.flag !== 0 || stored.body.msg_id === 0) {
      this.note(`${where}: the db-proxy refused to store it${m.group ? ' (is its sender still a member?)' : ''}`);
      this.report.recreated.history = false;
      return false;
    }
    if (stored.body.msg_id !== m.msgId) {
      this.note(`${where}: stored with msg id ${stored.body.msg_id} (the id was taken)`);
      this.report.recreated.history = false;
    }
    return true;
  }

  // ---- 4. recent sessions and unread counters ----

  /**
   * Each user's first recorded recent-session reply, as it was: the sessions
   * with their recorded update times, in the recorded order (ties in a second
   * are ordered by row id, so rows are written bottom up). A full list (since 0)
   * replaces the user's sessions.
   *
   * Stored group messages set their groups' lastChated to now, and the target
   * db-proxy's background sync would then move members' group sessions to now:
   * lastChated is put back to the recorded time first, and a sync pass that may
   * have started before that is given time to end.
   */
  private async recreateRecentSessions(groupsWithMessages: Set<number>): Promise<void> {
    if (groupsWithMessages.size > 0) {
      const lastChated = new Map<number, number>();
      for (const r of this.facts.recent) {
        for (const s of r.sessions) {
          const group = isGroupSession(s.sessionType) ? this.groups.get(s.sessionId) : undefined;
          if (group !== undefined) lastChated.set(group, Math.max(lastChated.get(group) ?? 0, s.updated));
        }
      }
      for (const group of groupsWithMessages) {
        await this.ctx.mysql.query('UPDATE IMGroup SET lastChated = ? WHERE id = ?', [lastChated.get(group) ?? 0, group]);
      }
      await new Promise((resolve) => setTimeout(resolve, SYNC_PASS_SETTLE_MS));
    }
    for (const recent of this.facts.recent) {
      const userId = this.users.get(recent.userId);
      if (userId === undefined) continue;
      const rows: Array<[number, number, number, number, number, number]> = [];
      let complete = true;
      for (const s of recent.sessions) {
        const peer = isGroupSession(s.sessionType) ? this.groups.get(s.sessionId) : this.users.get(s.sessionId);
        if (peer === undefined) {
          complete = false;
          continue;
        }
        rows.push([userId, peer, s.sessionType, 0, s.updated, s.updated]);
      }
      rows.reverse();
      await this.ctx.mysql.transaction(async (tx) => {
        if (recent.since === 0) await tx.query('DELETE FROM IMRecentSession WHERE userId = ?', [userId]);
        else await tx.query('UPDATE IMRecentSession SET updated = LEAST(updated, ?) WHERE userId = ?', [recent.since, userId]);
        for (const row of rows) {
          await tx.query(
            'INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) VALUES (?) ON DUPLICATE KEY UPDATE status = 0, updated = VALUES(updated)',
            [row],
          );
        }
      });
      this.report.recentSessions++;
      if (complete) this.report.recreated.recent.push(recent.userId);
      else this.note(`recent sessions of user ${recent.userId}: some peers are not provisioned`);
    }
  }

  /**
   * Unread counters as each user's first unread reply showed them before the
   * capture: single ones in unread_<user>; a group's as the group's message count
   * minus the user's copy of it (raised where a user had more unread than the
   * group has stored messages).
   */
  private async recreateUnread(): Promise<void> {
    const redis = this.ctx.redis.client;
    const wanted = new Map<number, Map<number, number>>();
    const groupNeeds = new Map<number, number>();
    for (const unread of this.facts.unread) {
      const userId = this.users.get(unread.userId);
      if (userId === undefined) continue;
      let complete = unread.certain;
      const singles: Record<string, string> = {};
      const groups = new Map<number, number>();
      for (const s of unread.sessions) {
        const peer = isGroupSession(s.sessionType) ? this.groups.get(s.sessionId) : this.users.get(s.sessionId);
        if (peer === undefined) {
          complete = false;
          continue;
        }
        if (!isGroupSession(s.sessionType)) {
          if (s.count > 0) singles[String(peer)] = String(s.count);
          continue;
        }
        groups.set(peer, s.count);
        groupNeeds.set(peer, Math.max(groupNeeds.get(peer) ?? 0, s.count));
      }
      const unreadKey = this.ctx.redis.keys.unread(userId);
      await this.ctx.redis.writeTogether([['del', unreadKey], ...(Object.keys(singles).length > 0 ? [['hset', unreadKey, ...Object.entries(singles).flat()] as RedisCommand] : [])]);
      wanted.set(userId, groups);
      this.report.unreadCounters++;
      if (complete) this.report.recreated.unread.push(unread.userId);
      else this.note(`unread counts of user ${unread.userId} before the capture could not be worked out exactly: they are marked "depends on earlier state"`);
    }
    const groupCount = new Map<number, number>();
    for (const [groupId, need] of groupNeeds) {
      const count = Number((await redis.hget(this.ctx.redis.keys.groupMsgCount(groupId), 'count')) ?? 0);
      groupCount.set(groupId, Math.max(count, need));
      if (need > count) await redis.hset(this.ctx.redis.keys.groupMsgCount(groupId), 'count', String(need));
    }
    for (const [userId, groups] of wanted) {
      for (const groupId of (await this.ctx.unread.activeGroupsOf([userId])).get(userId) ?? []) {
        const count = groupCount.get(groupId) ?? Number((await redis.hget(this.ctx.redis.keys.groupMsgCount(groupId), 'count')) ?? 0);
        await redis.hset(this.ctx.redis.keys.userGroupCount(userId, groupId), 'count', String(count - (groups.get(groupId) ?? 0)));
      }
    }
  }
}

/**
 * Before anything is provisioned or sent: recorded logins that succeeded and
 * would fail against the provisioned accounts (they were recorded with another
 * password than `password`, and no --as gives the right one). Replaying them
 * would stop the replay at the first; one line per login, with the fix.
 */
export function loginsThatWouldFail(facts: CaptureFacts, password: string, as: readonly ReplayCredentials[]): string[] {
  const provisioned = new Set([...facts.users.values()].map((u) => u.name));
  const digest = clientPasswordDigest(password);
  const out: string[] = [];
  const told = new Set<string>();
  for (const login of facts.logins) {
    if (login.outcome !== 'succeeded' || told.has(login.userName)) continue;
    const credentials = credentialsFor(login.userName, as);
    const user = credentials?.user ?? login.userName;
    const sent = credentials ? clientPasswordDigest(credentials.password) : login.digest;
    if (!provisioned.has(user) || sent === digest) continue;
    told.add(login.userName);
    const where = login.line !== undefined ? ` (capture line ${login.line})` : '';
    out.push(
      credentials
        ? `the login of ${login.userName}${where} is replayed as ${user} with another password than --password`
        : `the login of ${login.userName}${where} was recorded with another password than --password: add --as ${login.userName}=${login.userName}:<the --password value>`,
    );
  }
  return out;
}

export function provisionTarget(facts: CaptureFacts, storage: TargetStorage, options: ProvisionOptions): Promise<ProvisionReport> {
  return new Provisioner(facts, storage, options).run();
}
