/**
 * Faults and load: MySQL or Redis going away mid-test (through a TCP relay the
 * test cuts, never the shared servers), a full request queue, unknown commands,
 * malformed bodies, broken framing, out-of-order completion, start-up checks
 * and a graceful stop.
 */
import t from 'tap';
import type { Test } from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import { Writer } from 'protobufjs/minimal';
import { IM, ServiceId, CID } from '../../pdu/commands';
import { PduFlag, encodeFrame } from '../../pdu/frame';
import { encodeHandleAttach } from '../../pdu/attach';
import { RemoteError } from '../../lib/errors';
import { dialInternal } from '../../lib/internal-tls';
import { testIdentity } from '../helpers/tls';
import { sleep, waitFor } from '../helpers/wait';
import { freshDatabase, freshRedis } from '../helpers/storage';
import { addDepartment, addUser } from '../../scripts/db/accounts';
import { startDbProxy } from '../../services/db-proxy/db-proxy';
import type { DbProxyConfig } from '../../services/db-proxy/config';
import { Harness, PASSWORD, TcpCutter, captureLogger, connectTo, harness, proxyConfig, startProxy, testLogger, withPort } from './harness';

async function flagOf(promise: Promise<unknown>): Promise<{ flag: number; reply: unknown }> {
  try {
    const reply = await promise;
    return { flag: 0, reply };
  } catch (err) {
    if (err instanceof RemoteError) return { flag: err.flag, reply: err.reply };
    throw err;
  }
}

/** A db-proxy whose MySQL (or Redis) connections run through a relay the test controls, and two users. */
async function behindRelay(t: Test, store: 'mysql' | 'redis', overrides: Partial<DbProxyConfig> = {}) {
  const db = await freshDatabase(t);
  const redis = await freshRedis(t);
  const relay = await TcpCutter.in(t, store === 'mysql' ? db.url : redis.url);
  const { logger, lines } = captureLogger();
  const urls =
    store === 'mysql'
      ? { mysqlUrl: withPort(db.url, relay.port), redisUrl: redis.url }
      : { mysqlUrl: db.url, redisUrl: withPort(redis.url, relay.port) };
  const proxy = await startProxy(t, proxyConfig({ ...urls, redisKeyPrefix: redis.prefix, ...overrides }), logger);
  const h = new Harness(t);
  Object.assign(h, { db, redis, proxy, conn: await connectTo(t, proxy.port) });
  const depart = await addDepartment(db.pool, 'd');
  const a = await addUser(db.pool, { name: 'ann', password: PASSWORD, departId: depart });
  const b = await addUser(db.pool, { name: 'ben', password: PASSWORD, departId: depart });
  return { h, relay, lines, a, b };
}

/** Sends until a store succeeds (MySQL may be marked down for a moment after a fault); returns its reply. */
async function sendUntilStored(h: Harness, from: number, to: number, text: string): Promise<IM.Message.IMMsgData> {
  let reply: IM.Message.IMMsgData | null = null;
  await waitFor(async () => {
    const r = await flagOf(h.send(from, to, text));
    if (r.flag === 0) reply = r.reply as IM.Message.IMMsgData;
    return reply !== null;
  }, 15_000, `"${text}" to be stored`);
  return reply as unknown as IM.Message.IMMsgData;
}

t.test('MySQL stopped mid-test: error replies, no ack for anything unstored, then recovery with dense ids', async (t) => {
  const { h, relay: cutter, lines, a, b } = await behindRelay(t, 'mysql');
  const proxy = h.proxy;

  t.equal((await h.send(a, b, 'before')).msg_id, 1);
  cutter.cut();

  const failures = await Promise.all([
    flagOf(h.send(a, b, 'during 1')),
    flagOf(h.send(a, b, 'during 2')),
    flagOf(h.request(IM.Message.IMUnreadMsgCntReq, { user_id: b }, IM.Message.IMUnreadMsgCntRsp)),
    flagOf(h.request(IM.Buddy.IMUsersInfoReq, { user_id: a, user_id_list: [a, b] }, IM.Buddy.IMUsersInfoRsp)),
  ]);
  for (const f of failures) t.equal(f.flag, PduFlag.STORAGE_ERROR, 'answered with a storage error');
  t.equal((failures[0].reply as IM.Message.IMMsgData).msg_id, 0, 'a failed store carries msg_id 0');
  t.equal((failures[2].reply as IM.Message.IMUnreadMsgCntRsp).total_cnt, 0);
  t.equal(proxy.port > 0, true, 'the process is still up');
  t.ok(lines.some((l) => /MySQL unavailable/.test(String(l.msg))), 'the outage is logged');
  t.ok(lines.filter((l) => /MySQL unavailable/.test(String(l.msg))).length === 1, 'once, not per request');

  cutter.restore();
  let reply: IM.Message.IMMsgData | null = null;
  await waitFor(
    async () => {
      const r = await flagOf(h.send(a, b, 'after'));
      if (r.flag === 0) reply = r.reply as IM.Message.IMMsgData;
      return r.flag === 0;
    },
    10_000,
    'the db-proxy to store again',
  );
  t.equal(reply!.msg_id, 2, 'failed stores gave their ids back: ids stay dense');
  t.ok(lines.some((l) => /MySQL available again/.test(String(l.msg))));
  const rows = await h.allMessages();
  t.same(
    rows.map((r) => [r.msgId, r.content]),
    [
      [1, 'before'],
      [2, 'after'],
    ],
    'only acknowledged messages are stored',
  );
  t.same(await h.redis.redis.hgetall(h.key(`unread_${b}`)), { [a]: '2' }, 'unread counts only stored messages');
});

t.test('Redis down mid-test: error replies, then recovery; counters re-verified after the reconnection', async (t) => {
  const { h, relay: cutter, lines, a, b } = await behindRelay(t, 'redis');
  const redis = h.redis;
  for (let i = 1; i <= 3; i++) t.equal((await h.send(a, b, `m${i}`)).msg_id, i);
  const [rel] = await h.rows('SELECT id FROM IMRelationShip');

  cutter.cut();
  await waitFor(() => lines.some((l) => /Redis unavailable/.test(String(l.msg))), 5000, 'the outage to be noticed');
  const failed = await flagOf(h.send(a, b, 'during'));
  t.equal(failed.flag, PduFlag.STORAGE_ERROR);
  t.equal((failed.reply as IM.Message.IMMsgData).msg_id, 0);
  const validate = await flagOf(h.request(IM.Server.IMValidateReq, { user_name: 'ann', password: 'x' }, IM.Server.IMValidateRsp));
  t.equal(validate.flag, PduFlag.STORAGE_ERROR, 'login needs the failure counter in Redis');

  // As if Redis restarted and lost the counter while we were cut off.
  await redis.redis.del(redis.prefix + `msg_id_${rel.id}`);
  cutter.restore();
  await waitFor(() => lines.some((l) => /Redis available again/.test(String(l.msg))), 10_000, 'the reconnection');
  t.equal((await h.send(a, b, 'after')).msg_id, 4, 'the lost counter was re-seeded from MySQL');
  t.notOk(
    lines.some((l) => /counter was behind/.test(String(l.msg))),
    're-seeded on reconnection, before any duplicate msg id was tried',
  );
  t.equal(await redis.redis.get(redis.prefix + `msg_id_${rel.id}`), '4');
});

t.test('a db-proxy starts while MySQL and Redis are unreachable, answers with storage errors, and recovers', async (t) => {
  const db = await freshDatabase(t);
  const redis = await freshRedis(t);
  const mysqlCutter = await TcpCutter.in(t, db.url);
  const redisCutter = await TcpCutter.in(t, redis.url);
  mysqlCutter.cut();
  redisCutter.cut();
  const proxy = await startProxy(
    t,
    proxyConfig({ mysqlUrl: withPort(db.url, mysqlCutter.port), redisUrl: withPort(redis.url, redisCutter.port), redisKeyPrefix: redis.prefix }),
  );
  const conn = await connectTo(t, proxy.port);
  const departments = () => flagOf(conn.request(IM.Buddy.IMDepartmentReq, { user_id: 1, latest_update_time: 0 }, IM.Buddy.IMDepartmentRsp));
  const unread = () => flagOf(conn.request(IM.Message.IMUnreadMsgCntReq, { user_id: 1 }, IM.Message.IMUnreadMsgCntRsp));
  t.equal((await departments()).flag, PduFlag.STORAGE_ERROR);
  t.equal((await unread()).flag, PduFlag.STORAGE_ERROR);
  mysqlCutter.restore();
  await waitFor(async () => (await departments()).flag === 0, 10_000, 'MySQL recovery');
  t.equal((await unread()).flag, PduFlag.STORAGE_ERROR, 'still no Redis');
  redisCutter.restore();
  await waitFor(async () => (await unread()).flag === 0, 10_000, 'Redis recovery');
});

t.test('start-up refuses a database without the message tables, naming them', async (t) => {
  const db = await freshDatabase(t);
  const redis = await freshRedis(t);
  await t.rejects(
    startDbProxy(proxyConfig({ mysqlUrl: db.url, redisUrl: redis.url, redisKeyPrefix: redis.prefix, messageTableCount: 9 }), testLogger()),
    /IMMessage_8/,
  );
  // A rule that spans keys is checked when the config is loaded, before anything starts.
  t.throws(() => proxyConfig({ mysqlUrl: db.url, redisUrl: redis.url, aesKey: 'short' }), /key "aesKey" must be exactly 32/);
});

t.test('a store transaction chosen as a deadlock victim is retried: the message is acked once and stored once', async (t) => {
  const { logger, lines } = captureLogger();
  const h = await harness(t, {}, logger);
  const [a, b] = await h.addUsers('ann', 'ben');
  const first = await h.send(a, b, 'first');
  t.equal(first.msg_id, 1);
  const [{ id: relateId }] = await h.rows<{ id: number }>('SELECT id FROM IMRelationShip');
  const shard = `IMMessage_${relateId % 8}`;
  // Session rows are touched at most once a second: the next message must come in a later second to lock them.
  const sentAt = Math.floor(Date.now() / 1000);
  await waitFor(() => Math.floor(Date.now() / 1000) > sentAt, 3000, 'the next second');

  // Another client's transaction: big (so InnoDB rolls back the store, the smaller one) and holding ann's session row.
  const other = await h.db.pool.getConnection();
  t.teardown(() => other.release());
  await other.query('BEGIN');
  await other.query('INSERT INTO IMGroupMessage_0 (groupId, userId, msgId, content, type, status, created, updated) VALUES ?', [
    Array.from({ length: 200 }, (_, i) => [999, a, i + 1, 'ballast', 17, 0, sentAt, sentAt]),
  ]);
  await other.query('SELECT * FROM IMRecentSession WHERE userId = ? AND peerId = ? FOR UPDATE', [a, b]);

  const second = h.send(a, b, 'second');
  // The store has inserted its message row (the statement before) and now waits for the session row.
  await waitFor(
    async () =>
      (
        await h.rows("SELECT 1 FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE 'UPDATE IMRecentSession %'", [h.db.name])
      ).length > 0,
    10_000,
    'the store transaction to wait for the session row lock',
  );
  // Waiting for the store's new message row closes the cycle: a deadlock.
  const [seen] = await other.query<RowDataPacket[]>(`SELECT * FROM ${shard} WHERE relateId = ? AND msgId = 2 FOR UPDATE`, [relateId]);
  t.equal(seen.length, 0, 'the store was the victim: its row was rolled back');
  await other.query('ROLLBACK');

  const reply = await second;
  t.equal(reply.msg_id, 2, 'acked with the next msg id after the retry');
  const stored = await h.rows<{ msgId: number; content: string }>(`SELECT msgId, content FROM ${shard} WHERE relateId = ? ORDER BY msgId`, [relateId]);
  t.same(
    stored.map((r) => [r.msgId, r.content]),
    [
      [1, 'first'],
      [2, 'second'],
    ],
    'stored exactly once',
  );
  t.ok(
    lines.some((l) => l.errno === 1213 && /deadlock victim; retrying/.test(String(l.msg))),
    'the retry is logged with the MySQL error number',
  );
});

t.test('a lock held longer than the storage timeout ends inside MySQL: a clean failure, ids given back', async (t) => {
  const { logger, lines } = captureLogger();
  const h = await harness(t, { storageTimeoutMs: 2000 }, logger);
  const [a, b] = await h.addUsers('ann', 'ben');
  t.equal((await h.send(a, b, 'one')).msg_id, 1);
  const sentAt = Math.floor(Date.now() / 1000);
  await waitFor(() => Math.floor(Date.now() / 1000) > sentAt, 3000, 'the next second');
  const other = await h.db.pool.getConnection();
  t.teardown(() => other.release());
  await other.query('BEGIN');
  await other.query('SELECT * FROM IMRecentSession WHERE userId = ? AND peerId = ? FOR UPDATE', [a, b]);
  const blocked = await flagOf(h.send(a, b, 'blocked'));
  await other.query('ROLLBACK');
  t.equal(blocked.flag, PduFlag.STORAGE_ERROR, 'answered with a storage error');
  t.ok(lines.some((l) => /Lock wait timeout/.test(String(l.err))), 'MySQL ended the wait (error 1205)');
  t.notOk(lines.some((l) => /COMMIT outcome was unknown/.test(String(l.msg))), 'not our own timeout, so the outcome was never in doubt');
  t.equal((await h.send(a, b, 'two')).msg_id, 2, 'the id was given back');
});

t.test('COMMIT ran but its answer was lost: the db-proxy finds the rows and acks the message once', async (t) => {
  const { h, relay, lines, a, b } = await behindRelay(t, 'mysql', { storageTimeoutMs: 1000 });
  t.equal((await h.send(a, b, 'one')).msg_id, 1);
  relay.holdAtCommit('replies');
  const reply = await h.send(a, b, 'two');
  t.equal(reply.msg_id, 2, 'acked with its msg id although COMMIT never answered');
  t.ok(
    lines.some((l) => l.outcome === 'stored' && /COMMIT outcome was unknown/.test(String(l.msg))),
    'the unknown outcome and how it was settled are logged',
  );
  relay.cut(); // drop the held connections
  relay.restore();
  t.equal((await sendUntilStored(h, a, b, 'three')).msg_id, 3, 'the next message follows on');
  t.same(
    (await h.allMessages()).map((m) => [m.msgId, m.content]),
    [
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
    ],
    'each stored exactly once',
  );
  const unread = await h.request(IM.Message.IMUnreadMsgCntReq, { user_id: b }, IM.Message.IMUnreadMsgCntRsp);
  t.equal(unread.total_cnt, 3, 'the settled message counts as unread too');
});

t.test('a COMMIT that never reached MySQL: the db-proxy finds no rows, answers failed, and gives the id back', async (t) => {
  const { h, relay, lines, a, b } = await behindRelay(t, 'mysql', { storageTimeoutMs: 1000 });
  t.equal((await h.send(a, b, 'one')).msg_id, 1);
  relay.holdAtCommit('requests');
  const failed = await flagOf(h.send(a, b, 'lost in transit'));
  t.equal(failed.flag, PduFlag.STORAGE_ERROR, 'answered with a storage error');
  t.equal((failed.reply as IM.Message.IMMsgData).msg_id, 0);
  t.ok(lines.some((l) => l.outcome === 'not stored' && /COMMIT outcome was unknown/.test(String(l.msg))), 'settled as not stored');
  relay.cut();
  relay.restore();
  t.equal((await sendUntilStored(h, a, b, 'resent')).msg_id, 2, 'the id was given back: ids stay dense');
  t.same(
    (await h.allMessages()).map((m) => [m.msgId, m.content]),
    [
      [1, 'one'],
      [2, 'resent'],
    ],
  );
});

t.test('a full queue answers BUSY (msg_id 0 for stores) instead of growing', async (t) => {
  const h = await harness(t, { maxQueuedRequests: 3, maxQueuedPerConnection: 2 });
  const [a, b] = await h.addUsers('ann', 'ben');
  // All written in one turn, so they arrive together: two are taken, the rest refused at once.
  const results = await Promise.all([
    ...Array.from({ length: 10 }, () => flagOf(h.request(IM.Message.IMUnreadMsgCntReq, { user_id: a }, IM.Message.IMUnreadMsgCntRsp))),
    ...Array.from({ length: 5 }, (_, i) => flagOf(h.send(a, b, `m${i}`))),
  ]);
  const busy = results.filter((r) => r.flag === PduFlag.BUSY);
  const done = results.filter((r) => r.flag === 0);
  t.ok(busy.length >= 10, `most were refused (${busy.length} of 15)`);
  t.ok(done.length >= 1, 'the first ones were served');
  t.equal(busy.length + done.length, 15, 'every request got exactly one reply');
  for (const r of results.slice(10)) {
    if (r.flag === PduFlag.BUSY) t.equal((r.reply as IM.Message.IMMsgData).msg_id, 0);
  }
  const stored = (await h.allMessages()).length;
  t.equal(stored, results.slice(10).filter((r) => r.flag === 0).length, 'exactly the acknowledged messages are stored');
  const later = await h.request(IM.Message.IMUnreadMsgCntReq, { user_id: b }, IM.Message.IMUnreadMsgCntRsp);
  t.equal(later.total_cnt, stored, 'once the queue drained, requests are served again');
});

t.test('unknown commands are logged and dropped; the connection stays up', async (t) => {
  const { logger, lines } = captureLogger();
  const h = await harness(t, {}, logger);
  h.conn.sendFrame(encodeFrame(ServiceId.OTHER, 0x0799, 5, Buffer.alloc(0)));
  h.conn.sendFrame(encodeFrame(ServiceId.LOGIN, CID.LOGIN_REQ_USERLOGIN, 6, Buffer.alloc(0)));
  const reply = await h.request(IM.Buddy.IMDepartmentReq, { user_id: 1, latest_update_time: 0 }, IM.Buddy.IMDepartmentRsp);
  t.equal(reply.user_id, 1, 'later requests are still served');
  t.ok(h.conn.isOpen);
  await waitFor(() => lines.filter((l) => /unknown command/.test(String(l.msg))).length === 2, 2000, 'two log lines');
  const logged = lines.filter((l) => /unknown command/.test(String(l.msg)));
  t.same(
    logged.map((l) => l.cmd),
    ['0x0799', '0x0103'],
  );
  t.equal(logged[0].level, 50, 'logged as an error');
  t.equal(h.conn.pushes.length, 0, 'no reply to an unknown command');
});

t.test('a malformed body gets the matching reply flagged BAD_REQUEST, attach_data echoed', async (t) => {
  const h = await harness(t);
  const attach = encodeHandleAttach(77);
  // An IMMsgData holding only attach_data (field 20, length-delimited): every required field is missing.
  const body = Writer.create().uint32((20 << 3) | 2).bytes(attach).finish();
  const pdu = await h.conn.requestFrame(ServiceId.MSG, CID.MSG_DATA, body, CID.MSG_DATA);
  t.equal(pdu.flag, PduFlag.BAD_REQUEST);
  const reply = IM.Message.IMMsgData.decode(pdu.body);
  t.equal(reply.msg_id, 0);
  t.same(Buffer.from(reply.attach_data), attach, 'attach_data read from the undecodable body');

  const garbage = await h.conn.requestFrame(ServiceId.OTHER, CID.OTHER_VALIDATE_REQ, Buffer.from([0xff, 0xff, 0xff]), CID.OTHER_VALIDATE_RSP);
  t.equal(garbage.flag, PduFlag.BAD_REQUEST);
  t.match(IM.Server.IMValidateRsp.decode(garbage.body), { result_code: 2, user_name: '' }, 'validate: 2 = unparsable');

  // Broken framing (length below the header size) from an authenticated peer closes that one connection only.
  const raw = await dialInternal(testIdentity('msg-server'), '127.0.0.1', h.proxy.port, 'db-proxy');
  const closed = new Promise((r) => raw.once('close', r));
  raw.write(Buffer.from([0, 0, 0, 5, 0, 1, 0, 0, 0, 7, 0, 1, 0, 1, 0, 0]));
  await closed;
  t.ok(h.conn.isOpen, 'other connections are unaffected');
  const still = await h.request(IM.Buddy.IMDepartmentReq, { user_id: 1, latest_update_time: 0 }, IM.Buddy.IMDepartmentRsp);
  t.equal(still.user_id, 1);
});

t.test('requests from one connection complete out of order, matched by seq_num', async (t) => {
  const h = await harness(t);
  const [a] = await h.addUsers('ann');
  // Hold IMUser row a, so changing its signature waits...
  const blocker = await h.db.pool.getConnection();
  await blocker.query('BEGIN');
  await blocker.query('SELECT id FROM IMUser WHERE id = ? FOR UPDATE', [a]);
  const order: string[] = [];
  const slow = h
    .request(IM.Buddy.IMChangeSignInfoReq, { user_id: a, sign_info: 'later' }, IM.Buddy.IMChangeSignInfoRsp)
    .then((r) => {
      order.push('sign info');
      return r;
    });
  // ...while a request sent after it is answered first.
  const fast = await h.request(IM.Buddy.IMUsersInfoReq, { user_id: a, user_id_list: [a] }, IM.Buddy.IMUsersInfoRsp);
  order.push('users info');
  t.equal(fast.user_info_list[0].sign_info, '', 'read before the change committed');
  await blocker.query('COMMIT');
  blocker.release();
  t.equal((await slow).result_code, 0);
  t.same(order, ['users info', 'sign info']);
});

t.test('stop(): msg servers get CID_OTHER_STOP_RECV_PACKET, work in flight is finished', async (t) => {
  const db = await freshDatabase(t);
  const redis = await freshRedis(t);
  const proxy = await startDbProxy(proxyConfig({ mysqlUrl: db.url, redisUrl: redis.url, redisKeyPrefix: redis.prefix }), testLogger());
  const conn = await connectTo(t, proxy.port);
  const depart = await addDepartment(db.pool, 'd');
  const a = await addUser(db.pool, { name: 'ann', password: PASSWORD, departId: depart });
  // A request that is surely in the db-proxy, held there by a row lock.
  const blocker = await db.pool.getConnection();
  await blocker.query('BEGIN');
  await blocker.query('SELECT id FROM IMUser WHERE id = ? FOR UPDATE', [a]);
  const inFlight = conn.request(IM.Buddy.IMChangeSignInfoReq, { user_id: a, sign_info: 'bye' }, IM.Buddy.IMChangeSignInfoRsp);
  await sleep(200);
  const stopped = proxy.stop('test');
  await waitFor(() => conn.pushes.some((p) => p.commandId === CID.OTHER_STOP_RECV_PACKET), 2000, 'the stop notice');
  const stop = conn.pushes.find((p) => p.commandId === CID.OTHER_STOP_RECV_PACKET);
  t.equal(IM.Server.IMStopReceivePacket.decode(stop!.body).result, 0);
  t.ok(conn.isOpen, 'the link stays open while work is in flight');
  await blocker.query('COMMIT');
  blocker.release();
  t.equal((await inFlight).result_code, 0, 'the request in flight was answered');
  await stopped;
  await waitFor(() => !conn.isOpen, 3000, 'the connection to close');
});

t.test('msg-server links get heartbeats when quiet and are closed when silent too long', async (t) => {
  const h = await harness(t, { heartbeatIntervalMs: 100, linkTimeoutMs: 800 });
  const raw = await dialInternal(testIdentity('msg-server'), '127.0.0.1', h.proxy.port, 'db-proxy');
  const received: Buffer[] = [];
  raw.on('data', (chunk: Buffer) => received.push(chunk));
  const closed = new Promise<number>((resolve) => raw.once('close', () => resolve(Date.now())));
  const openedAt = Date.now();
  await waitFor(() => Buffer.concat(received).length >= 16, 2000, 'a heartbeat');
  const first = Buffer.concat(received).subarray(0, 16);
  t.equal(first.readUInt32BE(0), 16, 'an empty PDU');
  t.equal(first.readUInt16BE(10), CID.OTHER_HEARTBEAT);
  const closedAt = await closed;
  t.ok(closedAt - openedAt >= 700, 'closed only after the link timeout (we never sent anything)');
});

t.test('store tokens: a retried store is never stored twice', async (t) => {
  const h = await harness(t, { storageTimeoutMs: 500 });
  const [a, b] = await h.addUsers('ann', 'ben');
  const store = (text: string, token: string) =>
    h.request(
      IM.Message.IMMsgData,
      { from_user_id: a, to_session_id: b, msg_id: 0, create_time: 1, msg_type: 1, msg_data: Buffer.from(text), attach_data: encodeHandleAttach(7), store_token: token },
      IM.Message.IMMsgData,
    );
  t.equal((await store('first', 'msg-server-x-1')).msg_id, 1);
  // The msg server did not hear the answer and asks again with the same token.
  t.equal((await store('first', 'msg-server-x-1')).msg_id, 1, 'answered with the first attempt\'s msg id');
  t.same((await h.allMessages()).map((m) => m.content), ['first'], 'stored once');
  t.equal(h.proxy.storeStats.retriesAlreadyStored, 1);

  // A token whose first attempt recorded an id but never wrote its row (it died before COMMIT).
  await h.redis.redis.set(h.key('tt_store_msg-server-x-2'), `${Date.now() - 60_000}|IMMessage_1|relateId|1|77`);
  const again = await store('second', 'msg-server-x-2');
  t.equal(again.msg_id, 2, 'stored afresh, with the next id');
  t.equal(h.proxy.storeStats.retriesStoredAgain, 1);
  // A token recorded with a table name that is not one of ours is refused, not used in SQL.
  await h.redis.redis.set(h.key('tt_store_msg-server-x-3'), `${Date.now() - 60_000}|IMUser; DROP TABLE IMUser|relateId|1|1`);
  const bad = await flagOf(store('third', 'msg-server-x-3'));
  t.equal(bad.flag, PduFlag.STORAGE_ERROR);
  t.same((await h.allMessages()).map((m) => m.content), ['first', 'second']);
  // A token whose first attempt failed before COMMIT and gave its id back, which another message holds now.
  await h.redis.redis.set(h.key('tt_store_msg-server-x-4'), `${Date.now() - 60_000}|IMMessage_1|relateId|1|1`);
  const fourth = await store('fourth', 'msg-server-x-4');
  t.equal(fourth.msg_id, 3, 'stored afresh: the row with msg id 1 is "first", not this message');
  t.same((await h.allMessages()).map((m) => m.content), ['first', 'second', 'fourth']);
  t.equal(h.proxy.storeStats.retriesStoredAgain, 2);
});

t.test('Redis lost between COMMIT and the unread counts: the message is acked once, its counts follow when Redis is back', async (t) => {
  const db = await freshDatabase(t);
  const redis = await freshRedis(t);
  const mysqlRelay = await TcpCutter.in(t, db.url);
  const redisRelay = await TcpCutter.in(t, redis.url);
  const { logger, lines } = captureLogger();
  const proxy = await startProxy(
    t,
    proxyConfig({ mysqlUrl: withPort(db.url, mysqlRelay.port), redisUrl: withPort(redis.url, redisRelay.port), redisKeyPrefix: redis.prefix, storageTimeoutMs: 1000 }),
    logger,
  );
  const h = new Harness(t);
  Object.assign(h, { db, redis, proxy, conn: await connectTo(t, proxy.port) });
  const depart = await addDepartment(db.pool, 'd');
  const a = await addUser(db.pool, { name: 'ann', password: PASSWORD, departId: depart });
  const b = await addUser(db.pool, { name: 'ben', password: PASSWORD, departId: depart });
  t.equal((await h.send(a, b, 'one')).msg_id, 1);

  // MySQL commits "two" but its answer is held; meanwhile Redis goes away.
  mysqlRelay.holdAtCommit('replies');
  const pending = h.send(a, b, 'two');
  await waitFor(async () => (await h.allMessages()).length === 2, 10_000, 'the second message to be committed');
  redisRelay.cut();
  mysqlRelay.release('replies');
  const reply = await pending;
  t.equal(reply.msg_id, 2, 'acked: it is stored, whatever Redis does now');
  t.ok(
    lines.some((l) => /unread counts are updated once Redis answers again/.test(String(l.msg))),
    'the deferred counter update is logged',
  );
  t.equal(proxy.storeStats.retriesAlreadyStored + proxy.storeStats.retriesStoredAgain, 0, 'nothing had to be retried');

  redisRelay.restore();
  await waitFor(async () => {
    const r = await flagOf(h.request(IM.Message.IMUnreadMsgCntReq, { user_id: b }, IM.Message.IMUnreadMsgCntRsp));
    return r.flag === 0 && (r.reply as IM.Message.IMUnreadMsgCntRsp).total_cnt === 2;
  }, 15_000, 'both messages to count as unread once Redis is back');
  t.same(
    (await h.allMessages()).map((m) => [m.msgId, m.content]),
    [
      [1, 'one'],
      [2, 'two'],
    ],
    'each stored exactly once',
  );
});
