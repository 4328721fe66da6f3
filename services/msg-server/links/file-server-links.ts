/**
 * Links to the file servers (files.md §3.2): on every (re)connect the msg
 * server asks for the file server's client addresses (0x0733 -> 0x0734), which
 * it then hands to clients with each task; file requests (0x0731 -> 0x0732) go
 * to a random file server whose addresses are known.
 */
import { IM } from '../../../pdu/commands';
import type { PduConnection } from '../../../pdu/connection';
import { ReconnectingLink } from '../../../pdu/link';
import type { HostPort } from '../../../lib/config';
import { errorMessage } from '../../../lib/errors';
import type { Logger } from '../../../lib/log';
import { serverLink, type ServerLinkOptions } from './link-options';

export interface FileServerChoice {
  conn: PduConnection;
  addresses: IM.BaseDefine.IIpAddr[];
}

export class FileServerLinks {
  private readonly links: ReconnectingLink[];
  private readonly addresses = new Map<ReconnectingLink, IM.BaseDefine.IIpAddr[]>();

  constructor(endpoints: HostPort[], options: ServerLinkOptions, logger: Logger) {
    this.links = endpoints.map(
      (ep, i) =>
        new ReconnectingLink(
          { ...serverLink(options, endpoints.length > 1 ? `file-server#${i + 1}` : 'file-server', ep.host, ep.port, 'file-server'), logger },
          {
            onUp: (conn, link) => {
              conn.request(IM.Server.IMFileServerIPReq, {}, IM.Server.IMFileServerIPRsp).then(
                (rsp) => {
                  if (link.connection !== conn) return;
                  this.addresses.set(link, rsp.ip_addr_list.map((a) => ({ ip: a.ip, port: a.port })));
                  logger.info({ link: link.name, addresses: rsp.ip_addr_list.map((a) => `${a.ip}:${a.port}`) }, 'file server addresses learned');
                },
                (err: unknown) => logger.warn({ link: link.name, err: errorMessage(err) }, 'file server did not tell its addresses'),
              );
            },
            onPdu: (_conn, pdu) => logger.debug({ cmd: pdu.commandId }, 'unsolicited PDU from a file server ignored'),
            onDown: (link) => this.addresses.delete(link),
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

  /** File servers that can take a task now (linked, addresses known). */
  private usable(): FileServerChoice[] {
    const out: FileServerChoice[] = [];
    for (const link of this.links) {
      const addresses = this.addresses.get(link);
      if (link.isUp && link.connection !== null && addresses !== undefined) out.push({ conn: link.connection, addresses });
    }
    return out;
  }

  get available(): boolean {
    return this.usable().length > 0;
  }

  /** A random usable file server, as the original. */
  pick(): FileServerChoice | null {
    const all = this.usable();
    return all.length === 0 ? null : all[Math.floor(Math.random() * all.length)];
  }

  /**
   * The addresses given with offline-file lists and notices: the first usable
   * file server in configuration order. Offline files stay on the server that
   * stored them, so several file servers need one shared offlineDir (README).
   */
  offlineAddresses(): IM.BaseDefine.IIpAddr[] {
    return this.usable()[0]?.addresses ?? [];
  }
}
