/**
 * A packet capture (libpcap or pcapng bytes) -> TeamTalk capture records, the
 * same format the live proxy writes. Pure: the CLI reads the file.
 *
 *   packets (pcap.ts) -> TCP segments (packets.ts) -> byte streams per
 *   connection and direction (tcp-reassembly.ts) -> PDUs (recorder.ts)
 *
 * Directions come from the msg server port: traffic to it is c2s.
 */
import { CaptureRecorder } from './recorder';
import { PcapFormatError, detectCaptureFormat, readCapturedPackets, type CaptureFileFormat } from './pcap';
import { SUPPORTED_LINK_TYPES, decodePacket } from './packets';
import { TcpReassembler, type ReassemblyStats } from './tcp-reassembly';
import type { CaptureRecord } from './format';

export interface PcapImportOptions {
  /** The msg server's port: decides which side is the server. */
  serverPort: number;
  /** Shown in the capture header. */
  file?: string;
  maxPduLength?: number;
}

export interface PcapImportStats extends ReassemblyStats {
  packets: number;
  /** Not IP/TCP (ARP, UDP, fragments...). */
  notTcp: number;
  malformed: number;
  pdus: number;
}

export interface PcapImportResult {
  format: CaptureFileFormat;
  records: CaptureRecord[];
  stats: PcapImportStats;
  /** Things an operator should know (malformed packets, cut packets), each naming the packet and its offset. */
  warnings: string[];
}

/** At most this many per-packet warnings are listed (a count says how many more). */
const MAX_WARNINGS = 20;

export function importPacketCapture(buf: Buffer, options: PcapImportOptions): PcapImportResult {
  const format = detectCaptureFormat(buf);
  const records: CaptureRecord[] = [];
  const warnings: string[] = [];
  let moreWarnings = 0;
  const warn = (text: string) => {
    if (warnings.length < MAX_WARNINGS) warnings.push(text);
    else moreWarnings++;
  };
  let recorder: CaptureRecorder | null = null;
  let reassembler: TcpReassembler | null = null;
  let packets = 0;
  let notTcp = 0;
  let malformed = 0;
  let lastTime = 0;

  for (const packet of readCapturedPackets(buf)) {
    packets++;
    if (!SUPPORTED_LINK_TYPES.has(packet.linkType)) {
      throw new PcapFormatError(
        packet.offset,
        `packet #${packet.index + 1} uses link type ${packet.linkType}, which is not supported (supported: ${[...SUPPORTED_LINK_TYPES.values()].join(', ')})`,
      );
    }
    if (recorder === null || reassembler === null) {
      recorder = new CaptureRecorder((r) => records.push(r), {
        header: { source: 'pcap', ...(options.file ? { file: options.file } : {}), serverPort: options.serverPort },
        startTime: packet.timeMs,
        maxPduLength: options.maxPduLength,
        resyncAfterError: true,
      });
      reassembler = new TcpReassembler(options.serverPort, recorder);
    }
    lastTime = Math.max(lastTime, packet.timeMs);
    const decoded = decodePacket(packet.linkType, packet.data, packet.originalLength);
    if (decoded.kind === 'other') {
      notTcp++;
      continue;
    }
    if (decoded.kind === 'bad') {
      malformed++;
      warn(`packet #${packet.index + 1} at byte offset ${packet.offset}: ${decoded.reason}; ignored`);
      continue;
    }
    const seg = decoded.segment;
    if (seg.payload.length < seg.payloadLength && (seg.srcPort === options.serverPort || seg.dstPort === options.serverPort)) {
      warn(
        `packet #${packet.index + 1} at byte offset ${packet.offset}: only ${seg.payload.length} of ${seg.payloadLength} TCP payload bytes were captured (snaplen)`,
      );
    }
    reassembler.push(seg, packet.timeMs);
  }
  if (recorder === null || reassembler === null) {
    throw new PcapFormatError(buf.length, 'the capture holds no packets');
  }
  reassembler.finish(lastTime);
  if (moreWarnings > 0) warnings.push(`... and ${moreWarnings} more such packets`);
  const pdus = records.filter((r) => r.type === 'pdu').length;
  if (reassembler.stats.connections === 0) {
    warnings.push(`no TCP connection to or from port ${options.serverPort} was found (is --port the msg server's client port?)`);
  }
  return { format, records, stats: { ...reassembler.stats, packets, notTcp, malformed, pdus }, warnings };
}
