/**
 * The capture format's reader (every way a file can be unusable names the line
 * and byte offset), the recorder's framing of odd streams, and the pure parts
 * of the replayer: structural diff, ignore rules, id and credential rewriting.
 */
import t from 'tap';
import { CID, IM, ServiceId } from '../../pdu/commands';
import { encodeFrame } from '../../pdu/frame';
import { clientPasswordDigest } from '../../lib/password';
import { CaptureFormatError, parseCapture, serializeRecord, type CaptureRecord, type PduRecord } from '../../tools/capture/format';
import { CaptureRecorder } from '../../tools/capture/recorder';
import { DEFAULT_IGNORED_FIELDS, DEFAULT_UNORDERED_LISTS, IgnoreList, diffValues } from '../../tools/replay/compare';
import { IdMaps, credentialsFor, learnIds, mapIds, parseCredentials, withCredentials } from '../../tools/replay/rewrite';

function record(emit: CaptureRecord[]) {
  return new CaptureRecorder((r) => emit.push(r), { header: { source: 'proxy', listen: 'l', target: 'x' }, startTime: 1_000_000 });
}

const time = encodeFrame(ServiceId.MSG, CID.MSG_TIME_REQUEST, 3, Buffer.alloc(0));
const timeRsp = encodeFrame(ServiceId.MSG, CID.MSG_TIME_RESPONSE, 3, IM.Message.IMClientTimeRsp.encode({ server_time: 99 }).finish());

function sampleFile(): string {
  const records: CaptureRecord[] = [];
  const rec = record(records);
  const conn = rec.open('127.0.0.1:5000', '127.0.0.1:8000', 1_000_010);
  rec.data(conn, 'c2s', time, 1_000_020);
  rec.data(conn, 's2c', timeRsp, 1_000_030.5);
  rec.close(conn, 'client', 'client closed the connection', 1_000_040);
  return records.map(serializeRecord).join('');
}

t.test('a capture file round trip', async (t) => {
  const text = sampleFile();
  const lines = text.split('\n');
  t.equal(lines.length, 6, 'header, open, 2 PDUs, close, and the final newline');
  const parsed = parseCapture(text);
  t.match(parsed.header, { type: 'capture', format: 'teamtalk-capture', version: 1, source: 'proxy', time: '1970-01-01T00:16:40.000Z', t: 0 });
  t.same(parsed.lines, [2, 3, 4, 5]);
  t.same(
    parsed.records.map((r) => [r.type, r.t]),
    [
      ['open', 10],
      ['pdu', 20],
      ['pdu', 30.5],
      ['close', 40],
    ],
  );
  t.match(parsed.records[2], { dir: 's2c', name: 'CID_MSG_TIME_RESPONSE', seq: 3, length: 18, decoded: { server_time: 99 } });
  t.match(parsed.records[3], { c2sBytes: 16, s2cBytes: 18, by: 'client' });
  // CRLF line ends and blank lines are fine.
  t.equal(parseCapture(text.replace(/\n/g, '\r\n') + '\n\n').records.length, 4);
});

t.test('unusable capture files name the line and byte offset', async (t) => {
  const text = sampleFile();
  const lines = text.split('\n');
  const offsetOf = (line: number) => Buffer.byteLength(lines.slice(0, line - 1).map((l) => l + '\n').join(''));
  const withLine = (line: number, replace: (obj: Record<string, unknown>) => unknown) =>
    lines.map((l, i) => (i === line - 1 ? JSON.stringify(replace(JSON.parse(l) as Record<string, unknown>)) : l)).join('\n');
  const fails = (input: string, line: number, problem: RegExp, what: string) => {
    try {
      parseCapture(input);
      t.fail(`${what}: should fail`);
    } catch (err) {
      t.type(err, CaptureFormatError, what);
      const e = err as CaptureFormatError;
      t.equal(e.line, line, `${what}: line`);
      t.match(e.message, new RegExp(`^capture line ${line} \\(byte offset ${offsetOf(line)}\\): `), `${what}: names line and offset`);
      t.match(e.message, problem, what);
    }
  };
  fails(text.slice(0, offsetOf(4) + 30), 4, /not a JSON object .*the file ends inside this record, so the capture was cut off/, 'cut off');
  fails(withLine(3, () => '{oops'), 3, /not a JSON object/, 'garbage line');
  fails(lines.slice(1).join('\n'), 1, /not a TeamTalk capture/, 'no header');
  fails('', 1, /empty file/, 'empty');
  fails(withLine(1, (o) => ({ ...o, version: 2 })), 1, /capture format version 2 is not supported/, 'future version');
  fails(withLine(3, (o) => ({ ...o, length: 17 })), 3, /"length" 17 does not match the body \(0 bytes \+ 16-byte header = 16\)/, 'length');
  fails(withLine(4, (o) => ({ ...o, body: 'not base64!' })), 4, /"body" is not base64/, 'body');
  fails(withLine(4, (o) => ({ ...o, seq: 70000 })), 4, /"seq" must be an integer from 0 to 65535, got 70000/, 'seq');
  fails(withLine(4, (o) => ({ ...o, dir: 'up' })), 4, /"dir" must be "c2s" or "s2c"/, 'dir');
  fails(withLine(4, (o) => ({ ...o, type: 'packet' })), 4, /unknown record type "packet"/, 'type');
  fails(withLine(3, (o) => ({ ...o, conn: 9 })), 3, /record for connection 9 before its "open" record/, 'orphan');
  fails(withLine(5, (o) => ({ ...o, by: 'nobody' })), 5, /"by" must be client, server, proxy or capture-end/, 'close by');
  fails(withLine(2, (o) => ({ ...o, t: 'soon' })), 2, /"t" must be a number/, 't');
  fails(lines.slice(0, 5).join('\n') + '\n' + lines[3] + '\n', 6, /record for connection 1 before its "open" record \(or after its "close"\)/, 'after close');
  fails(lines.slice(0, 2).join('\n') + '\n' + lines[1] + '\n', 3, /connection 1 is opened twice/, 'opened twice');
  fails(lines.slice(0, 5).join('\n') + '\n' + lines[1] + '\n', 6, /connection 1 is opened twice/, 'number reused after its close');
  fails(text + lines[0] + '\n', 6, /a second capture header/, 'two captures');
});

t.test('the recorder frames split, merged and broken streams', async (t) => {
  const records: CaptureRecord[] = [];
  const rec = record(records);
  const conn = rec.open('c', 's', 1_000_000);
  const both = Buffer.concat([time, timeRsp]);
  // One byte at a time.
  for (let i = 0; i < both.length; i++) rec.data(conn, 's2c', both.subarray(i, i + 1), 1_000_000 + i);
  t.same(
    records.filter((r): r is PduRecord => r.type === 'pdu').map((p) => [p.name, p.t]),
    [
      ['CID_MSG_TIME_REQUEST', 15],
      ['CID_MSG_TIME_RESPONSE', both.length - 1],
    ],
    'a PDU is stamped when its last byte arrives',
  );
  // A header announcing 3 bytes: framing error; without resync nothing more is recorded for that direction.
  rec.data(conn, 'c2s', Buffer.from([0, 0, 0, 3, 0, 1, 0, 0, 0, 3, 3, 5, 0, 0, 0, 0]), 1_000_100);
  rec.data(conn, 'c2s', time, 1_000_101);
  t.match(records[records.length - 1], { type: 'error', dir: 'c2s', code: 'TT_ERR_PDU_LENGTH_TOO_SMALL' });
  rec.close(conn, 'client', 'bye', 1_000_200);
  t.match(records[records.length - 1], { type: 'close', c2sBytes: 32 });

  // With resync (pcaps), parsing picks up at the next plausible header.
  const pcapRecords: CaptureRecord[] = [];
  const pcap = new CaptureRecorder((r) => pcapRecords.push(r), { header: { source: 'pcap' }, resyncAfterError: true });
  const c = pcap.open('c', 's', 5, true);
  pcap.data(c, 'c2s', Buffer.concat([Buffer.from('xyz junk!'), time.subarray(0, 7)]), 6);
  pcap.data(c, 'c2s', Buffer.concat([time.subarray(7), timeRsp]), 7);
  pcap.gap(c, 'c2s', 'lost', 8);
  pcap.data(c, 'c2s', Buffer.concat([timeRsp.subarray(5), time]), 9);
  t.same(
    pcapRecords.filter((r) => r.type !== 'capture').map((r) => (r.type === 'pdu' ? r.name : r.type === 'resync' ? `resync ${r.dropped}` : r.type)),
    ['open', 'resync 9', 'CID_MSG_TIME_REQUEST', 'CID_MSG_TIME_RESPONSE', 'error', `resync ${timeRsp.length - 5}`, 'CID_MSG_TIME_REQUEST'],
  );
  t.equal(pcapRecords[0].type, 'capture');
  t.equal(pcapRecords[0].time, new Date(5).toISOString(), 'without a start time, the first event starts the clock');
});

t.test('structural diff and the ignore list', async (t) => {
  const ignore = new IgnoreList([...DEFAULT_IGNORED_FIELDS, 'user_info.email', 'header.reserved']);
  const expected = {
    header: { seq: 1, reserved: 0 },
    msg_id: 5,
    user_info: { email: 'a', nick: 'A' },
    list: [{ msg_id: 1, text: 'x' }, { msg_id: 2, text: 'y' }],
    flag: true,
  };
  const actual = {
    header: { seq: 1, reserved: 48 },
    msg_id: 6,
    user_info: { email: 'b', nick: 'B' },
    list: [{ msg_id: 9, text: 'x' }, { msg_id: 9, text: 'z' }, { msg_id: 3, text: 'extra' }],
    extra: 1,
  };
  t.same(diffValues(expected, actual, ignore), [
    { path: 'user_info.nick', expected: 'A', actual: 'B' },
    { path: 'list[1].text', expected: 'y', actual: 'z' },
    { path: 'list[2]', expected: undefined, actual: { msg_id: 3, text: 'extra' } },
    { path: 'flag', expected: true, actual: undefined },
    { path: 'extra', expected: undefined, actual: 1 },
  ]);
  t.same(diffValues(expected, expected, new IgnoreList([])), [], 'equal values have no diff');
  t.equal(diffValues({ a: [1, 2, 3] }, { a: [3, 2, 1] }, new IgnoreList([]), { limit: 2 }).length, 2, 'limit');
});

t.test('unordered lists are compared as multisets; ordered ones position by position', async (t) => {
  const ignore = new IgnoreList(DEFAULT_IGNORED_FIELDS);
  const unordered = new Set(DEFAULT_UNORDERED_LISTS);
  const user = (id: number, nick: string, extra: Record<string, unknown> = {}) => ({ user_id: id, user_nick_name: nick, ...extra });
  const recorded = { user_list: [user(1, 'A'), user(2, 'B'), user(3, 'C')], user_id_list: [1, 2, 2] };

  const shuffled = { user_list: [user(3, 'C'), user(1, 'A'), user(2, 'B')], user_id_list: [2, 1, 2] };
  t.same(diffValues(recorded, shuffled, ignore, { unordered }), [], 'same elements in another order: no difference');
  t.equal(diffValues(recorded, shuffled, ignore).length > 0, true, 'without the unordered rule, order counts');

  const volatile = { user_list: [user(2, 'B', { updated_time: 9 }), user(3, 'C'), user(1, 'A', { updated_time: 7 })], user_id_list: [2, 2, 1] };
  t.same(diffValues(recorded, volatile, ignore, { unordered }), [], 'ignored fields do not stop elements from pairing');

  const changed = { user_list: [user(3, 'C'), user(2, 'B (new)'), user(1, 'A'), user(4, 'D')], user_id_list: [1, 2] };
  t.same(
    diffValues(recorded, changed, ignore, { unordered }),
    [
      { path: 'user_list[1].user_nick_name', expected: 'B', actual: 'B (new)' },
      { path: 'user_list[3]', expected: undefined, actual: user(4, 'D') },
      { path: 'user_id_list[2]', expected: 2, actual: undefined },
    ],
    'only elements without an equal partner are reported',
  );

  const messages = { msg_list: [{ msg_data: 'x' }, { msg_data: 'y' }] };
  t.equal(
    diffValues(messages, { msg_list: [{ msg_data: 'y' }, { msg_data: 'x' }] }, ignore, { unordered }).length,
    2,
    'message lists keep their order',
  );
});

t.test('id maps, credentials', async (t) => {
  const maps = new IdMaps();
  t.same(mapIds({ user_id: 1 }, maps), { user_id: 1 }, 'nothing learned: unchanged');
  t.same(
    learnIds(CID.LOGIN_RES_USERLOGIN, { user_info: { user_id: 1 } }, { user_info: { user_id: 41 } }, maps),
    ['user id 1 -> 41'],
  );
  learnIds(CID.LOGIN_RES_USERLOGIN, { user_info: { user_id: 2 } }, { user_info: { user_id: 42 } }, maps);
  learnIds(CID.GROUP_CREATE_RESPONSE, { group_id: 7 }, { group_id: 70 }, maps);
  learnIds(CID.LOGIN_RES_USERLOGIN, { user_info: { user_id: 1 } }, { user_info: { user_id: 43 } }, maps);
  t.same(maps.conflicts, ['recorded user id 1 came back as 43 after 41; keeping 41']);
  t.same(
    learnIds(
      CID.BUDDY_LIST_ALL_USER_RESPONSE,
      { user_list: [{ user_id: 1, user_real_name: 'alice' }, { user_id: 5, user_real_name: 'erin' }, { user_id: 6, user_real_name: 'gone' }] },
      { user_list: [{ user_id: 50, user_real_name: 'erin' }, { user_id: 41, user_real_name: 'alice' }, { user_id: 9, user_real_name: 'new' }] },
      maps,
    ),
    ['user id 5 -> 50 (erin)'],
    'peers pair up by login name; known and unmatched names teach nothing',
  );
  const msg = {
    from_user_id: 1,
    to_session_id: 2,
    msg_type: 'MSG_TYPE_SINGLE_TEXT',
    msg_data: 'aGk=',
    msg_id: 1,
  };
  t.same(mapIds(msg, maps), { ...msg, from_user_id: 41, to_session_id: 42 }, 'single chat: session id is a user id');
  t.same(mapIds({ ...msg, to_session_id: 7, msg_type: 'MSG_TYPE_GROUP_TEXT' }, maps).to_session_id, 70, 'group chat: a group id');
  t.same(
    mapIds({ user_id: 1, contact_session_list: [{ session_id: 2, session_type: 'SESSION_TYPE_SINGLE', latest_msg_from_user_id: 2 }, { session_id: 7, session_type: 'SESSION_TYPE_GROUP' }] }, maps),
    { user_id: 41, contact_session_list: [{ session_id: 42, session_type: 'SESSION_TYPE_SINGLE', latest_msg_from_user_id: 42 }, { session_id: 70, session_type: 'SESSION_TYPE_GROUP' }] },
    'nested lists',
  );
  t.same(mapIds({ user_id_list: [1, 2, 3], group_id: 8, session_id: 1 }, maps), { user_id_list: [41, 42, 3], group_id: 8, session_id: 1 }, 'unknown ids and untyped sessions stay');

  t.same(parseCredentials('bob:pa:ss'), { user: 'bob', password: 'pa:ss' });
  t.same(parseCredentials('alice=bob:pw'), { user: 'bob', password: 'pw', recordedUser: 'alice' });
  t.throws(() => parseCredentials('bob'), /--as must be USER:PASSWORD/);
  t.throws(() => parseCredentials('bob:'), /--as must be/);
  const all = [parseCredentials('alice=bob:pw'), parseCredentials('carol:pw2')];
  t.equal(credentialsFor('alice', all)?.user, 'bob');
  t.equal(credentialsFor('dave', all)?.user, 'carol', 'the catch-all applies to other names');
  t.same(withCredentials({ user_name: 'alice', password: 'x', client_type: 'CLIENT_TYPE_WINDOWS' }, all[0]), {
    user_name: 'bob',
    password: clientPasswordDigest('pw'),
    client_type: 'CLIENT_TYPE_WINDOWS',
  });
});
