/**
 * What msg servers ask (files.md §3.2): our client addresses (0x0733 -> 0x0734)
 * and a new task for a file request (0x0731 -> 0x0732, attach_data echoed so
 * the msg server finds the requesting client). A refused request gets result 1;
 * unlike the original, the msg link stays up.
 */
import { IM } from '../../../pdu/commands';
import type { PduConnection } from '../../../pdu/connection';
import type { Dispatcher } from '../../../pdu/dispatch';
import type { FileServerContext } from '../context';
import { TransferMode } from '../transfer-tasks';

/** IMTransmitFile.fileName is varchar(512). */
const MAX_FILE_NAME_CHARS = 512;

export function registerMsgServerHandlers(d: Dispatcher<PduConnection>, ctx: FileServerContext): void {
  d.on(IM.Server.IMFileServerIPReq, (_req, pdu, link) => {
    link.reply(pdu, IM.Server.IMFileServerIPRsp, { ip_addr_list: ctx.addresses() });
  });

  d.on(IM.Server.IMFileTransferReq, (req, pdu, link) => {
    const base = {
      from_user_id: req.from_user_id,
      to_user_id: req.to_user_id,
      file_name: req.file_name,
      file_size: req.file_size,
      trans_mode: req.trans_mode,
      ...(Object.prototype.hasOwnProperty.call(req, 'attach_data') ? { attach_data: req.attach_data } : {}),
    };
    const refuse = (why: string) => {
      ctx.stats.tasksRefused++;
      ctx.logger.info({ from: req.from_user_id, to: req.to_user_id, size: req.file_size, mode: req.trans_mode, why }, 'file task refused');
      link.reply(pdu, IM.Server.IMFileTransferRsp, { ...base, result_code: 1, task_id: '' });
    };
    if (req.trans_mode !== TransferMode.ONLINE && req.trans_mode !== TransferMode.OFFLINE) return refuse(`unknown trans_mode ${req.trans_mode}`);
    if (req.from_user_id === 0 || req.to_user_id === 0 || req.from_user_id === req.to_user_id) return refuse('sender and receiver must be two users');
    if (req.file_size === 0) return refuse('empty file');
    if (req.file_size > ctx.config.maxFileBytes) return refuse(`file over maxFileBytes (${ctx.config.maxFileBytes})`);
    if (req.file_name === '' || [...req.file_name].length > MAX_FILE_NAME_CHARS) return refuse('file name empty or over 512 characters');
    if (req.trans_mode === TransferMode.OFFLINE && !ctx.offline.fits(req.file_size)) return refuse('offline storage quota reached');
    const task = ctx.tasks.create(req.from_user_id, req.to_user_id, req.file_name, req.file_size, req.trans_mode);
    if (typeof task === 'string') return refuse(task);
    ctx.stats.tasksCreated++;
    ctx.logger.info({ task: task.id, from: task.fromUserId, to: task.toUserId, size: task.fileSize, mode: task.mode }, 'file task created');
    link.reply(pdu, IM.Server.IMFileTransferRsp, { ...base, result_code: 0, task_id: task.id });
  });
}
