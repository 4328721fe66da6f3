/**
 * What msg servers tell the login server over their TCP link (behaviour.md §2.3):
 *   0x0709 CID_OTHER_MSG_SERV_INFO  on every (re)connect: addresses, client port, capacity, current load
 *   0x070b CID_OTHER_USER_CNT_UPDATE one client logged in (user_action 1) or out (anything else)
 * The login server answers nothing; the link only carries heartbeats back.
 */
import { IM } from '../../../pdu/commands';
import type { Dispatcher } from '../../../pdu/dispatch';
import type { PduConnection } from '../../../pdu/connection';
import type { Logger } from '../../../lib/log';
import { isLoopbackAddress } from '../addresses';
import { MsgServerRegistry } from '../msg-server-registry';

export interface MsgServerLinkState {
  connectedAt: number;
}

export type MsgServerLink = PduConnection<MsgServerLinkState>;

const USER_LOGGED_IN = 1;

function isWebSocketUrl(url: string): boolean {
  try {
    const { protocol } = new URL(url);
    return protocol === 'ws:' || protocol === 'wss:';
  } catch {
    return false;
  }
}

export function registerRegistrationHandlers(
  dispatcher: Dispatcher<MsgServerLink>,
  registry: MsgServerRegistry,
  logger: Logger,
): void {
  dispatcher.on(IM.Server.IMMsgServInfo, (info, _pdu, link) => {
    const log = { conn: link.id, peer: link.remoteAddress, ip1: info.ip1, ip2: info.ip2, port: info.port, hostName: info.host_name, wsUrl: info.ws_url };
    if (info.ip1 === '' || info.port < 1 || info.port > 65535) {
      // Handing this to clients would only send them nowhere.
      logger.warn(log, 'msg server registration without a usable address or port; not listed');
      return;
    }
    const wsUrl = info.ws_url ?? '';
    if (wsUrl !== '' && !isWebSocketUrl(wsUrl)) {
      logger.warn(log, 'msg server registration with a ws_url that is not a ws:// or wss:// URL; not offered to web clients');
    }
    const updating = registry.get(link.id) !== undefined;
    const entry = registry.register(link.id, link.remoteAddress, link.context?.connectedAt ?? Date.now(), {
      ip1: info.ip1,
      ip2: info.ip2 === '' ? info.ip1 : info.ip2,
      port: info.port,
      maxConnections: info.max_conn_cnt,
      currentConnections: info.cur_conn_cnt,
      hostName: info.host_name,
      wsUrl: isWebSocketUrl(wsUrl) ? wsUrl : '',
      adminUrl: adminUrlOf(info.admin_url ?? '', link.remoteAddress),
    });
    const advertisesLoopback = isLoopbackAddress(entry.ip1) || isLoopbackAddress(entry.ip2);
    const draining = MsgServerRegistry.isDraining(entry);
    logger.info(
      { ...log, max: entry.maxConnections, cur: entry.currentConnections, admin: entry.adminUrl, draining, advertisesLoopback, msgServers: registry.size },
      draining ? 'msg server is draining: no new clients are sent there' : updating ? 'msg server registration updated' : 'msg server registered',
    );
  });

  dispatcher.on(IM.Server.IMUserCntUpdate, (update, _pdu, link) => {
    const entry = registry.userCountChanged(link.id, update.user_action === USER_LOGGED_IN);
    if (entry === undefined) {
      logger.debug({ conn: link.id, userId: update.user_id }, 'user count update from a msg server that has not registered; ignored');
    }
  });
}

/**
 * The msg server's admin URL as others reach it: "https://HOST:PORT" only
 * (anything else is dropped); a wildcard bind address is replaced by the
 * address its link comes from.
 */
export function adminUrlOf(raw: string, linkPeer: string): string | null {
  const m = /^https:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw);
  if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) return null;
  let host = m[1];
  if (host === '0.0.0.0' || host === '[::]') {
    const peer = linkPeer.replace(/:\d+$/, '').replace(/^::ffff:/, '');
    host = peer.includes(':') ? `[${peer}]` : peer;
  }
  return `https://${host}:${m[2]}`;
}
