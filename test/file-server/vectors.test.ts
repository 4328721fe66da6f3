/**
 * files.md §5.2-§5.3 on the wire: the msg-server exchange (0x0733/0x0734,
 * 0x0731/0x0732), the offline upload of 40 000 bytes (login, block requests,
 * blocks, DONE, the file on disk), the download by the receiver (server-sized
 * blocks, seq echoed), the negatives, and the online relay (pull forwarded
 * byte for byte, data back with the pull's seq). Task ids are random here, so
 * each vector is compared with the vector task id replaced by ours (same length).
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { IM } from '../../pdu/commands';
import { encodePdu } from '../../pdu/encode';
import { RawPeer, startTestFileServer, withTask } from './fixture';

const V = {
  ipReq: '00000010000100000007073300000000',
  ipRsp: '000000220001000000070734000000000a100a0b3139322e3136382e312e32109843',
  taskReqOffline: '0000003a00010000000707310003000008e90710ea071a0d433a2f646f63732f612e74787420c0b8022802a2010c000000010000000700000000',
  taskRspOffline:
    '00000062000100000007073200030000080010e90718ea07220d433a2f646f63732f612e74787428c0b802322435663263316139652d336234642d346538662d396131622d3263336434653566366137623802a2010c000000010000000700000000',
  uploadLogin: '0000003b00010000000505010001000008e907122435663263316139652d336234642d346538662d396131622d3263336434653566366137621803',
  loginOk: '000000380001000000050502000100000800122435663263316139652d336234642d346538662d396131622d326333643465356636613762',
  firstAsk: '000000410001000000050504000000000a2435663263316139652d336234642d346538662d396131622d32633364346535663661376210e9071802200028808002',
  secondAsk: '000000420001000000050504000000000a2435663263316139652d336234642d346538662d396131622d32633364346535663661376210e90718022080800228c038',
  done: '0000003b0001000000050503000000000803122435663263316139652d336234642d346538662d396131622d32633364346535663661376218e907',
  downloadLogin: '0000003b00010000000505010004000008ea07122435663263316139652d336234642d346538662d396131622d3263336434653566366137621804',
  downloadPull: '000000410001000000050504000500000a2435663263316139652d336234642d346538662d396131622d32633364346535663661376210ea071802200028809002',
};

const hex = (b: Buffer | undefined) => b?.toString('hex');

t.test('msg server exchange: addresses and an offline task, byte for byte', async (t) => {
  const { fs } = await startTestFileServer(t, { publicIps: ['192.168.1.2'], publicPort: 8600 });
  const msg = await RawPeer.msgServer(fs.internalPort);
  msg.send(V.ipReq);
  t.equal(hex((await msg.next())?.frame), V.ipRsp, '0x0734 {[{"192.168.1.2", 8600}]}');
  msg.send(V.taskReqOffline);
  const rsp = (await msg.next())!;
  const task = IM.Server.IMFileTransferRsp.decode(rsp.body).task_id as string;
  t.match(task, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  t.equal(hex(rsp.frame), withTask(V.taskRspOffline, task), '0x0732: fields echoed (attach too), result 0, new task id, seq 3');
  t.equal(fs.context.tasks.get(task)?.fileSize, 40_000);
});

t.test('offline upload and download of 40 000 bytes, byte for byte, and the file on disk', async (t) => {
  const { fs, config } = await startTestFileServer(t);
  const msg = await RawPeer.msgServer(fs.internalPort);
  msg.send(V.taskReqOffline);
  const task = IM.Server.IMFileTransferRsp.decode((await msg.next())!.body).task_id as string;
  const data = randomBytes(40_000);

  const a = await RawPeer.client(fs.clientPort);
  a.send(withTask(V.uploadLogin, task));
  t.equal(hex((await a.next())?.frame), withTask(V.loginOk, task), '0x0502 {0, task}, seq 1');
  t.equal(hex((await a.next())?.frame), withTask(V.firstAsk, task), 'then 0x0504 {task, 1001, 2, 0, 32768}, seq 0');
  const block0 = encodePdu(IM.File.IMFilePullDataRsp, { result_code: 0, task_id: task, user_id: 1001, offset: 0, file_data: data.subarray(0, 32_768) }, 2);
  t.equal(block0.length, 32_833, 'the vector block PDU is 32 833 bytes');
  t.equal(block0.subarray(0, 4).toString('hex'), '00008041');
  a.send(block0);
  t.equal(hex((await a.next())?.frame), withTask(V.secondAsk, task), '0x0504 {..., 32768, 7232}');
  a.send(encodePdu(IM.File.IMFilePullDataRsp, { result_code: 0, task_id: task, user_id: 1001, offset: 32_768, file_data: data.subarray(32_768) }, 3));
  t.equal(hex((await a.next())?.frame), withTask(V.done, task), '0x0503 {DONE, task, 1001}, seq 0');
  t.ok(await a.closesSilently(), 'then the uploader is closed');

  const onDisk = await readFile(join(config.offlineDir, task.slice(0, 2), task));
  t.equal(onDisk.length, 40_960, '960-byte header + 40 000 bytes');
  const text = (at: number, len: number) => onDisk.subarray(at, at + len).toString('latin1').replace(/\0+$/, '');
  t.equal(text(0, 128), task);
  t.equal(text(128, 64), '1001');
  t.equal(text(192, 64), '1002');
  t.ok(Math.abs(Number(text(256, 128)) - Date.now() / 1000) < 60, 'create time @256');
  t.ok(onDisk.subarray(384, 896).equals(Buffer.alloc(512)), 'file name @384: zeros, as the original');
  t.equal(text(896, 64), '40000');
  t.ok(onDisk.subarray(960).equals(data), 'data @960');

  // The receiver, later.
  const wrong = await RawPeer.client(fs.clientPort);
  wrong.send(withTask(V.downloadLogin, task).replace('08ea07', '08e907'));
  const refused = (await wrong.next())!;
  t.same(IM.File.IMFileLoginRsp.decode(refused.body), { result_code: 1, task_id: task }, 'role 4 by 1001 (the sender): result 1');
  t.ok(await wrong.closesSilently(), 'and closed');

  const b = await RawPeer.client(fs.clientPort);
  b.send(withTask(V.downloadLogin, task));
  const ok = (await b.next())!;
  t.equal(ok.seqNum, 4);
  t.same(IM.File.IMFileLoginRsp.decode(ok.body), { result_code: 0, task_id: task });
  b.send(withTask(V.downloadPull, task));
  const first = (await b.next())!;
  t.equal(first.seqNum, 5, 'seq echoed');
  const body = IM.File.IMFilePullDataRsp.decode(first.body);
  t.match(body, { result_code: 0, task_id: task, user_id: 1002, offset: 0 });
  t.equal(body.file_data.length, 32_768, 'asked 34 816, got the server\'s 32 768');
  t.ok(Buffer.from(body.file_data).equals(data.subarray(0, 32_768)));
  t.equal(
    first.body.subarray(0, 2 + 2 + 36 + 3 + 2 + 4).toString('hex'),
    `0800${'1224' + Buffer.from(task).toString('hex')}18ea0720002a808002`,
    'body 0800 1224<task> 18ea07 2000 2a808002 <data>',
  );
  b.send(encodePdu(IM.File.IMFilePullDataReq, { task_id: task, user_id: 1002, trans_mode: 2, offset: 32_768, data_size: 34_816 }, 6));
  const second = IM.File.IMFilePullDataRsp.decode((await b.next())!.body);
  t.ok(Buffer.from(second.file_data).equals(data.subarray(32_768)), 'the last 7 232 bytes');
  t.equal(hex((await b.next())?.frame), withTask(V.done, task), 'DONE {user = the uploader 1001}');
  t.ok(await b.closesSilently());

  // The file stays for another download; a pull at the wrong offset is closed without a reply.
  const again = await RawPeer.client(fs.clientPort);
  again.send(withTask(V.downloadLogin, task));
  t.equal(IM.File.IMFileLoginRsp.decode((await again.next())!.body).result_code, 0);
  again.send(encodePdu(IM.File.IMFilePullDataReq, { task_id: task, user_id: 1002, trans_mode: 2, offset: 30_000, data_size: 34_816 }, 7));
  t.ok(await again.closesSilently(), 'B pulls offset 30000: closed, no reply');
});

t.test('online relay: the pull reaches the sender byte for byte, the data the receiver with the pull\'s seq', async (t) => {
  const { fs } = await startTestFileServer(t);
  const msg = await RawPeer.msgServer(fs.internalPort);
  msg.send(encodePdu(IM.Server.IMFileTransferReq, { from_user_id: 1001, to_user_id: 1002, file_name: 'a.bin', file_size: 100_000, trans_mode: 1 }, 9));
  const task = IM.Server.IMFileTransferRsp.decode((await msg.next())!.body).task_id as string;
  const a = await RawPeer.client(fs.clientPort);
  a.send(encodePdu(IM.File.IMFileLoginReq, { user_id: 1001, task_id: task, file_role: 1 }, 1));
  t.equal(IM.File.IMFileLoginRsp.decode((await a.next())!.body).result_code, 0);
  const b = await RawPeer.client(fs.clientPort);
  b.send(encodePdu(IM.File.IMFileLoginReq, { user_id: 1002, task_id: task, file_role: 2 }, 1));
  t.equal(IM.File.IMFileLoginRsp.decode((await b.next())!.body).result_code, 0);
  const ready = (await b.next())!;
  t.equal(ready.seqNum, 0);
  t.same(IM.File.IMFileState.decode(ready.body), { state: 0, task_id: task, user_id: 1001 }, 'PEER_READY {task, from_user} to the receiver');
  const pull = encodePdu(IM.File.IMFilePullDataReq, { task_id: task, user_id: 1002, trans_mode: 1, offset: 0, data_size: 34_816 }, 5);
  b.send(pull);
  t.equal(hex((await a.next())?.frame), pull.toString('hex'), 'the sender gets the receiver\'s PDU as is');
  const chunk = randomBytes(34_816);
  const answer = encodePdu(IM.File.IMFilePullDataRsp, { result_code: 0, task_id: task, user_id: 1001, offset: 0, file_data: chunk }, 0x1234);
  a.send(answer);
  const relayed = (await b.next())!;
  t.equal(relayed.seqNum, 5, 'seq set to the receiver\'s request seq');
  t.ok(relayed.body.equals(answer.subarray(16)), 'the body unchanged');
  const done = encodePdu(IM.File.IMFileState, { state: 3, task_id: task, user_id: 1002 }, 0);
  b.send(done);
  t.equal(hex((await a.next())?.frame), done.toString('hex'), 'DONE forwarded unchanged');
  t.ok(await a.closesSilently());
  t.ok(await b.closesSilently());
  t.equal(fs.context.tasks.size, 0);
});
