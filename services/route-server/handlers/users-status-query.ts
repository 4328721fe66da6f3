/**
 * CID_BUDDY_LIST_USERS_STATUS_REQUEST: a msg server asks whether users are
 * online (for a client's buddy list, or to decide between a push and an online
 * file transfer). Answered from the map to the asking link only, with the
 * request's seq_num and attach_data echoed so the msg server can find who asked.
 */
import { IM } from '../../../pdu/commands';
import type { RouteDispatcher, RouteState } from './context';

const { UserStatType } = IM.BaseDefine;

export function registerUsersStatusQueryHandlers(dispatcher: RouteDispatcher, { users }: RouteState): void {
  dispatcher.on(IM.Buddy.IMUsersStatReq, (request, pdu, link) => {
    const reply: IM.Buddy.IIMUsersStatRsp = {
      user_id: request.user_id,
      user_stat_list: request.user_id_list.map((userId) => ({
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
