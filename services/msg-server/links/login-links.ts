/**
 * Registration with the login servers: our address and load on every (re)connect,
 * then +1 / -1 for each login and logout so clients are sent to the least-loaded
 * msg server. Login servers send us nothing but heartbeats.
 */
import { IM } from '../../../pdu/commands';
import { ReconnectingLink } from '../../../pdu/link';
import type { HostPort } from '../../../lib/config';
import type { Logger } from '../../../lib/log';
import { serverLink, type ServerLinkOptions } from './link-options';

export interface Registration {
  ip1: string;
  ip2: string;
  port(): number;
  /** The WebSocket URL for browsers; '' = none (the field is then left out, as the original sends it). */
  wsUrl(): string;
  maxConnections: number;
  hostName: string;
  /** Logged-in connections right now. */
  currentConnections(): number;
}

export class LoginLinks {
  private readonly links: ReconnectingLink[];

  constructor(endpoints: HostPort[], options: ServerLinkOptions, registration: Registration, logger: Logger) {
    this.links = endpoints.map(
      (ep) =>
        new ReconnectingLink(
          { ...serverLink(options, 'login-server', ep.host, ep.port, 'login-server'), logger },
          {
            onUp: (conn) => {
              const wsUrl = registration.wsUrl();
              conn.send(IM.Server.IMMsgServInfo, {
                ip1: registration.ip1,
                ip2: registration.ip2,
                port: registration.port(),
                max_conn_cnt: registration.maxConnections,
                cur_conn_cnt: registration.currentConnections(),
                host_name: registration.hostName,
                ...(wsUrl !== '' ? { ws_url: wsUrl } : {}),
              });
            },
            onPdu: () => {},
          },
        ),
    );
  }

  start(): void {
    for (const link of this.links) link.start();
  }

  stop(): void {
    for (const link of this.links) link.stop('msg server stopping');
  }

  get available(): boolean {
    return this.links.some((l) => l.isUp);
  }

  userCountChanged(userId: number, loggedIn: boolean): void {
    for (const link of this.links) {
      link.connection?.send(IM.Server.IMUserCntUpdate, { user_action: loggedIn ? 1 : 2, user_id: userId });
    }
  }
}
