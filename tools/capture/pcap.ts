/**
 * Readers for packet capture files: bytes in (a Buffer, or a ByteSource that
 * reads the file a window at a time), packets out, one record or block read at
 * a time:
 *
 *   libpcap  (tcpdump -w): 24-byte global header, then 16-byte record header +
 *            captured bytes per packet. Magic a1b2c3d4 (microsecond timestamps)
 *            or a1b23c4d (nanoseconds), written in the capturing host's byte
 *            order: both orders are read.
 *   pcapng   (Wireshark, dumpcap): blocks of {type, total length, body, total
 *            length}. Section Header Blocks set the byte order (and may change
 *            it mid-file), Interface Description Blocks give each interface its
 *            link type and timestamp resolution (if_tsresol, if_tsoffset);
 *            Enhanced, Simple and (obsolete) Packet Blocks carry packets. Other
 *            blocks (name resolution, statistics, ...) are passed over.
 *
 * A truncated or corrupt file raises PcapFormatError naming the byte offset of
 * the structure that is broken.
 */
import { TTError } from '../../lib/errors';
import { bufferSource, type ByteSource } from './byte-source';

export class PcapFormatError extends TTError {
  constructor(
    readonly offset: number,
    problem: string,
  ) {
    super('TT_ERR_PCAP_FORMAT', `${problem} (at byte offset ${offset})`);
  }
}

export interface CapturedPacket {
  /** 0-based position in the file. */
  index: number;
  /** Byte offset of the packet's record (libpcap) or block (pcapng). */
  offset: number;
  /** Capture time, epoch milliseconds with sub-millisecond fraction. */
  timeMs: number;
  /** LINKTYPE_* of the interface it was captured on. */
  linkType: number;
  /** The captured bytes. */
  data: Buffer;
  /** Length on the wire; larger than data.length when the capture's snaplen cut it. */
  originalLength: number;
}

export type CaptureFileFormat = 'pcap' | 'pcapng';

const PCAP_MAGIC_MICRO = 0xa1b2c3d4;
const PCAP_MAGIC_NANO = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;

export function detectCaptureFormat(input: Buffer | ByteSource): CaptureFileFormat {
  const src = sourceOf(input);
  const magic = src.read(0, 4);
  if (magic.length < 4) throw new PcapFormatError(0, `file too short to be a packet capture (${magic.length} bytes)`);
  const be = magic.readUInt32BE(0);
  const le = magic.readUInt32LE(0);
  if (be === PCAPNG_SHB) return 'pcapng';
  if (be === PCAP_MAGIC_MICRO || le === PCAP_MAGIC_MICRO || be === PCAP_MAGIC_NANO || le === PCAP_MAGIC_NANO) return 'pcap';
  throw new PcapFormatError(
    0,
    `not a pcap or pcapng file (magic number 0x${be.toString(16).padStart(8, '0')}; expected a1b2c3d4, a1b23c4d or the pcapng 0a0d0d0a)`,
  );
}

/** Every packet of a libpcap or pcapng file, in file order. */
export function* readCapturedPackets(input: Buffer | ByteSource): Generator<CapturedPacket> {
  const src = sourceOf(input);
  if (detectCaptureFormat(src) === 'pcap') yield* readPcap(src);
  else yield* readPcapng(src);
}

function sourceOf(input: Buffer | ByteSource): ByteSource {
  return Buffer.isBuffer(input) ? bufferSource(input) : input;
}

/** Endian-aware reads over the record or block at hand. */
class Reader {
  constructor(
    public buf: Buffer,
    public littleEndian: boolean,
  ) {}
  u16(offset: number): number {
    return this.littleEndian ? this.buf.readUInt16LE(offset) : this.buf.readUInt16BE(offset);
  }
  u32(offset: number): number {
    return this.littleEndian ? this.buf.readUInt32LE(offset) : this.buf.readUInt32BE(offset);
  }
  i64(offset: number): bigint {
    return this.littleEndian ? this.buf.readBigInt64LE(offset) : this.buf.readBigInt64BE(offset);
  }
}

/** `bytes` read at file offset `offset` for `what`: a short read means the file was cut off. */
function need(got: Buffer, bytes: number, offset: number, what: string): Buffer {
  if (got.length < bytes) {
    throw new PcapFormatError(
      offset,
      `truncated file: ${what} needs ${bytes} bytes but only ${got.length} remain (the capture was cut off)`,
    );
  }
  return got;
}

// ---------------------------------------------------------------------------
// libpcap

function* readPcap(src: ByteSource): Generator<CapturedPacket> {
  const header = need(src.read(0, 24), 24, 0, 'the pcap global header');
  const littleEndian = header.readUInt32LE(0) === PCAP_MAGIC_MICRO || header.readUInt32LE(0) === PCAP_MAGIC_NANO;
  const r = new Reader(header, littleEndian);
  const nanos = r.u32(0) === PCAP_MAGIC_NANO;
  const major = r.u16(4);
  if (major !== 2) throw new PcapFormatError(4, `unsupported pcap version ${major}.${r.u16(6)} (expected 2.4)`);
  const snaplen = r.u32(16);
  // The top bits of the link type word carry FCS information (pcap-linktype(7)).
  const linkType = r.u32(20) & 0x0fffffff;
  let offset = 24;
  let index = 0;
  while (offset < src.length) {
    r.buf = need(src.read(offset, 16), 16, offset, `the header of packet #${index + 1}`);
    const seconds = r.u32(0);
    const fraction = r.u32(4);
    const captured = r.u32(8);
    const original = r.u32(12);
    if (fraction >= (nanos ? 1e9 : 1e6)) {
      throw new PcapFormatError(offset + 4, `packet #${index + 1}: timestamp fraction ${fraction} is out of range (corrupt record header)`);
    }
    if (captured > Math.max(snaplen, 262144) || captured > 0x4000000) {
      throw new PcapFormatError(
        offset + 8,
        `packet #${index + 1}: captured length ${captured} exceeds the snaplen ${snaplen} (corrupt record header)`,
      );
    }
    const data = need(src.read(offset + 16, captured), captured, offset + 16, `packet #${index + 1} (${captured} captured bytes)`);
    yield {
      index,
      offset,
      timeMs: seconds * 1000 + (nanos ? fraction / 1e6 : fraction / 1e3),
      linkType,
      data,
      originalLength: Math.max(original, captured),
    };
    offset += 16 + captured;
    index++;
  }
}

// ---------------------------------------------------------------------------
// pcapng

interface Interface {
  linkType: number;
  snaplen: number;
  /** Timestamp units per second. */
  unitsPerSecond: bigint;
  offsetSeconds: bigint;
}

function timestampMs(units: bigint, iface: Interface): number {
  const seconds = units / iface.unitsPerSecond + iface.offsetSeconds;
  const rest = units % iface.unitsPerSecond;
  return Number(seconds) * 1000 + (Number(rest) * 1000) / Number(iface.unitsPerSecond);
}

/**
 * Options of an IDB: code, length, value padded to 4 bytes, ending with
 * opt_endofopt (0). Positions are within the block at file offset `base`.
 */
function readInterfaceOptions(r: Reader, base: number, start: number, end: number, iface: Interface): void {
  let at = start;
  while (at + 4 <= end) {
    const code = r.u16(at);
    const length = r.u16(at + 2);
    const value = at + 4;
    if (code === 0) return;
    if (value + length > end) throw new PcapFormatError(base + at, `interface option ${code} runs past the end of its block`);
    if (code === 9 && length >= 1) {
      // if_tsresol: high bit clear = 10^-n seconds, set = 2^-n seconds.
      const v = r.buf[value];
      const exponent = BigInt(v & 0x7f);
      iface.unitsPerSecond = v & 0x80 ? 2n ** exponent : 10n ** exponent;
      if (iface.unitsPerSecond === 0n) throw new PcapFormatError(base + value, 'interface timestamp resolution is zero');
    } else if (code === 14 && length >= 8) {
      iface.offsetSeconds = r.i64(value);
    }
    at = value + ((length + 3) & ~3);
  }
}

function* readPcapng(src: ByteSource): Generator<CapturedPacket> {
  const r = new Reader(Buffer.alloc(0), true);
  let interfaces: Interface[] = [];
  let sectionSeen = false;
  let offset = 0;
  let index = 0;
  // Simple Packet Blocks carry no timestamp: they get the previous packet's.
  let lastTime = 0;
  while (offset < src.length) {
    const head = need(src.read(offset, 12), 12, offset, 'a pcapng block header');
    if (head.readUInt32BE(0) === PCAPNG_SHB) {
      // The byte order magic decides how this whole section (its length fields included) is read.
      const shb = need(src.read(offset, 28), 28, offset, 'a section header block');
      if (shb.readUInt32LE(8) === PCAPNG_BYTE_ORDER_MAGIC) r.littleEndian = true;
      else if (shb.readUInt32BE(8) === PCAPNG_BYTE_ORDER_MAGIC) r.littleEndian = false;
      else throw new PcapFormatError(offset + 8, 'section header block has no valid byte-order magic (1a2b3c4d)');
      r.buf = shb;
      const major = r.u16(12);
      if (major !== 1) throw new PcapFormatError(offset + 12, `unsupported pcapng version ${major}.${r.u16(14)}`);
      interfaces = [];
      sectionSeen = true;
    } else if (!sectionSeen) {
      throw new PcapFormatError(offset, 'pcapng file does not start with a section header block');
    }
    r.buf = head;
    const type = r.u32(0);
    const length = r.u32(4);
    if (length < 12 || length % 4 !== 0) {
      throw new PcapFormatError(offset + 4, `pcapng block (type 0x${type.toString(16)}) has an invalid total length ${length}`);
    }
    r.buf = need(src.read(offset, length), length, offset, `a pcapng block of ${length} bytes (type 0x${type.toString(16)})`);
    const trailer = r.u32(length - 4);
    if (trailer !== length) {
      throw new PcapFormatError(
        offset + length - 4,
        `pcapng block at byte ${offset} ends with length ${trailer}, not ${length} (corrupt block)`,
      );
    }
    // Positions below are within the block.
    const body = 8;
    const bodyEnd = length - 4;
    const interfaceOf = (id: number, at: number): Interface => {
      const iface = interfaces[id];
      if (!iface) throw new PcapFormatError(offset + at, `packet refers to interface ${id}, which no interface description block defined`);
      return iface;
    };
    switch (type) {
      case 1: {
        // Interface Description Block
        if (bodyEnd - body < 8) throw new PcapFormatError(offset, 'interface description block is too short');
        const iface: Interface = { linkType: r.u16(body), snaplen: r.u32(body + 4), unitsPerSecond: 1_000_000n, offsetSeconds: 0n };
        readInterfaceOptions(r, offset, body + 8, bodyEnd, iface);
        interfaces.push(iface);
        break;
      }
      case 6:
      case 2: {
        // Enhanced Packet Block / obsolete Packet Block (16-bit interface id + drops count)
        if (bodyEnd - body < 20) throw new PcapFormatError(offset, 'packet block is too short');
        const ifaceId = type === 6 ? r.u32(body) : r.u16(body);
        const iface = interfaceOf(ifaceId, body);
        const units = (BigInt(r.u32(body + 4)) << 32n) | BigInt(r.u32(body + 8));
        const captured = r.u32(body + 12);
        const original = r.u32(body + 16);
        if (body + 20 + captured > bodyEnd) {
          throw new PcapFormatError(offset + body + 12, `packet #${index + 1}: captured length ${captured} runs past the end of its block`);
        }
        lastTime = timestampMs(units, iface);
        yield {
          index: index++,
          offset,
          timeMs: lastTime,
          linkType: iface.linkType,
          data: r.buf.subarray(body + 20, body + 20 + captured),
          originalLength: Math.max(original, captured),
        };
        break;
      }
      case 3: {
        // Simple Packet Block: interface 0, no timestamp (it takes the previous packet's).
        const iface = interfaceOf(0, body);
        const original = r.u32(body);
        const room = bodyEnd - body - 4;
        const captured = Math.min(original, iface.snaplen > 0 ? iface.snaplen : original, room);
        yield {
          index: index++,
          offset,
          timeMs: lastTime,
          linkType: iface.linkType,
          data: r.buf.subarray(body + 4, body + 4 + captured),
          originalLength: original,
        };
        break;
      }
      default:
        break;
    }
    offset += length;
  }
}
