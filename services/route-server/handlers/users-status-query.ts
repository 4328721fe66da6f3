/**
 * CID_BUDDY_LIST_USERS_STATUS_REQUEST: a msg server asks whether users are
 * online (for a client's buddy list, or to decide between a push and an online
 * file transfer). Answered from the map to the asking link only, with the
 * request's seq_num and attach_data echoed so the msg server can find who asked.
 * At most `maxIds` ids are answered (the first ones): a query with millions of
 * ids would hold the route server, and every link, for seconds.
 */
import { IM } from '../../../pdu/commands';
import { LogThrottle } from '../../../lib/log-throttle';
import type { RouteDispatcher, RouteState } from './context';

const { UserStatType } = IM.BaseDefine;

export function registerUsersStatusQueryHandlers(dispatcher: RouteDispatcher, { users, logger }: RouteState, maxIds: number): void {
  const throttle = new LogThrottle();
  dispatcher.on(IM.Buddy.IMUsersStatReq, (request, pdu, link) => {
    let ids = request.user_id_list;
    if (ids.length > maxIds) {
      throttle.run(`truncated:${link.id}`, (suppressed) =>
        logger.warn({ conn: link.id, peer: link.remoteAddress, ids: ids.length, maxIds, similarNotLogged: suppressed }, 'users-status query over the id limit: only the first ids answered'),
      );
      ids = ids.slice(0, maxIds);
    }
    const reply: IM.Buddy.IIMUsersStatRsp = {
      user_id: request.user_id,
      user_stat_list: ids.map((userId) => ({
        user_id: userId,
        // PC devices only: a mobile-only user reads as offline (see OnlineUsersView.isOnline).
        status: users.isOnline(userId) ? UserStatType.USER_STATUS_ONLINE : UserStatType.USER_STATUS_OFFLINE,
      })),
    };
    // Echo attach_data only when it was sent, so the reply carries exactly the fields the original's would.
    if (Object.prototype.hasOwnProperty.call(request, 'attach_data')) reply.attach_data = request.attach_data;
    link.reply(pdu, IM.Buddy.IMUsersStatRsp, reply);
  });
}
