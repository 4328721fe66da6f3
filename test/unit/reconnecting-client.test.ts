/**
 * ReconnectingClient's catching up after a reconnect, on its own: the
 * connections are stand-ins that answer unread counts and history from a list
 * (the protocol side is tested end to end in test/tools/chat-client.test.ts and
 * by `npm run chaos`).
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import { CID, IM } from '../../pdu/commands';
import type { ImClient, Push } from '../../tools/client/im-client';
import { CATCH_UP_SEEN_RUN, ReconnectingClient } from '../../tools/client/reconnecting-client';

const { MsgType, SessionType } = IM.BaseDefine;
const ME = 5;
const PEER = 10;

interface Stored {
  id: number;
  from: number;
}

/** A logged-in connection: history of the one conversation with PEER, newest first, `unread` from PEER. */
class StandIn extends EventEmitter {
  isOpen = true;
  readonly userId = ME;
  readonly userInfo = null;
  historyCalls = 0;
  constructor(
    private readonly stored: Stored[],
    private readonly unread: number,
    private readonly ackId = 0,
    /** The newest id when the unread counts are taken (default: the newest stored), and what arrives right after. */
    private readonly snapshot: { latest?: number; then?: () => void } = {},
  ) {
    super();
  }
  push(id: number): void {
    const message = IM.Message.IMMsgData.create({ from_user_id: PEER, to_session_id: ME, msg_id: id, create_time: 1, msg_type: MsgType.MSG_TYPE_SINGLE_TEXT, msg_data: Buffer.from('x') });
    this.emit('push', { commandId: CID.MSG_DATA, name: 'IMMsgData', message, pdu: null } as unknown as Push);
  }
  async sendText(): Promise<IM.Message.IMMsgDataAck> {
    return IM.Message.IMMsgDataAck.create({ user_id: ME, session_id: PEER, msg_id: this.ackId, session_type: SessionType.SESSION_TYPE_SINGLE });
  }
  async unreadCounts(): Promise<IM.Message.IMUnreadMsgCntRsp> {
    setImmediate(() => this.snapshot.then?.());
    const latest = this.snapshot.latest ?? this.stored[0]?.id ?? 0;
    await new Promise((r) => setTimeout(r, 5));
    return IM.Message.IMUnreadMsgCntRsp.create({
      user_id: ME,
      total_cnt: this.unread,
      unreadinfo_list: [{ session_id: PEER, session_type: SessionType.SESSION_TYPE_SINGLE, unread_cnt: this.unread, latest_msg_id: latest, latest_msg_data: Buffer.from('x'), latest_msg_type: MsgType.MSG_TYPE_SINGLE_TEXT, latest_msg_from_user_id: PEER }],
    });
  }
  async history(_session: number, options: { fromMsgId?: number; count?: number }): Promise<IM.Message.IMGetMsgListRsp> {
    this.historyCalls++;
    const from = options.fromMsgId ?? 0;
    const page = this.stored.filter((m) => from === 0 || m.id <= from).slice(0, options.count ?? 100);
    return IM.Message.IMGetMsgListRsp.create({
      user_id: ME,
      session_type: SessionType.SESSION_TYPE_SINGLE,
      session_id: PEER,
      msg_id_begin: from,
      msg_list: page.map((m) => ({ msg_id: m.id, from_session_id: m.from, create_time: 1, msg_type: MsgType.MSG_TYPE_SINGLE_TEXT, msg_data: Buffer.from('x') })),
    });
  }
  close(): void {
    this.isOpen = false;
    this.emit('close', 'closed');
  }
}

/** A client on `first`; after first.close() it reconnects to `second` and resolves with what it caught up. */
async function reconnectAndCatchUp(first: StandIn, second: StandIn, before: (rc: ReconnectingClient) => Promise<void>): Promise<number[]> {
  const conns = [first, second];
  const rc = new ReconnectingClient({
    dial: async () => ({ client: conns.shift() as unknown as ImClient, where: 'here' }),
    initialBackoffMs: 1,
    maxBackoffMs: 1,
  });
  await rc.start();
  await before(rc);
  const caught = new Promise<number[]>((resolve) => rc.once('caught-up', ({ messages }: { messages: IM.Message.IIMMsgData[] }) => resolve(messages.map((m) => m.msg_id ?? 0))));
  first.close();
  const ids = await caught;
  rc.stop();
  return ids;
}

t.test('a delivery lost under a higher id we saw (our own message) is caught up', async (t) => {
  // Stored: 1..3 from the peer (seen), 4 from the peer (its delivery died), 5 ours (acked).
  const history: Stored[] = [
    { id: 5, from: ME },
    { id: 4, from: PEER },
    { id: 3, from: PEER },
    { id: 2, from: PEER },
    { id: 1, from: PEER },
  ];
  const first = new StandIn(history, 4, 5);
  const second = new StandIn(history, 4);
  const ids = await reconnectAndCatchUp(first, second, async (rc) => {
    for (const id of [1, 2, 3]) first.push(id);
    await rc.sendText(PEER, 'mine');
  });
  t.same(ids, [4], 'only the missed message, once');
});

t.test('with many unread messages, catching up stops after a run of seen ones below the last seen id', async (t) => {
  // 500 messages from the peer, never read: all seen live but the newest three (after the disconnect).
  const history: Stored[] = Array.from({ length: 503 }, (_, i) => ({ id: 503 - i, from: PEER }));
  const first = new StandIn(history, 503);
  const second = new StandIn(history, 503);
  const ids = await reconnectAndCatchUp(first, second, async () => {
    for (let id = 1; id <= 500; id++) first.push(id);
  });
  t.same(ids, [501, 502, 503], 'what came while away');
  t.equal(second.historyCalls, 1, `one page: it stopped after ${CATCH_UP_SEEN_RUN} seen messages`);
});

t.test('a conversation never seen: as many messages from the others as it has unread', async (t) => {
  const history: Stored[] = [
    { id: 3, from: PEER },
    { id: 2, from: ME },
    { id: 1, from: PEER },
  ];
  const first = new StandIn([], 0);
  const second = new StandIn(history, 1);
  t.same(await reconnectAndCatchUp(first, second, async () => {}), [3], 'the unread one; older ones were read elsewhere');
});

/**
 * 1 from the peer was lost while away (one unread); 2 is stored and pushed live
 * to the new connection just after its unread counts are taken, which name
 * `latestAtCount` as the newest. Resolves with what was caught up.
 */
function lostThenLive(latestAtCount: number): Promise<number[]> {
  const history: Stored[] = [
    { id: 2, from: PEER },
    { id: 1, from: PEER },
  ];
  const first = new StandIn([], 0);
  const second: StandIn = new StandIn(history, 1, 0, { latest: latestAtCount, then: () => second.push(2) });
  return reconnectAndCatchUp(first, second, async () => {});
}

t.test('messages arriving live while catching up do not hide the unread ones under them', async (t) => {
  // Unread counts taken when 1 (lost) was the newest; 2 arrives live before the history answers.
  t.same(await lostThenLive(1), [1], 'the lost one; the live one is not repeated');
});

t.test('an unread count that lags behind its latest_msg_id (the newest was pushed live) does not end the search early', async (t) => {
  // The db-proxy counted 1 (the lost one) but read 2 as the newest: 2 was stored
  // between the two reads and pushed live to this connection.
  t.same(await lostThenLive(2), [1], 'the lost one is found under the live one');
});
