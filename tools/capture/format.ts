/**
 * The TeamTalk capture format ("teamtalk-capture", version 1): JSON Lines, one
 * object per line, UTF-8, "\n" line ends. Written by the capture proxy and by
 * the pcap importer, read by the replayer. Every record has `type`; all but the
 * header also carry `time` (ISO 8601, UTC, millisecond precision) and `t`
 * (milliseconds since the capture started, up to microsecond precision).
 *
 * 1. header (always line 1)
 *    {"type":"capture","format":"teamtalk-capture","version":1,"time":"...","t":0,
 *     "source":"proxy"|"pcap", ...source details: "listen","target" | "file","serverPort"}
 * 2. open: a TCP connection between a client and the msg server
 *    {"type":"open","conn":1,"time":"...","t":12.5,"client":"127.0.0.1:50123","server":"127.0.0.1:8000",
 *     "midstream":true (pcap only: the connection was already open when the capture started)}
 * 3. pdu: one whole PDU, in the order it passed the wire for its direction
 *    {"type":"pdu","conn":1,"dir":"c2s"|"s2c","time":"...","t":13.1,
 *     "length":66,"version":1,"flag":0,"service":1,"command":259,"name":"CID_LOGIN_REQ_USERLOGIN",
 *     "seq":1693,"reserved":0,
 *     "body":"<base64 of the protobuf body: the bytes that count>",
 *     "decoded":{...} (for humans: protobuf toObject, enums as names, bytes as base64, only fields present)
 *     | "error":"why the body does not decode" (then no `decoded`)}
 *    c2s = client -> msg server, s2c = msg server -> client. The header fields are
 *    exactly those on the wire (length = 16 + body bytes). `time` is when the last
 *    byte of the PDU was seen.
 * 4. error: the byte stream of one direction could not be framed (bad length
 *    field, bytes lost in a pcap, a PDU cut off by the close); nothing more is
 *    recorded for that direction of that connection unless a later `resync` line says so.
 *    {"type":"error","conn":1,"dir":"c2s","time":"...","t":20,"code":"TT_ERR_...","message":"..."}
 * 5. resync (pcap only): after a gap or a mid-stream start, parsing resumed at a
 *    plausible PDU header after passing over `dropped` bytes.
 *    {"type":"resync","conn":1,"dir":"s2c","time":"...","t":21,"dropped":37}
 * 6. close: the connection ended (once per open)
 *    {"type":"close","conn":1,"time":"...","t":99,"by":"client"|"server"|"proxy"|"capture-end",
 *     "reason":"...","c2sBytes":1234,"s2cBytes":5678}
 *
 * Readers ignore unknown keys (later versions may add some) but reject unknown
 * record types and a version they do not know.
 */
import { commandById, commandName } from '../../pdu/commands';
import { HEADER_LENGTH, encodeFrame, type Pdu } from '../../pdu/frame';
import { TTError } from '../../lib/errors';

export const CAPTURE_FORMAT = 'teamtalk-capture';
export const CAPTURE_VERSION = 1;

export type Direction = 'c2s' | 's2c';
export type CloseBy = 'client' | 'server' | 'proxy' | 'capture-end';

export interface CaptureHeader {
  type: 'capture';
  format: typeof CAPTURE_FORMAT;
  version: number;
  time: string;
  t: 0;
  source: 'proxy' | 'pcap';
  /** proxy: where it listened and what it forwarded to. */
  listen?: string;
  target?: string;
  /** pcap: the imported file and the msg server port that decided directions. */
  file?: string;
  serverPort?: number;
}

export interface OpenRecord {
  type: 'open';
  conn: number;
  time: string;
  t: number;
  client: string;
  server: string;
  midstream?: boolean;
}

export interface PduRecord {
  type: 'pdu';
  conn: number;
  dir: Direction;
  time: string;
  t: number;
  length: number;
  version: number;
  flag: number;
  service: number;
  command: number;
  name: string;
  seq: number;
  reserved: number;
  body: string;
  decoded?: Record<string, unknown>;
  error?: string;
}

export interface ErrorRecord {
  type: 'error';
  conn: number;
  dir: Direction;
  time: string;
  t: number;
  code: string;
  message: string;
}

export interface ResyncRecord {
  type: 'resync';
  conn: number;
  dir: Direction;
  time: string;
  t: number;
  dropped: number;
}

export interface CloseRecord {
  type: 'close';
  conn: number;
  time: string;
  t: number;
  by: CloseBy;
  reason: string;
  c2sBytes: number;
  s2cBytes: number;
}

export type ConnectionRecord = OpenRecord | PduRecord | ErrorRecord | ResyncRecord | CloseRecord;
export type CaptureRecord = CaptureHeader | ConnectionRecord;

/** How bodies are shown in `decoded` (and compared by the replayer). */
export const DECODE_OPTIONS = { enums: String, bytes: String, longs: Number, defaults: false } as const;

/** The protobuf body as a plain object, or why it cannot be decoded. */
export function decodeBody(commandId: number, body: Uint8Array): { decoded: Record<string, unknown> } | { error: string } {
  const info = commandById(commandId);
  if (!info) return { error: `unknown command ${commandName(commandId)}: no message type to decode the body with` };
  try {
    const message = info.type.decode(body);
    return { decoded: info.type.toObject(message, DECODE_OPTIONS) };
  } catch (err) {
    return { error: `${info.name} body does not decode: ${err instanceof Error ? err.message : String(err)}` };
  }
}

export function isoTime(epochMs: number): string {
  return new Date(Math.floor(epochMs)).toISOString();
}

/** Millisecond offsets keep microseconds at most (pcap timestamps), not float noise. */
export function roundOffset(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

export function pduRecord(conn: number, dir: Direction, pdu: Pdu, epochMs: number, t: number): PduRecord {
  const record: PduRecord = {
    type: 'pdu',
    conn,
    dir,
    time: isoTime(epochMs),
    t,
    length: pdu.frame.length,
    version: pdu.version,
    flag: pdu.flag,
    service: pdu.serviceId,
    command: pdu.commandId,
    name: commandName(pdu.commandId),
    seq: pdu.seqNum,
    reserved: pdu.reserved,
    body: Buffer.from(pdu.body).toString('base64'),
  };
  Object.assign(record, decodeBody(pdu.commandId, pdu.body));
  return record;
}

/** The PDU exactly as recorded (header fields included, e.g. an Android client's version 6). */
export function frameOf(record: Pick<PduRecord, 'version' | 'flag' | 'service' | 'command' | 'seq' | 'reserved'>, body: Uint8Array): Buffer {
  return encodeFrame(record.service, record.command, record.seq, body, record.version, record.flag, record.reserved);
}

export function bodyOf(record: PduRecord): Buffer {
  return Buffer.from(record.body, 'base64');
}

export function serializeRecord(record: CaptureRecord): string {
  return JSON.stringify(record) + '\n';
}

// ---------------------------------------------------------------------------
// Reading

/** A capture file that cannot be used; names the line and its byte offset. */
export class CaptureFormatError extends TTError {
  constructor(
    readonly line: number,
    readonly offset: number,
    problem: string,
  ) {
    super('TT_ERR_CAPTURE_FORMAT', `capture line ${line} (byte offset ${offset}): ${problem}`);
  }
}

export interface ParsedCapture {
  header: CaptureHeader;
  /** Every record after the header, in file order. */
  records: ConnectionRecord[];
  /** lines[i] = line number of records[i] (1-based), for reports. */
  lines: number[];
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function check(condition: unknown, problem: string, line: number, offset: number): asserts condition {
  if (!condition) throw new CaptureFormatError(line, offset, problem);
}

function isUint(value: unknown, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max;
}

/** Connection numbers currently open, and every one ever opened (numbers are never reused). */
interface ConnectionTracker {
  open: Set<number>;
  seen: Set<number>;
}

function validateRecord(raw: Record<string, unknown>, line: number, offset: number, connections: ConnectionTracker): ConnectionRecord {
  const { open, seen } = connections;
  const type = raw.type;
  check(
    type === 'open' || type === 'pdu' || type === 'error' || type === 'resync' || type === 'close',
    `unknown record type ${JSON.stringify(type)}`,
    line,
    offset,
  );
  check(isUint(raw.conn, 2 ** 32), `"conn" must be a connection number, got ${JSON.stringify(raw.conn)}`, line, offset);
  check(typeof raw.t === 'number' && Number.isFinite(raw.t), `"t" must be a number of milliseconds`, line, offset);
  check(typeof raw.time === 'string', `"time" must be an ISO time string`, line, offset);
  const conn = raw.conn;
  if (type === 'open') {
    check(!seen.has(conn), `connection ${conn} is opened twice`, line, offset);
    check(typeof raw.client === 'string' && typeof raw.server === 'string', `"open" needs "client" and "server" addresses`, line, offset);
    open.add(conn);
    seen.add(conn);
    return raw as unknown as OpenRecord;
  }
  check(open.has(conn), `record for connection ${conn} before its "open" record (or after its "close")`, line, offset);
  if (type === 'close') {
    open.delete(conn);
    check(['client', 'server', 'proxy', 'capture-end'].includes(raw.by as string), `"by" must be client, server, proxy or capture-end`, line, offset);
    return raw as unknown as CloseRecord;
  }
  check(raw.dir === 'c2s' || raw.dir === 's2c', `"dir" must be "c2s" or "s2c", got ${JSON.stringify(raw.dir)}`, line, offset);
  if (type === 'error') return raw as unknown as ErrorRecord;
  if (type === 'resync') return raw as unknown as ResyncRecord;
  for (const key of ['version', 'flag', 'service', 'command', 'seq', 'reserved'] as const) {
    check(isUint(raw[key], 0xffff), `"${key}" must be an integer from 0 to 65535, got ${JSON.stringify(raw[key])}`, line, offset);
  }
  check(typeof raw.body === 'string' && raw.body.length % 4 === 0 && BASE64.test(raw.body), `"body" is not base64`, line, offset);
  const bodyBytes = Buffer.from(raw.body, 'base64').length;
  check(
    raw.length === HEADER_LENGTH + bodyBytes,
    `"length" ${JSON.stringify(raw.length)} does not match the body (${bodyBytes} bytes + 16-byte header = ${HEADER_LENGTH + bodyBytes})`,
    line,
    offset,
  );
  return raw as unknown as PduRecord;
}

/**
 * Parses a whole capture file. Throws CaptureFormatError naming the first bad
 * line: not JSON (a file cut off while it was written ends in such a line),
 * a missing header, inconsistent connection records, or a PDU whose length
 * does not match its body.
 */
export function parseCapture(data: Buffer | string): ParsedCapture {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let header: CaptureHeader | null = null;
  const records: ConnectionRecord[] = [];
  const lines: number[] = [];
  const connections: ConnectionTracker = { open: new Set(), seen: new Set() };
  let offset = 0;
  let line = 0;
  while (offset < buf.length) {
    line++;
    const newline = buf.indexOf(0x0a, offset);
    const end = newline === -1 ? buf.length : newline;
    const text = buf.toString('utf8', offset, end).replace(/\r$/, '');
    const lineOffset = offset;
    offset = end + 1;
    if (text.trim() === '') continue;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      const cutOff = newline === -1 ? ' — the file ends inside this record, so the capture was cut off' : '';
      throw new CaptureFormatError(line, lineOffset, `not a JSON object (${(err as Error).message})${cutOff}`);
    }
    check(typeof raw === 'object' && raw !== null && !Array.isArray(raw), 'not a JSON object', line, lineOffset);
    const obj = raw as Record<string, unknown>;
    if (header === null) {
      check(
        obj.type === 'capture' && obj.format === CAPTURE_FORMAT,
        `not a TeamTalk capture: the first record must be {"type":"capture","format":"${CAPTURE_FORMAT}",...}`,
        line,
        lineOffset,
      );
      check(
        obj.version === CAPTURE_VERSION,
        `capture format version ${JSON.stringify(obj.version)} is not supported (this tool reads version ${CAPTURE_VERSION})`,
        line,
        lineOffset,
      );
      header = obj as unknown as CaptureHeader;
      continue;
    }
    check(obj.type !== 'capture', 'a second capture header (two captures concatenated?)', line, lineOffset);
    records.push(validateRecord(obj, line, lineOffset, connections));
    lines.push(line);
  }
  if (header === null) throw new CaptureFormatError(1, 0, 'empty file: no capture header');
  return { header, records, lines };
}
