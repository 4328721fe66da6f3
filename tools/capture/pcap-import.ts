/**
 * A packet capture (libpcap or pcapng bytes) -> TeamTalk capture records, the
 * same format the live proxy writes. No I/O of its own: bytes come from a Buffer
 * or a ByteSource, records go to a callback (the CLI streams both through files).
 *
 *   packets (pcap.ts) -> TCP segments (packets.ts) -> byte streams per
 *   connection and direction (tcp-reassembly.ts) -> PDUs (recorder.ts)
 *
 * Directions come from the msg server port: traffic to it is c2s.
 */
import { CaptureRecorder } from './recorder';
import { PcapFormatError, detectCaptureFormat, readCapturedPackets, type CaptureFileFormat } from './pcap';
import { bufferSource, type ByteSource } from './byte-source';
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

export interface PcapImportSummary {
  format: CaptureFileFormat;
  stats: PcapImportStats;
  /** Things an operator should know (malformed packets, cut packets), each naming the packet and its offset. */
  warnings: string[];
}

export interface PcapImportResult extends PcapImportSummary {
  records: CaptureRecord[];
}

/** At most this many per-packet warnings are listed (a count says how many more). */
const MAX_WARNINGS = 20;

/** The whole capture in memory, its records returned together. */
export function importPacketCapture(buf: Buffer, options: PcapImportOptions): PcapImportResult {
  const records: CaptureRecord[] = [];
  const summary = streamPacketCapture(bufferSource(buf), options, (r) => records.push(r));
  return { ...summary, records };
}

/** Packets read as needed from `src`, each record handed to `onRecord` as soon as it is complete. */
export function streamPacketCapture(
  src: ByteSource,
  options: PcapImportOptions,
  onRecord: (record: CaptureRecord) => void,
): PcapImportSummary {
  const format = detectCaptureFormat(src);
  let pdus = 0;
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

  for (const packet of readCapturedPackets(src)) {
    packets++;
    if (!SUPPORTED_LINK_TYPES.has(packet.linkType)) {
      throw new PcapFormatError(
        packet.offset,
        `packet #${packet.index + 1} uses link type ${packet.linkType}, which is not supported (supported: ${[...SUPPORTED_LINK_TYPES.values()].join(', ')})`,
      );
    }
    if (recorder === null || reassembler === null) {
      const emit = (r: CaptureRecord) => {
        if (r.type === 'pdu') pdus++;
        onRecord(r);
      };
      recorder = new CaptureRecorder(emit, {
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
    throw new PcapFormatError(src.length, 'the capture holds no packets');
  }
  reassembler.finish(lastTime);
  if (moreWarnings > 0) warnings.push(`... and ${moreWarnings} more such packets`);
  if (reassembler.stats.connections === 0) {
    warnings.push(`no TCP connection to or from port ${options.serverPort} was found (is --port the msg server's client port?)`);
  }
  return { format, stats: { ...reassembler.stats, packets, notTcp, malformed, pdus }, warnings };
}
