/**
 * Pictures and voice the TeamTalk way, end to end: the login server's answer
 * names the file store; a picture uploaded there as the Android client does it
 * travels inside a text message (files.md §2.2 markup) and comes back
 * byte-identical by its URL; a voice message goes to msfs through the db-proxy
 * (IMAudio.path holds the url, no bytes in MySQL) and history returns it.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { IM } from '../../pdu/commands';
import { decryptMessageText } from '../../lib/message-crypto';
import { fetchMsgServer } from '../../tools/client/im-client';
import { startCluster } from '../helpers/cluster';
import { PNG_1X1, androidUpload, parseReply, rawHttp } from '../msfs/msfs-fixture';

const { MsgType, ClientType } = IM.BaseDefine;
const PREFIX = '&$#@~^@[{:';
const SUFFIX = ':}]&$~@#@';

t.test('a picture: upload to msfsPrior, the URL in a message, byte-identical download', async (t) => {
  const cluster = await startCluster(t, { msfs: true });
  const [, bobId] = await cluster.addUsers(['alice', 'bob']);
  const login = await fetchMsgServer(cluster.loginUrl);
  const msfs = cluster.msfs!;
  t.equal(login.raw.msfsPrior, `http://127.0.0.1:${msfs.port}/`, 'the login server points clients at the file store');
  t.equal(login.raw.msfsBackup, login.raw.msfsPrior);

  const picture = Buffer.concat([PNG_1X1, randomBytes(50_000)]);
  const prior = new URL(String(login.raw.msfsPrior));
  const reply = parseReply(await rawHttp(Number(prior.port), androidUpload('IMG_20261201_101500.png', picture, prior.host)));
  t.equal(reply.error_code, 0);
  const alice = await cluster.loginAs('alice', 0, { clientType: ClientType.CLIENT_TYPE_ANDROID });
  const bob = await cluster.loginAs('bob', 1);
  await alice.sendText(bobId, `look: ${PREFIX}${reply.url}${SUFFIX}`);
  const got = await bob.next(IM.Message.IMMsgData);
  const text = decryptMessageText(got.msg_data)?.toString('utf8') ?? '';
  const url = text.slice(text.indexOf(PREFIX) + PREFIX.length, text.indexOf(SUFFIX));
  t.equal(url, reply.url, 'the receiver finds the URL between the markers');
  const res = await fetch(url);
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'image/png');
  t.ok(Buffer.from(await res.arrayBuffer()).equals(picture), 'the picture comes back byte-identical');
});

t.test('a voice message round-trips through msfs and history', async (t) => {
  const cluster = await startCluster(t, { msfs: true });
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0, { clientType: ClientType.CLIENT_TYPE_ANDROID });
  const bob = await cluster.loginAs('bob', 1, { clientType: ClientType.CLIENT_TYPE_IOS });
  const audio = randomBytes(12_000);
  const msgData = Buffer.concat([Buffer.from([0, 0, 0, 7]), audio]);
  const ack = await alice.sendMessage(bobId, msgData, MsgType.MSG_TYPE_SINGLE_AUDIO);
  t.ok(ack.msg_id > 0, 'stored');
  const live = await bob.next(IM.Message.IMMsgData);
  t.ok(Buffer.from(live.msg_data).equals(msgData), 'delivered live as sent');

  const rows = await cluster.query<{ path: string; size: number; duration: number; data: Buffer | null }>('SELECT path, size, duration, data FROM IMAudio');
  t.equal(rows.length, 1);
  t.match(rows[0].path, new RegExp(`^https://127\\.0\\.0\\.1:${cluster.msfs!.internalPort}/g0/\\d{3}/\\d{3}/\\d{16}_\\d{12}\\.audio$`), 'IMAudio.path is the msfs url');
  t.equal(rows[0].data, null, 'no audio bytes in MySQL');
  t.equal(Number(rows[0].size), audio.length);
  t.equal(Number(rows[0].duration), 7);
  const key = new URL(rows[0].path).pathname;
  const direct = await fetch(`http://127.0.0.1:${cluster.msfs!.port}${key}`);
  t.ok(Buffer.from(await direct.arrayBuffer()).equals(audio), 'the bytes are in msfs');

  const history = await bob.history(aliceId);
  t.equal(history.msg_list.length, 1);
  t.equal(history.msg_list[0].msg_type, MsgType.MSG_TYPE_SINGLE_AUDIO);
  t.ok(Buffer.from(history.msg_list[0].msg_data).equals(msgData), 'history gives back duration + the same bytes');
  const mine = await alice.history(bobId);
  t.ok(Buffer.from(mine.msg_list[0].msg_data).equals(msgData), 'for the sender too');
});
