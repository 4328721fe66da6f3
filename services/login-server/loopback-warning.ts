/**
 * The misconfiguration that bit TeamTalk users most: a msg server that
 * advertises 127.0.0.1, so the login server sends remote clients to their own
 * machine and logins "time out". When that happens we say so in the log, once
 * per msg server per interval, naming the server and the fix.
 */
import type { Logger } from '../../lib/log';
import { isLoopbackAddress } from './addresses';
import type { MsgServerEntry } from './msg-server-registry';

export const LOOPBACK_WARNING_INTERVAL_MS = 60_000;

export class LoopbackWarnings {
  /** msg server (host name, addresses, port: stable across its reconnects) -> when we last warned about it */
  private readonly lastWarned = new Map<string, number>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = LOOPBACK_WARNING_INTERVAL_MS,
  ) {}

  /** Called for every answer handed to a client at `clientAddress`. */
  check(server: MsgServerEntry, clientAddress: string, answered: { priorIP: string; backupIP: string }): void {
    if (isLoopbackAddress(clientAddress)) return;
    const loopback = [answered.priorIP, answered.backupIP].filter(isLoopbackAddress);
    if (loopback.length === 0) return;
    const now = Date.now();
    const key = `${server.hostName}|${server.ip1}|${server.ip2}|${server.port}`;
    const last = this.lastWarned.get(key);
    if (last !== undefined && now - last < this.intervalMs) return;
    this.lastWarned.set(key, now);
    this.logger.warn(
      {
        conn: server.linkId,
        msgServer: `${server.hostName} (${server.peer})`,
        ip1: server.ip1,
        ip2: server.ip2,
        port: server.port,
        client: clientAddress,
      },
      `msg server ${server.hostName} advertises loopback address ${loopback[0]} but client ${clientAddress} is remote and cannot reach it: ` +
        'set that msg server\'s publicIp1 (and publicIp2), env TT_MSG_PUBLIC_IP1 / TT_MSG_PUBLIC_IP2, to an address clients can reach',
    );
  }
}
