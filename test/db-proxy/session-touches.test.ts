/**
 * Recent-session rows touched by stored messages, as a db-proxy that has just
 * started sees them: a conversation older than the process is touched with a
 * plain UPDATE (its rows are presumed to exist); rows that are not there after
 * all (deleted by hand, or never made by an original deployment) are made in
 * the same transaction, and a removed session comes back with the next message.
 */
import t from 'tap';
import { IM } from '../../pdu/commands';
import { connectTo, harness, startProxy } from './harness';

const SINGLE = IM.BaseDefine.SessionType.SESSION_TYPE_SINGLE;

t.test('a fresh db-proxy touches the sessions of older conversations, recreating missing rows', async (t) => {
  const h = await harness(t);
  const [ann, ben, cid] = await h.addUsers('ann', 'ben', 'cid');
  t.ok((await h.send(ann, ben, 'first')).msg_id > 0);
  t.ok((await h.send(ann, cid, 'to cid')).msg_id > 0);
  const sessions = async (user: number) =>
    (await h.request(IM.Buddy.IMRecentContactSessionReq, { user_id: user, latest_update_time: 0 }, IM.Buddy.IMRecentContactSessionRsp)).contact_session_list.map((s) => [
      s.session_id,
      s.latest_msg_id,
      Buffer.from(s.latest_msg_data).toString(),
    ]);
  // ann-ben's rows disappear; ann removes her session with cid.
  await h.db.pool.query('DELETE FROM IMRecentSession WHERE (userId = ? AND peerId = ?) OR (userId = ? AND peerId = ?)', [ann, ben, ben, ann]);
  const removed = await h.request(IM.Buddy.IMRemoveSessionReq, { user_id: ann, session_type: SINGLE, session_id: cid }, IM.Buddy.IMRemoveSessionRsp);
  t.equal(removed.result_code, 0);
  t.same(await sessions(ann), [], 'ann has no session left');

  // A db-proxy started now knows none of these rows.
  const fresh = await startProxy(t, h.config());
  const conn = await connectTo(t, fresh.port);
  const send = (from: number, to: number, text: string) =>
    conn.request(
      IM.Message.IMMsgData,
      { from_user_id: from, to_session_id: to, msg_id: 0, create_time: Math.floor(Date.now() / 1000), msg_type: IM.BaseDefine.MsgType.MSG_TYPE_SINGLE_TEXT, msg_data: Buffer.from(text) },
      IM.Message.IMMsgData,
    );
  t.equal((await send(ben, ann, 'second')).msg_id, 2);
  t.equal((await send(cid, ann, 'back')).msg_id, 2);
  const rows = await h.rows('SELECT userId, peerId, status FROM IMRecentSession WHERE type = 1 ORDER BY userId, peerId');
  t.same(
    rows.map((r) => [Number(r.userId), Number(r.peerId), Number(r.status)]),
    [
      [ann, ben, 0],
      [ann, cid, 0],
      [ben, ann, 0],
      [cid, ann, 0],
    ],
    'the missing rows were made, the removed session is active again, nothing doubled',
  );
  t.same((await sessions(ann)).sort(), [[ben, 2, 'second'], [cid, 2, 'back']].sort(), 'ann sees both conversations');
  t.same(await sessions(ben), [[ann, 2, 'second']]);
});
