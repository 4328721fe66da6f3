/**
 * A client connection as the msg server sees it: the PDU connection plus what
 * the server knows about its user. The fields live on the connection object
 * itself (no separate session object): a msg server holds tens of thousands.
 */
import { PduConnection } from '../../pdu/connection';
import type { OnlineUser } from './online-users';
import type { PendingDelivery } from './deliveries';

export const enum Phase {
  /** Connected, no login request yet. */
  New,
  /** Login request sent to the db-proxy, waiting for the answer. */
  Validating,
  /** Logged in. */
  Online,
  /** Logged out, kicked or refused: closing. */
  Closing,
}

export class ClientConn extends PduConnection {
  phase = Phase.New;
  userId = 0;
  loginName = '';
  /** The user_name its login request gave, as given ('' if too long to be a user's): the login ban's name. */
  loginAs = '';
  /** The user's nick (user_nick_name), for push notification texts. */
  nickName = '';
  clientType = 0;
  onlineStatus = 1;
  user: OnlineUser | null = null;
  /** When validation started, and the login's order among the user's logins (0: unknown, e.g. an original db_proxy). */
  validatingSince = 0;
  loginOrder = 0;
  /** Flood control: which one-second window `sentInWindow` counts, and drops not yet logged. */
  floodWindow = 0;
  sentInWindow = 0;
  droppedInWindow = 0;
  /** Deliveries waiting for the client's CID_MSG_DATA_ACK (created on first use). */
  unacked: PendingDelivery[] | null = null;
  /** Command budget (ClientBudget): tokens left as of budgetAt (ms). */
  budgetTokens = 0;
  budgetAt = 0;
  /** Requests waiting for the db-proxy or route server on behalf of this connection. */
  inFlight = 0;
  /** Refusals in the second refusedSecond, and when one was last logged. */
  refusedSecond = 0;
  refusedInSecond = 0;
  refusedLoggedAt = 0;
}

/** TeamTalk client classes: bit 0x10 set = mobile (iOS 0x11, Android 0x12); clear = PC (Windows 0x01, Mac 0x02). */
export function isMobileClient(clientType: number): boolean {
  return (clientType & 0x10) !== 0;
}

export function isPcClient(clientType: number): boolean {
  return (clientType & 0x10) === 0;
}

/** Windows and Mac are interchangeable, as are iOS and Android. */
export function sameClientClass(a: number, b: number): boolean {
  return ((a ^ b) >> 4) === 0;
}
