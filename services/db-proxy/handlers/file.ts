/** Offline file transfers waiting for their receiver (IMTransmitFile). */
import type { RowDataPacket } from 'mysql2/promise';
import { IM } from '../../../pdu/commands';
import type { Dispatcher } from '../../../pdu/dispatch';
import type { DbProxyContext } from '../context';
import { ok, serve, serveWithoutReply, type DbRequest } from '../db-request';
import { unixNow } from '../message-tables';

/** IMTransmitFile column sizes. */
const MAX_FILE_NAME = 512;
const MAX_TASK_ID = 128;

export function registerFileHandlers(d: Dispatcher<DbRequest>, ctx: DbProxyContext): void {
  serve(d, IM.File.IMFileHasOfflineReq, IM.File.IMFileHasOfflineRsp, async (req) => {
    // The file servers delete offline files after offlineFileTtlSec; their rows go with them.
    const oldest = unixNow() - ctx.config.offlineFileTtlSec;
    await ctx.mysql.query('DELETE FROM IMTransmitFile WHERE toId = ? AND created < ?', [req.user_id, oldest]);
    const rows = await ctx.mysql.query<RowDataPacket[]>(
      'SELECT fromId, taskId, fileName, size FROM IMTransmitFile WHERE toId = ? AND status = 0 AND created >= ? ORDER BY created, id',
      [req.user_id, oldest],
    );
    return ok({
      user_id: req.user_id,
      offline_file_list: rows.map((r) => ({
        from_user_id: Number(r.fromId),
        task_id: String(r.taskId),
        file_name: String(r.fileName),
        file_size: Number(r.size),
      })),
      // The msg server adds its file servers' addresses.
      ip_addr_list: [],
    });
  });

  serveWithoutReply(d, IM.File.IMFileAddOfflineReq, async (req) => {
    if ([...req.file_name].length > MAX_FILE_NAME || [...req.task_id].length > MAX_TASK_ID || req.task_id === '') {
      ctx.logger.warn({ from: req.from_user_id, to: req.to_user_id }, 'offline file refused: task id or file name empty or too long');
      return;
    }
    if (!(await ctx.users.enabled([req.to_user_id])).has(req.to_user_id)) {
      ctx.logger.warn({ from: req.from_user_id, to: req.to_user_id }, 'offline file refused: the receiver is not an enabled user');
      return;
    }
    const now = unixNow();
    await ctx.mysql.query(
      'INSERT INTO IMTransmitFile (fromId, toId, fileName, size, taskId, status, created, updated) VALUES (?, ?, ?, ?, ?, 0, ?, ?)',
      [req.from_user_id, req.to_user_id, req.file_name, req.file_size, req.task_id, now, now],
    );
  });

  serveWithoutReply(d, IM.File.IMFileDelOfflineReq, async (req) => {
    await ctx.mysql.query('DELETE FROM IMTransmitFile WHERE fromId = ? AND toId = ? AND taskId = ?', [
      req.from_user_id,
      req.to_user_id,
      req.task_id,
    ]);
  });
}
