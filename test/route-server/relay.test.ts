/**
 * Relays through the route server: the seven cross-server commands reach every
 * other msg server and never the origin, 0x0215 reaches every msg server
 * including the origin, and what arrives is the sent PDU byte for byte (header
 * included), without the route server decoding the body.
 */
import t from 'tap';
import { CID, IM, ServiceId } from '../../pdu/commands';
import { encodeFrame } from '../../pdu/frame';
import { frameOf } from './fake-msg-server';
import { connectFakes, settle, startRoute } from './route-fixture';

const { SessionType, MsgType, ClientType } = IM.BaseDefine;

/** One real PDU per relayed command, with header fields a re-encoding would lose (version 6, reserved '0', odd seq). */
function unusualHeader(frame: Buffer, seq: number): Buffer {
  const copy = Buffer.from(frame);
  copy.writeUInt16BE(6, 4);
  copy.writeUInt16BE(seq, 12);
  copy.writeUInt16BE(0x0030, 14);
  return copy;
}

const RELAYED_TO_OTHERS: Array<[string, Buffer]> = [
  [
    'CID_MSG_DATA',
    frameOf(IM.Message.IMMsgData, {
      from_user_id: 10,
      to_session_id: 20,
      msg_id: 3,
      create_time: 1_700_000_000,
      msg_type: MsgType.MSG_TYPE_SINGLE_TEXT,
      msg_data: Buffer.from('hello over there'),
      attach_data: Buffer.from([0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0]),
    }),
  ],
  ['CID_SWITCH_P2P_CMD', frameOf(IM.SwitchService.IMP2PCmdMsg, { from_user_id: 10, to_user_id: 20, cmd_msg_data: '{"typing":1}' })],
  [
    'CID_MSG_READ_NOTIFY',
    frameOf(IM.Message.IMMsgDataReadNotify, { user_id: 10, session_id: 20, msg_id: 3, session_type: SessionType.SESSION_TYPE_SINGLE }),
  ],
  ['CID_OTHER_SERVER_KICK_USER', frameOf(IM.Server.IMServerKickUser, { user_id: 10, client_type: ClientType.CLIENT_TYPE_MAC, reason: 2 })],
  [
    'CID_GROUP_CHANGE_MEMBER_NOTIFY',
    frameOf(IM.Group.IMGroupChangeMemberNotify, {
      user_id: 10,
      change_type: IM.BaseDefine.GroupModifyType.GROUP_MODIFY_TYPE_ADD,
      group_id: 77,
      cur_user_id_list: [10, 20, 30],
      chg_user_id_list: [30],
    }),
  ],
  [
    'CID_FILE_NOTIFY',
    frameOf(IM.File.IMFileNotify, {
      from_user_id: 10,
      to_user_id: 20,
      file_name: 'a.txt',
      file_size: 5,
      task_id: 'task-1',
      ip_addr_list: [{ ip: '127.0.0.1', port: 8600 }],
      trans_mode: IM.BaseDefine.TransferFileType.FILE_TYPE_OFFLINE,
      offline_ready: 1,
    }),
  ],
  [
    'CID_BUDDY_LIST_REMOVE_SESSION_NOTIFY',
    frameOf(IM.Buddy.IMRemoveSessionNotify, { user_id: 10, session_type: SessionType.SESSION_TYPE_SINGLE, session_id: 20 }),
  ],
];

t.test('each of the seven relayed commands reaches the other msg servers unchanged, never the origin', async (t) => {
  const route = await startRoute(t);
  const fakes = await connectFakes(t, route, 3);
  for (const [index, origin] of fakes.entries()) {
    for (const [name, frame] of RELAYED_TO_OTHERS) {
      for (const f of fakes) f.clear();
      const sent = unusualHeader(frame, 1000 + index);
      origin.sendFrame(sent);
      await settle(origin, fakes);
      for (const f of fakes) {
        const got = f.received.map((p) => p.frame);
        if (f === origin) t.same(got, [], `${name} from ${origin.link.name}: not back to the origin`);
        else t.same(got, [sent], `${name} from ${origin.link.name}: ${f.link.name} got it byte for byte`);
      }
    }
  }
});

t.test('sign-info change goes to every msg server, the origin included', async (t) => {
  const route = await startRoute(t);
  const fakes = await connectFakes(t, route, 3);
  const sent = unusualHeader(frameOf(IM.Buddy.IMSignInfoChangedNotify, { changed_user_id: 10, sign_info: 'gone fishing' }), 55);
  fakes[1].sendFrame(sent);
  await settle(fakes[1], fakes);
  for (const f of fakes) t.same(f.received.map((p) => p.frame), [sent], f.link.name);
});

t.test('relayed bodies are not decoded: a body no client could parse is still passed on as is', async (t) => {
  const route = await startRoute(t);
  const fakes = await connectFakes(t, route, 2);
  const garbage = encodeFrame(ServiceId.MSG, CID.MSG_DATA, 9, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
  fakes[0].sendFrame(garbage);
  await settle(fakes[0], fakes);
  t.same(fakes[1].received.map((p) => p.frame), [garbage]);
});

t.test('a burst keeps its order and loses nothing', async (t) => {
  const route = await startRoute(t);
  const fakes = await connectFakes(t, route, 2);
  const [a, b] = fakes;
  const frames = Array.from({ length: 2000 }, (_, i) =>
    frameOf(IM.SwitchService.IMP2PCmdMsg, { from_user_id: 1, to_user_id: 2, cmd_msg_data: `n=${i}` }, i & 0xffff),
  );
  for (const frame of frames) a.sendFrame(frame);
  await b.waitForCount(CID.SWITCH_P2P_CMD, frames.length);
  t.same(
    b.received.map((p) => p.frame),
    frames,
  );
});

t.test('with one msg server connected a relay goes nowhere, and the link stays up', async (t) => {
  const route = await startRoute(t);
  const [only] = await connectFakes(t, route, 1);
  only.sendFrame(RELAYED_TO_OTHERS[0][1]);
  t.same(await only.statusOf([1]), { 1: 2 }, 'still answered after the relay');
  t.same(only.received, []);
  t.equal(only.downs, 0);
});
