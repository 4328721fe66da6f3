/**
 * The msg servers connected to this route server, in connection order, and the
 * two ways the route server talks to them: to all, or to all but the origin.
 * Relays send the frame they received, unchanged, so nothing is re-encoded.
 */
import type { PduConnection } from '../../pdu/connection';

export interface MsgServerLinkState {
  connectedAt: number;
  /**
   * What the msg server said with CID_OTHER_ROLE_SET: true = it sends its
   * relayed traffic here. Null until it says. Kept for operators only; like
   * the original, routing does not depend on it.
   */
  master: boolean | null;
  /** Online-user snapshots received on this link (more than one = it re-sent). */
  snapshots: number;
}

export type MsgServerLink = PduConnection<MsgServerLinkState>;

export interface LinkSummary {
  conn: number;
  peer: string;
  connectedAt: string;
  master: boolean | null;
  users: number;
  snapshots: number;
  queuedBytes: number;
}

export class MsgServerLinks {
  private links: MsgServerLink[] = [];

  get size(): number {
    return this.links.length;
  }

  add(link: MsgServerLink): void {
    link.context = { connectedAt: Date.now(), master: null, snapshots: 0 };
    this.links.push(link);
  }

  remove(link: MsgServerLink): boolean {
    const before = this.links.length;
    // Copy-on-write: a broadcast in progress keeps iterating the old array.
    this.links = this.links.filter((l) => l !== link);
    return this.links.length !== before;
  }

  all(): readonly MsgServerLink[] {
    return this.links;
  }

  sendToAll(frame: Buffer): void {
    const links = this.links;
    for (let i = 0; i < links.length; i++) links[i].sendFrame(frame);
  }

  sendToOthers(frame: Buffer, origin: MsgServerLink): void {
    const links = this.links;
    for (let i = 0; i < links.length; i++) {
      if (links[i] !== origin) links[i].sendFrame(frame);
    }
  }
}
