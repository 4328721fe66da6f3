/**
 * `npm run bench:provision [-- --users N --messages M]`: how long `npm run
 * replay -- --provision` takes for a large capture. Builds the records of a
 * capture whose replies show a directory of N users in 20 departments, 20
 * groups of 50 members, M messages of history spread over conversations of
 * the first user, and that user's unread counts and recent sessions; reads
 * what it shows (capture-facts.ts) and provisions it into a fresh database
 * (`tt_bench_provision`, Redis prefix `tt_bench_provision:`, both removed
 * afterwards) on the local MariaDB and Redis (or MYSQL_URL / REDIS_URL).
 * Prints one JSON line.
 */
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import Redis from 'ioredis';
import { IM, type BodyOf, type MessageClass } from '../pdu/commands';
import { encodePdu } from '../pdu/encode';
import { readFrame } from '../pdu/frame';
import { silentLogger } from '../lib/log';
import { parseMysqlUrl } from '../lib/mysql-url';
import { pduRecord, type CaptureRecord } from '../tools/capture/format';
import { readCaptureFacts } from '../tools/replay/capture-facts';
import { provisionTarget } from '../tools/replay/provision';
import { TargetStorage } from '../tools/replay/target-storage';
import { dbProxyConfig } from '../services/db-proxy/config';
import { migrate } from './db/migrate';
import { provisionStorage } from './infra/provision';
import { deleteKeysWithPrefix } from './infra/redis';

const DATABASE = 'tt_bench_provision';
const REDIS_PREFIX = 'tt_bench_provision:';
const DEPARTMENTS = 20;
const GROUPS = 20;
const GROUP_SIZE = 50;
const { SessionType, MsgType } = IM.BaseDefine;

/** The records of one client connection of user 1 whose replies show all of it. */
function buildCapture(users: number, messages: number): CaptureRecord[] {
  const records: CaptureRecord[] = [{ type: 'open', conn: 1, time: new Date(0).toISOString(), t: 0, client: '10.0.0.2:50000', server: '10.0.0.5:8000' }];
  let seq = 0;
  const add = <T extends MessageClass>(dir: 'c2s' | 's2c', type: T, body: BodyOf<T>, sameSeq = false) => {
    if (!sameSeq) seq++;
    const frame = encodePdu(type, body, seq);
    records.push(pduRecord(1, dir, readFrame(frame, 0, frame.length), 0, records.length));
  };
  const info = (id: number) => ({
    user_id: id,
    user_gender: id % 3,
    user_nick_name: `nick ${id}`,
    avatar_url: `http://img/${id}.png`,
    department_id: 1 + (id % DEPARTMENTS),
    email: `u${id}@example.invalid`,
    user_real_name: `u${id}`,
    user_tel: String(13800000000 + id),
    user_domain: `u${id}`,
    status: 0,
    sign_info: `sign ${id}`,
  });
  add('c2s', IM.Login.IMLoginReq, { user_name: 'u1', password: 'x', online_status: 1, client_type: 1, client_version: 'bench' });
  add('s2c', IM.Login.IMLoginRes, { server_time: 1, result_code: 0, user_info: info(1) }, true);
  add('c2s', IM.Buddy.IMDepartmentReq, { user_id: 1, latest_update_time: 0 });
  const dept_list = Array.from({ length: DEPARTMENTS }, (_, i) => ({ dept_id: i + 1, priority: i, dept_name: `department ${i + 1}`, parent_dept_id: 0, dept_status: 0 }));
  add('s2c', IM.Buddy.IMDepartmentRsp, { user_id: 1, latest_update_time: 1, dept_list }, true);
  add('c2s', IM.Buddy.IMAllUserReq, { user_id: 1, latest_update_time: 0 });
  add('s2c', IM.Buddy.IMAllUserRsp, { user_id: 1, latest_update_time: 1, user_list: Array.from({ length: users }, (_, i) => info(i + 1)) }, true);
  const groupIds = Array.from({ length: GROUPS }, (_, i) => 1000 + i);
  add('c2s', IM.Group.IMGroupInfoListReq, { user_id: 1, group_version_list: groupIds.map((group_id) => ({ group_id, version: 0 })) });
  const group_info_list = groupIds.map((group_id, g) => ({
    group_id,
    version: 1,
    group_name: `group ${g}`,
    group_avatar: '',
    group_creator_id: 1,
    group_type: 1,
    shield_status: 0,
    group_member_list: [1, ...Array.from({ length: GROUP_SIZE - 1 }, (_, m) => 2 + ((g * GROUP_SIZE + m) % (users - 1)))],
  }));
  add('s2c', IM.Group.IMGroupInfoListRsp, { user_id: 1, group_info_list }, true);
  // History: 10 messages per conversation with users 2, 3, ...
  const peers = Math.max(1, Math.ceil(messages / 10));
  for (let p = 0; p < peers; p++) {
    const peer = 2 + (p % (users - 1));
    const count = Math.min(10, messages - p * 10);
    add('c2s', IM.Message.IMGetMsgListReq, { user_id: 1, session_type: SessionType.SESSION_TYPE_SINGLE, session_id: peer, msg_id_begin: 0, msg_cnt: 10 });
    const msg_list = Array.from({ length: count }, (_, k) => ({
      msg_id: count - k,
      from_session_id: k % 2 === 0 ? peer : 1,
      create_time: 1,
      msg_type: MsgType.MSG_TYPE_SINGLE_TEXT,
      msg_data: Buffer.from(`message ${count - k} with ${peer}`),
    }));
    add('s2c', IM.Message.IMGetMsgListRsp, { user_id: 1, session_type: SessionType.SESSION_TYPE_SINGLE, session_id: peer, msg_id_begin: 0, msg_list }, true);
  }
  const sessions = Array.from({ length: Math.min(peers, 100) }, (_, p) => 2 + (p % (users - 1)));
  add('c2s', IM.Message.IMUnreadMsgCntReq, { user_id: 1 });
  const unreadinfo_list = sessions.map((peer) => ({
    session_id: peer,
    session_type: SessionType.SESSION_TYPE_SINGLE,
    unread_cnt: 2,
    latest_msg_id: 10,
    latest_msg_data: Buffer.from(`message 10 with ${peer}`),
    latest_msg_type: MsgType.MSG_TYPE_SINGLE_TEXT,
    latest_msg_from_user_id: peer,
  }));
  add('s2c', IM.Message.IMUnreadMsgCntRsp, { user_id: 1, total_cnt: 2 * sessions.length, unreadinfo_list }, true);
  add('c2s', IM.Buddy.IMRecentContactSessionReq, { user_id: 1, latest_update_time: 0 });
  const contact_session_list = sessions.map((peer, i) => ({
    session_id: peer,
    session_type: SessionType.SESSION_TYPE_SINGLE,
    session_status: 0,
    updated_time: 1_795_000_000 - i,
    latest_msg_id: 10,
    latest_msg_data: Buffer.from(`message 10 with ${peer}`),
    latest_msg_type: MsgType.MSG_TYPE_SINGLE_TEXT,
    latest_msg_from_user_id: peer,
  }));
  add('s2c', IM.Buddy.IMRecentContactSessionRsp, { user_id: 1, contact_session_list }, true);
  return records;
}

async function wipe(mysqlUrl: string, redisUrl: string): Promise<void> {
  const admin = await mysql.createConnection({ ...parseMysqlUrl(mysqlUrl), database: undefined });
  await admin.query(`DROP DATABASE IF EXISTS \`${DATABASE}\``);
  await admin.end();
  const redis = new Redis(redisUrl, { lazyConnect: true });
  await redis.connect();
  await deleteKeysWithPrefix(redis, REDIS_PREFIX);
  redis.disconnect();
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { users: { type: 'string' }, messages: { type: 'string' } }, strict: true });
  const users = Number(values.users ?? 5000);
  const messages = Number(values.messages ?? 2000);
  if (!Number.isInteger(users) || users < GROUP_SIZE || !Number.isInteger(messages) || messages < 1) {
    throw new Error(`usage: npm run bench:provision [-- --users N --messages M]  (N at least ${GROUP_SIZE}, M at least 1)`);
  }
  const storage = await provisionStorage({ database: DATABASE, log: (line) => process.stderr.write(`[bench] ${line}\n`) });
  try {
    await wipe(storage.mysqlUrl, storage.redisUrl);
    await migrate(storage.mysqlUrl);
    const records = buildCapture(users, messages);
    const readStarted = process.hrtime.bigint();
    const facts = readCaptureFacts(records);
    const readSeconds = Number(process.hrtime.bigint() - readStarted) / 1e9;
    const config = dbProxyConfig.load({ env: {}, overrides: { mysqlUrl: storage.mysqlUrl, redisUrl: storage.redisUrl, redisKeyPrefix: REDIS_PREFIX } });
    const target = await TargetStorage.open(config, silentLogger());
    let report;
    try {
      report = await provisionTarget(facts, target, { password: 'bench-password' });
    } finally {
      await target.close();
    }
    const seconds = report.durationMs / 1000;
    process.stdout.write(
      JSON.stringify({
        capture_records: records.length,
        read_facts_seconds: Math.round(readSeconds * 1000) / 1000,
        users: report.users.created,
        departments: report.departments.created + report.departments.existing,
        groups: report.groups.created,
        group_members: GROUPS * GROUP_SIZE,
        messages: report.messages,
        recent_sessions_users: report.recentSessions,
        unread_users: report.unreadCounters,
        provision_seconds: Math.round(seconds * 100) / 100,
        // Every message must have come out with its recorded msg id: each that did not is a note.
        notes: report.notes.length,
      }) + '\n',
    );
  } finally {
    await wipe(storage.mysqlUrl, storage.redisUrl).catch(() => undefined);
    await storage.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-provision: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
