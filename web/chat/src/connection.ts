/**
 * One WebSocket to a msg server carrying TeamTalk PDUs, one per binary message:
 * requests matched to replies by seq_num, a heartbeat every 5 s (as the Windows
 * client), pushes handed to onPush, and one onClose when it ends.
 */
import { CID, commandIdOf, decodePdu, encodePdu, type BodyOf, type DecodedPdu, type MessageName, type Messages } from './protocol.js';

const HEARTBEAT_INTERVAL_MS = 5_000;
const REQUEST_TIMEOUT_MS = 15_000;
const CONNECT_TIMEOUT_MS = 10_000;

/** A request that failed; `kind` says why, for messages a person can act on. */
export class RequestError extends Error {
  constructor(
    /** timeout: no answer in time; closed: the connection ended before the answer; offline: never sent; refused: a failed reply. */
    readonly kind: 'timeout' | 'closed' | 'offline' | 'refused',
    message: string,
  ) {
    super(message);
  }
}

interface Pending {
  commandId: number;
  resolve(pdu: DecodedPdu): void;
  reject(err: Error): void;
  timer: number;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

export class PduSocket {
  onPush: (pdu: DecodedPdu) => void = () => {};
  onClose: (info: CloseInfo) => void = () => {};
  private readonly pending = new Map<number, Pending>();
  private nextSeq = 1;
  private heartbeat = 0;
  private closed = false;

  private constructor(
    private readonly ws: WebSocket,
    readonly url: string,
  ) {
    ws.onmessage = (event) => this.receive(event.data as ArrayBuffer);
    ws.onclose = (event) => this.ended({ code: event.code, reason: event.reason });
    ws.onerror = () => {}; // always followed by close
    this.heartbeat = window.setInterval(() => this.send('IM.Other.IMHeartBeat', {}), HEARTBEAT_INTERVAL_MS);
  }

  /** Opens the WebSocket; rejects with a readable error when it cannot. */
  static open(url: string): Promise<PduSocket> {
    return new Promise((resolve, reject) => {
      let ws: WebSocket;
      try {
        ws = new WebSocket(url);
      } catch (err) {
        reject(new Error(`the msg server address ${url} is not usable: ${(err as Error).message}`));
        return;
      }
      ws.binaryType = 'arraybuffer';
      const timer = window.setTimeout(() => {
        ws.close();
        reject(new Error(`the msg server at ${url} did not answer`));
      }, CONNECT_TIMEOUT_MS);
      ws.onopen = () => {
        window.clearTimeout(timer);
        resolve(new PduSocket(ws, url));
      };
      ws.onclose = () => {
        window.clearTimeout(timer);
        reject(new Error(`cannot connect to the msg server at ${url}`));
      };
    });
  }

  get isOpen(): boolean {
    return !this.closed && this.ws.readyState === WebSocket.OPEN;
  }

  send<N extends MessageName>(name: N, body: BodyOf<N>, seqNum = 0): boolean {
    if (!this.isOpen) return false;
    this.ws.send(encodePdu(name, body, seqNum));
    return true;
  }

  /** Sends a request and resolves with the decoded reply of type `replyName`. */
  request<N extends MessageName, R extends MessageName>(name: N, body: BodyOf<N>, replyName: R, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Messages[R]> {
    if (!this.isOpen) return Promise.reject(new RequestError('offline', 'not connected to the msg server'));
    let seq = this.nextSeq;
    while (this.pending.has(seq)) seq = (seq % 0xffff) + 1;
    this.nextSeq = (seq % 0xffff) + 1;
    const expected = commandIdOf(replyName);
    return new Promise<Messages[R]>((resolve, reject) => {
      const timer = window.setTimeout(() => {
        this.pending.delete(seq);
        reject(new RequestError('timeout', 'the msg server did not answer in time'));
      }, timeoutMs);
      this.pending.set(seq, {
        commandId: expected,
        resolve: (pdu) => {
          if (pdu.flag !== 0) reject(new RequestError('refused', `the server could not do it (error ${pdu.flag})`));
          else resolve(pdu.message as unknown as Messages[R]);
        },
        reject,
        timer,
      });
      this.ws.send(encodePdu(name, body, seq));
    });
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
    this.ended({ code: 1000, reason: 'closed by this page' });
  }

  private receive(data: ArrayBuffer): void {
    if (typeof data === 'string') return; // servers only send binary messages
    let pdu: DecodedPdu;
    try {
      pdu = decodePdu(new Uint8Array(data));
    } catch (err) {
      console.warn('ignored a PDU that could not be read:', err);
      return;
    }
    if (pdu.commandId === CID.HEARTBEAT) return;
    const waiting = pdu.seqNum !== 0 ? this.pending.get(pdu.seqNum) : undefined;
    if (waiting !== undefined && waiting.commandId === pdu.commandId) {
      this.pending.delete(pdu.seqNum);
      window.clearTimeout(waiting.timer);
      waiting.resolve(pdu);
      return;
    }
    this.onPush(pdu);
  }

  private ended(info: CloseInfo): void {
    if (this.closed) return;
    this.closed = true;
    window.clearInterval(this.heartbeat);
    for (const request of this.pending.values()) {
      window.clearTimeout(request.timer);
      request.reject(new RequestError('closed', 'the connection to the msg server closed before it answered'));
    }
    this.pending.clear();
    this.onClose(info);
  }
}
