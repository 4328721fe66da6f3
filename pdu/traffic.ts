/**
 * PDUs in and out of one kind of link, by command: what the metrics of every
 * service report as teamtalk_<service>_pdus_received_total / _sent_total.
 * A PduConnection counts into the PduTraffic of its options (plain map
 * increments, no labels: the hot path stays cheap); the metrics read the maps
 * when scraped.
 */
import { commandById } from './commands';

/** Key of every command id the command table does not know (a hostile peer cannot grow the map). */
export const UNKNOWN_COMMAND = -1;

export class PduTraffic {
  readonly received = new Map<number, number>();
  readonly sent = new Map<number, number>();
  bytesReceived = 0;
  bytesSent = 0;

  /** `link` names the kind of peer, e.g. "client" or "db-proxy": the metrics' label. */
  constructor(readonly link: string) {}

  countIn(commandId: number, bytes: number): void {
    const key = commandById(commandId) === undefined ? UNKNOWN_COMMAND : commandId;
    this.received.set(key, (this.received.get(key) ?? 0) + 1);
    this.bytesReceived += bytes;
  }

  /** `frame` is one framed PDU (the command id is at bytes 10-11 of the header). */
  countOut(frame: Buffer): void {
    const commandId = frame.length >= 12 ? frame.readUInt16BE(10) : 0;
    const key = commandById(commandId) === undefined ? UNKNOWN_COMMAND : commandId;
    this.sent.set(key, (this.sent.get(key) ?? 0) + 1);
    this.bytesSent += frame.length;
  }
}
