/**
 * From a captured frame to a TCP segment, pure: link layer (Ethernet with VLAN
 * tags, raw IP, Linux cooked SLL and SLL2, BSD loopback), IPv4 or IPv6 (with
 * extension headers), then TCP. Anything else (ARP, UDP, fragments...) comes
 * back as `other` with the reason; a malformed header as `bad`.
 */

export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  /** DLT_RAW as some BSDs number it in files. */
  RAW_BSD_12: 12,
  RAW_BSD_14: 14,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

export const SUPPORTED_LINK_TYPES: ReadonlyMap<number, string> = new Map([
  [LinkType.NULL, 'BSD loopback (0)'],
  [LinkType.ETHERNET, 'Ethernet (1)'],
  [LinkType.RAW, 'raw IP (101)'],
  [LinkType.RAW_BSD_12, 'raw IP (12)'],
  [LinkType.RAW_BSD_14, 'raw IP (14)'],
  [LinkType.LOOP, 'OpenBSD loopback (108)'],
  [LinkType.LINUX_SLL, 'Linux cooked SLL (113)'],
  [LinkType.IPV4, 'raw IPv4 (228)'],
  [LinkType.IPV6, 'raw IPv6 (229)'],
  [LinkType.LINUX_SLL2, 'Linux cooked SLL2 (276)'],
]);

export interface TcpSegment {
  /** "10.0.0.1" or "2001:db8::1". */
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  syn: boolean;
  ackFlag: boolean;
  fin: boolean;
  rst: boolean;
  /** The payload bytes captured. */
  payload: Buffer;
  /** Payload length on the wire (from the IP length); larger than payload.length when the snaplen cut the packet. */
  payloadLength: number;
}

export type DecodedPacket = { kind: 'tcp'; segment: TcpSegment } | { kind: 'other'; reason: string } | { kind: 'bad'; reason: string };

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = [0x8100, 0x88a8, 0x9100];
const IPPROTO_TCP = 6;

const other = (reason: string): DecodedPacket => ({ kind: 'other', reason });
const bad = (reason: string): DecodedPacket => ({ kind: 'bad', reason });

export function decodePacket(linkType: number, data: Buffer, originalLength = data.length): DecodedPacket {
  // Bytes the snaplen cut off the end of the frame; the IP layer subtracts them from its payload.
  const cut = Math.max(0, originalLength - data.length);
  switch (linkType) {
    case LinkType.ETHERNET: {
      if (data.length < 14) return bad(`Ethernet frame of ${data.length} bytes is shorter than its header`);
      let type = data.readUInt16BE(12);
      let offset = 14;
      while (ETHERTYPE_VLAN.includes(type)) {
        if (data.length < offset + 4) return bad('VLAN tag cut short');
        type = data.readUInt16BE(offset + 2);
        offset += 4;
      }
      return byEtherType(type, data.subarray(offset), cut);
    }
    case LinkType.RAW:
    case LinkType.RAW_BSD_12:
    case LinkType.RAW_BSD_14:
    case LinkType.IPV4:
    case LinkType.IPV6:
      return byIpVersion(data, cut);
    case LinkType.NULL:
    case LinkType.LOOP: {
      if (data.length < 4) return bad('loopback header cut short');
      // The address family is in the capturing host's byte order (NULL) or network order (LOOP).
      const family = linkType === LinkType.LOOP ? data.readUInt32BE(0) : Math.min(data.readUInt32LE(0), data.readUInt32BE(0));
      if (family === 2) return ipv4(data.subarray(4), cut);
      if (family === 10 || family === 24 || family === 28 || family === 30) return ipv6(data.subarray(4), cut);
      return other(`loopback address family ${family} is not IP`);
    }
    case LinkType.LINUX_SLL: {
      if (data.length < 16) return bad('Linux cooked (SLL) header cut short');
      return byEtherType(data.readUInt16BE(14), data.subarray(16), cut);
    }
    case LinkType.LINUX_SLL2: {
      if (data.length < 20) return bad('Linux cooked (SLL2) header cut short');
      return byEtherType(data.readUInt16BE(0), data.subarray(20), cut);
    }
    default:
      return other(`link type ${linkType} is not supported`);
  }
}

function byEtherType(type: number, ip: Buffer, cut: number): DecodedPacket {
  if (type === ETHERTYPE_IPV4) return ipv4(ip, cut);
  if (type === ETHERTYPE_IPV6) return ipv6(ip, cut);
  return other(`ethertype 0x${type.toString(16).padStart(4, '0')} is not IP`);
}

function byIpVersion(ip: Buffer, cut: number): DecodedPacket {
  if (ip.length < 1) return bad('empty IP packet');
  const version = ip[0] >> 4;
  if (version === 4) return ipv4(ip, cut);
  if (version === 6) return ipv6(ip, cut);
  return bad(`IP version ${version}`);
}

function ipv4(ip: Buffer, cut: number): DecodedPacket {
  if (ip.length < 20) return bad(`IPv4 header cut short (${ip.length} bytes)`);
  if (ip[0] >> 4 !== 4) return bad(`IPv4 packet with version ${ip[0] >> 4}`);
  const headerLength = (ip[0] & 0x0f) * 4;
  if (headerLength < 20) return bad(`IPv4 header length ${headerLength} is below 20`);
  const totalLength = ip.readUInt16BE(2);
  // TSO/GSO captures write 0 as the total length of large segments: use what was captured.
  const wireLength = totalLength === 0 ? ip.length + cut : totalLength;
  if (wireLength < headerLength) return bad(`IPv4 total length ${totalLength} is below its header length ${headerLength}`);
  const fragment = ip.readUInt16BE(6);
  if ((fragment & 0x1fff) !== 0 || (fragment & 0x2000) !== 0) return other('IPv4 fragment (fragmented TCP is not reassembled)');
  if (ip[9] !== IPPROTO_TCP) return other(`IP protocol ${ip[9]} is not TCP`);
  if (ip.length < headerLength) return bad('IPv4 options cut short');
  const src = `${ip[12]}.${ip[13]}.${ip[14]}.${ip[15]}`;
  const dst = `${ip[16]}.${ip[17]}.${ip[18]}.${ip[19]}`;
  // Ethernet pads short frames: the IP length, not the frame, says where the packet ends.
  return tcp(src, dst, ip.subarray(headerLength, Math.min(ip.length, wireLength)), wireLength - headerLength);
}

function ipv6Address(buf: Buffer, offset: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(offset + i * 2).toString(16));
  // Collapse the longest run of zero groups (RFC 5952).
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength && j - i > 1) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart === -1) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}

function ipv6(ip: Buffer, cut: number): DecodedPacket {
  if (ip.length < 40) return bad(`IPv6 header cut short (${ip.length} bytes)`);
  if (ip[0] >> 4 !== 6) return bad(`IPv6 packet with version ${ip[0] >> 4}`);
  const payloadLength = ip.readUInt16BE(4);
  const wireLength = payloadLength === 0 ? ip.length - 40 + cut : payloadLength; // 0: jumbogram or TSO
  let next = ip[6];
  let offset = 40;
  const end = 40 + wireLength;
  // Extension headers before TCP: hop-by-hop, routing, destination options, AH.
  for (;;) {
    if (next === IPPROTO_TCP) break;
    if (next === 44) return other('IPv6 fragment (fragmented TCP is not reassembled)');
    if (next === 0 || next === 43 || next === 60 || next === 51) {
      if (ip.length < offset + 2) return bad('IPv6 extension header cut short');
      const length = next === 51 ? (ip[offset + 1] + 2) * 4 : (ip[offset + 1] + 1) * 8;
      next = ip[offset];
      offset += length;
      continue;
    }
    return other(`IPv6 next header ${next} is not TCP`);
  }
  if (offset > end) return bad('IPv6 extension headers run past the payload length');
  return tcp(ipv6Address(ip, 8), ipv6Address(ip, 24), ip.subarray(offset, Math.min(ip.length, end)), end - offset);
}

function tcp(srcIp: string, dstIp: string, seg: Buffer, wireLength: number): DecodedPacket {
  if (seg.length < 20) return bad(`TCP header cut short (${seg.length} bytes)`);
  const headerLength = (seg[12] >> 4) * 4;
  if (headerLength < 20 || headerLength > wireLength) return bad(`TCP header length ${headerLength} is invalid`);
  if (seg.length < headerLength) return bad('TCP options cut short');
  const flags = seg[13];
  return {
    kind: 'tcp',
    segment: {
      srcIp,
      dstIp,
      srcPort: seg.readUInt16BE(0),
      dstPort: seg.readUInt16BE(2),
      seq: seg.readUInt32BE(4),
      ack: seg.readUInt32BE(8),
      fin: (flags & 0x01) !== 0,
      syn: (flags & 0x02) !== 0,
      rst: (flags & 0x04) !== 0,
      ackFlag: (flags & 0x10) !== 0,
      payload: seg.subarray(headerLength),
      payloadLength: wireLength - headerLength,
    },
  };
}
