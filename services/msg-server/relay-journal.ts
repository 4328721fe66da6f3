/**
 * Relays that a route server may lose, kept until they are safe.
 *
 * A relayed PDU can be lost two ways: it is inside a route server that dies
 * (read, not yet forwarded), or it is sent while this msg server has no route
 * server at all. The journal keeps
 *   - every relay of the last `lookbackMs` (messages and kicks): when the master
 *     route link goes down, those sent from `lookbackMs` before the outage on may
 *     have died with it, and are sent again to the next master;
 *   - every relay made while no master is up (all kinds but ephemeral ones),
 *     bounded by `maxQueued`, sent in order once a master is up.
 * Messages sent again may have arrived the first time: receivers skip what
 * they already delivered (RelayedDeliveries), kicks are idempotent (login order).
 *
 * A restarted route server relays only to the msg servers connected to it at
 * the time, and the others reconnect within their backoff (at most 10 s): so
 * after an outage every replayable relay since shortly before it is sent again
 * on REPLAY_SCHEDULE_MS, those made just after the master came back included.
 */
import { CID, IM } from '../../pdu/commands';
import { HEADER_LENGTH, commandIdOf } from '../../pdu/frame';

/**
 * Relays that are sent again after a route server died with them: messages
 * (receivers skip repeats) and kicks that carry a login order (a repeat ends
 * nothing newer). A kick without one means "whatever is there now": not repeated.
 */
function replayable(frame: Buffer): boolean {
  const command = commandIdOf(frame);
  if (command === CID.MSG_DATA) return true;
  return command === CID.OTHER_SERVER_KICK_USER && (IM.Server.IMServerKickUser.decode(frame.subarray(HEADER_LENGTH)).login_order ?? 0) > 0;
}
/** When what an outage may have lost is sent (again), counted from the moment a master is back. */
export const REPLAY_SCHEDULE_MS = [0, 2_000, 5_000, 12_000] as const;
/** How long after an outage receivers must recognise repeats (covers the schedule). */
export const REPEATS_UNTIL_MS = REPLAY_SCHEDULE_MS[REPLAY_SCHEDULE_MS.length - 1] + 10_000;

/** Relays that are not worth keeping while no route server is up ("typing..."). */
const EPHEMERAL = new Set<number>([CID.SWITCH_P2P_CMD]);

export interface RelayJournalOptions {
  lookbackMs: number;
  maxQueued: number;
}

export interface RelayJournalStats {
  /** Relays sent again after a route server outage. */
  replayed: number;
  /** Relays queued while no route server was up. */
  queued: number;
  /** Relays dropped because the queue was full (their messages stay in storage). */
  dropped: number;
}

interface Sent {
  at: number;
  frame: Buffer;
}

export class RelayJournal {
  readonly stats: RelayJournalStats = { replayed: 0, queued: 0, dropped: 0 };
  /** Replayable relays sent recently, oldest first (from `head` on). */
  private recent: Sent[] = [];
  private head = 0;
  /** Relays waiting for a route server. */
  private waiting: Buffer[] = [];
  /** When the current outage began (0: a master is up). */
  private downSince = 0;
  /**
   * After an outage: relays from this time on are sent again at each time of
   * `repeatAt` (those sent just after it too: until every msg server has
   * reconnected to a restarted route server, it relays only to some).
   */
  private repeatFrom = 0;
  private repeatAt: number[] = [];

  constructor(private readonly options: RelayJournalOptions) {}

  get outage(): boolean {
    return this.downSince !== 0;
  }

  /** A relay went to the master route server. */
  sent(frame: Buffer, now: number): void {
    if (replayable(frame)) this.recent.push({ at: now, frame });
  }

  /** A relay could not be sent (no master): keep it for when one is up. */
  hold(frame: Buffer): void {
    if (EPHEMERAL.has(commandIdOf(frame))) return;
    if (this.waiting.length >= this.options.maxQueued) {
      this.waiting.shift();
      this.stats.dropped++;
    }
    this.waiting.push(frame);
    this.stats.queued++;
  }

  /** The master route link went down. */
  masterDown(now: number): void {
    if (this.downSince === 0) this.downSince = now;
  }

  /**
   * A master is up again: what to send it now, in order: the recent relays
   * that may have died with the old master, then those made meanwhile (which
   * count as sent now). They go again on REPLAY_SCHEDULE_MS (dueRepeat()).
   */
  takeReplay(now: number): Buffer[] {
    if (this.downSince === 0 && this.waiting.length === 0) return [];
    const from = this.downSince !== 0 ? this.downSince - this.options.lookbackMs : now;
    const replay = this.since(from);
    replay.push(...this.waiting);
    for (const frame of this.waiting) this.sent(frame, now);
    this.stats.replayed += replay.length;
    this.waiting = [];
    this.downSince = 0;
    this.repeatFrom = this.repeatFrom === 0 ? from : Math.min(this.repeatFrom, from);
    this.repeatAt = REPLAY_SCHEDULE_MS.slice(1).map((ms) => now + ms);
    return replay;
  }

  /** When a repeat is due: every replayable relay since the outage, again (else nothing). */
  dueRepeat(now: number): Buffer[] {
    if (this.repeatAt.length === 0 || now < this.repeatAt[0] || this.downSince !== 0) return [];
    this.repeatAt.shift();
    const frames = this.since(this.repeatFrom);
    if (this.repeatAt.length === 0) this.repeatFrom = 0;
    this.stats.replayed += frames.length;
    return frames;
  }

  /** Forgets relays no outage can need any more (called once a second). */
  prune(now: number): void {
    let horizon = now - this.options.lookbackMs;
    if (this.downSince !== 0) horizon = Math.min(horizon, this.downSince - this.options.lookbackMs);
    if (this.repeatFrom !== 0) horizon = Math.min(horizon, this.repeatFrom);
    while (this.head < this.recent.length && this.recent[this.head].at < horizon) this.head++;
    if (this.head > 1024 && this.head * 2 > this.recent.length) {
      this.recent = this.recent.slice(this.head);
      this.head = 0;
    }
  }

  private since(from: number): Buffer[] {
    const frames: Buffer[] = [];
    for (let i = this.head; i < this.recent.length; i++) if (this.recent[i].at >= from) frames.push(this.recent[i].frame);
    return frames;
  }
}

/**
 * Messages this msg server has delivered from the route server recently, so a
 * message sent again after a route-server outage is not delivered twice. A
 * message is known by (type, from, to, msg id), which is unique: msg ids count
 * per conversation. Entries live `retainMs`; during a route outage (and
 * `retainMs` after it) nothing delivered since shortly before it is forgotten,
 * since that is what a sender may send again. At most `maxEntries`.
 */
export class RelayedDeliveries {
  private readonly seen = new Map<string, number>();
  private outageFloor = 0;
  private floorUntil = 0;
  duplicatesSkipped = 0;

  constructor(
    private readonly retainMs: number,
    private readonly maxEntries: number,
  ) {}

  get size(): number {
    return this.seen.size;
  }

  /** True the first time a message is offered; false (and counted) for a repeat. */
  firstTime(msgType: number, from: number, to: number, msgId: number, now: number): boolean {
    const key = `${msgType}:${from}:${to}:${msgId}`;
    if (this.seen.has(key)) {
      this.duplicatesSkipped++;
      return false;
    }
    this.seen.set(key, now);
    if (this.seen.size > this.maxEntries) this.seen.delete(this.seen.keys().next().value as string);
    return true;
  }

  /** A route link went down at `now`: keep what was delivered since shortly before. */
  routeLinkDown(now: number): void {
    const floor = now - this.retainMs;
    this.outageFloor = this.outageFloor === 0 ? floor : Math.min(this.outageFloor, floor);
    this.floorUntil = Infinity;
  }

  /** Every route link is up again: repeats can come for a while yet (REPLAY_SCHEDULE_MS). */
  routeLinksUp(now: number): void {
    if (this.outageFloor !== 0) this.floorUntil = now + Math.max(this.retainMs, REPEATS_UNTIL_MS);
  }

  prune(now: number): void {
    if (this.outageFloor !== 0 && now > this.floorUntil) this.outageFloor = 0;
    const horizon = this.outageFloor !== 0 ? Math.min(this.outageFloor, now - this.retainMs) : now - this.retainMs;
    for (const [key, at] of this.seen) {
      if (at >= horizon) break; // insertion order is time order
      this.seen.delete(key);
    }
  }
}
