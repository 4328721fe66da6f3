/**
 * Reading back: history pages (msg_id_begin), messages by id, the latest msg
 * id, unread counts with each conversation's newest message, recent sessions
 * changed since a time, removing a session, and audio stored in IMAudio.
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { decryptMessageText, encryptMessageText } from '../../lib/message-crypto';
import { RemoteError } from '../../lib/errors';
import { harness } from './harness';

const { MsgType, SessionType } = IM.BaseDefine;
const SINGLE = SessionType.SESSION_TYPE_SINGLE;
const texts = (list: IM.BaseDefine.IMsgInfo[]) => list.map((m) => Buffer.from(m.msg_data).toString());

t.test('message list pages by msg_id_begin, newest first; by id; latest id', async (t) => {
  const h = await harness(t);
  const [a, b, c] = await h.addUsers('ann', 'ben', 'cid');
  for (let i = 1; i <= 7; i++) await h.send(i % 2 ? a : b, i % 2 ? b : a, `m${i}`);
  const page = (user: number, peer: number, begin: number, count: number) =>
    h.request(
      IM.Message.IMGetMsgListReq,
      { user_id: user, session_type: SINGLE, session_id: peer, msg_id_begin: begin, msg_cnt: count },
      IM.Message.IMGetMsgListRsp,
    );
  const first = await page(a, b, 0, 3);
  t.same(first.msg_list.map((m) => m.msg_id), [7, 6, 5]);
  t.same(texts(first.msg_list), ['m7', 'm6', 'm5']);
  t.match(first.msg_list[0], { from_session_id: a, msg_type: MsgType.MSG_TYPE_SINGLE_TEXT });
  t.equal(first.msg_id_begin, 0, 'msg_id_begin echoed');
  const second = await page(b, a, 4, 3);
  t.same(second.msg_list.map((m) => m.msg_id), [4, 3, 2], 'msgId <= begin; same conversation seen from the peer');
  t.same((await page(a, b, 1, 10)).msg_list.map((m) => m.msg_id), [1]);
  t.same((await page(a, c, 0, 10)).msg_list, [], 'no conversation, no messages (and no relation created)');
  t.equal((await h.rows('SELECT id FROM IMRelationShip')).length, 1);

  const byId = await h.request(
    IM.Message.IMGetMsgByIdReq,
    { user_id: a, session_type: SINGLE, session_id: b, msg_id_list: [2, 5, 99, 5] },
    IM.Message.IMGetMsgByIdRsp,
  );
  t.same(byId.msg_list.map((m) => m.msg_id), [5, 2]);
  t.same(texts(byId.msg_list), ['m5', 'm2']);

  const latest = await h.request(
    IM.Message.IMGetLatestMsgIdReq,
    { user_id: b, session_type: SINGLE, session_id: a },
    IM.Message.IMGetLatestMsgIdRsp,
  );
  t.match(latest, { user_id: b, session_type: SINGLE, session_id: a, latest_msg_id: 7 });
  const none = await h.request(IM.Message.IMGetLatestMsgIdReq, { user_id: a, session_type: SINGLE, session_id: c }, IM.Message.IMGetLatestMsgIdRsp);
  t.equal(none.latest_msg_id, 0);

  const bad = await h
    .request(IM.Message.IMGetMsgListReq, { user_id: a, session_type: 9 as SessionTypeValue, session_id: b, msg_id_begin: 0, msg_cnt: 5 }, IM.Message.IMGetMsgListRsp)
    .catch((e: unknown) => e);
  t.ok(bad instanceof RemoteError && bad.flag === 3, 'an invalid session type is answered as a bad request (the original stays silent)');
});

type SessionTypeValue = IM.BaseDefine.SessionType;

t.test('unread counts list each conversation with its newest message; read ack clears one', async (t) => {
  const h = await harness(t);
  const [a, b, c] = await h.addUsers('ann', 'ben', 'cid');
  await h.send(b, a, 'from ben 1');
  await h.send(b, a, 'from ben 2');
  await h.send(c, a, 'from cid');
  await h.send(a, b, 'reply to ben');
  const unread = await h.request(IM.Message.IMUnreadMsgCntReq, { user_id: a }, IM.Message.IMUnreadMsgCntRsp);
  t.equal(unread.total_cnt, 3);
  const bySession = new Map(unread.unreadinfo_list.map((u) => [u.session_id, u]));
  t.match(bySession.get(b), {
    session_type: SINGLE,
    unread_cnt: 2,
    latest_msg_id: 3,
    latest_msg_type: MsgType.MSG_TYPE_SINGLE_TEXT,
    latest_msg_from_user_id: b,
  });
  t.equal(Buffer.from(bySession.get(b)!.latest_msg_data).toString(), 'reply to ben', 'the newest message of the conversation');
  t.match(bySession.get(c), { unread_cnt: 1, latest_msg_id: 1 });

  h.conn.send(IM.Message.IMMsgDataReadAck, { user_id: a, session_id: b, msg_id: 2, session_type: SINGLE });
  const after = await h.request(IM.Message.IMUnreadMsgCntReq, { user_id: a }, IM.Message.IMUnreadMsgCntRsp);
  t.equal(after.total_cnt, 1, 'same connection, so the ack was read first; it cleared the whole session');
  t.same(after.unreadinfo_list.map((u) => u.session_id), [c]);
});

t.test('recent sessions changed since a time; removing one', async (t) => {
  const h = await harness(t);
  const [a, b, c, d] = await h.addUsers('ann', 'ben', 'cid', 'dot');
  await h.send(a, b, 'to ben');
  await h.send(c, a, 'from cid');
  await h.db.pool.query('UPDATE IMRecentSession SET updated = 1000 WHERE userId = ? AND peerId = ?', [a, b]);
  await h.db.pool.query('UPDATE IMRecentSession SET updated = 2000 WHERE userId = ? AND peerId = ?', [a, c]);
  // A session row without any message is not listed.
  await h.db.pool.query('INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) VALUES (?, ?, 1, 0, 3000, 3000)', [a, d]);

  const recent = (since: number) =>
    h.request(IM.Buddy.IMRecentContactSessionReq, { user_id: a, latest_update_time: since }, IM.Buddy.IMRecentContactSessionRsp);
  const all = await recent(0);
  t.same(all.contact_session_list.map((s) => [s.session_id, s.updated_time]), [
    [c, 2000],
    [b, 1000],
  ]);
  t.match(all.contact_session_list[0], {
    session_type: SINGLE,
    session_status: 0,
    latest_msg_id: 1,
    latest_msg_type: MsgType.MSG_TYPE_SINGLE_TEXT,
    latest_msg_from_user_id: c,
  });
  t.equal(Buffer.from(all.contact_session_list[1].latest_msg_data).toString(), 'to ben');
  t.equal(all.contact_session_list[1].latest_msg_from_user_id, b, 'single sessions name the peer, as the original');
  t.same((await recent(1500)).contact_session_list.map((s) => s.session_id), [c], 'only sessions updated after T');

  const removed = await h.request(
    IM.Buddy.IMRemoveSessionReq,
    { user_id: a, session_type: SINGLE, session_id: c },
    IM.Buddy.IMRemoveSessionRsp,
  );
  t.match(removed, { user_id: a, result_code: 0, session_type: SINGLE, session_id: c });
  t.same(await h.rows('SELECT status FROM IMRecentSession WHERE userId = ? AND peerId = ?', [a, c]), [{ status: 1 }]);
  t.equal(await h.redis.redis.hget(h.key(`unread_${a}`), String(c)), null, 'its unread count is gone');
  t.same((await recent(0)).contact_session_list.map((s) => s.session_id), [b]);
  const again = await h.request(IM.Buddy.IMRemoveSessionReq, { user_id: a, session_type: SINGLE, session_id: c }, IM.Buddy.IMRemoveSessionRsp);
  t.equal(again.result_code, 1, 'no active session to remove');

  await h.send(c, a, 'cid again');
  t.same(
    (await recent(0)).contact_session_list.map((s) => s.session_id).sort(),
    [b, c].sort(),
    'a new message brings the removed session back',
  );
});

t.test('audio: bytes in IMAudio, id in the message row, rebuilt when read; placeholder as latest message', async (t) => {
  const h = await harness(t);
  const [a, b] = await h.addUsers('ann', 'ben');
  const clip = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
  const payload = Buffer.concat([Buffer.from([0, 0, 0, 9]), clip]);
  const stored = await h.send(a, b, payload, MsgType.MSG_TYPE_SINGLE_AUDIO);
  t.equal(stored.msg_id, 1);
  t.same(Buffer.from(stored.msg_data), payload, 'the reply carries the message as sent');

  const [audio] = await h.rows('SELECT id, fromId, toId, path, size, duration, data FROM IMAudio');
  t.match(audio, { fromId: a, toId: b, path: '', size: clip.length, duration: 9 });
  t.same(audio.data, clip);
  const [row] = await h.allMessages();
  t.equal(row.content, String(audio.id), 'the message row holds the IMAudio id');

  const list = await h.request(
    IM.Message.IMGetMsgListReq,
    { user_id: b, session_type: SINGLE, session_id: a, msg_id_begin: 0, msg_cnt: 5 },
    IM.Message.IMGetMsgListRsp,
  );
  t.same(Buffer.from(list.msg_list[0].msg_data), payload, 'duration + bytes again');
  t.equal(list.msg_list[0].msg_type, MsgType.MSG_TYPE_SINGLE_AUDIO);

  const unread = await h.request(IM.Message.IMUnreadMsgCntReq, { user_id: b }, IM.Message.IMUnreadMsgCntRsp);
  const latest = Buffer.from(unread.unreadinfo_list[0].latest_msg_data);
  t.same(latest, encryptMessageText('[语音]'), 'the encrypted "[语音]" placeholder');
  t.equal(decryptMessageText(latest)?.toString('utf8'), '[语音]');
});
