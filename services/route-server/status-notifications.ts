/**
 * Who hears about a user's status change, and with what (behaviour.md §4.3
 * row 0x070a, §5.3). Two notifications, both sent to every msg-server link:
 *   0x0203 IMUserStatNotify            -> msg servers forward it to PC clients (buddy list dots)
 *   0x070e IMServerPCLoginStatusNotify -> msg servers tell the user's own mobile clients
 *                                         whether a PC client of theirs is logged in
 * Only PC devices drive these: a mobile login or logout is not announced.
 */
import { IM } from '../../pdu/commands';
import { encodePdu } from '../../pdu/encode';
import { isPcClientType, type OnlineUserMap, type PresenceChange } from './online-user-map';
import type { MsgServerLinks } from './msg-server-links';

const { UserStatType } = IM.BaseDefine;

export class StatusNotifier {
  constructor(
    private readonly users: OnlineUserMap,
    private readonly links: MsgServerLinks,
  ) {}

  /**
   * After a CID_OTHER_USER_STATUS_UPDATE has been applied to the map:
   * (a) login-status notify, while the user still has a device somewhere:
   *     OFFLINE of a PC device when no PC device remains -> 0; any non-OFFLINE
   *     status while a PC device is present -> 1.
   * (b) buddy status notify for PC devices, except an OFFLINE while another PC
   *     device of the user is still online (the user did not go offline).
   */
  statusUpdated(userId: number, status: number, clientType: number): void {
    const pc = isPcClientType(clientType);
    const pcRemains = this.users.hasPcDevice(userId);
    const offline = status === UserStatType.USER_STATUS_OFFLINE;
    if (this.users.hasUser(userId)) {
      if (offline) {
        if (pc && !pcRemains) this.loginStatus(userId, false);
      } else if (pcRemains) {
        this.loginStatus(userId, true);
      }
    }
    if (pc && !(offline && pcRemains)) this.buddyStatus(userId, status);
  }

  /**
   * After a link's devices were replaced (snapshot) or removed (link closed):
   * announce every user whose PC presence flipped, as if their status updates
   * had arrived one by one. `statusOf` gives the status to announce for a
   * user who came online (ONLINE or LEAVE, from the snapshot).
   * Returns how many users were announced.
   */
  presenceChanged(changes: readonly PresenceChange[], statusOf?: (userId: number) => number): number {
    let announced = 0;
    for (const change of changes) {
      if (change.hadPc === change.hasPc) continue;
      announced++;
      const status = change.hasPc
        ? (statusOf?.(change.userId) ?? UserStatType.USER_STATUS_ONLINE)
        : UserStatType.USER_STATUS_OFFLINE;
      // Same rule as for single updates: the login-status notify is for the
      // user's remaining (mobile) devices, so it is skipped when none remain.
      if (change.stillOnline) this.loginStatus(change.userId, change.hasPc);
      this.buddyStatus(change.userId, status);
    }
    return announced;
  }

  private loginStatus(userId: number, pcLoggedIn: boolean): void {
    this.links.sendToAll(
      encodePdu(IM.Server.IMServerPCLoginStatusNotify, { user_id: userId, login_status: pcLoggedIn ? 1 : 0 }),
    );
  }

  private buddyStatus(userId: number, status: number): void {
    this.links.sendToAll(encodePdu(IM.Buddy.IMUserStatNotify, { user_stat: { user_id: userId, status } }));
  }
}
