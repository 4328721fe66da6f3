/**
 * The shape of a prefilled history (`npm run db:prefill`): who talks to whom,
 * how often and when. Pure and deterministic: the same options give the same
 * history, message by message.
 *
 * Users sit in teams of `teamSize`. Each user ranks `contacts` people: first
 * the teammates, then people anywhere in the company (a fixed pseudo-random
 * pick per user and rank). A message's receiver is drawn from the sender's
 * list with Zipf weights (rank r weighs 1/(r+1)^zipf), so most traffic goes to
 * a few contacts and the long tail is reached rarely: first contacts keep
 * happening all through the history, as in a deployment that ages. A share of
 * the messages goes to groups (one per team, every teammate a member).
 *
 * Messages come out in time order with non-decreasing `created`; relations
 * get their index at their first message (the order IMRelationShip ids have
 * when the db-proxy creates them), msg ids count from 1 per conversation.
 */
import { seededRandom } from '../../lib/random';

export interface HistoryShape {
  users: number;
  messages: number;
  /** Share of the messages sent to groups (0..1). */
  groupShare: number;
  teamSize: number;
  /** Length of each user's ranked contact list (teammates included). */
  contacts: number;
  /** Zipf exponent of the contact ranks. */
  zipf: number;
  /** Unix time of the first and of the last message. */
  start: number;
  end: number;
  seed: number;
}

/** One message; the generator reuses this object, copy what you keep. */
export interface HistoryMessage {
  group: boolean;
  /** Sender's user index (0-based). */
  from: number;
  /** Receiver's user index (single messages). */
  to: number;
  /** Relation index (single) or group index. */
  conversation: number;
  /** This message's id in its conversation (1, 2, ...). */
  msgId: number;
  created: number;
  /** The message started a relation (its first message). */
  firstContact: boolean;
}

/** 32-bit integer mix (murmur3 finalizer) of two numbers and a seed. */
function mix(a: number, b: number, seed: number): number {
  let h = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b) ^ seed) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Growable Int32Array. */
class IntColumn {
  data: Int32Array;
  constructor(capacity: number) {
    this.data = new Int32Array(Math.max(16, capacity));
  }
  ensure(size: number): void {
    if (size <= this.data.length) return;
    const bigger = new Int32Array(Math.max(size, this.data.length * 2));
    bigger.set(this.data);
    this.data = bigger;
  }
}

/**
 * user pair -> relation index, open addressing on typed arrays: millions of
 * relations in a few tens of MB (a Map of strings would take gigabytes).
 */
class PairIndex {
  private keys: Float64Array;
  private values: Int32Array;
  private used = 0;

  constructor(capacity = 1 << 16) {
    this.keys = new Float64Array(capacity).fill(-1);
    this.values = new Int32Array(capacity);
  }

  get size(): number {
    return this.used;
  }

  /** The value stored for `key`, or -1. */
  get(key: number): number {
    const mask = this.keys.length - 1;
    for (let i = this.slot(key, mask); ; i = (i + 1) & mask) {
      const k = this.keys[i];
      if (k === key) return this.values[i];
      if (k === -1) return -1;
    }
  }

  set(key: number, value: number): void {
    if ((this.used + 1) * 2 > this.keys.length) this.grow();
    const mask = this.keys.length - 1;
    for (let i = this.slot(key, mask); ; i = (i + 1) & mask) {
      const k = this.keys[i];
      if (k === -1) {
        this.keys[i] = key;
        this.values[i] = value;
        this.used++;
        return;
      }
      if (k === key) {
        this.values[i] = value;
        return;
      }
    }
  }

  private slot(key: number, mask: number): number {
    const low = key % 4294967296;
    const high = (key - low) / 4294967296;
    return mix(low, high, 0x2545f491) & mask;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    this.keys = new Float64Array(oldKeys.length * 2).fill(-1);
    this.values = new Int32Array(oldKeys.length * 2);
    this.used = 0;
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] !== -1) this.set(oldKeys[i], oldValues[i]);
  }
}

export class HistoryModel {
  readonly groups: number;
  private readonly random: () => number;
  private readonly rankCdf: Float64Array;
  private readonly pairs = new PairIndex();
  private produced = 0;
  private readonly message: HistoryMessage = { group: false, from: 0, to: 0, conversation: 0, msgId: 0, created: 0, firstContact: false };

  /** Per relation (by index): its users (small < big), last msg id, first and last message time. */
  readonly relationSmall = new IntColumn(1 << 16);
  readonly relationBig = new IntColumn(1 << 16);
  readonly relationMsgId = new IntColumn(1 << 16);
  readonly relationFirst = new IntColumn(1 << 16);
  readonly relationLast = new IntColumn(1 << 16);
  /** Sender of the relation's newest messages and how many of them came after `readBefore` in a row. */
  readonly relationTailSender = new IntColumn(1 << 16);
  readonly relationTailUnread = new IntColumn(1 << 16);
  /** Per group: last msg id, time of its last message, and the last msg id sent before `readBefore`. */
  readonly groupMsgId: Int32Array;
  readonly groupLast: Int32Array;
  readonly groupReadUpTo: Int32Array;

  /**
   * @param readBefore users have read everything sent before this time; later
   *   messages from a peer stay unread until the user answers (single), or
   *   all stay unread (groups)
   */
  constructor(
    readonly shape: HistoryShape,
    private readonly readBefore: number,
  ) {
    if (shape.users < 2) throw new Error('a history needs at least 2 users');
    if (shape.teamSize < 2) throw new Error('teams need at least 2 users');
    this.random = seededRandom(shape.seed);
    this.groups = shape.groupShare > 0 ? Math.ceil(shape.users / shape.teamSize) : 0;
    this.groupMsgId = new Int32Array(this.groups);
    this.groupLast = new Int32Array(this.groups);
    this.groupReadUpTo = new Int32Array(this.groups);
    const ranks = Math.max(1, Math.min(shape.contacts, shape.users - 1));
    this.rankCdf = new Float64Array(ranks);
    let sum = 0;
    for (let r = 0; r < ranks; r++) {
      sum += 1 / Math.pow(r + 1, shape.zipf);
      this.rankCdf[r] = sum;
    }
    for (let r = 0; r < ranks; r++) this.rankCdf[r] /= sum;
  }

  get relations(): number {
    return this.pairs.size;
  }

  /** Messages produced so far. */
  get count(): number {
    return this.produced;
  }

  /** Users of group `g` (user indices `first` .. `first + size - 1`). */
  groupMembers(g: number): { first: number; size: number } {
    const first = g * this.shape.teamSize;
    return { first, size: Math.min(this.shape.teamSize, this.shape.users - first) };
  }

  /** The contact of rank `rank` on user `u`'s list. */
  contactOf(u: number, rank: number): number {
    const { teamSize, users, seed } = this.shape;
    const teamFirst = Math.floor(u / teamSize) * teamSize;
    const teamCount = Math.min(teamSize, users - teamFirst);
    if (rank < teamCount - 1) return teamFirst + ((u - teamFirst + 1 + rank) % teamCount);
    const v = mix(u, rank, seed) % users;
    return v === u ? (v + 1) % users : v;
  }

  /** The next message, or null when all `messages` were produced. */
  next(): HistoryMessage | null {
    const { messages, users, start, end, groupShare } = this.shape;
    if (this.produced >= messages) return null;
    const k = this.produced++;
    const created = messages === 1 ? end : start + Math.floor((k * (end - start)) / (messages - 1));
    const m = this.message;
    m.created = created;
    const recent = created >= this.readBefore;
    if (this.groups > 0 && this.random() < groupShare) {
      const g = Math.floor(this.random() * this.groups);
      const members = this.groupMembers(g);
      m.group = true;
      m.from = members.first + Math.floor(this.random() * members.size);
      m.to = 0;
      m.conversation = g;
      m.msgId = ++this.groupMsgId[g];
      m.firstContact = false;
      this.groupLast[g] = created;
      if (!recent) this.groupReadUpTo[g] = m.msgId;
      return m;
    }
    const from = Math.floor(this.random() * users);
    const to = this.contactOf(from, this.rank());
    const small = from < to ? from : to;
    const big = from < to ? to : from;
    const key = small * users + big;
    let r = this.pairs.get(key);
    m.firstContact = r < 0;
    if (r < 0) {
      r = this.pairs.size;
      this.pairs.set(key, r);
      for (const column of [this.relationSmall, this.relationBig, this.relationMsgId, this.relationFirst, this.relationLast, this.relationTailSender, this.relationTailUnread]) {
        column.ensure(r + 1);
      }
      this.relationSmall.data[r] = small;
      this.relationBig.data[r] = big;
      this.relationFirst.data[r] = created;
      this.relationTailSender.data[r] = -1;
    }
    m.group = false;
    m.from = from;
    m.to = to;
    m.conversation = r;
    m.msgId = ++this.relationMsgId.data[r];
    this.relationLast.data[r] = created;
    // The receiver reads what came before readBefore, and whatever precedes their own reply.
    if (!recent) {
      this.relationTailSender.data[r] = from;
      this.relationTailUnread.data[r] = 0;
    } else if (this.relationTailSender.data[r] === from) {
      this.relationTailUnread.data[r]++;
    } else {
      this.relationTailSender.data[r] = from;
      this.relationTailUnread.data[r] = 1;
    }
    return m;
  }

  private rank(): number {
    const x = this.random();
    const cdf = this.rankCdf;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
