/**
 * The msg server's connections to its db-proxies: several per db-proxy, requests
 * spread round-robin over the ones that are up, failing over when one is down.
 * A db-proxy that announces it is stopping (CID_OTHER_STOP_RECV_PACKET) gets no
 * new requests until its connection is back.
 *
 * Failover: a request finding no db-proxy connection waits for one (up to
 * `retryMs`) instead of failing at once, and a request whose connection breaks
 * is sent again on a live one, except group creation (not idempotent). Message
 * stores carry a store token, the same on every attempt, so they are also sent
 * again after a timeout or a storage error: the db-proxy recognises a repeat and
 * never stores a message twice.
 */
import { CID, IM, commandName, commandOf, type BodyOf, type MessageClass, type MessageOf } from '../../../pdu/commands';
import type { PduConnection } from '../../../pdu/connection';
import type { Pdu } from '../../../pdu/frame';
import { ReconnectingLink } from '../../../pdu/link';
import type { HostPort } from '../../../lib/config';
import { ConnectionClosedError, LinkUnavailableError, RemoteError, RequestTimeoutError, errorMessage } from '../../../lib/errors';
import { PduFlag } from '../../../pdu/frame';
import { Waiters } from '../../../lib/waiters';
import type { Logger } from '../../../lib/log';
import { linkState, serverLink, type LinkState, type ServerLinkOptions } from './link-options';


export class DbProxyLinks {
  private readonly links: ReconnectingLink[] = [];
  /** Connections whose db-proxy said it stops taking work. */
  private readonly draining = new WeakSet<PduConnection>();
  private next = 0;
  private readonly upWaiters = new Waiters();

  /** Requests sent again after a broken connection, timeout or storage error. */
  retries = 0;

  constructor(
    endpoints: HostPort[],
    connectionsPerProxy: number,
    options: ServerLinkOptions,
    private readonly logger: Logger,
    /** How long a request waits for a db-proxy and keeps retrying. */
    private readonly retryMs: number,
    /** Told how long every request took (metrics); `ok` is false when it failed or timed out. */
    private readonly onRequestDone?: (commandId: number, seconds: number, ok: boolean) => void,
  ) {
    for (const ep of endpoints) {
      for (let i = 0; i < connectionsPerProxy; i++) {
        this.links.push(
          new ReconnectingLink(
            { ...serverLink(options, `db-proxy#${i + 1}`, ep.host, ep.port, 'db-proxy'), logger },
            { onPdu: (conn, pdu) => this.onPdu(conn, pdu), onUp: () => this.upWaiters.release() },
          ),
        );
      }
    }
  }

  start(): void {
    for (const link of this.links) link.start();
  }

  stop(): void {
    for (const link of this.links) link.stop('msg server stopping');
  }

  /** Whether any db-proxy connection can take a request now. */
  get available(): boolean {
    return this.pick() !== null;
  }

  /** Resolves once some db-proxy connection can take requests. */
  whenAvailable(): Promise<void> {
    return this.available ? Promise.resolve() : this.upWaiters.wait().then(() => undefined);
  }

  /** Requests waiting for a reply on the connections to the db-proxy at `port` (status, tests). */
  pendingAt(port: number): number {
    return this.links.filter((l) => l.port === port).reduce((n, l) => n + (l.connection?.pendingRequests ?? 0), 0);
  }

  /** The next usable connection, round robin. */
  pick(): PduConnection | null {
    const n = this.links.length;
    for (let i = 0; i < n; i++) {
      const link = this.links[(this.next + i) % n];
      const conn = link.connection;
      if (conn !== null && conn.isOpen && !this.draining.has(conn)) {
        this.next = (this.next + i + 1) % n;
        return conn;
      }
    }
    return null;
  }

  request<Q extends MessageClass, R extends MessageClass>(type: Q, body: BodyOf<Q>, replyType: R): Promise<MessageOf<R>> {
    return this.attempt(type, (conn) => conn.request(type, body, replyType));
  }

  /** As request(), the reply left encoded (for replies forwarded to a client as they came). */
  requestEncoded<Q extends MessageClass>(type: Q, body: BodyOf<Q>, replyType: MessageClass): Promise<Pdu> {
    return this.attempt(type, (conn) => conn.requestEncoded(type, body, replyType));
  }

  /** Sends a request on a live connection, again on another one where that is safe (see retryable). */
  private async attempt<T>(type: MessageClass, send: (conn: PduConnection) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.retryMs;
    const commandId = commandOf(type).commandId;
    for (let attempt = 0; ; attempt++) {
      const conn = this.pick() ?? (await this.waitForConnection(deadline));
      const started = performance.now();
      try {
        const reply = await send(conn);
        this.onRequestDone?.(commandId, (performance.now() - started) / 1000, true);
        return reply;
      } catch (err) {
        this.onRequestDone?.(commandId, (performance.now() - started) / 1000, false);
        if (!retryable(type, err) || Date.now() >= deadline) throw err;
        this.retries++;
        this.logger.debug({ cmd: commandName(commandId), attempt: attempt + 1, err: errorMessage(err) }, 'db-proxy request failed; trying again');
        await sleep(Math.min(1000, 50 * 2 ** attempt));
      }
    }
  }

  states(): LinkState[] {
    return this.links.map(linkState);
  }

  /** The next usable connection once one is up; rejects when none is by `deadline`. */
  private async waitForConnection(deadline: number): Promise<PduConnection> {
    for (;;) {
      const conn = this.pick();
      if (conn !== null) return conn;
      const left = deadline - Date.now();
      if (left <= 0 || !(await this.upWaiters.wait(left))) throw noDbProxy();
    }
  }

  /** For requests the db-proxy does not answer (read ack, offline file add/delete, device token). */
  send<Q extends MessageClass>(type: Q, body: BodyOf<Q>): boolean {
    const conn = this.pick();
    return conn !== null && conn.send(type, body);
  }

  private onPdu(conn: PduConnection, pdu: Pdu): void {
    if (pdu.commandId === CID.OTHER_STOP_RECV_PACKET) {
      this.draining.add(conn);
      this.logger.info({ conn: conn.id, peer: conn.remoteAddress }, 'db-proxy is stopping: no new requests on this connection');
      return;
    }
    // Replies are matched to requests by the connection; anything else (e.g. the
    // device-token reply the original sends) needs no action.
    this.logger.debug({ conn: conn.id, cmd: pdu.commandId }, 'unsolicited PDU from db-proxy ignored');
  }
}

/** Group creation is not idempotent: a second attempt would make a second group. */
const NOT_IDEMPOTENT = new Set<unknown>([IM.Group.IMGroupCreateReq]);

/**
 * Whether a failed request may be sent again: after a broken connection or a
 * full queue anything idempotent; a message store (its token makes repeats safe)
 * also after a timeout or a storage error.
 */
function retryable(type: MessageClass, err: unknown): boolean {
  if (NOT_IDEMPOTENT.has(type)) return false;
  if (err instanceof ConnectionClosedError || err instanceof LinkUnavailableError) return true;
  if (err instanceof RemoteError && err.flag === PduFlag.BUSY) return true;
  if (type !== IM.Message.IMMsgData) return false;
  return err instanceof RequestTimeoutError || (err instanceof RemoteError && err.flag === PduFlag.STORAGE_ERROR);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function noDbProxy(): LinkUnavailableError {
  return new LinkUnavailableError('TT_ERR_NO_DB_PROXY', 'no db-proxy connection is available (all down or stopping)');
}
