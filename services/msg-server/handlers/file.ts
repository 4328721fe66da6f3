/**
 * File family, msg-server side. Transfers themselves go through a file server,
 * which this project does not provide: online requests are answered with a
 * failure ("no file server"), offline-file bookkeeping is stored and notified.
 */
import { IM } from '../../../pdu/commands';
import type { Dispatcher } from '../../../pdu/dispatch';
import { encodePdu } from '../../../pdu/encode';

import { isPcClient, type ClientConn } from '../client-session';
import type { MsgServerContext } from '../context';
import { forwardAsUser } from './common';


const { TransferFileType } = IM.BaseDefine;

export function registerFileHandlers(d: Dispatcher<ClientConn>, ctx: MsgServerContext): void {
  d.on(IM.File.IMFileReq, (req, pdu, conn) => {
    ctx.logger.info({ conn: conn.id, userId: conn.userId, to: req.to_user_id }, 'file transfer refused: no file server is configured');
    conn.reply(pdu, IM.File.IMFileRsp, {
      result_code: 1,
      from_user_id: conn.userId,
      to_user_id: req.to_user_id,
      file_name: req.file_name,
      task_id: '',
      ip_addr_list: [],
      trans_mode: req.trans_mode,
    });
  });
  forwardAsUser(d, ctx, IM.File.IMFileHasOfflineReq, IM.File.IMFileHasOfflineRsp);
  d.on(IM.File.IMFileAddOfflineReq, (req, _pdu, conn) => {
    req.from_user_id = conn.userId;
    ctx.db.send(IM.File.IMFileAddOfflineReq, req);
    const notify: IM.File.IIMFileNotify = {
      from_user_id: req.from_user_id,
      to_user_id: req.to_user_id,
      file_name: req.file_name,
      file_size: req.file_size,
      task_id: req.task_id,
      ip_addr_list: [],
      trans_mode: TransferFileType.FILE_TYPE_OFFLINE,
      offline_ready: 1,
    };
    const frame = encodePdu(IM.File.IMFileNotify, notify);
    // Locally only the receiver's PC clients are told (as the original); other msg servers tell all devices.
    for (const c of ctx.users.get(req.to_user_id)?.connections ?? []) {
      if (isPcClient(c.clientType)) c.sendFrame(frame);
    }
    ctx.routes.relayFrame(frame);
  });
  d.on(IM.File.IMFileDelOfflineReq, (req, _pdu, conn) => {
    if (req.from_user_id !== conn.userId && req.to_user_id !== conn.userId) {
      ctx.logger.warn({ conn: conn.id, userId: conn.userId }, 'offline file delete for someone else\'s transfer refused');
      return;
    }
    ctx.db.send(IM.File.IMFileDelOfflineReq, req);
  });
}
