/**
 * PduConnection: one TeamTalk PDU stream over a socket (or any Duplex, so tests
 * need no ports). It owns framing, the single write path (coalesced per event
 * loop turn, bounded), requests (their seq_num bookkeeping is PendingRequests),
 * heartbeats, idle and deadline timeouts, and a close reason. Every service
 * talks through it.
 *
 * Per-connection state is kept to plain fields and shared functions (no closures,
 * no timers per connection): a msg server holds tens of thousands of these.
 */
import type { Duplex } from 'node:stream';
import { CID, ServiceId, commandName, commandOf, type BodyOf, type MessageClass, type MessageOf } from './commands';
import { encodeBody, encodePdu } from './encode';
import { DEFAULT_MAX_PDU_LENGTH, FrameDecoder, describeFlag, encodeFrame, type Pdu } from './frame';
import { ConnectionClosedError, FrameError, LinkUnavailableError, RemoteError } from '../lib/errors';
import { PendingRequests } from './pending-requests';
import type { PduTraffic } from './traffic';

export interface ConnectionOptions {
  /** Largest inbound PDU accepted; a bigger one closes the connection. */
  maxPduLength: number;
  /** Close the connection once this many bytes wait to be written (the peer reads too slowly). */
  maxWriteQueueBytes: number;
  /**
   * Backpressure for a server answering requests: once a write leaves more than
   * this many bytes unsent, stop reading the peer's requests until the socket
   * drains ('drain'), so a peer that stops reading stops adding work instead of
   * growing our queue to maxWriteQueueBytes. 0: never pause (the peer is
   * disconnected at maxWriteQueueBytes). Only one side of a link may use it:
   * two peers that both pause would wait for each other.
   */
  pauseReadingAboveBytes: number;
  /** The config keys that set the two limits above, named in the errors when they are hit ('' when fixed). */
  limitKeys: { readonly maxPduLength: string; readonly maxWriteQueueBytes: string };
  /** Close when nothing was received for this long; 0 disables. */
  idleTimeoutMs: number;
  /** Send a heartbeat whenever nothing was sent for this long; 0 disables (clients heartbeat us). */
  heartbeatIntervalMs: number;
  /** Echo each received heartbeat back byte for byte (msg_server does this for clients). */
  echoHeartbeats: boolean;
  /** How long request() waits for the reply. */
  requestTimeoutMs: number;
  /**
   * request() fails fast beyond this many replies outstanding (seq_num is 16 bits).
   * Seq numbers of timed-out requests stay unused until their late reply comes
   * (it is dropped); more than this many of those closes the connection.
   */
  maxPendingRequests: number;
  /** Where PDUs in and out are counted by command (metrics); null: not counted. */
  traffic: PduTraffic | null;
}

export const DEFAULT_CONNECTION_OPTIONS: Readonly<ConnectionOptions> = Object.freeze({
  maxPduLength: DEFAULT_MAX_PDU_LENGTH,
  maxWriteQueueBytes: 8 * 1024 * 1024,
  limitKeys: Object.freeze({ maxPduLength: '', maxWriteQueueBytes: '' }),
  pauseReadingAboveBytes: 0,
  idleTimeoutMs: 0,
  heartbeatIntervalMs: 0,
  echoHeartbeats: false,
  requestTimeoutMs: 10_000,
  maxPendingRequests: 30_000,
  traffic: null,
});

/** What a service plugs into a connection. One handler object usually serves all connections. */
export interface ConnectionHandler<C = unknown> {
  /** A PDU that is not a heartbeat and not the reply to one of our requests. */
  onPdu(conn: PduConnection<C>, pdu: Pdu): void;
  /** Called once, after the socket closed, with the first reason recorded. */
  onClose?(conn: PduConnection<C>, reason: string): void;
  /** A framing error or an exception thrown by onPdu (the former also closes the connection). */
  onError?(conn: PduConnection<C>, error: Error): void;
  /** Every heartbeat received; returning false skips the echo (e.g. the peer is over its budget). */
  onHeartbeat?(conn: PduConnection<C>): boolean;
}

/**
 * Options objects are shared, not copied per connection: a server passes the
 * same partial options for every connection it accepts, and gets one resolved
 * object back (memory per idle connection matters at 10 000s of them).
 */
const resolved = new WeakMap<Partial<ConnectionOptions>, ConnectionOptions>();

function resolveOptions(partial: Partial<ConnectionOptions>): ConnectionOptions {
  let options = resolved.get(partial);
  if (options === undefined) {
    options = Object.freeze({ ...DEFAULT_CONNECTION_OPTIONS, ...partial });
    resolved.set(partial, options);
  }
  return options;
}

const kConnection = Symbol('pduConnection');
type SocketWithConnection = Duplex & { [kConnection]?: PduConnection<unknown> };

const HEARTBEAT_FRAME = encodeFrame(ServiceId.OTHER, CID.OTHER_HEARTBEAT, 0, Buffer.alloc(0));
/** After close(), how long the peer gets to finish reading before the socket is destroyed. */
const CLOSE_LINGER_MS = 2_000;

/** Why reading is paused (bits): a service asked (pauseReading), or our output is stuck. */
const PAUSED_BY_SERVICE = 1;
const PAUSED_BY_OUTPUT = 2;

let nextConnectionId = 1;

export class PduConnection<C = unknown> {
  /** Process-unique id: used in logs and as the "handle" in TeamTalk attach_data. */
  readonly id: number;
  readonly socket: Duplex;
  /** "ip:port" of the peer as it was at construction, for logs; "local" for an in-memory stream. */
  readonly remoteAddress: string;
  /** Service state for this connection (e.g. the logged-in user). */
  context: C | undefined;
  /** Changeable while open, e.g. when a client's type becomes known at login. */
  idleTimeoutMs: number;
  requestTimeoutMs: number;
  /** Absolute time (ms) at which the connection is closed with deadlineReason; 0 = none. */
  deadline = 0;
  deadlineReason = '';

  lastReceivedAt: number;
  lastSentAt: number;

  private readonly options: ConnectionOptions;
  private readonly handler: ConnectionHandler<C>;
  private readonly decoder: FrameDecoder;
  private outQueue: Buffer[] | null = null;
  private outBytes = 0;
  /** Created by the first request() (most client connections never make one). */
  private requests: PendingRequests | null = null;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private pausedBy = 0;
  /** Times reading was paused because the peer did not take our output (pauseReadingAboveBytes). */
  outputPauses = 0;
  private reason: string | null = null;

  constructor(socket: Duplex, handler: ConnectionHandler<C>, options: Partial<ConnectionOptions> = {}) {
    this.id = nextConnectionId++;
    this.socket = socket;
    this.handler = handler;
    this.options = resolveOptions(options);
    this.idleTimeoutMs = this.options.idleTimeoutMs;
    this.requestTimeoutMs = this.options.requestTimeoutMs;
    this.decoder = new FrameDecoder(this.options.maxPduLength, this.options.limitKeys.maxPduLength);
    const peer = socket as Duplex & { remoteAddress?: string; remotePort?: number };
    this.remoteAddress = peer.remoteAddress ? `${peer.remoteAddress}:${peer.remotePort}` : 'local';
    (socket as Duplex & { setNoDelay?(b: boolean): void }).setNoDelay?.(true);
    this.lastReceivedAt = this.lastSentAt = Date.now();
    (socket as SocketWithConnection)[kConnection] = this as PduConnection<unknown>;
    socket.on('data', onSocketData);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    sweeper.add(this as PduConnection<unknown>);
  }


  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Why the connection closed (or is closing); null while open. */
  get closeReason(): string | null {
    return this.reason;
  }

  get pendingRequests(): number {
    return this.requests?.size ?? 0;
  }

  /** Replies that arrived after their request had timed out (dropped). */
  get lateReplies(): number {
    return this.requests?.lateReplies ?? 0;
  }

  /** Bytes accepted for sending but not yet taken by the kernel. */
  get queuedBytes(): number {
    return this.outBytes + this.socket.writableLength;
  }

  // ---- sending ----

  /**
   * Encodes and queues one PDU. Returns false if the connection is no longer open.
   * `flag` is 0 except on failed replies (PduFlag).
   */
  send<T extends MessageClass>(type: T, body: BodyOf<T>, seqNum = 0, flag = 0): boolean {
    if (this.state !== 'open') return false;
    return this.sendFrame(encodePdu(type, body, seqNum, flag));
  }

  /** Answers `request` with the same seq_num, as every TeamTalk reply does. */
  reply<T extends MessageClass>(request: Pdu, type: T, body: BodyOf<T>, flag = 0): boolean {
    return this.send(type, body, request.seqNum, flag);
  }

  /** Answers `request` with a body that is already encoded (a reply forwarded as it came). */
  replyEncoded(request: Pdu, type: MessageClass, body: Uint8Array, flag = 0): boolean {
    if (this.state !== 'open') return false;
    const info = commandOf(type);
    return this.sendFrame(encodeFrame(info.serviceId, info.commandId, request.seqNum, body, 1, flag));
  }

  /** Queues an already framed PDU (relays forward what they received this way). */
  sendFrame(frame: Buffer): boolean {
    if (this.state !== 'open') return false;
    this.options.traffic?.countOut(frame);
    if (this.outQueue === null) {
      this.outQueue = [frame];
      scheduleFlush(this as PduConnection<unknown>);
    } else {
      this.outQueue.push(frame);
    }
    this.outBytes += frame.length;
    if (this.outBytes + this.socket.writableLength > this.options.maxWriteQueueBytes) {
      const key = this.options.limitKeys.maxWriteQueueBytes;
      this.destroy(`write queue over ${this.options.maxWriteQueueBytes} bytes${key ? ` (${key})` : ''}: peer reads too slowly`);
      return false;
    }
    return true;
  }

  /** Writes what is queued now (normally done once per event loop turn). */
  flush(): void {
    const queue = this.outQueue;
    if (queue === null) return;
    this.outQueue = null;
    const bytes = this.outBytes;
    this.outBytes = 0;
    if (this.state === 'closed' || this.socket.destroyed) return;
    const accepted = this.socket.write(queue.length === 1 ? queue[0] : Buffer.concat(queue, bytes));
    this.lastSentAt = Date.now();
    const limit = this.options.pauseReadingAboveBytes;
    if (!accepted && limit > 0 && (this.pausedBy & PAUSED_BY_OUTPUT) === 0 && this.socket.writableLength > limit) {
      // write() returned false, so the socket emits 'drain' once it has written everything.
      this.pausedBy |= PAUSED_BY_OUTPUT;
      this.outputPauses++;
      this.socket.pause();
      this.socket.once('drain', onSocketDrain);
    }
  }

  /** Whether the peer's input is not being read (see pauseReading and pauseReadingAboveBytes). */
  get readingPaused(): boolean {
    return this.pausedBy !== 0;
  }

  // ---- request / response ----

  /**
   * Sends a request and resolves with the reply PDU: the next PDU from the peer
   * that carries our seq_num and the expected command id.
   */
  requestFrame(serviceId: number, commandId: number, body: Uint8Array, expectCommandId: number): Promise<Pdu> {
    const what = commandName(commandId);
    if (this.state !== 'open') {
      return Promise.reject(new ConnectionClosedError(what, this.reason ?? 'closed'));
    }
    const requests = (this.requests ??= new PendingRequests());
    if (requests.size >= this.options.maxPendingRequests) {
      return Promise.reject(
        new LinkUnavailableError(
          'TT_ERR_TOO_MANY_PENDING',
          `${what}: ${requests.size} requests already wait for replies on connection ${this.id}; peer is not keeping up`,
        ),
      );
    }
    return new Promise<Pdu>((resolve, reject) => {
      const seq = requests.add({ expectCommandId, deadline: Date.now() + this.requestTimeoutMs, what, resolve, reject });
      this.sendFrame(encodeFrame(serviceId, commandId, seq, body));
    });
  }

  /**
   * Typed request whose reply is left encoded: the reply PDU of `replyType`. A
   * reply whose header flag marks a failure rejects with RemoteError (its body
   * decoded, for the failure path).
   */
  async requestEncoded<Q extends MessageClass>(type: Q, body: BodyOf<Q>, replyType: MessageClass): Promise<Pdu> {
    const info = commandOf(type);
    const pdu = await this.requestFrame(info.serviceId, info.commandId, encodeBody(type, body), commandOf(replyType).commandId);
    if (pdu.flag !== 0) throw new RemoteError(info.name, pdu.flag, describeFlag(pdu.flag), replyType.decode(pdu.body));
    return pdu;
  }

  /**
   * Typed request: encodes `body` as `type`, decodes the reply as `replyType`.
   * A reply whose header flag marks a failure rejects with RemoteError.
   */
  async request<Q extends MessageClass, R extends MessageClass>(
    type: Q,
    body: BodyOf<Q>,
    replyType: R,
  ): Promise<MessageOf<R>> {
    const pdu = await this.requestEncoded(type, body, replyType);
    return replyType.decode(pdu.body) as MessageOf<R>;
  }

  // ---- flow control and closing ----

  /** Stop reading from the peer (e.g. our work queue is full); PDUs already read still arrive. */
  pauseReading(): void {
    this.pausedBy |= PAUSED_BY_SERVICE;
    this.socket.pause();
  }

  resumeReading(): void {
    this.unpause(PAUSED_BY_SERVICE);
  }

  private unpause(reason: number): void {
    this.pausedBy &= ~reason;
    if (this.pausedBy === 0 && this.state === 'open') this.socket.resume();
  }

  /** @internal The socket wrote everything that was stuck. */
  outputDrained(): void {
    this.unpause(PAUSED_BY_OUTPUT);
  }

  /** Graceful close: what is queued is still written (e.g. a kick notice), then FIN. */
  close(reason: string): void {
    if (this.state !== 'open') return;
    this.reason ??= reason;
    this.state = 'closing';
    this.flush();
    this.socket.end();
    this.deadline = Date.now() + CLOSE_LINGER_MS;
    this.deadlineReason = reason;
  }

  /** Immediate close: queued output is dropped. */
  destroy(reason: string): void {
    if (this.state === 'closed') return;
    this.reason ??= reason;
    this.state = 'closed';
    this.outQueue = null;
    this.outBytes = 0;
    this.socket.destroy();
  }

  // ---- called by the shared socket listeners and the sweeper ----

  /** @internal */
  receive(chunk: Buffer): void {
    this.lastReceivedAt = Date.now();
    const error = this.decoder.push(chunk, this.dispatchFrame, this);
    if (error) this.failFraming(error);
  }

  private failFraming(error: FrameError): void {
    this.reason ??= `protocol error: ${error.message}`;
    this.reportError(error);
    this.destroy(this.reason);
  }

  private dispatchFrame(pdu: Pdu): void {
    if (this.state === 'closed') return;
    this.options.traffic?.countIn(pdu.commandId, pdu.frame.length);
    if (pdu.commandId === CID.OTHER_HEARTBEAT) {
      if (this.handler.onHeartbeat?.(this) === false) return;
      if (this.options.echoHeartbeats) this.sendFrame(pdu.frame);
      return;
    }
    if (this.requests !== null && this.requests.settle(pdu)) return;
    try {
      this.handler.onPdu(this, pdu);
    } catch (err) {
      this.reportError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private reportError(error: Error): void {
    try {
      this.handler.onError?.(this, error);
    } catch {
      // A failing error reporter must not take the process down.
    }
  }

  /** @internal */
  socketClosed(): void {
    sweeper.delete(this as PduConnection<unknown>);
    this.state = 'closed';
    this.reason ??= 'peer closed the connection';
    this.outQueue = null;
    this.outBytes = 0;
    this.requests?.rejectAll(this.reason);
    try {
      this.handler.onClose?.(this, this.reason);
    } catch (err) {
      this.reportError(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** @internal */
  socketError(err: NodeJS.ErrnoException): void {
    this.reason ??= `socket error: ${err.code ?? err.message}`;
  }

  /** @internal Periodic check: deadlines, idle timeout, heartbeat, request timeouts. */
  sweep(now: number): void {
    if (this.deadline !== 0 && now >= this.deadline) {
      if (this.state === 'closing') this.destroy(this.reason ?? this.deadlineReason);
      else this.close(this.deadlineReason || 'deadline passed');
      return;
    }
    if (this.state !== 'open') return;
    if (this.idleTimeoutMs > 0 && now - this.lastReceivedAt > this.idleTimeoutMs) {
      this.close(`idle timeout: nothing received for ${this.idleTimeoutMs} ms`);
      return;
    }
    if (this.options.heartbeatIntervalMs > 0 && now - this.lastSentAt >= this.options.heartbeatIntervalMs) {
      this.sendFrame(HEARTBEAT_FRAME);
      this.lastSentAt = now;
    }
    const requests = this.requests;
    if (requests !== null && requests.size > 0) {
      requests.expire(now, this.requestTimeoutMs);
      if (requests.expiredCount > this.options.maxPendingRequests) {
        this.destroy(`${requests.expiredCount} requests got no reply in time: the peer is not answering`);
      }
    }
  }
}

// Shared listeners: `this` is the socket, which carries its connection.
function onSocketData(this: SocketWithConnection, chunk: Buffer): void {
  this[kConnection]?.receive(chunk);
}
function onSocketError(this: SocketWithConnection, err: NodeJS.ErrnoException): void {
  this[kConnection]?.socketError(err);
}
function onSocketDrain(this: SocketWithConnection): void {
  this[kConnection]?.outputDrained();
}
function onSocketClose(this: SocketWithConnection): void {
  const conn = this[kConnection];
  if (conn) {
    this[kConnection] = undefined;
    conn.socketClosed();
  }
}

// ---- one write flush per event loop turn, for all connections ----

let flushList: PduConnection<unknown>[] = [];
let flushScheduled = false;

function scheduleFlush(conn: PduConnection<unknown>): void {
  flushList.push(conn);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushAll);
  }
}

function flushAll(): void {
  const list = flushList;
  flushList = [];
  flushScheduled = false;
  for (const conn of list) conn.flush();
}

// ---- one timer for every connection's timeouts ----

/** How often timeouts are checked; they fire at most this late. */
export const SWEEP_INTERVAL_MS = 250;

class Sweeper {
  private readonly connections = new Set<PduConnection<unknown>>();
  private timer: NodeJS.Timeout | null = null;

  add(conn: PduConnection<unknown>): void {
    this.connections.add(conn);
    if (this.timer === null) {
      this.timer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
      this.timer.unref();
    }
  }

  delete(conn: PduConnection<unknown>): void {
    this.connections.delete(conn);
    if (this.connections.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const conn of this.connections) conn.sweep(now);
  }
}

const sweeper = new Sweeper();
