/**
 * CaptureRecorder turns the byte streams of client <-> msg server connections
 * into capture records (format.ts). It is shared by the live proxy and the pcap
 * importer: both feed it connection opens, chunks of bytes per direction (in
 * stream order) and closes, with the time each was seen. Pure: records go to a
 * callback, nothing here does I/O.
 *
 * Each direction is framed by its own FrameDecoder. Where the start of a stream
 * is unknown (a pcap that begins mid-connection, or bytes lost in a capture),
 * the direction first "hunts" for a plausible PDU header and records how many
 * bytes it dropped.
 */
import { commandById } from '../../pdu/commands';
import { FrameDecoder, HEADER_LENGTH, readHeader, type Pdu } from '../../pdu/frame';
import {
  CAPTURE_FORMAT,
  CAPTURE_VERSION,
  isoTime,
  pduRecord,
  roundOffset,
  type CaptureHeader,
  type CaptureRecord,
  type CloseBy,
  type Direction,
} from './format';

/** Largest PDU the recorder frames. Generous: a recorder must not choke on a big user list. */
export const DEFAULT_CAPTURE_MAX_PDU_LENGTH = 64 * 1024 * 1024;

/** While hunting, at most this much unframed data is kept (older bytes count as dropped). */
const HUNT_WINDOW_BYTES = 1024 * 1024;

export interface RecorderOptions {
  /** Header details (source, listen/target or file/serverPort). */
  header: Omit<CaptureHeader, 'type' | 'format' | 'version' | 'time' | 't'>;
  /** Epoch ms the `t` offsets count from; default: the first event's time. */
  startTime?: number;
  maxPduLength?: number;
  /**
   * After a framing error, hunt for the next plausible header instead of giving
   * up on that direction (right for pcaps, where an error usually means lost or
   * misaligned bytes; a live proxy records the peer's real error and stops).
   */
  resyncAfterError?: boolean;
}

type Mode = 'frame' | 'hunt' | 'dead';

class DirectionState {
  mode: Mode;
  decoder: FrameDecoder;
  bytes = 0;
  /** Hunting: bytes not yet framed, and how many were dropped so far. */
  huntBuffer: Buffer = Buffer.alloc(0);
  dropped = 0;
  /** Record a resync line even when nothing was dropped (after a gap). */
  announceResync = false;

  constructor(maxPduLength: number, hunting: boolean) {
    this.mode = hunting ? 'hunt' : 'frame';
    this.decoder = new FrameDecoder(maxPduLength);
  }
}

interface ConnectionState {
  id: number;
  c2s: DirectionState;
  s2c: DirectionState;
}

/**
 * Could a TeamTalk header start at `offset`? Known command id under its own
 * service id, sane length; and if the PDU after it is already buffered, its
 * header must be plausible too (one random match is likely, two in a row are not).
 */
export function plausibleHeaderAt(buf: Buffer, offset: number, maxPduLength: number, depth = 0): boolean {
  if (buf.length - offset < HEADER_LENGTH) return false;
  const { length, version, serviceId, commandId } = readHeader(buf, offset);
  if (length < HEADER_LENGTH || length > maxPduLength) return false;
  if (version > 0xff) return false; // version: 1 from servers, 6 from Android
  const info = commandById(commandId);
  if (!info || info.serviceId !== serviceId) return false;
  const next = offset + length;
  if (depth === 0 && buf.length - next >= HEADER_LENGTH) return plausibleHeaderAt(buf, next, maxPduLength, 1);
  return true;
}

export class CaptureRecorder {
  private readonly emit: (record: CaptureRecord) => void;
  private readonly options: RecorderOptions;
  private readonly maxPduLength: number;
  private readonly connections = new Map<number, ConnectionState>();
  private startTime: number | null;
  private nextId = 1;
  /** The connection and direction whose chunk is being framed (FrameDecoder calls back synchronously). */
  private current: { conn: number; dir: Direction; time: number } = { conn: 0, dir: 'c2s', time: 0 };

  constructor(emit: (record: CaptureRecord) => void, options: RecorderOptions) {
    this.emit = emit;
    this.options = options;
    this.maxPduLength = options.maxPduLength ?? DEFAULT_CAPTURE_MAX_PDU_LENGTH;
    this.startTime = options.startTime ?? null;
    if (this.startTime !== null) this.writeHeader(this.startTime);
  }

  get openConnections(): number {
    return this.connections.size;
  }

  private writeHeader(time: number): void {
    this.emit({ type: 'capture', format: CAPTURE_FORMAT, version: CAPTURE_VERSION, time: isoTime(time), t: 0, ...this.options.header });
  }

  private offset(time: number): number {
    if (this.startTime === null) {
      this.startTime = time;
      this.writeHeader(time);
    }
    return roundOffset(time - this.startTime);
  }

  /** A new connection; returns its id for the other calls. `midstream`: its first bytes may be mid-PDU. */
  open(client: string, server: string, time: number, midstream = false): number {
    const t = this.offset(time);
    const id = this.nextId++;
    this.connections.set(id, {
      id,
      c2s: new DirectionState(this.maxPduLength, midstream),
      s2c: new DirectionState(this.maxPduLength, midstream),
    });
    this.emit({ type: 'open', conn: id, time: isoTime(time), t, client, server, ...(midstream ? { midstream: true } : {}) });
    return id;
  }

  /** Bytes of one direction, in stream order. The chunk is only read, never kept beyond an incomplete PDU. */
  data(conn: number, dir: Direction, chunk: Buffer, time: number): void {
    const state = this.connections.get(conn);
    if (!state || chunk.length === 0) return;
    const side = state[dir];
    side.bytes += chunk.length;
    if (side.mode === 'dead') return;
    this.offset(time);
    this.current = { conn, dir, time };
    if (side.mode === 'hunt') {
      this.hunt(side, chunk);
      return;
    }
    this.frame(side, chunk);
  }

  /**
   * Bytes of one direction were lost (a pcap missed segments): records why and
   * hunts for the next PDU header in what follows.
   */
  gap(conn: number, dir: Direction, message: string, time: number): void {
    const state = this.connections.get(conn);
    if (!state) return;
    this.recordError(conn, dir, 'TT_ERR_CAPTURE_GAP', message, time);
    const side = state[dir];
    side.mode = 'hunt';
    side.huntBuffer = Buffer.alloc(0);
    side.dropped = 0;
    side.announceResync = true;
  }

  close(conn: number, by: CloseBy, reason: string, time: number): void {
    const state = this.connections.get(conn);
    if (!state) return;
    const t = this.offset(time);
    for (const dir of ['c2s', 's2c'] as const) {
      const side = state[dir];
      const pending = side.mode === 'frame' ? side.decoder.bufferedBytes : 0;
      if (pending > 0) {
        this.recordError(
          conn,
          dir,
          'TT_ERR_CAPTURE_INCOMPLETE_PDU',
          `the connection ended inside a PDU: ${pending} bytes of it were seen, the rest never came`,
          time,
        );
      }
    }
    this.connections.delete(conn);
    this.emit({
      type: 'close',
      conn,
      time: isoTime(time),
      t,
      by,
      reason,
      c2sBytes: state.c2s.bytes,
      s2cBytes: state.s2c.bytes,
    });
  }

  /** Closes whatever is still open (end of a pcap, proxy shutdown). */
  closeAll(by: CloseBy, reason: string, time: number): void {
    for (const id of [...this.connections.keys()]) this.close(id, by, reason, time);
  }

  private frame(side: DirectionState, chunk: Buffer): void {
    const error = side.decoder.push(chunk, this.onFrame, this);
    if (!error) return;
    const { conn, dir, time } = this.current;
    this.recordError(conn, dir, error.code, `${error.message}; the rest of this direction is not recorded`, time);
    if (this.options.resyncAfterError) {
      side.mode = 'hunt';
      side.decoder = new FrameDecoder(this.maxPduLength);
      side.huntBuffer = Buffer.alloc(0);
      side.dropped = 0;
      side.announceResync = true;
    } else {
      side.mode = 'dead';
    }
  }

  private hunt(side: DirectionState, chunk: Buffer): void {
    let buf = side.huntBuffer.length > 0 ? Buffer.concat([side.huntBuffer, chunk]) : chunk;
    if (buf.length > HUNT_WINDOW_BYTES) {
      side.dropped += buf.length - HUNT_WINDOW_BYTES;
      buf = buf.subarray(buf.length - HUNT_WINDOW_BYTES);
    }
    for (let offset = 0; offset + HEADER_LENGTH <= buf.length; offset++) {
      if (!plausibleHeaderAt(buf, offset, this.maxPduLength)) continue;
      const dropped = side.dropped + offset;
      if (dropped > 0 || side.announceResync) {
        const { conn, dir, time } = this.current;
        this.emit({ type: 'resync', conn, dir, time: isoTime(time), t: this.offset(time), dropped });
      }
      side.mode = 'frame';
      side.decoder = new FrameDecoder(this.maxPduLength);
      side.huntBuffer = Buffer.alloc(0);
      side.dropped = 0;
      side.announceResync = false;
      this.frame(side, Buffer.from(buf.subarray(offset)));
      return;
    }
    // Keep the last 15 bytes: a header may start there and end in the next chunk.
    const keep = Math.min(buf.length, HEADER_LENGTH - 1);
    side.dropped += buf.length - keep;
    side.huntBuffer = Buffer.from(buf.subarray(buf.length - keep));
  }

  private onFrame(pdu: Pdu): void {
    const { conn, dir, time } = this.current;
    this.emit(pduRecord(conn, dir, pdu, time, this.offset(time)));
  }

  private recordError(conn: number, dir: Direction, code: string, message: string, time: number): void {
    this.emit({ type: 'error', conn, dir, time: isoTime(time), t: this.offset(time), code, message });
  }
}
