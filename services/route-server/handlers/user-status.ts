/**
 * How the map learns who is online (seed 004; behaviour.md §4.2, §4.3):
 *   0x0708 CID_OTHER_ONLINE_USER_INFO   the msg server's whole online list, sent on every (re)connect
 *   0x070a CID_OTHER_USER_STATUS_UPDATE one device logged in, changed status or logged out
 */
import { IM } from '../../../pdu/commands';
import type { Device } from '../online-user-map';
import type { RouteDispatcher, RouteState } from './context';

const { UserStatType } = IM.BaseDefine;

export function registerUserStatusHandlers(dispatcher: RouteDispatcher, state: RouteState): void {
  const { users, notifier, logger } = state;

  dispatcher.on(IM.Server.IMOnlineUserInfo, (message, _pdu, link) => {
    // A snapshot replaces what this link reported before: a msg server that
    // reconnects (or just re-sends) must not be counted twice.
    const devices: Device[] = [];
    const statusOf = new Map<number, number>();
    for (const entry of message.user_stat_list) {
      if (entry.status === UserStatType.USER_STATUS_OFFLINE) continue;
      devices.push({ userId: entry.user_id, clientType: entry.client_type });
      // Announce ONLINE if any device of the user is ONLINE, else its LEAVE.
      if (statusOf.get(entry.user_id) !== UserStatType.USER_STATUS_ONLINE) statusOf.set(entry.user_id, entry.status);
    }
    const changes = users.replaceLink(link.id, devices);
    const announced = notifier.presenceChanged(changes, (userId) => statusOf.get(userId) ?? UserStatType.USER_STATUS_ONLINE);
    if (link.context !== undefined) link.context.snapshots++;
    logger.info(
      {
        conn: link.id,
        peer: link.remoteAddress,
        devices: devices.length,
        users: users.usersOnLink(link.id),
        statusChanges: announced,
        resend: (link.context?.snapshots ?? 1) > 1,
      },
      'online user snapshot applied',
    );
  });

  dispatcher.on(IM.Server.IMUserStatusUpdate, (message, _pdu, link) => {
    const { user_id: userId, user_status: status, client_type: clientType } = message;
    if (status === UserStatType.USER_STATUS_OFFLINE) {
      if (!users.removeDevice(userId, link.id, clientType)) {
        logger.debug({ conn: link.id, userId, clientType }, 'offline update for a device this link never reported; ignored');
      }
    } else {
      // Every non-OFFLINE update counts one more device, as in the original: msg
      // servers send ONLINE once per login and OFFLINE once per logout.
      users.addDevice(userId, link.id, clientType);
    }
    notifier.statusUpdated(userId, status, clientType);
  });
}
