/**
 * One fuzz connection: opened in one of the modes of targets.ts, written to
 * with backpressure (and sometimes in small pieces, so the server sees partial
 * frames), read continuously (a server must never be held up by us not
 * reading), and closed by whichever side gives up first.
 */
import net from 'node:net';
import tls from 'node:tls';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CID } from '../../pdu/commands';
import { FrameDecoder, type Pdu } from '../../pdu/frame';
import { dialInternal, type InternalTls } from '../../lib/internal-tls';
import type { Random } from './random';
import type { ConnectionMode } from './targets';

export interface Endpoint {
  host: string;
  port: number;
}

/** Who the fuzzer can be on internal ports. */
export interface FuzzIdentities {
  /** A msg-server certificate of the cluster CA: authenticated. */
  cluster: InternalTls;
  /** A certificate of the cluster CA whose role (push-server) may not use the fuzzed ports. */
  wrongRole: InternalTls;
  /** The cluster CA (so TLS without a client certificate completes its handshake). */
  caPem: string;
  /** A msg-server certificate and key from another CA. */
  foreign: { certPem: string; keyPem: string };
}

/** The role the fuzzed internal port proves with its certificate. */
export type ServerRole = 'route-server' | 'db-proxy' | 'login-server';

/** A port that does not complete a connection (and TLS handshake) within this counts as hung. */
const CONNECT_TIMEOUT_MS = 10_000;
/** A server that reads nothing of ours for this long counts as hung on that connection. */
export const STALL_MS = 30_000;

export class StallError extends Error {}

export class FuzzConnection {
  /** Frames the server sent (heartbeats not counted), when we read frames at all. */
  repliesReceived = 0;
  bytesReceived = 0;
  closedByServer = false;
  /** The server's stream did not parse as PDUs (only on modes where we read PDUs). */
  badReplyStream: string | null = null;
  private closedFlag = false;
  private readonly closedPromise: Promise<void>;
  private readonly decoder: FrameDecoder | null;
  private waiter: { commandId: number; resolve(pdu: Pdu | null): void } | null = null;
  private replyWaiter: (() => void) | null = null;

  private constructor(
    readonly socket: net.Socket,
    readonly mode: ConnectionMode,
    /** Whether the server may talk to us here (authenticated or a client port): then its bytes are PDUs. */
    readonly trusted: boolean,
  ) {
    this.decoder = trusted ? new FrameDecoder(64 * 1024 * 1024) : null;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    this.closedPromise = new Promise((resolve) => {
      const done = () => {
        if (!this.closedFlag) this.closedByServer = true;
        this.closedFlag = true;
        this.waiter?.resolve(null);
        this.waiter = null;
        this.replyWaiter?.();
        resolve();
      };
      socket.once('close', done);
      // The server hung up its side: it is closing (we finish with a destroy).
      socket.once('end', () => {
        if (!this.closedFlag) this.closedByServer = true;
        socket.destroy();
      });
    });
  }

  static async open(mode: ConnectionMode, endpoint: Endpoint, serverRole: ServerRole | null, ids: FuzzIdentities | null): Promise<FuzzConnection> {
    const { host, port } = endpoint;
    switch (mode) {
      case 'client-new':
      case 'client-online':
      case 'plain':
        return new FuzzConnection(await dialInternal(null, host, port, 'msg-server', CONNECT_TIMEOUT_MS), mode, mode !== 'plain');
      case 'tls-cluster':
        return new FuzzConnection(await dialInternal(need(ids).cluster, host, port, need(serverRole), CONNECT_TIMEOUT_MS), mode, true);
      case 'tls-wrong-role':
        return new FuzzConnection(await dialInternal(need(ids).wrongRole, host, port, need(serverRole), CONNECT_TIMEOUT_MS), mode, false);
      case 'tls-no-cert':
        return new FuzzConnection(await outsiderTls(host, port, need(ids).caPem, null), mode, false);
      case 'tls-foreign':
        return new FuzzConnection(await outsiderTls(host, port, need(ids).caPem, need(ids).foreign), mode, false);
    }
  }

  get isClosed(): boolean {
    return this.closedFlag || this.socket.destroyed;
  }

  /** Resolves when the socket is closed (by either side). */
  get closed(): Promise<void> {
    return this.closedPromise;
  }

  /**
   * Writes one frame: whole, or in pieces (so the server's decoder sees partial
   * headers and bodies). False when the connection is closed. Throws StallError
   * when the server has not read for STALL_MS.
   */
  async write(frame: Buffer, rng: Random): Promise<boolean> {
    if (this.isClosed) return false;
    const pieces: Buffer[] = [];
    if (frame.length > 1 && rng.chance(0.08)) {
      const bytewise = frame.length <= 64 && rng.chance(0.2);
      let at = 0;
      while (at < frame.length) {
        const n = bytewise ? 1 : rng.int(1, Math.max(1, frame.length - at));
        pieces.push(frame.subarray(at, at + n));
        at += n;
      }
    } else {
      pieces.push(frame);
    }
    for (let i = 0; i < pieces.length; i++) {
      if (this.isClosed) return false;
      const flushed = this.socket.write(pieces[i]);
      if (!flushed) await this.drain();
      else if (pieces.length > 1) await nextTurn();
    }
    return !this.isClosed;
  }

  /** The next frame of `commandId` from the server, or null if it closes or `timeoutMs` passes. */
  waitFor(commandId: number, timeoutMs: number): Promise<Pdu | null> {
    if (this.isClosed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        resolve(null);
      }, timeoutMs);
      this.waiter = {
        commandId,
        resolve: (pdu) => {
          clearTimeout(timer);
          resolve(pdu);
        },
      };
    });
  }

  /** Until `repliesReceived` reaches `count` or the connection closes; StallError after STALL_MS without a reply. */
  async waitForReplies(count: number): Promise<void> {
    while (this.repliesReceived < count && !this.isClosed) {
      const before = this.repliesReceived;
      const arrived = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          this.replyWaiter = null;
          resolve(false);
        }, STALL_MS);
        this.replyWaiter = () => {
          clearTimeout(timer);
          this.replyWaiter = null;
          resolve(true);
        };
      });
      if (!arrived && this.repliesReceived === before && !this.isClosed) {
        throw new StallError(`no reply for ${STALL_MS} ms with ${count - this.repliesReceived} requests unanswered`);
      }
    }
  }

  /** Gives the server `graceMs` to close (after a PDU it must refuse), then closes ourselves. */
  async finish(graceMs: number): Promise<void> {
    if (!this.isClosed && graceMs > 0) {
      await Promise.race([this.closedPromise, new Promise((r) => setTimeout(r, graceMs))]);
    }
    this.close();
    await this.closedPromise;
  }

  close(): void {
    if (!this.closedFlag && !this.socket.destroyed) {
      this.closedFlag = true;
      this.socket.destroy();
    }
  }

  private drain(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new StallError(`the server read nothing for ${STALL_MS} ms (${this.socket.writableLength} bytes waiting)`));
      }, STALL_MS);
      const done = () => {
        cleanup();
        resolve();
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.socket.off('drain', done);
        this.socket.off('close', done);
      };
      this.socket.once('drain', done);
      this.socket.once('close', done);
    });
  }

  private onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    if (this.decoder === null || this.badReplyStream !== null) return;
    const error = this.decoder.push(chunk, this.onFrame, this);
    if (error) this.badReplyStream = error.message;
  }

  private onFrame(pdu: Pdu): void {
    if (pdu.commandId === CID.OTHER_HEARTBEAT) return;
    this.repliesReceived++;
    this.replyWaiter?.();
    if (this.waiter !== null && this.waiter.commandId === pdu.commandId) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ ...pdu, body: Buffer.from(pdu.body), frame: Buffer.from(pdu.frame) });
    }
  }
}

function need<T>(value: T | null): T {
  if (value === null) throw new Error('internal mode without TLS identities');
  return value;
}

/** TLS as an outsider: trusts the cluster CA (the handshake completes) but presents no or a foreign certificate. */
function outsiderTls(host: string, port: number, caPem: string, own: { certPem: string; keyPem: string } | null): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      ca: caPem,
      minVersion: 'TLSv1.3',
      checkServerIdentity: () => undefined,
      ...(own === null ? {} : { cert: own.certPem, key: own.keyPem }),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${host}:${port}: TLS not connected within ${CONNECT_TIMEOUT_MS} ms`));
    }, CONNECT_TIMEOUT_MS);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}
