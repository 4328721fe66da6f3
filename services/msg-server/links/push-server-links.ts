/**
 * Links to the push servers: 0x070f IMPushToUserReq goes to the most recently
 * connected one that is up (as the original's msg_server); its 0x0710 reply is
 * only logged.
 */
import { CID, IM, type BodyOf } from '../../../pdu/commands';
import { ReconnectingLink } from '../../../pdu/link';
import type { HostPort } from '../../../lib/config';
import type { Logger } from '../../../lib/log';
import { serverLink, type ServerLinkOptions } from './link-options';

export class PushServerLinks {
  private readonly links: ReconnectingLink[];
  private readonly upSince = new Map<ReconnectingLink, number>();

  constructor(endpoints: HostPort[], options: ServerLinkOptions, logger: Logger) {
    this.links = endpoints.map(
      (ep, i) =>
        new ReconnectingLink(
          { ...serverLink(options, endpoints.length > 1 ? `push-server#${i + 1}` : 'push-server', ep.host, ep.port, 'push-server'), logger },
          {
            onUp: (_conn, link) => this.upSince.set(link, Date.now()),
            onDown: (link) => this.upSince.delete(link),
            onPdu: (_conn, pdu) => {
              if (pdu.commandId !== CID.OTHER_PUSH_TO_USER_RSP) return;
              const rsp = IM.Server.IMPushToUserRsp.decode(pdu.body);
              const failed = rsp.push_result_list.filter((r) => r.result_code !== 0).length;
              logger.debug({ results: rsp.push_result_list.length, failed }, 'push server answered');
            },
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

  get configured(): boolean {
    return this.links.length > 0;
  }

  get available(): boolean {
    return this.links.some((l) => l.isUp);
  }

  /** Sends to the newest push-server link; false when none is up. */
  send(body: BodyOf<typeof IM.Server.IMPushToUserReq>): boolean {
    let newest: ReconnectingLink | null = null;
    for (const [link, since] of this.upSince) {
      if (link.isUp && (newest === null || since > (this.upSince.get(newest) as number))) newest = link;
    }
    return newest?.connection?.send(IM.Server.IMPushToUserReq, body) ?? false;
  }
}
