/**
 * What each fuzz target is: which port of the cluster, which commands its
 * handlers take (the fuzzer mostly sends those, plus everything else), how big
 * a PDU it accepts, and how its connections are opened.
 */
import { CID } from '../../pdu/commands';
import { DEFAULT_MAX_PDU_LENGTH } from '../../pdu/frame';
import { acceptedCommandIds, expectsReply } from '../../services/db-proxy/failure-replies';
import { RELAYED_TO_ALL, RELAYED_TO_OTHERS } from '../../services/route-server/handlers/relay';

export const TARGETS = ['msg-server', 'route-server', 'db-proxy', 'login-server'] as const;
export type Target = (typeof TARGETS)[number];

/**
 * How a fuzz connection is opened:
 *   client-new       msg-server client port, no login (anything but a login closes it)
 *   client-online    msg-server client port, logged in as a real user first
 *   plain            internal port, plain TCP (no TLS at all)
 *   tls-no-cert      internal port, TLS without a client certificate
 *   tls-foreign      internal port, TLS with a msg-server certificate from another CA
 *   tls-wrong-role   internal port, a cluster certificate whose role may not use the port
 *   tls-cluster      internal port, authenticated with a cluster msg-server certificate
 */
export type ConnectionMode = 'client-new' | 'client-online' | 'plain' | 'tls-no-cert' | 'tls-foreign' | 'tls-wrong-role' | 'tls-cluster';

export interface TargetProfile {
  target: Target;
  /** Commands the target's handlers take, with a weight each. */
  commands: ReadonlyArray<readonly [number, number]>;
  /** Its inbound PDU limit (a bigger PDU closes the connection). */
  maxPduBytes: number;
  /** Connection modes and how often each is used. */
  modes: ReadonlyArray<readonly [number, ConnectionMode]>;
  /**
   * Whether a well-framed PDU with this command id is answered exactly once
   * (used to keep a bounded number of requests in flight), or null when replies
   * cannot be predicted.
   */
  answered: ((commandId: number) => boolean) | null;
}

/** What a TeamTalk client sends to its msg server (the msg server's client handlers). */
const CLIENT_COMMANDS: ReadonlyArray<readonly [number, number]> = [
  [CID.LOGIN_REQ_USERLOGIN, 0.3],
  [CID.LOGIN_REQ_LOGINOUT, 0.03],
  [CID.LOGIN_REQ_KICKPCCLIENT, 0.3],
  [CID.LOGIN_REQ_DEVICETOKEN, 1],
  [CID.LOGIN_REQ_PUSH_SHIELD, 1],
  [CID.LOGIN_REQ_QUERY_PUSH_SHIELD, 1],
  [CID.BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST, 1],
  [CID.BUDDY_LIST_USER_INFO_REQUEST, 1],
  [CID.BUDDY_LIST_REMOVE_SESSION_REQ, 1],
  [CID.BUDDY_LIST_ALL_USER_REQUEST, 1],
  [CID.BUDDY_LIST_USERS_STATUS_REQUEST, 1],
  [CID.BUDDY_LIST_CHANGE_AVATAR_REQUEST, 1],
  [CID.BUDDY_LIST_DEPARTMENT_REQUEST, 1],
  [CID.BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST, 1],
  [CID.MSG_DATA, 3],
  [CID.MSG_DATA_ACK, 1],
  [CID.MSG_READ_ACK, 1],
  [CID.MSG_TIME_REQUEST, 1],
  [CID.MSG_UNREAD_CNT_REQUEST, 1],
  [CID.MSG_LIST_REQUEST, 1],
  [CID.MSG_GET_LATEST_MSG_ID_REQ, 1],
  [CID.MSG_GET_BY_MSG_ID_REQ, 1],
  [CID.GROUP_NORMAL_LIST_REQUEST, 1],
  [CID.GROUP_INFO_REQUEST, 1],
  [CID.GROUP_CREATE_REQUEST, 1],
  [CID.GROUP_CHANGE_MEMBER_REQUEST, 1],
  [CID.GROUP_SHIELD_GROUP_REQUEST, 1],
  [CID.FILE_REQUEST, 1],
  [CID.FILE_HAS_OFFLINE_REQ, 1],
  [CID.FILE_ADD_OFFLINE_REQ, 1],
  [CID.FILE_DEL_OFFLINE_REQ, 1],
  [CID.SWITCH_P2P_CMD, 1],
  [CID.OTHER_HEARTBEAT, 0.5],
];

/** What a msg server sends a route server. */
const ROUTE_COMMANDS: ReadonlyArray<readonly [number, number]> = [
  [CID.OTHER_ONLINE_USER_INFO, 1],
  [CID.OTHER_USER_STATUS_UPDATE, 3],
  [CID.BUDDY_LIST_USERS_STATUS_REQUEST, 2],
  [CID.OTHER_ROLE_SET, 0.5],
  [CID.OTHER_HEARTBEAT, 0.5],
  ...[...RELAYED_TO_OTHERS, ...RELAYED_TO_ALL].map((cid) => [cid, 1] as const),
];

const LOGIN_COMMANDS: ReadonlyArray<readonly [number, number]> = [
  [CID.OTHER_MSG_SERV_INFO, 2],
  [CID.OTHER_USER_CNT_UPDATE, 3],
  [CID.OTHER_HEARTBEAT, 0.5],
];

const INTERNAL_MODES: ReadonlyArray<readonly [number, ConnectionMode]> = [
  [5, 'tls-cluster'],
  [2, 'plain'],
  [1, 'tls-no-cert'],
  [1, 'tls-foreign'],
  [1, 'tls-wrong-role'],
];

export function targetProfile(target: Target): TargetProfile {
  switch (target) {
    case 'msg-server':
      return {
        target,
        commands: CLIENT_COMMANDS,
        maxPduBytes: DEFAULT_MAX_PDU_LENGTH,
        modes: [
          [3, 'client-online'],
          [2, 'client-new'],
        ],
        answered: null,
      };
    case 'route-server':
      // maxPduBytes: the route server's default (route-server config).
      return { target, commands: ROUTE_COMMANDS, maxPduBytes: 16 * 1024 * 1024, modes: INTERNAL_MODES, answered: null };
    case 'db-proxy':
      return {
        target,
        commands: [...acceptedCommandIds().map((cid) => [cid, 1] as const), [CID.OTHER_HEARTBEAT, 0.5]],
        // The db-proxy's request limit (db-proxy.ts MAX_REQUEST_PDU).
        maxPduBytes: 4 * 1024 * 1024,
        modes: INTERNAL_MODES,
        answered: expectsReply,
      };
    case 'login-server':
      // The registration port's limit (login-server.ts MSG_LINK_MAX_PDU).
      return { target, commands: LOGIN_COMMANDS, maxPduBytes: 64 * 1024, modes: INTERNAL_MODES, answered: null };
  }
}
