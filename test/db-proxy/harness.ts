/**
 * What every db-proxy test needs: a fresh database and Redis prefix, a db-proxy
 * started in-process on a free port, and msg-server-side connections to it
 * (PduConnection over real TCP, as a msg server uses it).
 */
import net from 'node:net';
import type { Test } from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import { encodeHandleAttach } from '../../pdu/attach';
import { IM, type BodyOf, type MessageClass, type MessageOf } from '../../pdu/commands';
import { PduConnection } from '../../pdu/connection';
import type { Pdu } from '../../pdu/frame';
import pino from 'pino';
import { createLogger, type Logger } from '../../lib/log';
import { addDepartment, addUser } from '../../scripts/db/accounts';
import { dbProxyConfig, type DbProxyConfig } from '../../services/db-proxy/config';
import { startDbProxy, type RunningDbProxy } from '../../services/db-proxy/db-proxy';
import { freshDatabase, freshRedis, type TestDatabase, type TestRedis } from '../helpers/storage';
import { testIdentity, tlsSettings } from '../helpers/tls';

export const PASSWORD = 'pass-word';

export function proxyConfig(overrides: Partial<DbProxyConfig>): DbProxyConfig {
  return dbProxyConfig.load({ env: {}, overrides: { listenPort: 0, adminPort: 0, groupSessionSyncIntervalMs: 200, ...tlsSettings('db-proxy'), ...overrides } });
}

export function testLogger() {
  return createLogger('db-proxy', process.env.TT_TEST_LOG ?? 'silent');
}

/** A logger whose lines the test can read. */
export function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

export async function startProxy(t: Test, config: DbProxyConfig, logger: Logger = testLogger()): Promise<RunningDbProxy> {
  const proxy = await startDbProxy(config, logger);
  t.teardown(() => proxy.stop('test over'));
  return proxy;
}

/** A msg server's connection to the db-proxy; `pushes` collects PDUs that are not replies. */
export async function connectTo(t: Test, port: number): Promise<PduConnection & { pushes: Pdu[] }> {
  const socket = testIdentity('msg-server').connect('127.0.0.1', port, 'db-proxy');
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  const pushes: Pdu[] = [];
  const conn = new PduConnection(socket, { onPdu: (_c, pdu) => pushes.push(pdu) }, { requestTimeoutMs: 15_000 });
  t.teardown(() => conn.destroy('test over'));
  return Object.assign(conn, { pushes });
}

export class Harness {
  db!: TestDatabase;
  redis!: TestRedis;
  proxy!: RunningDbProxy;
  conn!: PduConnection & { pushes: Pdu[] };
  private departId = 0;

  constructor(private readonly t: Test) {}

  async start(overrides: Partial<DbProxyConfig> = {}, logger?: Logger): Promise<this> {
    this.db = await freshDatabase(this.t);
    this.redis = await freshRedis(this.t);
    this.proxy = await startProxy(this.t, this.config(overrides), logger);
    this.conn = await connectTo(this.t, this.proxy.port);
    this.departId = await addDepartment(this.db.pool, 'Test department');
    return this;
  }

  config(overrides: Partial<DbProxyConfig> = {}): DbProxyConfig {
    return proxyConfig({ mysqlUrl: this.db.url, redisUrl: this.redis.url, redisKeyPrefix: this.redis.prefix, ...overrides });
  }

  async addUsers(...names: string[]): Promise<number[]> {
    const ids: number[] = [];
    for (const name of names) ids.push(await addUser(this.db.pool, { name, password: PASSWORD, departId: this.departId }));
    return ids;
  }

  request<Q extends MessageClass, R extends MessageClass>(type: Q, body: BodyOf<Q>, replyType: R): Promise<MessageOf<R>> {
    return this.conn.request(type, body, replyType);
  }

  /** Stores a single or group message the way a msg server does; resolves with the db-proxy's reply. */
  send(from: number, to: number, text: string | Uint8Array, msgType = IM.BaseDefine.MsgType.MSG_TYPE_SINGLE_TEXT) {
    return this.request(
      IM.Message.IMMsgData,
      {
        from_user_id: from,
        to_session_id: to,
        msg_id: 0,
        create_time: Math.floor(Date.now() / 1000),
        msg_type: msgType,
        msg_data: typeof text === 'string' ? Buffer.from(text) : text,
        attach_data: encodeHandleAttach(7),
      },
      IM.Message.IMMsgData,
    );
  }

  async rows<T = RowDataPacket>(sql: string, values: unknown[] = []): Promise<T[]> {
    const [rows] = await this.db.pool.query<RowDataPacket[]>(sql, values);
    return rows as T[];
  }

  /** Redis with this test's prefix applied. */
  key(name: string): string {
    return this.redis.prefix + name;
  }

  /** Every single-chat message row, from all shards, oldest first. */
  async allMessages(): Promise<Array<{ table: string; relateId: number; fromId: number; toId: number; msgId: number; content: string }>> {
    const out = [];
    for (let i = 0; i < 8; i++) {
      for (const r of await this.rows(`SELECT relateId, fromId, toId, msgId, content FROM IMMessage_${i}`)) {
        out.push({
          table: `IMMessage_${i}`,
          relateId: Number(r.relateId),
          fromId: Number(r.fromId),
          toId: Number(r.toId),
          msgId: Number(r.msgId),
          content: String(r.content),
        });
      }
    }
    return out.sort((a, b) => a.relateId - b.relateId || a.msgId - b.msgId);
  }
}

export async function harness(t: Test, overrides: Partial<DbProxyConfig> = {}, logger?: Logger): Promise<Harness> {
  return new Harness(t).start(overrides, logger);
}

/** The same URL (mysql:// or redis://) with another port. */
export function withPort(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}

/**
 * A TCP relay in front of MariaDB or Redis that a test can cut and restore: a
 * real outage for the db-proxy behind it, without touching the shared servers.
 * While cut, every existing connection is reset and new ones are refused.
 */
const COMMIT_QUERY = Buffer.from('\x03COMMIT', 'latin1');

export class TcpCutter {
  port = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly links = new Set<{ client: net.Socket; upstream: net.Socket }>();
  private blocked = false;
  /** Armed by holdAtCommit: what to hold once a client sends COMMIT. */
  private atCommit: 'requests' | 'replies' | null = null;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = net.createServer((client) => this.relay(client));
  }

  static async in(t: Test, targetUrl: string): Promise<TcpCutter> {
    const u = new URL(targetUrl);
    const cutter = new TcpCutter({ host: u.hostname, port: Number(u.port) });
    await new Promise<void>((resolve) => cutter.server.listen(0, '127.0.0.1', resolve));
    cutter.port = (cutter.server.address() as net.AddressInfo).port;
    t.teardown(() => cutter.close());
    return cutter;
  }

  cut(): void {
    this.blocked = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  /**
   * Stops forwarding one direction of the connections open now (new ones flow):
   * 'requests' never reach MySQL; 'replies' are held after MySQL ran the statements.
   */
  hold(direction: 'requests' | 'replies'): void {
    for (const { client, upstream } of this.links) {
      const [from, to] = direction === 'requests' ? [client, upstream] : [upstream, client];
      from.unpipe(to);
      from.pause();
    }
  }

  /**
   * MySQL only: the next time a client sends COMMIT, hold 'requests' (the
   * COMMIT never reaches MySQL) or 'replies' (MySQL commits, its answer is held).
   * Statements before the COMMIT flow normally.
   */
  holdAtCommit(direction: 'requests' | 'replies'): void {
    this.atCommit = direction;
  }

  /** Lets the held direction flow again (what was held arrives now). */
  release(direction: 'requests' | 'replies'): void {
    for (const { client, upstream } of this.links) {
      const [from, to] = direction === 'requests' ? [client, upstream] : [upstream, client];
      from.pipe(to);
    }
  }

  restore(): void {
    this.blocked = false;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: net.Socket): void {
    if (this.blocked) {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.target);
    const link = { client, upstream };
    this.links.add(link);
    upstream.on('close', () => this.links.delete(link));
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      this.sockets.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        this.sockets.delete(a);
        b.destroy();
      });
    }
    upstream.pipe(client);
    // Requests are forwarded by hand, to see a COMMIT go by.
    const held: Buffer[] = [];
    client.on('data', (chunk: Buffer) => {
      if (held.length > 0) {
        held.push(chunk);
        return;
      }
      // A COM_QUERY packet (command byte 0x03) whose text is COMMIT.
      if (this.atCommit !== null && chunk.includes(COMMIT_QUERY)) {
        const direction = this.atCommit;
        this.atCommit = null;
        if (direction === 'requests') {
          held.push(chunk);
          return;
        }
        upstream.unpipe(client);
        upstream.pause();
      }
      upstream.write(chunk);
    });
  }
}
