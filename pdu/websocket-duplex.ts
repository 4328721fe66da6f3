/**
 * WebSocketDuplex: a WebSocket seen as the byte stream a PduConnection reads and
 * writes, so browsers go through the same PduServer (login, limits, timeouts,
 * handlers) as TCP clients. The rule on the wire: one binary WebSocket message
 * carries exactly one PDU, in both directions.
 *
 *   in   each binary message must be one whole PDU (its length field equals the
 *        message size); a text message, a partial PDU or several PDUs in one
 *        message close the connection (the reason goes to onViolation).
 *   out  PduConnection coalesces the PDUs of one event-loop turn into one write;
 *        the write is split at PDU boundaries (FrameDecoder) and each PDU sent as
 *        one message; with the underlying socket at hand they leave in one system
 *        call, as on TCP. A write completes once its last message was handed to
 *        the socket, so writableLength counts what still waits and the
 *        connection's maxWriteQueueBytes limit holds exactly as on TCP.
 *   flow when the reader pauses (PduConnection.pauseReading), the WebSocket and
 *        its socket are paused until the reader wants more.
 */
import { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { FrameDecoder, HEADER_LENGTH } from './frame';

/** WebSocket close codes used here (RFC 6455 §7.4.1). */
export const WsCloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  MESSAGE_TOO_BIG: 1009,
} as const;

/** After our close frame, how long the peer gets to answer before the socket is cut. */
const CLOSE_GRACE_MS = 1_000;

const SEND_OPTIONS = { binary: true, compress: false } as const;

export interface WebSocketDuplexOptions {
  /** The peer's address, for logs (the ws package does not expose its socket). */
  remoteAddress?: string;
  remotePort?: number;
  /** The peer broke the one-PDU-per-binary-message rule (or sent a bad frame); the connection is closing. */
  onViolation?(reason: string): void;
  /** The socket under the WebSocket: corked while one write's messages go out, so they leave together. */
  socket?: { cork(): void; uncork(): void };
}

export class WebSocketDuplex extends Duplex {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /** Splits our own outgoing writes at PDU boundaries (never a limit: we wrote them). */
  private readonly splitter = new FrameDecoder(Number.MAX_SAFE_INTEGER);
  private readonly onViolation: ((reason: string) => void) | undefined;
  private readonly socket: { cork(): void; uncork(): void } | undefined;

  constructor(
    readonly ws: WebSocket,
    options: WebSocketDuplexOptions = {},
  ) {
    super({ allowHalfOpen: false });
    this.remoteAddress = options.remoteAddress;
    this.remotePort = options.remotePort;
    this.onViolation = options.onViolation;
    this.socket = options.socket;
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) => this.receive(data, isBinary));
    ws.on('close', () => {
      if (this.destroyed) return;
      this.push(null);
      this.destroy();
    });
    ws.on('error', (err: Error & { code?: string }) => {
      // ws reports what the peer did wrong (oversized message, bad frame, bad UTF-8) with WS_ERR_ codes.
      if (err.code?.startsWith('WS_ERR_')) this.onViolation?.(err.message);
      this.destroy(err);
    });
  }

  private receive(data: Buffer, isBinary: boolean): void {
    if (this.destroyed) return;
    if (!isBinary) {
      return this.violation(WsCloseCode.UNSUPPORTED_DATA, 'text message received: PDUs travel in binary messages');
    }
    const declared = data.length >= HEADER_LENGTH ? data.readUInt32BE(0) : -1;
    if (declared !== data.length) {
      return this.violation(
        WsCloseCode.PROTOCOL_ERROR,
        declared < 0
          ? `binary message of ${data.length} bytes is shorter than a PDU header`
          : `binary message of ${data.length} bytes is not one whole PDU (its length field says ${declared})`,
      );
    }
    if (!this.push(data)) this.ws.pause();
  }

  private violation(code: number, reason: string): void {
    this.onViolation?.(reason);
    this.ws.close(code, reason.slice(0, 120)); // a close reason must fit in 123 bytes
    this.destroy(new Error(`WebSocket ${reason}`));
  }

  override _read(): void {
    if (this.ws.isPaused) this.ws.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const frames: Buffer[] = [];
    const error = this.splitter.push(chunk, (pdu) => frames.push(pdu.frame));
    if (error) return callback(error);
    if (frames.length === 0) return callback(); // the rest of this PDU comes with the next write
    const last = frames.length - 1;
    this.socket?.cork();
    for (let i = 0; i < last; i++) this.ws.send(frames[i], SEND_OPTIONS);
    this.ws.send(frames[last], SEND_OPTIONS, callback);
    this.socket?.uncork();
  }

  /** end(): everything written is sent, then a normal close. */
  override _final(callback: (error?: Error | null) => void): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(WsCloseCode.NORMAL);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const ws = this.ws;
    if (ws.readyState === WebSocket.CLOSING) {
      // Our close frame is on its way: give the peer a moment to see it.
      setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
    } else if (ws.readyState !== WebSocket.CLOSED) {
      ws.terminate();
    }
    callback(error);
  }
}

export interface OpenWebSocketOptions {
  /** Largest message accepted from the server (server PDUs such as user lists can be big). */
  maxPayload?: number;
  /** Sent as the Origin header (browsers always send one; other clients need not). */
  origin?: string;
  /** Give up connecting after this long. */
  timeoutMs?: number;
  /** For wss://: certificate authorities to trust besides the system's (a private CA, a test certificate). */
  ca?: string | Buffer;
}

/** Connects to a WebSocket URL and resolves with the open stream (for clients: ImClient, benches, tests). */
export function openWebSocketDuplex(url: string, options: OpenWebSocketOptions = {}): Promise<WebSocketDuplex> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      maxPayload: options.maxPayload ?? 64 * 1024 * 1024,
      perMessageDeflate: false,
      handshakeTimeout: options.timeoutMs,
      ...(options.origin !== undefined ? { origin: options.origin } : {}),
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
    });
    let socket: WebSocketDuplexOptions['socket'];
    ws.once('upgrade', (res) => (socket = res.socket));
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      reject(err);
    };
    // Stays attached: an error after the refusal below (the aborted handshake) must not go unhandled.
    ws.on('error', fail);
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      fail(new Error(`the server refused the WebSocket upgrade: HTTP ${res.statusCode} ${res.statusMessage ?? ''}`.trim()));
      ws.terminate();
    });
    ws.once('open', () => {
      settled = true;
      resolve(new WebSocketDuplex(ws, { socket }));
    });
  });
}
