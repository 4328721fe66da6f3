/**
 * Links to every route server. The oldest open link is the master: relayed
 * traffic (messages, kicks, notifies) and users-status queries go to it; status
 * updates go to all. On every (re)connect the route server gets our full
 * online-user snapshot, so a restarted route server heals by itself.
 *
 * Relays survive the master's death (RelayJournal): what was sent shortly
 * before it died, and what is relayed while no route server is up, goes to the
 * next master (the same one restarted, or another) as soon as it is there.
 */
import { IM, type BodyOf, type MessageClass, type MessageOf } from '../../../pdu/commands';
import type { PduConnection } from '../../../pdu/connection';
import { encodePdu } from '../../../pdu/encode';
import type { Pdu } from '../../../pdu/frame';
import { ReconnectingLink } from '../../../pdu/link';
import type { HostPort } from '../../../lib/config';
import { LinkUnavailableError } from '../../../lib/errors';
import { Waiters } from '../../../lib/waiters';
import type { Logger } from '../../../lib/log';
import type { RelayJournal } from '../relay-journal';
import { linkState, serverLink, type LinkState, type ServerLinkOptions } from './link-options';

export interface RouteLinkHooks {
  /** Every logged-in connection, for the snapshot sent on connect. */
  snapshot(): IM.BaseDefine.IServerUserStat[];
  /** A PDU from a route server that is not a reply to our request. */
  onPdu(pdu: Pdu, from: PduConnection): void;
  /** Some route link went down / every route link is up again (receivers keep what they delivered meanwhile). */
  onLinkDown?(): void;
  onAllLinksUp?(): void;
}

export class RouteLinks {
  private readonly links: ReconnectingLink[];
  private readonly upSince = new Map<ReconnectingLink, number>();
  private master: ReconnectingLink | null = null;
  private readonly upWaiters = new Waiters();

  constructor(
    endpoints: HostPort[],
    options: ServerLinkOptions,
    private readonly hooks: RouteLinkHooks,
    private readonly logger: Logger,
    readonly journal: RelayJournal,
  ) {
    this.links = endpoints.map(
      (ep, i) =>
        new ReconnectingLink(
          { ...serverLink(options, endpoints.length > 1 ? `route-server#${i + 1}` : 'route-server', ep.host, ep.port, 'route-server'), logger },
          {
            onUp: (conn, link) => this.onUp(conn, link),
            onPdu: (conn, pdu) => this.hooks.onPdu(pdu, conn),
            onDown: (link) => this.onDown(link),
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
    return this.masterConnection() !== null;
  }

  /** Resolves once a route server is connected (and master). */
  whenAvailable(): Promise<void> {
    return this.available ? Promise.resolve() : this.upWaiters.wait().then(() => undefined);
  }

  states(): Array<LinkState & { master: boolean }> {
    return this.links.map((link) => ({ ...linkState(link), master: link === this.master }));
  }

  masterConnection(): PduConnection | null {
    const conn = this.master?.connection ?? null;
    return conn !== null && conn.isOpen ? conn : null;
  }

  /**
   * Relays a ready-made PDU through the master route server; while none is up
   * it is kept (RelayJournal) and sent once one is.
   */
  relayFrame(frame: Buffer): void {
    const conn = this.masterConnection();
    if (conn !== null && conn.sendFrame(frame)) this.journal.sent(frame, Date.now());
    else this.journal.hold(frame);
  }

  /** Sends what a past outage may have lost again when a repeat is due (called once a second). */
  repeatDue(now: number): void {
    const conn = this.masterConnection();
    if (conn === null) return;
    const frames = this.journal.dueRepeat(now);
    for (const frame of frames) conn.sendFrame(frame);
    if (frames.length > 0) this.logger.info({ resent: frames.length }, 'relays of the last route outage sent again (receivers skip repeats)');
  }

  relay<T extends MessageClass>(type: T, body: BodyOf<T>): void {
    this.relayFrame(encodePdu(type, body));
  }

  /** Sent to every route server (each keeps its own user map). */
  broadcast<T extends MessageClass>(type: T, body: BodyOf<T>): void {
    for (const link of this.links) link.connection?.send(type, body);
  }

  request<Q extends MessageClass, R extends MessageClass>(type: Q, body: BodyOf<Q>, replyType: R): Promise<MessageOf<R>> {
    const conn = this.masterConnection();
    if (conn === null) {
      return Promise.reject(new LinkUnavailableError('TT_ERR_NO_ROUTE_SERVER', 'no route server is connected'));
    }
    return conn.request(type, body, replyType);
  }

  private onUp(conn: PduConnection, link: ReconnectingLink): void {
    this.upSince.set(link, Date.now());
    const users = this.hooks.snapshot();
    conn.send(IM.Server.IMOnlineUserInfo, { user_stat_list: users });
    if (this.masterConnection() === null) this.electMaster();
    this.logger.info({ link: link.name, conn: conn.id, users: users.length, master: this.master === link }, 'online users sent to route server');
    if (this.links.every((l) => l.isUp)) this.hooks.onAllLinksUp?.();
    this.upWaiters.release();
  }

  private onDown(link: ReconnectingLink): void {
    this.upSince.delete(link);
    this.hooks.onLinkDown?.();
    if (this.master === link) {
      this.master = null;
      this.journal.masterDown(Date.now());
      this.electMaster();
    }
  }

  /** The oldest open link becomes master and is told so. */
  private electMaster(): void {
    let oldest: ReconnectingLink | null = null;
    for (const [link, since] of this.upSince) {
      if (!link.isUp) continue;
      if (oldest === null || since < (this.upSince.get(oldest) as number)) oldest = link;
    }
    this.master = oldest;
    const conn = oldest?.connection;
    if (oldest === null || !conn) return;
    conn.send(IM.Server.IMRoleSet, { master: 1 });
    // What the previous master may have lost, and what waited for a master, goes first.
    const replay = this.journal.takeReplay(Date.now());
    for (const frame of replay) {
      conn.sendFrame(frame);
      this.journal.sent(frame, Date.now());
    }
    this.logger.info({ link: oldest.name, peer: oldest.address, resent: replay.length }, 'route server is now master');
  }
}
