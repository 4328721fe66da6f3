/**
 * TCP stream reassembly for the pcap importer, pure: TCP segments in (in
 * capture order), the byte stream of each direction of each connection out, in
 * sequence order, exactly once.
 *
 * - A connection is a 4-tuple; which end is the msg server is decided by its
 *   port (the side whose port is the msg server port is the server; when both
 *   are, the sender of the SYN is the client).
 * - Sequence numbers are compared modulo 2^32. Retransmitted and overlapping
 *   segments contribute only bytes not delivered yet; segments ahead of the
 *   next expected byte wait until the gap is filled.
 * - A gap that is never filled (the capture missed packets, or the snaplen cut
 *   a packet) is reported through `gap` once the stream cannot wait any longer
 *   (FIN/RST from both sides, end of capture, or too much waiting data), and
 *   the stream continues after it.
 * - A connection whose SYN was not captured (already open when the capture
 *   started) begins at its first data segment and is flagged `midstream`.
 * - SYN, FIN and RST end or start connections; a new SYN on a closed 4-tuple
 *   is a new connection.
 */
import type { CloseBy, Direction } from './format';
import type { TcpSegment } from './packets';

/** Where reassembled streams go (CaptureRecorder implements it). */
export interface StreamSink {
  open(client: string, server: string, time: number, midstream?: boolean): number;
  data(conn: number, dir: Direction, chunk: Buffer, time: number): void;
  gap(conn: number, dir: Direction, message: string, time: number): void;
  close(conn: number, by: CloseBy, reason: string, time: number): void;
}

export interface ReassemblyStats {
  segments: number;
  /** Segments on other ports, and stray packets of connections already closed. */
  ignored: number;
  retransmitted: number;
  outOfOrder: number;
  connections: number;
  gaps: number;
}

/** Out-of-order data held per direction before the missing bytes are given up on. */
export const DEFAULT_MAX_PENDING_BYTES = 16 * 1024 * 1024;

/** a - b for 32-bit sequence numbers: negative when a is before b. */
function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

interface PendingSegment {
  seq: number;
  data: Buffer;
  /** Bytes after `data` that were on the wire but not captured (snaplen). */
  lost: number;
}

class HalfStream {
  next: number | null = null;
  isn: number | null = null;
  pending: PendingSegment[] = [];
  pendingBytes = 0;
  finSeq: number | null = null;

  get finished(): boolean {
    return this.finSeq !== null && this.next !== null && seqDiff(this.next, this.finSeq) >= 0;
  }
}

class TcpConnection {
  readonly c2s = new HalfStream();
  readonly s2c = new HalfStream();
  firstCloser: 'client' | 'server' | null = null;
  closeReason = '';
  constructor(
    readonly id: number,
    readonly key: string,
  ) {}
}

function endpoint(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export class TcpReassembler {
  readonly stats: ReassemblyStats = { segments: 0, ignored: 0, retransmitted: 0, outOfOrder: 0, connections: 0, gaps: 0 };
  private readonly connections = new Map<string, TcpConnection>();
  /** 4-tuples that ended: their trailing ACKs and retransmissions must not start a "midstream" connection. */
  private readonly ended = new Set<string>();
  private readonly maxPendingBytes: number;

  constructor(
    private readonly serverPort: number,
    private readonly sink: StreamSink,
    options: { maxPendingBytes?: number } = {},
  ) {
    this.maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
  }

  /** Returns false when the segment is not msg server traffic (or a leftover of a closed connection). */
  push(seg: TcpSegment, time: number): boolean {
    this.stats.segments++;
    const dir = this.directionOf(seg);
    if (dir === null) {
      this.stats.ignored++;
      return false;
    }
    const [clientIp, clientPort, serverIp, serverPort] =
      dir === 'c2s' ? [seg.srcIp, seg.srcPort, seg.dstIp, seg.dstPort] : [seg.dstIp, seg.dstPort, seg.srcIp, seg.srcPort];
    const key = `${endpoint(clientIp, clientPort)} ${endpoint(serverIp, serverPort)}`;
    const newClientSyn = dir === 'c2s' && seg.syn && !seg.ackFlag;
    let conn = this.connections.get(key);

    if (conn && newClientSyn && conn.c2s.isn !== null && conn.c2s.isn !== seg.seq) {
      // Port reuse: a new connection on the same 4-tuple.
      this.closeConnection(conn, 'client', 'the client opened a new connection on the same ports', time);
      conn = undefined;
    }
    if (!conn) {
      const hasData = seg.payloadLength > 0;
      if (!newClientSyn && (!hasData || this.ended.has(key) || seg.rst)) {
        this.stats.ignored++;
        return false;
      }
      this.ended.delete(key);
      // Without the client's SYN we cannot know whether the first bytes start a PDU.
      const id = this.sink.open(endpoint(clientIp, clientPort), endpoint(serverIp, serverPort), time, !newClientSyn);
      conn = new TcpConnection(id, key);
      this.connections.set(key, conn);
      this.stats.connections++;
    }

    const half = conn[dir];
    let dataSeq = seg.seq;
    if (seg.syn) {
      if (half.isn === null) {
        half.isn = seg.seq;
        if (half.next === null) half.next = seqAdd(seg.seq, 1);
      }
      dataSeq = seqAdd(seg.seq, 1);
    }
    if (seg.payloadLength > 0) {
      if (half.next === null) half.next = dataSeq;
      this.insert(conn, dir, { seq: dataSeq, data: seg.payload, lost: seg.payloadLength - seg.payload.length }, time);
    }
    if (seg.fin) {
      half.finSeq ??= seqAdd(dataSeq, seg.payloadLength);
      if (half.next === null) half.next = half.finSeq;
      if (conn.firstCloser === null) {
        conn.firstCloser = dir === 'c2s' ? 'client' : 'server';
        conn.closeReason = `${conn.firstCloser} closed the connection (FIN)`;
      }
    }
    if (seg.rst) {
      const by = dir === 'c2s' ? 'client' : 'server';
      this.closeConnection(conn, by, `${by} reset the connection (RST)`, time);
      return true;
    }
    if (conn.c2s.finSeq !== null && conn.s2c.finSeq !== null) {
      // Both sides are done sending: whatever is still missing will not come.
      if (!conn.c2s.finished || !conn.s2c.finished) return true;
      this.closeConnection(conn, conn.firstCloser ?? 'client', conn.closeReason, time);
    }
    return true;
  }

  /** End of the capture: flushes every open connection and closes it as "capture-end" (or by who sent the first FIN). */
  finish(time: number): void {
    for (const conn of [...this.connections.values()]) {
      if (conn.c2s.finSeq !== null && conn.s2c.finSeq !== null) {
        // Both sides closed; only a retransmission that never came was awaited.
        this.closeConnection(conn, conn.firstCloser ?? 'client', conn.closeReason, time);
      } else if (conn.firstCloser !== null) {
        this.closeConnection(conn, conn.firstCloser, `${conn.closeReason}; the capture ended before the other side closed`, time);
      } else {
        this.closeConnection(conn, 'capture-end', 'the capture ended while the connection was open', time);
      }
    }
  }

  private directionOf(seg: TcpSegment): Direction | null {
    const toServer = seg.dstPort === this.serverPort;
    const fromServer = seg.srcPort === this.serverPort;
    if (toServer && !fromServer) return 'c2s';
    if (fromServer && !toServer) return 's2c';
    if (!toServer) return null;
    // Both ports are the msg server port: a known connection or the SYN decides.
    const forward = `${endpoint(seg.srcIp, seg.srcPort)} ${endpoint(seg.dstIp, seg.dstPort)}`;
    const backward = `${endpoint(seg.dstIp, seg.dstPort)} ${endpoint(seg.srcIp, seg.srcPort)}`;
    if (this.connections.has(forward)) return 'c2s';
    if (this.connections.has(backward)) return 's2c';
    return seg.syn && seg.ackFlag ? 's2c' : 'c2s';
  }

  private insert(conn: TcpConnection, dir: Direction, seg: PendingSegment, time: number): void {
    const half = conn[dir];
    const next = half.next as number;
    const end = seqAdd(seg.seq, seg.data.length + seg.lost);
    if (seqDiff(end, next) <= 0) {
      this.stats.retransmitted++;
      return;
    }
    if (seqDiff(seg.seq, next) > 0) this.stats.outOfOrder++;
    else if (seqDiff(seg.seq, next) < 0) this.stats.retransmitted++;
    // Keep pending sorted by sequence number (it is short: usually empty).
    let i = half.pending.length;
    while (i > 0 && seqDiff(half.pending[i - 1].seq, seg.seq) > 0) i--;
    half.pending.splice(i, 0, seg);
    half.pendingBytes += seg.data.length;
    this.deliver(conn, dir, time);
    if (half.pendingBytes > this.maxPendingBytes) this.abandonHoles(conn, dir, time, 'more out-of-order data waited than the reassembly limit');
  }

  /** Hands over every segment that is now contiguous with what was delivered. */
  private deliver(conn: TcpConnection, dir: Direction, time: number): void {
    const half = conn[dir];
    while (half.pending.length > 0 && seqDiff(half.pending[0].seq, half.next as number) <= 0) {
      const seg = half.pending.shift() as PendingSegment;
      half.pendingBytes -= seg.data.length;
      const next = half.next as number;
      const dataEnd = seqAdd(seg.seq, seg.data.length);
      if (seqDiff(dataEnd, next) > 0) {
        this.sink.data(conn.id, dir, seg.data.subarray(seqDiff(next, seg.seq)), time);
        half.next = dataEnd;
      }
      if (seg.lost > 0) {
        const lostEnd = seqAdd(dataEnd, seg.lost);
        const missing = seqDiff(lostEnd, half.next as number);
        if (missing > 0) {
          this.stats.gaps++;
          this.sink.gap(
            conn.id,
            dir,
            `${missing} bytes of a packet were not captured (snaplen too small: capture with tcpdump -s 0)`,
            time,
          );
          half.next = lostEnd;
        }
      }
    }
  }

  /** Gives up on missing bytes: reports each hole and continues after it. */
  private abandonHoles(conn: TcpConnection, dir: Direction, time: number, why: string): void {
    const half = conn[dir];
    while (half.pending.length > 0) {
      const missing = seqDiff(half.pending[0].seq, half.next as number);
      if (missing > 0) {
        this.stats.gaps++;
        this.sink.gap(conn.id, dir, `${missing} bytes of the ${dir} stream were never captured (${why})`, time);
        half.next = half.pending[0].seq;
      }
      this.deliver(conn, dir, time);
    }
  }

  private closeConnection(conn: TcpConnection, by: CloseBy, reason: string, time: number): void {
    for (const dir of ['c2s', 's2c'] as const) this.abandonHoles(conn, dir, time, 'the connection ended first');
    this.connections.delete(conn.key);
    this.ended.add(conn.key);
    this.sink.close(conn.id, by, reason, time);
  }
}
