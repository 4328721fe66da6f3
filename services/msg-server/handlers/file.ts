/**
 * File family, msg-server side (behaviour.md §17, files.md §3.2). A file
 * request becomes a task on a file server (0x0731/0x0732): the sender gets the
 * task id and the file server's addresses (0x0507), the receiver a notice
 * (0x0508, here to its PC clients, elsewhere through the route server). An
 * online request for a receiver with no PC client anywhere becomes offline (a
 * phone has no file transfer). Offline files are listed from IMTransmitFile
 * with the file server's addresses. Without a linked file server requests are
 * refused, as the original.
 */
import { IM } from '../../../pdu/commands';
import { AttachType, encodePduAttach } from '../../../pdu/attach';
import type { Dispatcher } from '../../../pdu/dispatch';
import { encodeBody, encodePdu } from '../../../pdu/encode';
import type { Pdu } from '../../../pdu/frame';
import { errorMessage } from '../../../lib/errors';
import { isPcClient, type ClientConn } from '../client-session';
import type { MsgServerContext } from '../context';
import { answer, handleAttach, reportDbFailure, withoutAttach } from './common';

const { TransferFileType, UserStatType } = IM.BaseDefine;

export function registerFileHandlers(d: Dispatcher<ClientConn>, ctx: MsgServerContext): void {
  d.on(IM.File.IMFileReq, (req, pdu, conn) => requestTransfer(ctx, conn, req, pdu));
  d.on(IM.File.IMFileHasOfflineReq, (req, pdu, conn) => {
    req.user_id = conn.userId;
    req.attach_data = handleAttach(conn);
    ctx.db.request(IM.File.IMFileHasOfflineReq, req, IM.File.IMFileHasOfflineRsp).then(
      (rsp) => answer(conn, pdu, IM.File.IMFileHasOfflineRsp, { ...withoutAttach(rsp), ip_addr_list: ctx.files.offlineAddresses() }),
      (err: unknown) => reportDbFailure(ctx, conn, pdu, IM.File.IMFileHasOfflineRsp, err),
    );
  });
  d.on(IM.File.IMFileAddOfflineReq, (req, _pdu, conn) => {
    req.from_user_id = conn.userId;
    ctx.db.send(IM.File.IMFileAddOfflineReq, req);
    notifyReceiver(ctx, {
      from_user_id: req.from_user_id,
      to_user_id: req.to_user_id,
      file_name: req.file_name,
      file_size: req.file_size,
      task_id: req.task_id,
      ip_addr_list: ctx.files.offlineAddresses(),
      trans_mode: TransferFileType.FILE_TYPE_OFFLINE,
      offline_ready: 1,
    });
  });
  d.on(IM.File.IMFileDelOfflineReq, (req, _pdu, conn) => {
    if (req.from_user_id !== conn.userId && req.to_user_id !== conn.userId) {
      ctx.logger.warn({ conn: conn.id, userId: conn.userId }, 'offline file delete for someone else\'s transfer refused');
      return;
    }
    ctx.db.send(IM.File.IMFileDelOfflineReq, req);
  });
}

/** The receiver's PC clients here, and every msg server through the route server (all its devices there). */
function notifyReceiver(ctx: MsgServerContext, notify: IM.File.IIMFileNotify): void {
  const frame = encodePdu(IM.File.IMFileNotify, notify);
  for (const c of ctx.users.get(notify.to_user_id)?.connections ?? []) {
    if (isPcClient(c.clientType)) c.sendFrame(frame);
  }
  ctx.routes.relayFrame(frame);
}

async function requestTransfer(ctx: MsgServerContext, conn: ClientConn, req: IM.File.IMFileReq, pdu: Pdu): Promise<void> {
  const log = { conn: conn.id, userId: conn.userId, to: req.to_user_id, size: req.file_size };
  const fail = (why: string) => {
    ctx.logger.info({ ...log, why }, 'file transfer refused');
    answer(conn, pdu, IM.File.IMFileRsp, {
      result_code: 1,
      from_user_id: conn.userId,
      to_user_id: req.to_user_id,
      file_name: req.file_name,
      task_id: '',
      ip_addr_list: [],
      trans_mode: req.trans_mode,
    });
  };
  if (!ctx.files.available) return fail('no file server is linked');
  const mode = req.trans_mode === TransferFileType.FILE_TYPE_ONLINE ? await onlineOrOffline(ctx, conn, req) : req.trans_mode;
  const server = ctx.files.pick();
  if (server === null) return fail('no file server is linked');
  const transfer: IM.Server.IIMFileTransferReq = {
    from_user_id: conn.userId,
    to_user_id: req.to_user_id,
    file_name: req.file_name,
    file_size: req.file_size,
    trans_mode: mode,
    attach_data: handleAttach(conn),
  };
  let rsp: IM.Server.IMFileTransferRsp;
  try {
    rsp = await server.conn.request(IM.Server.IMFileTransferReq, transfer as IM.Server.IMFileTransferReq, IM.Server.IMFileTransferRsp);
  } catch (err) {
    return fail(`file server did not answer: ${errorMessage(err)}`);
  }
  if (rsp.result_code !== 0 || !rsp.task_id) return fail('the file server refused the task (size, limits or mode)');
  answer(conn, pdu, IM.File.IMFileRsp, {
    result_code: 0,
    from_user_id: conn.userId,
    to_user_id: req.to_user_id,
    file_name: req.file_name,
    task_id: rsp.task_id,
    ip_addr_list: server.addresses,
    trans_mode: mode,
  });
  ctx.logger.info({ ...log, task: rsp.task_id, mode }, 'file task created');
  notifyReceiver(ctx, {
    from_user_id: conn.userId,
    to_user_id: req.to_user_id,
    file_name: req.file_name,
    file_size: req.file_size,
    task_id: rsp.task_id,
    ip_addr_list: server.addresses,
    trans_mode: mode,
    offline_ready: 0,
  });
}

/**
 * ONLINE when the receiver has a PC client here or (route server) anywhere;
 * otherwise OFFLINE, so the file waits for them. The route query carries the
 * original's attach type 5.
 */
async function onlineOrOffline(ctx: MsgServerContext, conn: ClientConn, req: IM.File.IMFileReq): Promise<number> {
  const { FILE_TYPE_ONLINE, FILE_TYPE_OFFLINE } = TransferFileType;
  if (ctx.users.get(req.to_user_id)?.connections.some((c) => isPcClient(c.clientType))) return FILE_TYPE_ONLINE;
  const body = encodeBody(IM.Server.IMFileTransferReq, { from_user_id: conn.userId, to_user_id: req.to_user_id, file_name: req.file_name, file_size: req.file_size, trans_mode: FILE_TYPE_ONLINE });
  try {
    const rsp = await ctx.routes.request(
      IM.Buddy.IMUsersStatReq,
      { user_id: conn.userId, user_id_list: [req.to_user_id], attach_data: encodePduAttach(AttachType.HANDLE_AND_PDU_FOR_FILE, conn.id, body) },
      IM.Buddy.IMUsersStatRsp,
    );
    return rsp.user_stat_list.some((s) => s.user_id === req.to_user_id && s.status === UserStatType.USER_STATUS_ONLINE) ? FILE_TYPE_ONLINE : FILE_TYPE_OFFLINE;
  } catch (err) {
    ctx.logger.warn({ conn: conn.id, userId: conn.userId, err: errorMessage(err) }, 'route server status unknown: file sent offline');
    return FILE_TYPE_OFFLINE;
  }
}
