/**
 * The client port (files.md §3.3-§3.5): log in to a task (0x0501), then move
 * its data. Online, the receiver pulls (0x0504) and the pull is relayed to the
 * sender, whose data (0x0505) is relayed back with the pull's seq_num; nothing
 * is stored. Offline, the server asks the uploader for each 32 768-byte block in
 * turn and serves the receiver the same blocks from disk. 0x0503 (done, cancel,
 * refuse) goes to the peer and ends the task.
 *
 * Every PDU after login must name the logged-in user and task, and pulls must
 * come from the task's receiver; anything else closes the connection without a
 * reply, as the original. A failed login gets result 1 and is closed.
 */
import { IM } from '../../../pdu/commands';
import type { Dispatcher } from '../../../pdu/dispatch';
import { withSeqNum, type Pdu } from '../../../pdu/frame';
import { errorMessage } from '../../../lib/errors';
import type { FileServerContext } from '../context';
import { BLOCK_BYTES, TASK_ID_PATTERN, blockCount, blockLength } from '../offline-files';
import { FileClientConn, FileRole, TransferMode, type TransferTask } from '../transfer-tasks';

const { ClientFileState } = IM.BaseDefine;

/** Pulls a receiver may have waiting for the sender's data at once (bounds relayed memory). */
const MAX_PENDING_PULLS = 32;

export function registerClientHandlers(d: Dispatcher<FileClientConn>, ctx: FileServerContext): void {
  d.on(IM.File.IMFileLoginReq, (req, pdu, conn) => login(ctx, conn, req, pdu));
  d.on(IM.File.IMFileState, (msg, pdu, conn) => {
    if (!isOwn(ctx, conn, msg.user_id, msg.task_id, 'state')) return;
    fileState(ctx, conn, msg, pdu);
  });
  d.on(IM.File.IMFilePullDataReq, (req, pdu, conn) => {
    if (!isOwn(ctx, conn, req.user_id, req.task_id, 'pull')) return;
    if (conn.role === FileRole.RECEIVER) return relayPull(ctx, conn, req, pdu);
    if (conn.role === FileRole.DOWNLOADER) return queue(ctx, conn, () => serveBlock(ctx, conn, req, pdu));
    reject(ctx, conn, `a pull from the ${roleName(conn.role)}`);
  });
  d.on(IM.File.IMFilePullDataRsp, (data, pdu, conn) => {
    if (!isOwn(ctx, conn, data.user_id, data.task_id, 'data')) return;
    if (conn.role === FileRole.SENDER) return relayData(ctx, conn, data, pdu);
    if (conn.role === FileRole.UPLOADER) return queue(ctx, conn, () => storeBlock(ctx, conn, data));
    reject(ctx, conn, `data from the ${roleName(conn.role)}`);
  });
}

function roleName(role: number): string {
  return ['(not logged in)', 'sender', 'receiver', 'uploader', 'downloader'][role] ?? `role ${role}`;
}

/** Closes a connection that broke a rule (no reply, as the original). */
function reject(ctx: FileServerContext, conn: FileClientConn, why: string): void {
  ctx.logger.warn({ conn: conn.id, userId: conn.userId, task: conn.taskId || undefined, peer: conn.remoteAddress, why }, 'file client closed');
  conn.destroy(why);
}

function isOwn(ctx: FileServerContext, conn: FileClientConn, userId: number, taskId: string, what: string): boolean {
  if (conn.role === 0) {
    reject(ctx, conn, `${what} before login`);
    return false;
  }
  if (userId !== conn.userId || taskId !== conn.taskId) {
    reject(ctx, conn, `${what} for another user or task`);
    return false;
  }
  return true;
}

/** Runs file I/O of one connection in order; reading pauses while it is busy. */
function queue(ctx: FileServerContext, conn: FileClientConn, step: () => Promise<void>): void {
  conn.pauseReading();
  conn.work = conn.work
    .then(step)
    .catch((err: unknown) => reject(ctx, conn, `file I/O failed: ${errorMessage(err)}`))
    .finally(() => conn.resumeReading());
}

// ---- login ----

function login(ctx: FileServerContext, conn: FileClientConn, req: IM.File.IMFileLoginReq, pdu: Pdu): void {
  if (conn.role !== 0) return reject(ctx, conn, 'second login on one connection');
  const refuse = (why: string) => {
    ctx.logger.info({ conn: conn.id, userId: req.user_id, task: req.task_id.slice(0, 40), role: req.file_role, why }, 'file login refused');
    conn.reply(pdu, IM.File.IMFileLoginRsp, { result_code: 1, task_id: req.task_id });
    conn.close(`file login refused: ${why}`);
  };
  if (!TASK_ID_PATTERN.test(req.task_id)) return refuse('not a task id');
  const role = req.file_role;
  if (role === FileRole.DOWNLOADER) {
    // Offline files live on disk; the receiver logs in by the task id the msg server gave it.
    conn.role = -1;
    queue(ctx, conn, async () => {
      if (ctx.tasks.get(req.task_id)?.state === 'uploading') return refuse('the file is still being uploaded');
      const download = await ctx.offline.openDownload(req.task_id, req.user_id);
      if (download === null) return refuse('no offline file of this task for this user');
      if (!conn.isOpen) return download.close();
      enter(conn, req, null);
      conn.download = download;
      conn.reply(pdu, IM.File.IMFileLoginRsp, { result_code: 0, task_id: req.task_id });
      ctx.logger.info({ conn: conn.id, userId: conn.userId, task: conn.taskId, size: download.header.fileSize }, 'offline download started');
    });
    return;
  }
  const task = ctx.tasks.get(req.task_id);
  if (task === undefined) return refuse('no such task');
  if (role === FileRole.SENDER || role === FileRole.RECEIVER) {
    if (task.mode !== TransferMode.ONLINE) return refuse('not an online task');
    const sending = role === FileRole.SENDER;
    if (req.user_id !== (sending ? task.fromUserId : task.toUserId)) return refuse(`not this task's ${sending ? 'sender' : 'receiver'}`);
    if ((sending ? task.sender : task.receiver) !== null) return refuse(`the ${sending ? 'sender' : 'receiver'} is already logged in`);
    enter(conn, req, task);
    if (sending) task.sender = conn;
    else task.receiver = conn;
    task.touch();
    conn.reply(pdu, IM.File.IMFileLoginRsp, { result_code: 0, task_id: task.id });
    if (task.sender !== null && task.receiver !== null) {
      task.state = 'transferring';
      task.receiver.send(IM.File.IMFileState, { state: ClientFileState.CLIENT_FILE_PEER_READY, task_id: task.id, user_id: task.fromUserId });
      ctx.logger.info({ task: task.id, from: task.fromUserId, to: task.toUserId, size: task.fileSize }, 'online transfer: both sides ready');
    }
    return;
  }
  if (role === FileRole.UPLOADER) {
    if (task.mode !== TransferMode.OFFLINE) return refuse('not an offline task');
    if (req.user_id !== task.fromUserId) return refuse('not this task\'s sender');
    if (task.state !== 'ready') return refuse('the upload is already in progress');
    task.state = 'uploading';
    task.uploader = conn;
    enter(conn, req, task);
    queue(ctx, conn, async () => {
      const upload = await ctx.offline.beginUpload({
        taskId: task.id,
        fromUserId: task.fromUserId,
        toUserId: task.toUserId,
        createTime: Math.floor(Date.now() / 1000),
        fileSize: task.fileSize,
      });
      if (upload === null) {
        task.state = 'ready';
        task.uploader = null;
        return refuse('offline storage quota reached');
      }
      if (!conn.isOpen || task.uploader !== conn) {
        await ctx.offline.abortUpload(upload);
        return;
      }
      task.upload = upload;
      task.uploadedBlocks = 0;
      task.touch();
      conn.reply(pdu, IM.File.IMFileLoginRsp, { result_code: 0, task_id: task.id });
      askForBlock(conn, task);
    });
    return;
  }
  refuse(`unknown file_role ${role}`);
}

function enter(conn: FileClientConn, req: IM.File.IMFileLoginReq, task: TransferTask | null): void {
  conn.role = req.file_role;
  conn.userId = req.user_id;
  conn.taskId = req.task_id;
  conn.task = task;
  conn.deadline = 0;
}

// ---- online: relay ----

function relayPull(ctx: FileServerContext, conn: FileClientConn, req: IM.File.IMFilePullDataReq, pdu: Pdu): void {
  const task = conn.task as TransferTask;
  if (task.state !== 'transferring' || task.sender === null) return reject(ctx, conn, 'pull before the sender is ready');
  if (req.data_size === 0 || req.data_size > ctx.config.maxChunkBytes) return reject(ctx, conn, `pull of ${req.data_size} bytes (at most maxChunkBytes ${ctx.config.maxChunkBytes})`);
  if (req.offset + req.data_size > task.fileSize) return reject(ctx, conn, 'pull beyond the end of the file');
  if (task.pulls.length >= MAX_PENDING_PULLS) return reject(ctx, conn, `more than ${MAX_PENDING_PULLS} pulls waiting`);
  task.pulls.push({ seq: pdu.seqNum, offset: req.offset, size: req.data_size });
  task.touch();
  // The receiver's PDU as is: the sender answers it.
  task.sender.sendFrame(pdu.frame);
}

function relayData(ctx: FileServerContext, conn: FileClientConn, data: IM.File.IMFilePullDataRsp, pdu: Pdu): void {
  const task = conn.task as TransferTask;
  const pull = task.pulls[0];
  if (task.state !== 'transferring' || task.receiver === null || pull === undefined) return reject(ctx, conn, 'data nobody asked for');
  if (data.offset !== pull.offset || data.file_data.length > pull.size) return reject(ctx, conn, 'data does not answer the pull (offset or size)');
  task.pulls.shift();
  task.relayedBytes += data.file_data.length;
  ctx.stats.relayedBytes += data.file_data.length;
  task.touch();
  // Back to the receiver as the answer to its pull: the pull's seq_num.
  task.receiver.sendFrame(withSeqNum(pdu.frame, pull.seq));
}

// ---- offline: upload ----

function askForBlock(conn: FileClientConn, task: TransferTask): void {
  const offset = task.uploadedBlocks * BLOCK_BYTES;
  conn.send(IM.File.IMFilePullDataReq, {
    task_id: task.id,
    user_id: task.fromUserId,
    trans_mode: TransferMode.OFFLINE,
    offset,
    data_size: blockLength(task.fileSize, task.uploadedBlocks),
  });
}

async function storeBlock(ctx: FileServerContext, conn: FileClientConn, data: IM.File.IMFilePullDataRsp): Promise<void> {
  const task = conn.task as TransferTask;
  const upload = task.upload;
  if (upload === null || task.uploader !== conn) return reject(ctx, conn, 'data before the upload started');
  const index = task.uploadedBlocks;
  const expected = blockLength(task.fileSize, index);
  if (data.offset !== index * BLOCK_BYTES) return reject(ctx, conn, `block at offset ${data.offset}, expected ${index * BLOCK_BYTES}`);
  if (data.file_data.length !== expected) return reject(ctx, conn, `block of ${data.file_data.length} bytes, expected ${expected}`);
  await upload.append(data.offset, data.file_data);
  task.uploadedBlocks++;
  task.touch();
  if (task.uploadedBlocks < blockCount(task.fileSize)) {
    askForBlock(conn, task);
    return;
  }
  await upload.finish();
  task.upload = null;
  task.uploader = null;
  ctx.tasks.remove(task);
  ctx.stats.uploadsDone++;
  ctx.logger.info({ task: task.id, from: task.fromUserId, to: task.toUserId, size: task.fileSize }, 'offline file uploaded');
  conn.send(IM.File.IMFileState, { state: ClientFileState.CLIENT_FILE_DONE, task_id: task.id, user_id: task.fromUserId });
  conn.close('offline upload complete');
}

// ---- offline: download ----

async function serveBlock(ctx: FileServerContext, conn: FileClientConn, req: IM.File.IMFilePullDataReq, pdu: Pdu): Promise<void> {
  const download = conn.download;
  if (download === null) return reject(ctx, conn, 'pull without an open file');
  const size = download.header.fileSize;
  if (req.offset !== conn.nextOffset || req.offset >= size) return reject(ctx, conn, `pull at offset ${req.offset}, expected ${conn.nextOffset}`);
  // The server dictates the block size, whatever data_size asks (files.md §3.5).
  const index = req.offset / BLOCK_BYTES;
  const length = blockLength(size, index);
  const data = await download.read(req.offset, length);
  conn.nextOffset += length;
  conn.reply(pdu, IM.File.IMFilePullDataRsp, { result_code: 0, task_id: conn.taskId, user_id: req.user_id, offset: req.offset, file_data: data });
  if (conn.nextOffset < size) return;
  ctx.stats.downloadsDone++;
  ctx.logger.info({ conn: conn.id, userId: conn.userId, task: conn.taskId, size }, 'offline file downloaded');
  conn.send(IM.File.IMFileState, { state: ClientFileState.CLIENT_FILE_DONE, task_id: conn.taskId, user_id: download.header.fromUserId });
  conn.close('offline download complete');
}

// ---- state (done / cancel / refuse) and departures ----

function fileState(ctx: FileServerContext, conn: FileClientConn, msg: IM.File.IMFileState, pdu: Pdu): void {
  const task = conn.task;
  if (task !== null && task.mode === TransferMode.ONLINE) {
    const peer = conn === task.sender ? task.receiver : task.sender;
    // Forwarded unchanged; the task is over either way.
    peer?.sendFrame(pdu.frame);
    if (msg.state === ClientFileState.CLIENT_FILE_DONE) ctx.stats.onlineDone++;
    ctx.logger.info({ task: task.id, by: conn.userId, state: msg.state, relayedBytes: task.relayedBytes }, 'online transfer ended');
    endOnlineTask(ctx, task, `file state ${msg.state}`);
    return;
  }
  if (task !== null && task.uploader === conn) void abandonUpload(ctx, task, 'cancelled by the uploader');
  // As the original: the connection that sent a state is closed.
  conn.close(`file state ${msg.state}`);
}

function endOnlineTask(ctx: FileServerContext, task: TransferTask, why: string): void {
  ctx.tasks.remove(task);
  for (const c of [task.sender, task.receiver]) c?.close(why);
  task.sender = null;
  task.receiver = null;
}

async function abandonUpload(ctx: FileServerContext, task: TransferTask, why: string): Promise<void> {
  const upload = task.upload;
  task.upload = null;
  task.uploader = null;
  task.uploadedBlocks = 0;
  task.state = 'ready';
  if (upload !== null) await ctx.offline.abortUpload(upload);
  ctx.logger.info({ task: task.id, why }, 'offline upload abandoned: partial file deleted, the sender may start again');
}

/** A client connection closed: its task learns (the peer of an online task is closed too). */
export function clientClosed(ctx: FileServerContext, conn: FileClientConn, reason: string): void {
  conn.download?.close();
  conn.download = null;
  const task = conn.task;
  if (task === null) return;
  if (task.mode === TransferMode.ONLINE && (task.sender === conn || task.receiver === conn)) {
    if (ctx.tasks.get(task.id) === task) {
      ctx.logger.info({ task: task.id, userId: conn.userId, reason }, 'online transfer party left: task ended');
      endOnlineTask(ctx, task, 'the other side left');
    }
  } else if (task.uploader === conn) {
    void abandonUpload(ctx, task, `uploader left (${reason})`);
  }
}

/** Drops a task that expired: its connections are closed, a partial upload deleted. */
export function expireTask(ctx: FileServerContext, task: TransferTask): void {
  ctx.stats.expiredTasks++;
  ctx.logger.info({ task: task.id, from: task.fromUserId, to: task.toUserId, state: task.state }, 'file task expired');
  ctx.tasks.remove(task);
  const upload = task.upload;
  task.upload = null;
  if (upload !== null) void ctx.offline.abortUpload(upload);
  for (const c of [task.sender, task.receiver, task.uploader]) c?.destroy('file task expired');
}
