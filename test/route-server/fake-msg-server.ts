/**
 * A stand-in msg server for route and login server tests: a real TCP link built
 * on our connection layer (ReconnectingLink + PduConnection) that sends what a
 * msg server sends and records everything it receives.
 */
import type { Test } from 'tap';
import pino from 'pino';
import { IM, commandOf, type BodyOf, type MessageClass, type MessageOf } from '../../pdu/commands';
import type { ConnectionOptions, PduConnection } from '../../pdu/connection';
import { encodeFrame, type Pdu } from '../../pdu/frame';
import { ReconnectingLink } from '../../pdu/link';
import type { ServiceRole } from '../../lib/internal-tls';
import type { Logger } from '../../lib/log';
import { testIdentity } from '../helpers/tls';
import { waitFor } from '../helpers/wait';

export const { UserStatType, ClientType } = IM.BaseDefine;
export const ONLINE = UserStatType.USER_STATUS_ONLINE;
export const OFFLINE = UserStatType.USER_STATUS_OFFLINE;
export const LEAVE = UserStatType.USER_STATUS_LEAVE;
export const WINDOWS = ClientType.CLIENT_TYPE_WINDOWS;
export const MAC = ClientType.CLIENT_TYPE_MAC;
export const IOS = ClientType.CLIENT_TYPE_IOS;
export const ANDROID = ClientType.CLIENT_TYPE_ANDROID;

export function frameOf<T extends MessageClass>(type: T, body: BodyOf<T>, seq = 0): Buffer {
  const info = commandOf(type);
  const bytes = (type as unknown as { encode(m: unknown): { finish(): Uint8Array } }).encode(body).finish();
  return encodeFrame(info.serviceId, info.commandId, seq, bytes);
}

export interface FakeMsgServerOptions {
  name?: string;
  connection?: Partial<ConnectionOptions>;
  /** Sent on every (re)connect, like a real msg server's registration or snapshot. */
  onUp?(conn: PduConnection): void;
  /** The role the server must prove (default route-server). */
  serverRole?: ServiceRole;
  /** Plain TCP, as an original C++ msg server connects (the server must list it in plaintextPeers). */
  plaintext?: boolean;
}

export class FakeMsgServer {
  readonly received: Pdu[] = [];
  readonly link: ReconnectingLink;
  downs = 0;

  constructor(port: number, options: FakeMsgServerOptions = {}) {
    this.link = new ReconnectingLink(
      {
        name: options.name ?? 'fake msg server',
        host: '127.0.0.1',
        port,
        initialBackoffMs: 20,
        maxBackoffMs: 100,
        tls: options.plaintext ? undefined : { tls: testIdentity('msg-server'), expectRole: options.serverRole ?? 'route-server' },
        connection: { heartbeatIntervalMs: 100, ...options.connection },
      },
      {
        onUp: (conn) => options.onUp?.(conn),
        onPdu: (_conn, pdu) => this.received.push({ ...pdu, body: Buffer.from(pdu.body), frame: Buffer.from(pdu.frame) }),
        onDown: () => {
          this.downs++;
        },
      },
    );
  }

  /** Connects and waits until the link is up; stopped at the end of the test. */
  static async start(t: Test, port: number, options: FakeMsgServerOptions = {}): Promise<FakeMsgServer> {
    const fake = new FakeMsgServer(port, options);
    t.teardown(() => fake.stop());
    fake.link.start();
    await fake.link.waitUntilUp(5000);
    return fake;
  }

  get conn(): PduConnection {
    const conn = this.link.connection;
    if (conn === null) throw new Error(`${this.link.name}: not connected`);
    return conn;
  }

  send<T extends MessageClass>(type: T, body: BodyOf<T>, seq = 0): void {
    this.conn.send(type, body, seq);
  }

  sendFrame(frame: Buffer): void {
    this.conn.sendFrame(frame);
  }

  /** A device of a user logged in / changed status / logged out. */
  status(userId: number, status: number, clientType: number): void {
    this.send(IM.Server.IMUserStatusUpdate, { user_id: userId, user_status: status, client_type: clientType });
  }

  snapshot(list: Array<{ userId: number; status?: number; clientType: number }>): void {
    this.send(IM.Server.IMOnlineUserInfo, {
      user_stat_list: list.map((d) => ({ user_id: d.userId, status: d.status ?? ONLINE, client_type: d.clientType })),
    });
  }

  /** Users-status query; also a barrier: everything the server sent us before the reply has arrived. */
  usersStatus(userIds: number[], attach?: Buffer): Promise<IM.Buddy.IMUsersStatRsp> {
    const body: IM.Buddy.IIMUsersStatReq = { user_id: 1, user_id_list: userIds };
    if (attach) body.attach_data = attach;
    return this.conn.request(IM.Buddy.IMUsersStatReq, body as BodyOf<typeof IM.Buddy.IMUsersStatReq>, IM.Buddy.IMUsersStatRsp);
  }

  /** Online as the route server answers it: user id -> status. */
  async statusOf(userIds: number[]): Promise<Record<number, number>> {
    const reply = await this.usersStatus(userIds);
    return Object.fromEntries(reply.user_stat_list.map((s) => [s.user_id, s.status]));
  }

  of(commandId: number): Pdu[] {
    return this.received.filter((p) => p.commandId === commandId);
  }

  decoded<T extends MessageClass>(type: T): Array<MessageOf<T>> {
    return this.of(commandOf(type).commandId).map((p) => type.decode(p.body) as MessageOf<T>);
  }

  async waitForCount(commandId: number, count: number, timeoutMs = 3000): Promise<void> {
    await waitFor(() => this.of(commandId).length >= count, timeoutMs, `${this.link.name}: ${count} PDUs of 0x${commandId.toString(16)}`);
  }

  clear(): void {
    this.received.length = 0;
  }

  stop(): void {
    this.link.stop('test over');
  }
}

/** A logger whose lines the test can read (pino writing JSON into memory). */
export function captureLogger(level = 'debug'): { logger: Logger; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const logger = pino({ level }, { write: (line: string) => chunks.push(line) });
  return {
    logger,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
