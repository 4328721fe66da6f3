/**
 * Writes real packet captures for the importer tests, byte by byte as tcpdump
 * and dumpcap lay them out: libpcap (either byte order, micro- or nanosecond
 * timestamps) and pcapng (SHB, IDB with if_tsresol, EPB), link layers
 * Ethernet / raw IP / SLL / SLL2 / BSD loopback, IPv4 and IPv6 headers with
 * correct lengths and checksums, and TCP segments with real sequence numbers.
 *
 * A TCP session is described as the byte streams each side sends, in order;
 * the builder cuts them into segments at awkward places (mid-PDU, several PDUs
 * per segment) and can retransmit, reorder and overlap segments.
 */
import { LinkType } from '../../tools/capture/packets';

export interface Endpoints {
  clientIp: string;
  clientPort: number;
  serverIp: string;
  serverPort: number;
}

export interface Sent {
  dir: 'c2s' | 's2c';
  bytes: Buffer;
}

export interface Segment {
  dir: 'c2s' | 's2c';
  seq: number;
  ack: number;
  flags: { syn?: boolean; ack?: boolean; fin?: boolean; rst?: boolean; psh?: boolean };
  payload: Buffer;
}

export interface SessionOptions {
  /** Segment sizes, used in turn (default: odd sizes that split PDUs and headers). */
  sizes?: number[];
  /** Capture the three-way handshake (false: the connection was already open). */
  handshake?: boolean;
  close?: 'fin' | 'rst' | 'none';
  clientIsn?: number;
  serverIsn?: number;
  /** Send a copy of a data segment again a few segments later. */
  retransmit?: boolean;
  /** Swap two consecutive data segments of one direction. */
  reorder?: boolean;
  /** Replace a data segment by one that starts in the middle of the previous one. */
  overlap?: boolean;
}

const DEFAULT_SIZES = [7, 30, 3, 64, 12, 1000, 17];

/** Consecutive sends in one direction are one stream: segments cross PDU boundaries. */
function coalesce(sent: Sent[]): Sent[] {
  const out: Sent[] = [];
  for (const s of sent) {
    const last = out[out.length - 1];
    if (last && last.dir === s.dir) last.bytes = Buffer.concat([last.bytes, s.bytes]);
    else out.push({ dir: s.dir, bytes: Buffer.from(s.bytes) });
  }
  return out;
}

export function tcpSession(sent: Sent[], options: SessionOptions = {}): Segment[] {
  const sizes = options.sizes ?? DEFAULT_SIZES;
  let clientSeq = options.clientIsn ?? 0xfffff000; // near the top: the stream wraps past 2^32
  let serverSeq = options.serverIsn ?? 0x1234;
  const segments: Segment[] = [];
  if (options.handshake !== false) {
    segments.push({ dir: 'c2s', seq: clientSeq, ack: 0, flags: { syn: true }, payload: Buffer.alloc(0) });
    clientSeq = (clientSeq + 1) >>> 0;
    segments.push({ dir: 's2c', seq: serverSeq, ack: clientSeq, flags: { syn: true, ack: true }, payload: Buffer.alloc(0) });
    serverSeq = (serverSeq + 1) >>> 0;
    segments.push({ dir: 'c2s', seq: clientSeq, ack: serverSeq, flags: { ack: true }, payload: Buffer.alloc(0) });
  }
  let sizeIndex = 0;
  for (const s of coalesce(sent)) {
    for (let offset = 0; offset < s.bytes.length; ) {
      const size = sizes[sizeIndex++ % sizes.length];
      const payload = s.bytes.subarray(offset, offset + size);
      if (s.dir === 'c2s') {
        segments.push({ dir: 'c2s', seq: clientSeq, ack: serverSeq, flags: { ack: true, psh: true }, payload });
        clientSeq = (clientSeq + payload.length) >>> 0;
      } else {
        segments.push({ dir: 's2c', seq: serverSeq, ack: clientSeq, flags: { ack: true, psh: true }, payload });
        serverSeq = (serverSeq + payload.length) >>> 0;
      }
      offset += payload.length;
    }
  }
  const dataPairs = () =>
    segments
      .map((_, i) => i)
      .filter((i) => i + 1 < segments.length && segments[i].payload.length > 1 && segments[i + 1].payload.length > 0 && segments[i].dir === segments[i + 1].dir);
  if (options.overlap) {
    const i = dataPairs()[1];
    if (i === undefined) throw new Error('session too short to overlap segments');
    const a = segments[i];
    const b = segments[i + 1];
    const half = Math.floor(a.payload.length / 2);
    segments[i + 1] = { ...b, seq: (a.seq + half) >>> 0, payload: Buffer.concat([a.payload.subarray(half), b.payload]) };
  }
  if (options.reorder) {
    const i = dataPairs()[3];
    if (i === undefined) throw new Error('session too short to reorder segments');
    [segments[i], segments[i + 1]] = [segments[i + 1], segments[i]];
  }
  if (options.retransmit) {
    const i = segments.findIndex((s, k) => k > 5 && s.payload.length > 0);
    if (i === -1) throw new Error('session too short to retransmit');
    segments.splice(Math.min(segments.length, i + 3), 0, { ...segments[i] });
  }
  if (options.close === 'rst') {
    segments.push({ dir: 'c2s', seq: clientSeq, ack: serverSeq, flags: { rst: true, ack: true }, payload: Buffer.alloc(0) });
  } else if (options.close !== 'none') {
    segments.push({ dir: 'c2s', seq: clientSeq, ack: serverSeq, flags: { fin: true, ack: true }, payload: Buffer.alloc(0) });
    segments.push({ dir: 's2c', seq: serverSeq, ack: (clientSeq + 1) >>> 0, flags: { fin: true, ack: true }, payload: Buffer.alloc(0) });
    segments.push({ dir: 'c2s', seq: (clientSeq + 1) >>> 0, ack: (serverSeq + 1) >>> 0, flags: { ack: true }, payload: Buffer.alloc(0) });
  }
  return segments;
}

// ---------------------------------------------------------------------------
// IP and TCP headers

function ipv4Bytes(ip: string): Buffer {
  return Buffer.from(ip.split('.').map(Number));
}

function ipv6Bytes(ip: string): Buffer {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, ''];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function checksum(...parts: Buffer[]): number {
  let sum = 0;
  for (const part of parts) {
    for (let i = 0; i < part.length; i += 2) sum += (part[i] << 8) + (i + 1 < part.length ? part[i + 1] : 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function tcpHeader(seg: Segment, srcPort: number, dstPort: number): Buffer {
  // 12 bytes of options (NOP, NOP, timestamps), as Linux sends: data offset 8 words.
  const h = Buffer.alloc(32);
  h.writeUInt16BE(srcPort, 0);
  h.writeUInt16BE(dstPort, 2);
  h.writeUInt32BE(seg.seq >>> 0, 4);
  h.writeUInt32BE(seg.ack >>> 0, 8);
  h[12] = 8 << 4;
  h[13] = (seg.flags.fin ? 1 : 0) | (seg.flags.syn ? 2 : 0) | (seg.flags.rst ? 4 : 0) | (seg.flags.psh ? 8 : 0) | (seg.flags.ack ? 0x10 : 0);
  h.writeUInt16BE(65535, 14);
  h[20] = 1;
  h[21] = 1;
  h[22] = 8;
  h[23] = 10;
  return h;
}

/** One segment as a complete IPv4 or IPv6 packet. */
export function ipPacket(seg: Segment, ep: Endpoints): Buffer {
  const [src, dst, srcPort, dstPort] =
    seg.dir === 'c2s' ? [ep.clientIp, ep.serverIp, ep.clientPort, ep.serverPort] : [ep.serverIp, ep.clientIp, ep.serverPort, ep.clientPort];
  const tcp = Buffer.concat([tcpHeader(seg, srcPort, dstPort), seg.payload]);
  const v6 = src.includes(':');
  const srcBytes = v6 ? ipv6Bytes(src) : ipv4Bytes(src);
  const dstBytes = v6 ? ipv6Bytes(dst) : ipv4Bytes(dst);
  const pseudo = Buffer.alloc(v6 ? 40 : 12);
  if (v6) {
    srcBytes.copy(pseudo, 0);
    dstBytes.copy(pseudo, 16);
    pseudo.writeUInt32BE(tcp.length, 32);
    pseudo[39] = 6;
  } else {
    srcBytes.copy(pseudo, 0);
    dstBytes.copy(pseudo, 4);
    pseudo[9] = 6;
    pseudo.writeUInt16BE(tcp.length, 10);
  }
  tcp.writeUInt16BE(checksum(pseudo, tcp), 16);
  if (v6) {
    const h = Buffer.alloc(40);
    h.writeUInt32BE(0x60000000, 0);
    h.writeUInt16BE(tcp.length, 4);
    h[6] = 6;
    h[7] = 64;
    srcBytes.copy(h, 8);
    dstBytes.copy(h, 24);
    return Buffer.concat([h, tcp]);
  }
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + tcp.length, 2);
  h.writeUInt16BE(0x4000, 6); // don't fragment
  h[8] = 64;
  h[9] = 6;
  srcBytes.copy(h, 12);
  dstBytes.copy(h, 16);
  h.writeUInt16BE(checksum(h), 10);
  return Buffer.concat([h, tcp]);
}

/** An IP packet wrapped in the given link layer. */
export function linkFrame(linkType: number, ip: Buffer, options: { nullLittleEndian?: boolean } = {}): Buffer {
  const v6 = ip[0] >> 4 === 6;
  const etherType = v6 ? 0x86dd : 0x0800;
  switch (linkType) {
    case LinkType.ETHERNET: {
      const h = Buffer.alloc(14);
      Buffer.from([0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02]).copy(h, 0);
      h.writeUInt16BE(etherType, 12);
      const frame = Buffer.concat([h, ip]);
      // Ethernet pads frames to 60 bytes: the importer must go by the IP length.
      return frame.length < 60 ? Buffer.concat([frame, Buffer.alloc(60 - frame.length, 0xee)]) : frame;
    }
    case LinkType.RAW:
      return ip;
    case LinkType.LINUX_SLL: {
      const h = Buffer.alloc(16);
      h.writeUInt16BE(0, 0); // packet sent to us
      h.writeUInt16BE(772, 2); // ARPHRD_LOOPBACK
      h.writeUInt16BE(6, 4);
      h.writeUInt16BE(etherType, 14);
      return Buffer.concat([h, ip]);
    }
    case LinkType.LINUX_SLL2: {
      const h = Buffer.alloc(20);
      h.writeUInt16BE(etherType, 0);
      h.writeUInt32BE(1, 4); // interface index
      h.writeUInt16BE(772, 8);
      h[10] = 0;
      h[11] = 6;
      return Buffer.concat([h, ip]);
    }
    case LinkType.NULL: {
      const h = Buffer.alloc(4);
      const family = v6 ? 30 : 2; // macOS AF_INET6 = 30
      if (options.nullLittleEndian === false) h.writeUInt32BE(family, 0);
      else h.writeUInt32LE(family, 0);
      return Buffer.concat([h, ip]);
    }
    default:
      throw new Error(`builder has no link type ${linkType}`);
  }
}

export interface CapturedFrame {
  timeMs: number;
  data: Buffer;
  /** Length on the wire (default data.length). */
  originalLength?: number;
}

/** Frames for a whole session, 1.25 ms apart from `startMs`. */
export function sessionFrames(segments: Segment[], ep: Endpoints, linkType: number, startMs = 1_795_346_755_123.456): CapturedFrame[] {
  return segments.map((seg, i) => ({ timeMs: startMs + i * 1.25, data: linkFrame(linkType, ipPacket(seg, ep)) }));
}

// ---------------------------------------------------------------------------
// File formats

export function writePcap(frames: CapturedFrame[], options: { linkType: number; littleEndian?: boolean; nanos?: boolean; snaplen?: number }): Buffer {
  const le = options.littleEndian ?? true;
  const u32 = (b: Buffer, v: number, o: number) => (le ? b.writeUInt32LE(v >>> 0, o) : b.writeUInt32BE(v >>> 0, o));
  const u16 = (b: Buffer, v: number, o: number) => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  const header = Buffer.alloc(24);
  u32(header, options.nanos ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  u16(header, 2, 4);
  u16(header, 4, 6);
  u32(header, options.snaplen ?? 262144, 16);
  u32(header, options.linkType, 20);
  const parts: Buffer[] = [header];
  for (const f of frames) {
    const rec = Buffer.alloc(16);
    const seconds = Math.floor(f.timeMs / 1000);
    const fraction = options.nanos ? Math.round((f.timeMs - seconds * 1000) * 1e6) : Math.round((f.timeMs - seconds * 1000) * 1e3);
    u32(rec, seconds, 0);
    u32(rec, fraction, 4);
    u32(rec, f.data.length, 8);
    u32(rec, f.originalLength ?? f.data.length, 12);
    parts.push(rec, f.data);
  }
  return Buffer.concat(parts);
}

function pad4(b: Buffer): Buffer {
  return b.length % 4 === 0 ? b : Buffer.concat([b, Buffer.alloc(4 - (b.length % 4))]);
}

export function writePcapng(
  frames: CapturedFrame[],
  options: { linkType: number; littleEndian?: boolean; /** if_tsresol byte; default 6 (microseconds). */ tsresol?: number; withNameBlock?: boolean },
): Buffer {
  const le = options.littleEndian ?? true;
  const u32 = (b: Buffer, v: number, o: number) => (le ? b.writeUInt32LE(v >>> 0, o) : b.writeUInt32BE(v >>> 0, o));
  const u16 = (b: Buffer, v: number, o: number) => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  const block = (type: number, body: Buffer): Buffer => {
    const padded = pad4(body);
    const b = Buffer.alloc(12 + padded.length);
    u32(b, type, 0);
    u32(b, b.length, 4);
    padded.copy(b, 8);
    u32(b, b.length, b.length - 4);
    return b;
  };
  const shb = Buffer.alloc(16);
  u32(shb, 0x1a2b3c4d, 0);
  u16(shb, 1, 4);
  u16(shb, 0, 6);
  shb.writeBigInt64LE(-1n, 8); // section length unknown (same bytes in both orders)
  const tsresol = options.tsresol ?? 6;
  const idb = Buffer.alloc(8 + 8 + 4);
  u16(idb, options.linkType, 0);
  u32(idb, 262144, 4);
  u16(idb, 9, 8); // if_tsresol
  u16(idb, 1, 10);
  idb[12] = tsresol;
  u16(idb, 0, 16); // opt_endofopt
  const unitsPerSecond = tsresol & 0x80 ? 2 ** (tsresol & 0x7f) : 10 ** tsresol;
  const parts: Buffer[] = [block(0x0a0d0d0a, shb), block(1, idb)];
  if (options.withNameBlock) {
    // A Name Resolution Block with only opt_endofopt: readers must pass over it.
    parts.push(block(4, Buffer.alloc(4)));
  }
  for (const f of frames) {
    const units = BigInt(Math.floor(f.timeMs / 1000)) * BigInt(unitsPerSecond) + BigInt(Math.round(((f.timeMs % 1000) / 1000) * unitsPerSecond));
    const body = Buffer.alloc(20);
    u32(body, 0, 0);
    u32(body, Number(units >> 32n), 4);
    u32(body, Number(units & 0xffffffffn), 8);
    u32(body, f.data.length, 12);
    u32(body, f.originalLength ?? f.data.length, 16);
    parts.push(block(6, Buffer.concat([body, pad4(f.data)])));
  }
  return Buffer.concat(parts);
}
