/**
 * The PDUs the fuzzer sends: valid framing around generated or mutated bodies,
 * wrong service/command pairs, commands the target never takes, odd header
 * fields and random seq numbers, huge repeated fields, and, ending a
 * connection, lengths that lie (below the header size, above the limit, or
 * shorter/longer than the bytes that follow).
 */
import { CID, ServiceId } from '../../pdu/commands';
import { HEADER_LENGTH, type PduHeader } from '../../pdu/frame';
import { encodeMessage, generateHugeBody, generateMessage, type Dictionary } from './generate';
import { mutateBody } from './mutate';
import type { Random } from './random';
import type { CommandSchema, Schema } from './schema';
import type { TargetProfile } from './targets';

export interface FuzzPdu {
  /** The bytes to write (a whole frame, or a frame whose length field lies). */
  frame: Buffer;
  /** What kind of PDU this is, for the statistics ("valid", "mutated", "wrong-pair", ...). */
  kind: string;
  commandId: number;
  /** The stream is out of sync after it (or the server must close): the last PDU of its connection. */
  terminal: boolean;
}

/** A frame with every header field given; `length` defaults to the true length. */
export function rawFrame(header: PduHeader, body: Uint8Array, length = HEADER_LENGTH + body.length): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_LENGTH + body.length);
  frame.writeUInt32BE(length >>> 0, 0);
  frame.writeUInt16BE(header.version & 0xffff, 4);
  frame.writeUInt16BE(header.flag & 0xffff, 6);
  frame.writeUInt16BE(header.serviceId & 0xffff, 8);
  frame.writeUInt16BE(header.commandId & 0xffff, 10);
  frame.writeUInt16BE(header.seqNum & 0xffff, 12);
  frame.writeUInt16BE(header.reserved & 0xffff, 14);
  frame.set(body, HEADER_LENGTH);
  return frame;
}

const KNOWN_SERVICES = Object.values(ServiceId) as number[];

type Kind =
  | 'valid'
  | 'mutated'
  | 'wrong-pair'
  | 'wrong-service'
  | 'any-command'
  | 'unknown-command'
  | 'header-junk'
  | 'huge'
  | 'heartbeat'
  | 'terminal';

const KINDS: ReadonlyArray<readonly [number, Kind]> = [
  [30, 'valid'],
  [30, 'mutated'],
  [8, 'wrong-pair'],
  [4, 'wrong-service'],
  [8, 'any-command'],
  [4, 'unknown-command'],
  [5, 'header-junk'],
  [0.3, 'huge'],
  [2, 'heartbeat'],
  [0.4, 'terminal'],
];

export class PduFactory {
  private readonly known = new Set<number>();
  /** The last body generated: material for splices. */
  private lastBody: Buffer = Buffer.alloc(0);

  constructor(
    private readonly schema: Schema,
    private readonly profile: TargetProfile,
    private readonly dict: Dictionary,
  ) {
    for (const c of schema.commands) this.known.add(c.info.commandId);
  }

  /** The next PDU of a connection; `commands` overrides the target's command weights (e.g. logins only). */
  next(rng: Random, commands = this.profile.commands): FuzzPdu {
    const kind = rng.weighted(KINDS);
    switch (kind) {
      case 'valid': {
        const c = this.pickCommand(rng, commands);
        return this.framed(rng, c.info.serviceId, c.info.commandId, this.body(c, rng), 'valid', false);
      }
      case 'mutated': {
        const c = this.pickCommand(rng, commands);
        const { body, what } = mutateBody(this.body(c, rng), rng, this.lastBody);
        return this.framed(rng, c.info.serviceId, c.info.commandId, body, `mutated:${what.split('+')[0]}`, false);
      }
      case 'wrong-pair': {
        // A body of one command under the id of another the target takes.
        const from = rng.pick(this.schema.commands);
        const to = this.pickCommand(rng, commands);
        const service = rng.chance(0.5) ? to.info.serviceId : from.info.serviceId;
        return this.framed(rng, service, to.info.commandId, this.body(from, rng), 'wrong-pair', false);
      }
      case 'wrong-service': {
        const c = this.pickCommand(rng, commands);
        const service = rng.chance(0.5) ? rng.pick(KNOWN_SERVICES.filter((s) => s !== c.info.serviceId)) : rng.int(0, 0xffff);
        return this.framed(rng, service, c.info.commandId, this.body(c, rng), 'wrong-service', false);
      }
      case 'any-command': {
        // Every command of the protocol, responses and notifies included.
        const c = rng.pick(this.schema.commands);
        return this.framed(rng, c.info.serviceId, c.info.commandId, this.body(c, rng), 'any-command', false);
      }
      case 'unknown-command': {
        let commandId = rng.chance(0.5) ? rng.pick([0, 0x0100, 0x0110, 0x0216, 0x030f, 0x040c, 0x050d, 0x0602, 0x070c, 0x0735, 0x0801, 0xffff]) : rng.int(0, 0xffff);
        if (this.known.has(commandId)) commandId = 0xfffe;
        const body = rng.chance(0.5) ? rng.bytes(rng.size(512)) : this.body(rng.pick(this.schema.commands), rng);
        return this.framed(rng, rng.pick(KNOWN_SERVICES), commandId, body, 'unknown-command', false);
      }
      case 'header-junk': {
        const c = this.pickCommand(rng, commands);
        const header: PduHeader = {
          version: rng.pick([0, 2, 0xffff, rng.int(0, 0xffff)]),
          flag: rng.pick([0, 1, 2, 3, 0xffff, rng.int(0, 0xffff)]),
          serviceId: c.info.serviceId,
          commandId: c.info.commandId,
          seqNum: rng.pick([0, 1, 0xffff, rng.int(0, 0xffff)]),
          reserved: rng.pick([0, 0xffff, rng.int(0, 0xffff)]),
        };
        return { frame: rawFrame(header, this.body(c, rng)), kind: 'header-junk', commandId: c.info.commandId, terminal: false };
      }
      case 'huge': {
        const c = this.pickCommand(rng, commands);
        // Mostly a fraction of the target's limit, sometimes just under it, sometimes over it (the server must close).
        const max = this.profile.maxPduBytes;
        const budget = rng.weighted([
          [7, rng.int(Math.floor(max / 64), Math.floor(max / 8))],
          [2, rng.int(max - max / 8, max - 4096)],
          [1, max + rng.int(1, 4096)],
        ] as const);
        const body = generateHugeBody(c.type, rng, this.dict, budget);
        const terminal = body.length + HEADER_LENGTH > this.profile.maxPduBytes;
        return this.framed(rng, c.info.serviceId, c.info.commandId, body, terminal ? 'huge-over-limit' : 'huge', terminal);
      }
      case 'heartbeat':
        return this.framed(rng, ServiceId.OTHER, CID.OTHER_HEARTBEAT, rng.chance(0.8) ? Buffer.alloc(0) : rng.bytes(rng.int(1, 32)), 'heartbeat', false);
      case 'terminal':
        return this.badLength(rng, commands);
    }
  }

  /** A PDU whose length field lies: the stream cannot be parsed after it. */
  badLength(rng: Random, commands = this.profile.commands): FuzzPdu {
    const c = this.pickCommand(rng, commands);
    const body = this.body(c, rng);
    const header = this.header(rng, c.info.serviceId, c.info.commandId);
    const actual = HEADER_LENGTH + body.length;
    const how = rng.weighted([
      [2, 'length-undersized'],
      [2, 'length-oversized'],
      [1, 'length-short'],
      [1, 'length-long'],
    ] as const);
    const length =
      how === 'length-undersized'
        ? rng.int(0, HEADER_LENGTH - 1)
        : how === 'length-oversized'
          ? rng.pick([this.profile.maxPduBytes + 1, 0xffffffff, 0x80000000, rng.int(this.profile.maxPduBytes + 1, 0xffffffff)])
          : how === 'length-short'
            ? rng.int(HEADER_LENGTH, Math.max(HEADER_LENGTH, actual - 1))
            : rng.int(actual + 1, Math.min(this.profile.maxPduBytes, actual + 100_000));
    // A short length leaves garbage behind it: more of it makes the server's next "header" random.
    const tail = how === 'length-short' ? rng.bytes(rng.int(16, 64)) : Buffer.alloc(0);
    return { frame: Buffer.concat([rawFrame(header, body, length), tail]), kind: how, commandId: c.info.commandId, terminal: true };
  }

  /** A well-formed PDU of `commandId` with a generated body (e.g. the login that opens a session). */
  valid(rng: Random, commandId: number, seqNum: number, body?: Record<string, unknown>): Buffer {
    const c = this.schema.byId(commandId);
    if (c === undefined) throw new Error(`no command 0x${commandId.toString(16)}`);
    const bytes = body === undefined ? this.body(c, rng) : encodeMessage(c.type, body);
    return rawFrame({ version: 1, flag: 0, serviceId: c.info.serviceId, commandId, seqNum, reserved: 0 }, bytes);
  }

  private pickCommand(rng: Random, commands: ReadonlyArray<readonly [number, number]>): CommandSchema {
    const id = rng.weighted(commands.map(([cid, w]) => [w, cid] as const));
    return this.schema.byId(id) ?? rng.pick(this.schema.commands);
  }

  private body(c: CommandSchema, rng: Random): Buffer {
    const body = encodeMessage(c.type, generateMessage(c.type, rng, this.dict));
    this.lastBody = body;
    return body;
  }

  private header(rng: Random, serviceId: number, commandId: number): PduHeader {
    return { version: 1, flag: 0, serviceId, commandId, seqNum: this.seq(rng), reserved: 0 };
  }

  /** Random seq numbers: replies must not be confused by any of them. */
  private seq(rng: Random): number {
    return rng.weighted([
      [6, rng.int(1, 0xfffe)],
      [2, 0],
      [1, 0xffff],
      [1, rng.int(1, 16)],
    ] as const);
  }

  private framed(rng: Random, serviceId: number, commandId: number, body: Uint8Array, kind: string, terminal: boolean): FuzzPdu {
    const header = this.header(rng, serviceId, commandId);
    if (HEADER_LENGTH + body.length > this.profile.maxPduBytes && !terminal) {
      // Only "huge" PDUs may exceed the limit: anything else is cut down to fit.
      body = body.subarray(0, this.profile.maxPduBytes - HEADER_LENGTH);
    }
    return { frame: rawFrame(header, body), kind, commandId, terminal };
  }
}
