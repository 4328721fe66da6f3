/**
 * Readers for packet capture files, pure (a Buffer in, packets out; the CLI does
 * the file I/O):
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
  /** The captured bytes (a view into the file buffer). */
  data: Buffer;
  /** Length on the wire; larger than data.length when the capture's snaplen cut it. */
  originalLength: number;
}

export type CaptureFileFormat = 'pcap' | 'pcapng';

const PCAP_MAGIC_MICRO = 0xa1b2c3d4;
const PCAP_MAGIC_NANO = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;

export function detectCaptureFormat(buf: Buffer): CaptureFileFormat {
  if (buf.length < 4) throw new PcapFormatError(0, `file too short to be a packet capture (${buf.length} bytes)`);
  const be = buf.readUInt32BE(0);
  const le = buf.readUInt32LE(0);
  if (be === PCAPNG_SHB) return 'pcapng';
  if (be === PCAP_MAGIC_MICRO || le === PCAP_MAGIC_MICRO || be === PCAP_MAGIC_NANO || le === PCAP_MAGIC_NANO) return 'pcap';
  throw new PcapFormatError(
    0,
    `not a pcap or pcapng file (magic number 0x${be.toString(16).padStart(8, '0')}; expected a1b2c3d4, a1b23c4d or the pcapng 0a0d0d0a)`,
  );
}

/** Every packet of a libpcap or pcapng file, in file order. */
export function* readCapturedPackets(buf: Buffer): Generator<CapturedPacket> {
  if (detectCaptureFormat(buf) === 'pcap') yield* readPcap(buf);
  else yield* readPcapng(buf);
}

/** Endian-aware reads over one buffer. */
class Reader {
  constructor(
    readonly buf: Buffer,
    public littleEndian: boolean,
  ) {}
  u16(offset: number): number {
    return this.littleEndian ? this.buf.readUInt16LE(offset) : this.buf.readUInt16BE(offset);
  }
  u32(offset: number): number {
    return this.littleEndian ? this.buf.readUInt32LE(offset) : this.buf.readUInt32BE(offset);
  }
  i32(offset: number): number {
    return this.littleEndian ? this.buf.readInt32LE(offset) : this.buf.readInt32BE(offset);
  }
  u64(offset: number): bigint {
    return this.littleEndian ? this.buf.readBigUInt64LE(offset) : this.buf.readBigUInt64BE(offset);
  }
  i64(offset: number): bigint {
    return this.littleEndian ? this.buf.readBigInt64LE(offset) : this.buf.readBigInt64BE(offset);
  }
}

function need(buf: Buffer, offset: number, bytes: number, what: string): void {
  if (offset + bytes > buf.length) {
    throw new PcapFormatError(
      offset,
      `truncated file: ${what} needs ${bytes} bytes but only ${buf.length - offset} remain (the capture was cut off)`,
    );
  }
}

// ---------------------------------------------------------------------------
// libpcap

function* readPcap(buf: Buffer): Generator<CapturedPacket> {
  need(buf, 0, 24, 'the pcap global header');
  const littleEndian = buf.readUInt32LE(0) === PCAP_MAGIC_MICRO || buf.readUInt32LE(0) === PCAP_MAGIC_NANO;
  const r = new Reader(buf, littleEndian);
  const nanos = r.u32(0) === PCAP_MAGIC_NANO;
  const major = r.u16(4);
  if (major !== 2) throw new PcapFormatError(4, `unsupported pcap version ${major}.${r.u16(6)} (expected 2.4)`);
  const snaplen = r.u32(16);
  // The top bits of the link type word carry FCS information (pcap-linktype(7)).
  const linkType = r.u32(20) & 0x0fffffff;
  let offset = 24;
  let index = 0;
  while (offset < buf.length) {
    need(buf, offset, 16, `the header of packet #${index + 1}`);
    const seconds = r.u32(offset);
    const fraction = r.u32(offset + 4);
    const captured = r.u32(offset + 8);
    const original = r.u32(offset + 12);
    if (fraction >= (nanos ? 1e9 : 1e6)) {
      throw new PcapFormatError(offset + 4, `packet #${index + 1}: timestamp fraction ${fraction} is out of range (corrupt record header)`);
    }
    if (captured > Math.max(snaplen, 262144) || captured > 0x4000000) {
      throw new PcapFormatError(
        offset + 8,
        `packet #${index + 1}: captured length ${captured} exceeds the snaplen ${snaplen} (corrupt record header)`,
      );
    }
    need(buf, offset + 16, captured, `packet #${index + 1} (${captured} captured bytes)`);
    yield {
      index,
      offset,
      timeMs: seconds * 1000 + (nanos ? fraction / 1e6 : fraction / 1e3),
      linkType,
      data: buf.subarray(offset + 16, offset + 16 + captured),
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

/** Options of an IDB: code, length, value padded to 4 bytes, ending with opt_endofopt (0). */
function readInterfaceOptions(r: Reader, start: number, end: number, iface: Interface): void {
  let offset = start;
  while (offset + 4 <= end) {
    const code = r.u16(offset);
    const length = r.u16(offset + 2);
    const value = offset + 4;
    if (code === 0) return;
    if (value + length > end) throw new PcapFormatError(offset, `interface option ${code} runs past the end of its block`);
    if (code === 9 && length >= 1) {
      // if_tsresol: high bit clear = 10^-n seconds, set = 2^-n seconds.
      const v = r.buf[value];
      const exponent = BigInt(v & 0x7f);
      iface.unitsPerSecond = v & 0x80 ? 2n ** exponent : 10n ** exponent;
      if (iface.unitsPerSecond === 0n) throw new PcapFormatError(value, 'interface timestamp resolution is zero');
    } else if (code === 14 && length >= 8) {
      iface.offsetSeconds = r.i64(value);
    }
    offset = value + ((length + 3) & ~3);
  }
}

function* readPcapng(buf: Buffer): Generator<CapturedPacket> {
  const r = new Reader(buf, true);
  let interfaces: Interface[] = [];
  let sectionSeen = false;
  let offset = 0;
  let index = 0;
  // Simple Packet Blocks carry no timestamp: they get the previous packet's.
  let lastTime = 0;
  while (offset < buf.length) {
    need(buf, offset, 12, 'a pcapng block header');
    const typeBE = buf.readUInt32BE(offset);
    if (typeBE === PCAPNG_SHB) {
      // The byte order magic decides how this whole section (its length fields included) is read.
      need(buf, offset, 28, 'a section header block');
      const magicLE = buf.readUInt32LE(offset + 8);
      if (magicLE === PCAPNG_BYTE_ORDER_MAGIC) r.littleEndian = true;
      else if (buf.readUInt32BE(offset + 8) === PCAPNG_BYTE_ORDER_MAGIC) r.littleEndian = false;
      else throw new PcapFormatError(offset + 8, 'section header block has no valid byte-order magic (1a2b3c4d)');
      const major = r.u16(offset + 12);
      if (major !== 1) throw new PcapFormatError(offset + 12, `unsupported pcapng version ${major}.${r.u16(offset + 14)}`);
      interfaces = [];
      sectionSeen = true;
    } else if (!sectionSeen) {
      throw new PcapFormatError(offset, 'pcapng file does not start with a section header block');
    }
    const type = r.u32(offset);
    const length = r.u32(offset + 4);
    if (length < 12 || length % 4 !== 0) {
      throw new PcapFormatError(offset + 4, `pcapng block (type 0x${type.toString(16)}) has an invalid total length ${length}`);
    }
    need(buf, offset, length, `a pcapng block of ${length} bytes (type 0x${type.toString(16)})`);
    const trailer = r.u32(offset + length - 4);
    if (trailer !== length) {
      throw new PcapFormatError(
        offset + length - 4,
        `pcapng block at byte ${offset} ends with length ${trailer}, not ${length} (corrupt block)`,
      );
    }
    const body = offset + 8;
    const bodyEnd = offset + length - 4;
    const interfaceOf = (id: number, at: number): Interface => {
      const iface = interfaces[id];
      if (!iface) throw new PcapFormatError(at, `packet refers to interface ${id}, which no interface description block defined`);
      return iface;
    };
    switch (type) {
      case 1: {
        // Interface Description Block
        if (bodyEnd - body < 8) throw new PcapFormatError(offset, 'interface description block is too short');
        const iface: Interface = { linkType: r.u16(body), snaplen: r.u32(body + 4), unitsPerSecond: 1_000_000n, offsetSeconds: 0n };
        readInterfaceOptions(r, body + 8, bodyEnd, iface);
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
          throw new PcapFormatError(body + 12, `packet #${index + 1}: captured length ${captured} runs past the end of its block`);
        }
        lastTime = timestampMs(units, iface);
        yield {
          index: index++,
          offset,
          timeMs: lastTime,
          linkType: iface.linkType,
          data: buf.subarray(body + 20, body + 20 + captured),
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
          data: buf.subarray(body + 4, body + 4 + captured),
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
