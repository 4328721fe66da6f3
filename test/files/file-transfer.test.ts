/**
 * A 20 MB file between two TeamTalk clients, the way the Windows client does
 * it: online (both connected, relayed in pulls of 34 816 bytes) and offline
 * (uploaded in 32 768-byte blocks, listed with 0x0509, downloaded later), with
 * the notices each side gets (0x0507, 0x0508 with offline_ready 0 and 1,
 * 0x050a) and the IMTransmitFile row added and deleted through the db-proxy.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { IM } from '../../pdu/commands';
import { FileTransferClient, bufferSource } from '../../tools/client/file-transfer';
import type { ImClient } from '../../tools/client/im-client';
import { startCluster } from '../helpers/cluster';
import { waitFor } from '../helpers/wait';

const { TransferFileType, ClientFileRole, ClientFileState, ClientType } = IM.BaseDefine;
const SIZE = 20 * 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** `client`, logged in as `from`, asks its msg server to send user `to` a file (0x0501); the answer carries the task and the file server's address. */
function askToSend(client: ImClient, from: number, to: number, file: { name: string; size: number; mode: number }): Promise<IM.File.IMFileRsp> {
  return client.request(IM.File.IMFileReq, { from_user_id: from, to_user_id: to, file_name: file.name, file_size: file.size, trans_mode: file.mode }, IM.File.IMFileRsp);
}

t.test('online: 20 MB relayed from sender to receiver on another msg server, byte for byte', async (t) => {
  const cluster = await startCluster(t, { fileServer: true });
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0);
  const bob = await cluster.loginAs('bob', 1);
  const data = randomBytes(SIZE);
  const rsp = await askToSend(alice, aliceId, bobId, { name: 'C:/docs/report.pdf', size: SIZE, mode: TransferFileType.FILE_TYPE_ONLINE });
  t.equal(rsp.result_code, 0);
  t.match(rsp.task_id, UUID, 'task id: a canonical lower-case UUID');
  t.equal(rsp.trans_mode, TransferFileType.FILE_TYPE_ONLINE, 'bob has a PC client online: the transfer stays online');
  const fs = cluster.fileServer!;
  t.same(rsp.ip_addr_list.map((a) => ({ ip: a.ip, port: a.port })), [{ ip: '127.0.0.1', port: fs.clientPort }], 'the file server\'s client address, learned with 0x0733/0x0734');
  const notify = await bob.next(IM.File.IMFileNotify);
  t.match(notify, { from_user_id: aliceId, to_user_id: bobId, file_name: 'C:/docs/report.pdf', file_size: SIZE, task_id: rsp.task_id, trans_mode: TransferFileType.FILE_TYPE_ONLINE, offline_ready: 0 });
  t.equal(notify.ip_addr_list.length, 1);

  const sender = await FileTransferClient.connect('127.0.0.1', fs.clientPort);
  t.ok(await sender.login(aliceId, rsp.task_id, ClientFileRole.CLIENT_REALTIME_SENDER));
  const served = sender.serve(aliceId, rsp.task_id, bufferSource(data));
  const receiver = await FileTransferClient.connect('127.0.0.1', fs.clientPort);
  t.ok(await receiver.login(bobId, notify.task_id, ClientFileRole.CLIENT_REALTIME_RECVER));
  const started = Date.now();
  const got = await receiver.receive(bobId, notify.task_id, SIZE);
  t.ok(got.equals(data), '20 MB arrive byte-identical');
  t.equal(await served, ClientFileState.CLIENT_FILE_DONE, 'the sender gets the receiver\'s DONE');
  await Promise.all([sender.whenClosed(), receiver.whenClosed()]);
  t.pass(`both connections closed by the file server (${Date.now() - started} ms for 20 MB)`);
  t.equal(fs.context.tasks.size, 0, 'the task is gone');
  t.equal(fs.context.stats.relayedBytes, SIZE);
});

t.test('offline: 20 MB uploaded, announced, listed, downloaded later, then deleted', async (t) => {
  const cluster = await startCluster(t, { fileServer: true });
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0);
  const bobPhone = await cluster.loginAs('bob', 1, { clientType: ClientType.CLIENT_TYPE_ANDROID });
  const data = randomBytes(SIZE);
  // Online asked, but bob has no PC client anywhere (a phone has no file transfer): offline it is.
  const rsp = await askToSend(alice, aliceId, bobId, { name: 'holiday.zip', size: SIZE, mode: TransferFileType.FILE_TYPE_ONLINE });
  t.equal(rsp.result_code, 0);
  t.equal(rsp.trans_mode, TransferFileType.FILE_TYPE_OFFLINE, 'the receiver is offline on PC: offline mode');
  const first = await bobPhone.next(IM.File.IMFileNotify);
  t.match(first, { task_id: rsp.task_id, trans_mode: TransferFileType.FILE_TYPE_OFFLINE, offline_ready: 0 }, 'through the route server every device of bob hears of the task');
  const fs = cluster.fileServer!;

  // Too early: nothing on disk yet.
  const early = await FileTransferClient.connect('127.0.0.1', fs.clientPort);
  t.notOk(await early.login(bobId, rsp.task_id, ClientFileRole.CLIENT_OFFLINE_DOWNLOAD), 'a download before the upload is refused');
  await early.whenClosed();

  const uploader = await FileTransferClient.connect('127.0.0.1', fs.clientPort);
  t.ok(await uploader.login(aliceId, rsp.task_id, ClientFileRole.CLIENT_OFFLINE_UPLOAD));
  await uploader.upload(aliceId, rsp.task_id, bufferSource(data));
  await uploader.whenClosed();
  alice.send(IM.File.IMFileAddOfflineReq, { from_user_id: aliceId, to_user_id: bobId, task_id: rsp.task_id, file_name: 'holiday.zip', file_size: SIZE });
  const ready = await bobPhone.next(IM.File.IMFileNotify, (n) => n.offline_ready === 1);
  t.match(ready, { from_user_id: aliceId, task_id: rsp.task_id, trans_mode: TransferFileType.FILE_TYPE_OFFLINE, file_size: SIZE });
  t.same(ready.ip_addr_list.map((a) => a.port), [fs.clientPort]);
  bobPhone.close();

  // Later, bob on his PC.
  await waitFor(async () => (await cluster.query('SELECT id FROM IMTransmitFile WHERE toId = ?', [bobId])).length === 1, 3000, 'IMTransmitFile row');
  const bob = await cluster.loginAs('bob', 0);
  const list = await bob.request(IM.File.IMFileHasOfflineReq, { user_id: bobId }, IM.File.IMFileHasOfflineRsp);
  t.same(
    list.offline_file_list.map((f) => ({ from: f.from_user_id, task: f.task_id, name: f.file_name, size: f.file_size })),
    [{ from: aliceId, task: rsp.task_id, name: 'holiday.zip', size: SIZE }],
  );
  t.same(list.ip_addr_list.map((a) => ({ ip: a.ip, port: a.port })), [{ ip: '127.0.0.1', port: fs.clientPort }], 'with the file server\'s address');
  const downloader = await FileTransferClient.connect(list.ip_addr_list[0].ip, list.ip_addr_list[0].port);
  t.ok(await downloader.login(bobId, rsp.task_id, ClientFileRole.CLIENT_OFFLINE_DOWNLOAD));
  const got = await downloader.download(bobId, rsp.task_id, SIZE);
  t.ok(got.equals(data), '20 MB come back byte-identical');
  await downloader.whenClosed();
  bob.send(IM.File.IMFileDelOfflineReq, { from_user_id: aliceId, to_user_id: bobId, task_id: rsp.task_id });
  await waitFor(async () => (await cluster.query('SELECT id FROM IMTransmitFile WHERE toId = ?', [bobId])).length === 0, 3000, 'row deleted');
  const after = await bob.request(IM.File.IMFileHasOfflineReq, { user_id: bobId }, IM.File.IMFileHasOfflineRsp);
  t.same(after.offline_file_list, []);
});

t.test('without a file server, file requests are refused as the original', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 });
  const [aliceId, bobId] = await cluster.addUsers(['alice', 'bob']);
  const alice = await cluster.loginAs('alice', 0);
  const rsp = await askToSend(alice, aliceId, bobId, { name: 'a.txt', size: 10, mode: TransferFileType.FILE_TYPE_OFFLINE });
  t.match(rsp, { result_code: 1, task_id: '' });
});
