/**
 * Large list replies without a decode and an encode per request: attach_data
 * taken out of an encoded body (the msg server forwards the rest as it came),
 * and the db-proxy's shared first-sync user list (AllUsersSnapshot).
 */
import t from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import { IM } from '../../pdu/commands';
import { encodeBody } from '../../pdu/encode';
import { encodeHandleAttach, decodeAttach, splitAttachData } from '../../pdu/attach';
import { AllUsersSnapshot, encodeUserList } from '../../services/db-proxy/all-users-snapshot';

const users = (n: number, from = 1): IM.BaseDefine.IUserInfo[] =>
  Array.from({ length: n }, (_, i) => ({
    user_id: from + i,
    user_gender: 1,
    user_nick_name: `NICK${from + i}`,
    avatar_url: '',
    department_id: 1,
    email: `u${from + i}@example.com`,
    user_real_name: `user${from + i}`,
    user_tel: '',
    user_domain: `u${from + i}`,
    status: 0,
    sign_info: '',
  }));

t.test('splitAttachData: the body less attach_data decodes to the same message, and the handle is read', async (t) => {
  const list = users(50);
  const body = encodeBody(IM.Buddy.IMAllUserRsp, { user_id: 7, latest_update_time: 99, user_list: list, attach_data: encodeHandleAttach(4242) });
  const { attach, rest, complete } = splitAttachData(Buffer.from(body));
  t.ok(complete);
  t.equal(decodeAttach(attach)?.handle, 4242, 'the handle the reply carried');
  const decoded = IM.Buddy.IMAllUserRsp.decode(rest);
  t.equal(decoded.user_id, 7);
  t.equal(Number(decoded.latest_update_time), 99);
  t.equal(decoded.user_list.length, 50);
  t.equal(decoded.user_list[49].user_nick_name, 'NICK50');
  t.notOk(Object.prototype.hasOwnProperty.call(decoded, 'attach_data') && decoded.attach_data && decoded.attach_data.length > 0, 'no attach_data left for the client');
  // attach_data field: tag 20 (2 bytes), length (1 byte), 12 bytes of handle attach.
  t.equal(rest.length, body.length - 15, 'exactly the attach_data field removed');
});

t.test('splitAttachData: attach_data in the middle, twice, or absent', async (t) => {
  const attachA = encodeHandleAttach(1);
  const attachB = encodeHandleAttach(2);
  const head = encodeBody(IM.Buddy.IMAllUserRsp, { user_id: 3, latest_update_time: 0, user_list: [], attach_data: attachA });
  const tail = encodeUserList(users(3));
  const second = encodeBody(IM.Buddy.IMAllUserRsp, { user_id: 3, latest_update_time: 0, user_list: [], attach_data: attachB });
  const body = Buffer.concat([head, tail, second]);
  const { attach, rest, complete } = splitAttachData(body);
  t.ok(complete);
  t.equal(decodeAttach(attach)?.handle, 2, 'the last occurrence wins, as a protobuf decoder reads it');
  const decoded = IM.Buddy.IMAllUserRsp.decode(rest);
  t.equal(decoded.user_list.length, 3);
  t.equal(decoded.attach_data?.length ?? 0, 0, 'both occurrences removed');

  const plain = encodeBody(IM.Buddy.IMAllUserRsp, { user_id: 3, latest_update_time: 0, user_list: users(2) });
  const none = splitAttachData(Buffer.from(plain));
  t.equal(none.attach, undefined);
  t.same(Buffer.from(none.rest), Buffer.from(plain), 'no attach_data: the body as it was');
});

t.test('splitAttachData: a truncated body is reported, with what was found before the damage', async (t) => {
  const body = Buffer.from(encodeBody(IM.Buddy.IMAllUserRsp, { user_id: 3, latest_update_time: 0, user_list: users(5), attach_data: encodeHandleAttach(9) }));
  const cut = splitAttachData(body.subarray(0, body.length - 40));
  t.equal(cut.complete, false);
  const garbage = splitAttachData(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
  t.equal(garbage.complete, false);
});

t.test('encodeUserList: appended to the other fields it decodes as the whole reply', async (t) => {
  const list = users(20);
  const bytes = encodeUserList(list);
  const reply = Buffer.concat([encodeBody(IM.Buddy.IMAllUserRsp, { user_id: 5, latest_update_time: 1234, user_list: [] }), bytes]);
  const decoded = IM.Buddy.IMAllUserRsp.decode(reply);
  t.equal(decoded.user_id, 5);
  t.equal(Number(decoded.latest_update_time), 1234);
  t.same(
    decoded.user_list.map((u) => [u.user_id, u.user_nick_name, u.email]),
    list.map((u) => [u.user_id, u.user_nick_name, u.email]),
  );
  t.equal(encodeUserList([]).length, 0, 'an empty company: no bytes');
});

function rowsOf(n: number, updated: number): RowDataPacket[] {
  return Array.from({ length: n }, (_, i) => ({
    id: i + 1, sex: 1, nick: `N${i + 1}`, avatar: '', departId: 1, email: '', name: `u${i + 1}`, phone: '', domain: '', status: 0, sign_info: '', updated: updated + i,
  })) as unknown as RowDataPacket[];
}

t.test('AllUsersSnapshot: one read for the requests of ttlMs, concurrent misses share it, invalidate drops it', async (t) => {
  let reads = 0;
  let size = 3;
  let release: () => void = () => {};
  let gate: Promise<void> | null = null;
  const snapshot = new AllUsersSnapshot(async () => {
    reads++;
    if (gate) await gate;
    return rowsOf(size, 1000);
  }, 60_000);

  gate = new Promise<void>((r) => (release = r));
  const together = [snapshot.get(), snapshot.get(), snapshot.get()];
  release();
  const got = await Promise.all(together);
  gate = null;
  t.equal(reads, 1, 'three requests at once: one read');
  t.ok(got.every((g) => g === got[0]), 'the same snapshot for all');
  t.equal(got[0].users, 3);
  t.equal(got[0].latest, 1002, 'latest_update_time: the newest updated');
  await snapshot.get();
  t.equal(reads, 1, 'within ttlMs: no read');
  t.equal(snapshot.hits, 3);

  size = 4;
  snapshot.invalidate();
  t.equal((await snapshot.get()).users, 4, 'after a change: read again');
  t.equal(reads, 2);

  // A read that started before a change is handed to its callers but not kept.
  size = 5;
  snapshot.invalidate();
  gate = new Promise<void>((r) => (release = r));
  const before = snapshot.get();
  size = 6;
  snapshot.invalidate();
  const after = snapshot.get();
  release();
  gate = null;
  await before;
  t.equal((await after).users, 6, 'a request after the change gets a read made after it');
  t.equal((await snapshot.get()).users, 6, 'and that is the one kept');
});

t.test('AllUsersSnapshot: ttlMs 0 reads for every request; a failed read is not kept', async (t) => {
  let reads = 0;
  const fresh = new AllUsersSnapshot(async () => (reads++, rowsOf(1, 1)), 0);
  await fresh.get();
  await fresh.get();
  t.equal(reads, 2);

  let fail = true;
  const flaky = new AllUsersSnapshot(async () => {
    if (fail) throw new Error('MySQL down');
    return rowsOf(2, 1);
  }, 60_000);
  await t.rejects(flaky.get(), /MySQL down/);
  fail = false;
  t.equal((await flaky.get()).users, 2, 'the next request reads again');
});
