/**
 * Registration with the login servers: our address and load on every (re)connect,
 * then +1 / -1 for each login and logout so clients are sent to the least-loaded
 * msg server. Login servers send us nothing but heartbeats.
 */
import { IM } from '../../../pdu/commands';
import { ReconnectingLink } from '../../../pdu/link';
import type { HostPort } from '../../../lib/config';
import type { Logger } from '../../../lib/log';
import type { PduConnection } from '../../../pdu/connection';
import { linkState, serverLink, type LinkState, type ServerLinkOptions } from './link-options';

export interface Registration {
  ip1: string;
  ip2: string;
  port(): number;
  /** The WebSocket URL for browsers; '' = none (the field is then left out, as the original sends it). */
  wsUrl(): string;
  /** Capacity offered to the login servers: 0 while draining (no new clients are sent here). */
  maxConnections(): number;
  hostName: string;
  /** Logged-in connections right now. */
  currentConnections(): number;
  /** https URL of the admin endpoint ('' when there is none). */
  adminUrl(): string;
}

export class LoginLinks {
  private readonly links: ReconnectingLink[];

  constructor(
    endpoints: HostPort[],
    options: ServerLinkOptions,
    private readonly registration: Registration,
    logger: Logger,
  ) {
    this.links = endpoints.map(
      (ep) =>
        new ReconnectingLink(
          { ...serverLink(options, 'login-server', ep.host, ep.port, 'login-server'), logger },
          {
            onUp: (conn) => this.register(conn),
            onPdu: () => {},
          },
        ),
    );
  }

  /** Tells every connected login server our address and load again (e.g. that we take no more clients). */
  announce(): void {
    for (const link of this.links) if (link.connection !== null) this.register(link.connection);
  }

  states(): LinkState[] {
    return this.links.map(linkState);
  }

  private register(conn: PduConnection): void {
    const r = this.registration;
    const adminUrl = r.adminUrl();
    const wsUrl = r.wsUrl();
    conn.send(IM.Server.IMMsgServInfo, {
      ip1: r.ip1,
      ip2: r.ip2,
      port: r.port(),
      max_conn_cnt: r.maxConnections(),
      cur_conn_cnt: r.currentConnections(),
      host_name: r.hostName,
      ...(adminUrl === '' ? {} : { admin_url: adminUrl }),
      ...(wsUrl === '' ? {} : { ws_url: wsUrl }),
    });
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
