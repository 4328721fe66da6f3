/**
 * Every file-server rule tried and held: task limits (size, per user, quota,
 * mode), who may log in to what, login deadline, rules after login, chunk and
 * PDU size, the PDU budget, interrupted uploads, task and offline-file expiry,
 * and the internal port's authentication.
 */
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { IM } from '../../pdu/commands';
import { encodePdu } from '../../pdu/encode';
import { encodeFrame } from '../../pdu/frame';
import { dialInternal } from '../../lib/internal-tls';
import { bufferSource, FileTransferClient } from '../../tools/client/file-transfer';
import { testIdentity } from '../helpers/tls';
import { sleep, waitFor } from '../helpers/wait';
import { RawPeer, startTestFileServer } from './fixture';

async function newTask(msg: RawPeer, o: { from?: number; to?: number; size?: number; mode?: number; name?: string } = {}): Promise<IM.Server.IMFileTransferRsp> {
  msg.send(encodePdu(IM.Server.IMFileTransferReq, { from_user_id: o.from ?? 1001, to_user_id: o.to ?? 1002, file_name: o.name ?? 'a.bin', file_size: o.size ?? 100_000, trans_mode: o.mode ?? 2 }, 1));
  return IM.Server.IMFileTransferRsp.decode((await msg.next())!.body);
}

async function login(port: number, userId: number, task: string, role: number): Promise<{ peer: RawPeer; result: number }> {
  const peer = await RawPeer.client(port);
  peer.send(encodePdu(IM.File.IMFileLoginReq, { user_id: userId, task_id: task, file_role: role }, 1));
  const rsp = await peer.next();
  return { peer, result: rsp === null ? -1 : IM.File.IMFileLoginRsp.decode(rsp.body).result_code };
}

async function offlineFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of await readdir(dir).catch(() => [])) for (const f of await readdir(join(dir, sub)).catch(() => [])) out.push(f);
  return out;
}

t.test('task requests: size, per-user count, quota, mode, empty; the msg link stays up', async (t) => {
  const { fs } = await startTestFileServer(t, { maxFileBytes: 1_000_000, maxTasksPerUser: 2 });
  const msg = await RawPeer.msgServer(fs.internalPort);
  t.match(await newTask(msg, { size: 1_000_001 }), { result_code: 1, task_id: '' }, 'over maxFileBytes');
  t.match(await newTask(msg, { size: 0 }), { result_code: 1 }, 'an empty file');
  t.match(await newTask(msg, { mode: 3 }), { result_code: 1 }, 'an unknown trans_mode');
  t.match(await newTask(msg, { to: 1001 }), { result_code: 1 }, 'a file to oneself');
  t.match(await newTask(msg, { name: 'x'.repeat(513) }), { result_code: 1 }, 'a file name over 512 characters');
  t.match(await newTask(msg, { size: 1_000_000 }), { result_code: 0 }, 'the link is still up after refusals (the original closed it)');
  t.match(await newTask(msg, { size: 1_000_000, mode: 1 }), { result_code: 0 });
  t.match(await newTask(msg, { size: 10, mode: 1 }), { result_code: 1 }, 'a third unfinished task of the same sender (maxTasksPerUser 2)');
  t.match(await newTask(msg, { from: 1003, size: 100 }), { result_code: 0 }, 'another sender is not affected');
  const small = await startTestFileServer(t, { maxOfflineBytes: 50_000 });
  const msg2 = await RawPeer.msgServer(small.fs.internalPort);
  t.match(await newTask(msg2, { size: 100_000, mode: 2 }), { result_code: 1 }, 'offline over the storage quota (maxOfflineBytes)');
  t.match(await newTask(msg2, { size: 100_000, mode: 1 }), { result_code: 0 }, 'online needs no storage');
});

t.test('who may log in: task id shape, the right user per role, one per side, the login deadline, nothing before login', async (t) => {
  const { fs } = await startTestFileServer(t, { clientLoginTimeoutMs: 300 });
  const msg = await RawPeer.msgServer(fs.internalPort);
  const online = (await newTask(msg, { mode: 1 })).task_id as string;
  const offline = (await newTask(msg, { mode: 2 })).task_id as string;
  t.equal((await login(fs.clientPort, 1001, '../../etc/passwd', 4)).result, 1, 'not a UUID: refused (the original opened it as a path)');
  t.equal((await login(fs.clientPort, 1001, '00000000-0000-4000-8000-000000000000', 1)).result, 1, 'an unknown task');
  t.equal((await login(fs.clientPort, 1002, online, 1)).result, 1, 'the receiver as sender');
  t.equal((await login(fs.clientPort, 1003, online, 2)).result, 1, 'a stranger as receiver: only the addressed receiver');
  t.equal((await login(fs.clientPort, 1001, online, 3)).result, 1, 'upload to an online task');
  t.equal((await login(fs.clientPort, 1002, offline, 3)).result, 1, 'the receiver as uploader');
  const sender = await login(fs.clientPort, 1001, online, 1);
  t.equal(sender.result, 0);
  const twice = await login(fs.clientPort, 1001, online, 1);
  t.equal(twice.result, 1, 'a second sender connection');
  t.ok(await twice.peer.closesSilently(), 'a refused login is closed');

  const idle = await RawPeer.client(fs.clientPort);
  t.ok(await idle.closesSilently(2000), 'no login within clientLoginTimeoutMs: closed');
  const early = await RawPeer.client(fs.clientPort);
  early.send(encodePdu(IM.File.IMFilePullDataReq, { task_id: online, user_id: 1002, trans_mode: 1, offset: 0, data_size: 100 }, 1));
  t.ok(await early.closesSilently(), 'a pull before login: closed');
});

t.test('after login: only the logged-in user and task, pulls only by the receiver, bounded chunks and PDUs', async (t) => {
  const { fs } = await startTestFileServer(t, { maxChunkBytes: 40_000, clientMaxPduBytes: 48 * 1024 });
  const msg = await RawPeer.msgServer(fs.internalPort);
  const pair = async () => {
    const id = (await newTask(msg, { mode: 1 })).task_id as string;
    const a = await login(fs.clientPort, 1001, id, 1);
    const b = await login(fs.clientPort, 1002, id, 2);
    await b.peer.next(); // PEER_READY
    return { id, a: a.peer, b: b.peer };
  };
  const pull = (id: string, user: number, offset: number, size: number) => encodePdu(IM.File.IMFilePullDataReq, { task_id: id, user_id: user, trans_mode: 1, offset, data_size: size }, 3);
  /** On a fresh pair, side `by` sends a pull the server must answer by closing that side. */
  const refusedPull = async (by: 'a' | 'b', user: number, offset: number, size: number, what: string) => {
    const p = await pair();
    p[by].send(pull(p.id, user, offset, size));
    t.ok(await p[by].closesSilently(), what);
    return p;
  };

  const stranger = await refusedPull('b', 1003, 0, 100, 'a pull naming another user: closed');
  t.ok(await stranger.a.closesSilently(), 'and its peer with it (the task ended)');
  await refusedPull('a', 1001, 0, 100, 'a pull by the sender: closed');
  await refusedPull('b', 1002, 0, 40_001, 'a pull over maxChunkBytes: closed');
  await refusedPull('b', 1002, 99_990, 100, 'a pull beyond the end of the file: closed');

  let p = await pair();
  p.b.send(pull(p.id, 1002, 0, 100));
  await p.a.next();
  p.a.send(encodePdu(IM.File.IMFilePullDataRsp, { result_code: 0, task_id: p.id, user_id: 1001, offset: 0, file_data: randomBytes(101) }, 0));
  t.ok(await p.a.closesSilently(), 'data larger than the pull asked: closed');

  p = await pair();
  p.a.send(encodePdu(IM.File.IMFilePullDataRsp, { result_code: 0, task_id: p.id, user_id: 1001, offset: 0, file_data: randomBytes(10) }, 0));
  t.ok(await p.a.closesSilently(), 'data nobody pulled: closed');

  p = await pair();
  const header = Buffer.alloc(16);
  header.writeUInt32BE(48 * 1024 + 1, 0);
  p.b.send(header);
  t.ok(await p.b.closesSilently(), 'a PDU over clientMaxPduBytes: closed');
});

t.test('the per-connection PDU budget', async (t) => {
  const { fs } = await startTestFileServer(t, { clientMaxPdusPerSecond: 10 });
  const msg = await RawPeer.msgServer(fs.internalPort);
  const id = (await newTask(msg, { mode: 2, size: 40 * 32_768 })).task_id as string;
  const up = await FileTransferClient.connect('127.0.0.1', fs.clientPort);
  t.ok(await up.login(1001, id, 3));
  // The upload answers one block per server request: at most a couple of PDUs per round trip, but 40 in well under a second.
  const slow = { size: 40 * 32_768, read: async (o: number, l: number) => (await sleep(120), Buffer.alloc(l, o % 251)) };
  await up.upload(1001, id, slow);
  const down = await RawPeer.client(fs.clientPort);
  down.send(encodePdu(IM.File.IMFileLoginReq, { user_id: 1002, task_id: id, file_role: 4 }, 1));
  await down.next();
  const burst = Buffer.concat(
    Array.from({ length: 30 }, (_, i) => encodePdu(IM.File.IMFilePullDataReq, { task_id: id, user_id: 1002, trans_mode: 2, offset: i * 32_768, data_size: 32_768 }, i + 2)),
  );
  down.send(burst);
  let answered = 0;
  while ((await down.next()) !== null) answered++;
  t.ok(answered < 30, `30 pulls at once with a budget of 10 per second: closed after ${answered} answers`);
});

t.test('an upload that breaks off: partial file deleted, the sender can start again; a wrong block closes', async (t) => {
  const { fs, config } = await startTestFileServer(t);
  const msg = await RawPeer.msgServer(fs.internalPort);
  const id = (await newTask(msg, { mode: 2, size: 100_000 })).task_id as string;
  const first = await login(fs.clientPort, 1001, id, 3);
  t.equal(first.result, 0);
  await first.peer.next(); // block request
  first.peer.send(encodePdu(IM.File.IMFilePullDataRsp, { result_code: 0, task_id: id, user_id: 1001, offset: 0, file_data: randomBytes(1000) }, 0));
  t.ok(await first.peer.closesSilently(), 'a block of the wrong size: closed (the original over-read)');
  await waitFor(async () => (await offlineFiles(config.offlineDir)).length === 0, 2000, 'partial file removed');
  const second = await login(fs.clientPort, 1001, id, 3);
  t.equal(second.result, 0, 'the sender logs in again');
  await second.peer.next();
  second.peer.send(encodePdu(IM.File.IMFilePullDataRsp, { result_code: 0, task_id: id, user_id: 1001, offset: 0, file_data: randomBytes(32_768) }, 0));
  await second.peer.next();
  t.same(await offlineFiles(config.offlineDir), [`${id}.part`], 'one block in, as a .part file');
  t.equal((await login(fs.clientPort, 1002, id, 4)).result, 1, 'the receiver cannot download a file still being uploaded');
  second.peer.close();
  await waitFor(async () => (await offlineFiles(config.offlineDir)).length === 0, 2000, 'partial file removed after the disconnect');
  t.equal(fs.context.tasks.get(id)?.state, 'ready');
});

t.test('expiry: untouched tasks and old offline files are cleaned up', async (t) => {
  const { fs, config } = await startTestFileServer(t, { taskTimeoutMs: 300, sweepIntervalMs: 50, offlineFileTtlSec: 1 });
  const msg = await RawPeer.msgServer(fs.internalPort);
  const stale = (await newTask(msg, { mode: 1 })).task_id as string;
  const waitingSender = await login(fs.clientPort, 1001, stale, 1);
  t.equal(waitingSender.result, 0);
  t.ok(await waitingSender.peer.closesSilently(3000), 'a sender whose receiver never came: closed when the task expires');
  t.equal((await login(fs.clientPort, 1002, stale, 2)).result, 1, 'the expired task is gone');

  const id = (await newTask(msg, { mode: 2, size: 5000 })).task_id as string;
  const up = await FileTransferClient.connect('127.0.0.1', fs.clientPort);
  t.ok(await up.login(1001, id, 3));
  await up.upload(1001, id, bufferSource(randomBytes(5000)));
  t.equal((await offlineFiles(config.offlineDir)).length, 1);
  await waitFor(async () => (await offlineFiles(config.offlineDir)).length === 0, 5000, 'the offline file expires (offlineFileTtlSec 1)');
  t.equal((await login(fs.clientPort, 1002, id, 4)).result, 1, 'and cannot be downloaded any more');
  t.equal(fs.context.offline.used, 0, 'its bytes leave the quota');
});

t.test('internal port: only msg-server certificates', async (t) => {
  const { fs } = await startTestFileServer(t);
  await t.rejects(
    (async () => {
      const s = await dialInternal(testIdentity('push-server'), '127.0.0.1', fs.internalPort, 'file-server');
      const peer = new RawPeer(s);
      peer.send(encodeFrame(7, 0x0733, 1, Buffer.alloc(0)));
      if ((await peer.next(3000)) === null) throw new Error('closed without an answer');
    })(),
    /closed without an answer|ECONNRESET|socket/,
    'a push-server certificate gets no answer',
  );
  const plain = await RawPeer.client(fs.internalPort);
  plain.send(encodeFrame(7, 0x0733, 1, Buffer.alloc(0)));
  t.ok(await plain.closesSilently(), 'plain TCP gets no answer');
});

t.test('client connections: at most maxClientConnections', async (t) => {
  const { fs } = await startTestFileServer(t, { maxClientConnections: 2 });
  const a = await RawPeer.client(fs.clientPort);
  const b = await RawPeer.client(fs.clientPort);
  const c = await RawPeer.client(fs.clientPort);
  t.ok(await c.closesSilently(), 'the third is closed at once');
  a.close();
  b.close();
});
